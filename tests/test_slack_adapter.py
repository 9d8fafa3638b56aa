"""The Slack adapter end to end: signed slash-command and button requests over real HTTP to the bolt app,
the real slack_sdk client talking to a fake Slack Web API on 127.0.0.1, an Engine on an in-memory store."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError

from adapters.base import Adapter
from adapters.slack import UNAVAILABLE, SlackAdapter, check_slack
from adapters.slack_blocks import EXPLAIN_ACTION_ID, render_digest
from bot import posted_messages
from bot.cards import DigestMessage, make_card
from bot.config import SCHEMA, Config, validate
from bot.delivery import Outcome, deliver_digest
from bot.digest import select_digest
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError
from bot.models import ChannelRef, Subscription
from bot.posted_messages import MessageKind
from bot.sources.arxiv import parse_rss
from tests.fakes.slack_server import (
    APP_TOKEN,
    BOT_TOKEN,
    SLASH_COMMAND_BODY,
    TEAM_ID,
    FakeSlack,
    ratelimited,
    server_error,
)
from tests.support import STAT_FEED, make_engine

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
# A digest is a message per card: paced at Slack's real one per second, a test would wait that long per card.
# The pacing itself is tested at the real interval.
FAST_PACING_S = 0.01
CHANNEL = "C111"  # the recorded slash-command body's channel, team and user
USER = "W111"
HERE = ChannelRef("slack", TEAM_ID, CHANNEL)
PAPER = "2403.15527"  # the first stat.ML paper of the recorded feed: "Conformal online model aggregation"


# --- request bodies, as Slack sends them -----------------------------------------------------------


def sign(body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_fields(text: str, response_url: str, *, user: str = USER, channel: str = CHANNEL) -> dict[str, str]:
    """The recorded slash-command body, turned into a /paper command."""
    fields = dict(parse_qsl(SLASH_COMMAND_BODY, keep_blank_values=True))
    assert fields["team_id"] == TEAM_ID
    fields.update(command="/paper", text=text, user_id=user, channel_id=channel, response_url=response_url)
    return fields


def action_payload(
    paper_id: str, response_url: str, *, message_ts: str, thread_ts: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "text": "arXiv digest", "bot_id": "BBOT"}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "test-domain"},
        "user": {"id": USER, "team_id": TEAM_ID},
        "api_app_id": "A111",
        "token": "verification_token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": "111.222.xxx",
        "channel": {"id": CHANNEL, "name": "random"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "action_id": EXPLAIN_ACTION_ID,
                "block_id": "card-1",
                "text": {"type": "plain_text", "text": "Explain"},
                "value": paper_id,
                "type": "button",
                "action_ts": "1711440001.000100",
            }
        ],
    }


def slack_config(slack: FakeSlack, *, env: dict[str, str] | None = None, **options: Any) -> Config:
    section = {"mode": "http", "api_url": slack.api_url, **options}
    secrets = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return Config(values=validate({"slack": section}), source="test", env=secrets if env is None else env)


# --- the harness -----------------------------------------------------------------------------------


class GatedEngine:
    """The engine with a slow explain(): held until the test opens the gate (an LLM taking its time)."""

    def __init__(self, inner: Engine, *, fail: bool = False) -> None:
        self._inner = inner
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.calls = 0
        self.fail = fail

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def explain(self, id_text: str, **options: Any) -> Any:
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database password is hunter2")
        return await self._inner.explain(id_text, **options)


class Harness:
    def __init__(self, slack: FakeSlack, engine: Engine, adapter: SlackAdapter, http: aiohttp.ClientSession) -> None:
        self.slack = slack
        self.engine = engine
        self.adapter = adapter
        self.http = http

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}/slack/events"

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(self.url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    async def command(self, text: str, *, user: str = USER, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """Send `/paper text`, wait for the work it started, return what went to its response_url."""
        response_url = self.slack.response_url()
        body = urlencode(slash_fields(text, response_url, user=user, channel=channel))
        status, _ = await self.post(body, sign(body))
        assert status == 200  # acknowledged first: test_explain_is_acknowledged_at_once… shows the order
        await self.adapter.idle()
        return self.responses(response_url)

    async def click(self, paper_id: str, *, message_ts: str, thread_ts: str | None = None) -> tuple[int, str]:
        response_url = self.slack.response_url()
        payload = action_payload(paper_id, response_url, message_ts=message_ts, thread_ts=thread_ts)
        body = urlencode({"payload": json.dumps(payload)})
        status, _ = await self.post(body, sign(body))
        return status, response_url

    def responses(self, response_url: str) -> list[dict[str, Any]]:
        path = response_url.removeprefix(self.slack.base_url)
        return [call.args for call in self.slack.calls("response") if call.path == path]


Make = Callable[..., Awaitable[Harness]]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def make_harness(slack: FakeSlack) -> AsyncIterator[Make]:
    made: list[Harness] = []

    async def make(engine: Any = None, post_interval_s: float = FAST_PACING_S, **options: Any) -> Harness:
        engine = engine or make_engine()
        config = slack_config(slack, **options)
        adapter = SlackAdapter(cast(Engine, engine), config, host="127.0.0.1", port=0, post_interval_s=post_interval_s)
        await adapter.start()
        harness = Harness(slack, cast(Engine, engine), adapter, aiohttp.ClientSession())
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.adapter.stop()
        await harness.adapter.stop()  # safe twice
        await harness.http.close()
        await harness.engine.aclose()


@pytest.fixture
async def harness(make_harness: Make) -> Harness:
    return await make_harness()


def text_of(message: dict[str, Any]) -> str:
    return str(message["text"]) + "\n" + json.dumps(message.get("blocks", []), ensure_ascii=False)


# --- starting --------------------------------------------------------------------------------------


def test_the_adapter_satisfies_the_protocol(slack: FakeSlack) -> None:
    adapter = SlackAdapter(make_engine(), slack_config(slack))
    assert isinstance(adapter, Adapter)
    assert adapter.platform == "slack"


@pytest.mark.parametrize(
    ("mode", "missing", "message"),
    [
        ("socket", "SLACK_APP_TOKEN", "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token"),
        ("http", "SLACK_SIGNING_SECRET", 'SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs it'),
        ("socket", "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN is not set"),
        ("http", "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN is not set"),
    ],
)
def test_a_missing_secret_is_named_at_construction(slack: FakeSlack, mode: str, missing: str, message: str) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    del env[missing]
    with pytest.raises(ConfigError) as err:
        SlackAdapter(make_engine(), slack_config(slack, mode=mode, env=env))
    assert message in str(err.value)


async def test_a_rejected_bot_token_stops_start_with_one_line(slack: FakeSlack) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    adapter = SlackAdapter(make_engine(), slack_config(slack, env=env), host="127.0.0.1", port=0)
    with pytest.raises(ConfigError, match=r"Slack rejected SLACK_BOT_TOKEN \(invalid_auth\)"):
        await adapter.start()
    await adapter.stop()


# --- HTTP mode: signatures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers_for",
    [
        pytest.param(lambda body: sign(body, secret="not-the-secret"), id="wrong-secret"),
        pytest.param(lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, id="missing"),
        pytest.param(lambda body: sign(body, timestamp=int(time.time()) - 600), id="stale"),
        pytest.param(lambda body: sign(body.replace("help", "list")), id="tampered"),
        pytest.param(lambda body: {**sign(body), "X-Slack-Signature": "v0=00"}, id="garbage"),
    ],
)
async def test_bad_signatures_get_401_and_nothing_runs(
    harness: Harness, headers_for: Callable[[str], dict[str, str]]
) -> None:
    response_url = harness.slack.response_url()
    body = urlencode(slash_fields("help", response_url))
    status, _ = await harness.post(body, headers_for(body))
    assert status == 401
    await harness.adapter.idle()
    assert harness.slack.count("response") == 0


async def test_a_well_signed_request_is_accepted(harness: Harness) -> None:
    responses = await harness.command("help")
    assert len(responses) == 1
    assert responses[0]["response_type"] == "ephemeral"
    assert "/paper explain &lt;paper-id&gt;" in responses[0]["blocks"][0]["text"]["text"]


# --- /paper: ack first -----------------------------------------------------------------------------


async def test_explain_is_acknowledged_at_once_while_the_explanation_is_slow(make_harness: Make) -> None:
    inner = make_engine()
    await inner.refresh(["stat"])
    engine = GatedEngine(inner)
    harness = await make_harness(engine)
    response_url = harness.slack.response_url()
    body = urlencode(slash_fields(f"explain {PAPER}", response_url))
    # The explanation waits on a gate opened only after the ack: an ack sent after the work would never come
    # (the backstop only guards that hang). Slack allows 3 s; the explanation is still running.
    status, ack_body = await asyncio.wait_for(harness.post(body, sign(body)), 60)
    assert status == 200 and not engine.gate.is_set()
    # A plain-text ack, shown to the user only: what is happening while arXiv and the LLM answer.
    assert ack_body.startswith(f"Fetching {PAPER} from arXiv…")
    await asyncio.wait_for(engine.started.wait(), 2)
    assert harness.slack.count("response") == 0
    engine.gate.set()
    await harness.adapter.idle()
    # Public and about one paper: posted as the bot's own message (it has a ts), recorded as an explanation
    # so that it can be reacted to and asked about in its thread. Nothing more through the response_url.
    assert harness.responses(response_url) == []
    [post] = harness.slack.posts(CHANNEL)
    answer = post.args
    assert "thread_ts" not in answer or not answer["thread_ts"]
    assert answer["unfurl_links"] is False and answer["unfurl_media"] is False
    text = text_of(answer)
    assert "Conformal online model aggregation" in text
    assert "Explanation: offline" in text
    ts = harness.slack.history[CHANNEL][-1]["ts"]
    recorded = posted_messages.find(inner.store, HERE, ts)
    assert recorded is not None and recorded.kind == MessageKind.EXPLANATION and recorded.paper_id == PAPER


async def test_an_explanation_where_the_bot_cannot_post_comes_through_the_response_url(make_harness: Make) -> None:
    engine = make_engine()
    await engine.refresh(["stat"])
    harness = await make_harness(engine)
    engine.store.subscribe(Subscription(id=0, channel=HERE, category="stat.ML"))
    harness.slack.channel_error(CHANNEL, "not_in_channel")  # e.g. a private channel the bot is not in
    [answer] = await harness.command(f"explain {PAPER}")
    assert answer["response_type"] == "in_channel"
    assert "Explanation: offline" in text_of(answer)
    # Not a reason to pause the channel's digests: only a digest that cannot be posted is.
    assert all(s.paused_reason is None for s in engine.store.channel_subscriptions(HERE))


async def test_other_commands_ack_with_an_empty_body(make_harness: Make) -> None:
    harness = await make_harness()
    body = urlencode(slash_fields("list", harness.slack.response_url()))
    status, ack_body = await harness.post(body, sign(body))
    assert (status, ack_body) == (200, "")
    await harness.adapter.idle()


async def test_explanations_are_private_when_configured(make_harness: Make) -> None:
    engine = make_engine()
    await engine.refresh(["stat"])
    harness = await make_harness(engine, explain_in_channel=False)
    [answer] = await harness.command(f"explain arXiv:{PAPER}v1")
    assert answer["response_type"] == "ephemeral"
    assert "Conformal online model aggregation" in text_of(answer)


# --- /paper: every sub-command and its mistakes ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Tell me what to do"),
        ("help", "/paper subscribe &lt;category&gt;"),
        ("frobnicate", "Unknown command 'frobnicate'"),
        ("explain", "Usage: /paper explain &lt;paper-id&gt;"),
        ("explain not-an-id", "is not an arXiv id"),
        ("explain 2403.99999", "not found on arXiv"),
        ("subscribe", "Usage: /paper subscribe"),
        ("list", "This channel follows no categories yet"),
        ("unsubscribe cs.LG", "This channel does not follow cs.LG"),
        ("usage", "offline"),
        ("explain " + "9" * 400, "too long"),
    ],
)
async def test_sub_commands_and_mistakes_answer_privately(harness: Harness, text: str, expected: str) -> None:
    harness.slack.set_user(USER, is_admin=True)
    [answer] = await harness.command(text)
    assert answer["response_type"] == "ephemeral"
    assert expected in text_of(answer)
    assert "Traceback" not in text_of(answer)


async def test_subscribe_list_digest_unsubscribe_as_an_admin(harness: Harness) -> None:
    harness.slack.set_user(USER, is_admin=True)
    [subscribed] = await harness.command("subscribe stat.ML 09:00 Europe/Berlin")
    assert subscribed["response_type"] == "in_channel"  # everyone sees what the channel now gets
    assert "This channel now follows stat.ML (Machine Learning)" in subscribed["text"]
    assert harness.engine.store.find_subscription(HERE, "stat.ML") is not None

    [listed] = await harness.command("list")
    assert listed["response_type"] == "ephemeral"
    assert "stat.ML (Machine Learning)" in text_of(listed) and "09:00 Europe/Berlin" in text_of(listed)

    [bad_time] = await harness.command("subscribe stat.ML 25:00")
    assert bad_time["response_type"] == "ephemeral" and "is not a time" in text_of(bad_time)
    [typo] = await harness.command("subscribe cs.LF")
    assert "Did you mean cs.LG" in text_of(typo)

    assert await harness.command("digest") == []  # the digest itself goes to the channel
    posts = harness.slack.posts(CHANNEL)
    assert posts and posts[0].args["blocks"][0]["text"]["text"] == "arXiv digest · stat.ML · Tue 26 Mar 2024"
    assert all(p.args["unfurl_links"] is False and p.args["unfurl_media"] is False for p in posts)
    assert all(p.token == BOT_TOKEN for p in posts)

    [again] = await harness.command("digest")
    assert again["response_type"] == "ephemeral" and "already posted here" in again["text"]
    assert len(harness.slack.posts(CHANNEL)) == len(posts)

    [gone] = await harness.command("unsubscribe stat.ML")
    assert gone["text"] == "This channel no longer follows stat.ML."
    assert harness.slack.count("users.info") == 1  # cached for the later commands


async def test_a_digest_the_bot_cannot_post_is_not_recorded(harness: Harness) -> None:
    harness.slack.set_user(USER, is_admin=True)
    await harness.command("subscribe stat.ML")
    harness.slack.channel_error(CHANNEL, "not_in_channel")
    [refused] = await harness.command("digest")
    assert refused["response_type"] == "ephemeral"
    assert "I cannot post here: Slack says not_in_channel: invite the bot" in refused["text"]
    harness.slack.channel_error(CHANNEL, None)
    tried = len(harness.slack.posts(CHANNEL))
    # The channel's subscriptions were paused with the reason, as a scheduled digest would have done.
    [paused] = await harness.command("digest")
    assert "digests are paused: Slack says not_in_channel" in paused["text"]
    assert "/paper subscribe stat.ML resumes them" in paused["text"]
    assert len(harness.slack.posts(CHANNEL)) == tried
    [resumed] = await harness.command("subscribe stat.ML")
    assert "Resumed stat.ML" in resumed["text"]
    assert await harness.command("digest") == []
    assert len(harness.slack.posts(CHANNEL)) > tried


# --- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_flags", "options", "allowed", "users_info_calls"),
    [
        ({"is_admin": True}, {}, True, 1),
        ({"is_owner": True}, {}, True, 1),
        ({}, {}, False, 1),
        (None, {}, False, 1),  # users.info: user_not_found
        ({}, {"admins": [USER]}, True, 0),
        ({}, {"anyone_can_subscribe": True}, True, 0),
        ({}, {"admins": ["U999"]}, False, 1),
    ],
)
async def test_who_may_subscribe(
    make_harness: Make,
    user_flags: dict[str, bool] | None,
    options: dict[str, Any],
    allowed: bool,
    users_info_calls: int,
) -> None:
    harness = await make_harness(**options)
    if user_flags is not None:
        harness.slack.set_user(USER, **user_flags)
    [answer] = await harness.command("subscribe stat.ML")
    followed = harness.engine.store.find_subscription(HERE, "stat.ML") is not None
    assert followed is allowed
    if not allowed:
        assert answer["response_type"] == "ephemeral"
        assert "Only people who can manage this channel can use /paper subscribe" in answer["text"]
    assert harness.slack.count("users.info") == users_info_calls
    if users_info_calls:
        assert harness.slack.calls("users.info")[0].args["user"] == USER


async def test_the_permission_check_reads_the_command_as_dispatch_does(harness: Harness) -> None:
    harness.slack.set_user(USER, is_admin=True)
    [answer] = await harness.command("paper SUBSCRIBE stat.ML")
    assert "This channel now follows stat.ML" in answer["text"]


async def test_socket_mode_without_slack_stops_start_with_one_line() -> None:
    with FakeSlack() as gone:
        config = slack_config(gone, mode="socket")
    adapter = SlackAdapter(make_engine(), config)
    with pytest.raises(ConfigError, match=r"cannot reach Slack at http://127\.0\.0\.1:"):
        await asyncio.wait_for(adapter.start(), 20)


async def test_commands_that_change_nothing_do_not_look_up_the_user(harness: Harness) -> None:
    for text in ("help", "list", "explain 2403.99999", "usage"):
        await harness.command(text)
    assert harness.slack.count("users.info") == 0


# --- the Explain button ----------------------------------------------------------------------------


async def test_the_explain_button_answers_in_the_thread(make_harness: Make) -> None:
    inner = make_engine()
    await inner.refresh(["stat"])
    engine = GatedEngine(inner)
    harness = await make_harness(engine)
    status, _ = await harness.click(PAPER, message_ts="1711440000.000001")
    assert status == 200  # acknowledged while the explanation is still held
    await asyncio.wait_for(engine.started.wait(), 2)
    assert harness.slack.posts() == []
    await harness.click(PAPER, message_ts="1711440000.000001")  # a double click answers once
    engine.gate.set()
    await harness.adapter.idle()
    [post] = harness.slack.posts(CHANNEL)
    assert post.args["thread_ts"] == "1711440000.000001"
    assert post.args["unfurl_links"] is False
    assert "Conformal online model aggregation" in text_of(post.args)
    assert "Explanation: offline" in text_of(post.args)
    # Recorded as an explanation of the paper under that card: a reaction or a question there finds it.
    explained = posted_messages.find(inner.store, HERE, harness.slack.history[CHANNEL][-1]["ts"])
    assert explained is not None
    assert (explained.kind, explained.paper_id, explained.thread_id) == (
        MessageKind.EXPLANATION,
        PAPER,
        "1711440000.000001",
    )
    # The click taught the channel's radar a weak like, once for this person and paper.
    from bot.radar import WEAK_LIKE, Radar

    likes = Radar(inner.store).profile(HERE).likes
    assert [(like.paper_id, like.weight) for like in likes] == [(PAPER, WEAK_LIKE)]


async def test_a_click_inside_a_thread_answers_in_that_thread(make_harness: Make) -> None:
    engine = make_engine()
    await engine.refresh(["stat"])
    harness = await make_harness(engine)
    await harness.click(PAPER, message_ts="1711440000.000009", thread_ts="1711440000.000001")
    await harness.adapter.idle()
    assert harness.slack.posts(CHANNEL)[0].args["thread_ts"] == "1711440000.000001"


async def test_an_unknown_paper_on_a_button_answers_privately(harness: Harness) -> None:
    _, response_url = await harness.click("2403.99999", message_ts="1711440000.000001")
    await harness.adapter.idle()
    [answer] = harness.responses(response_url)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "not found on arXiv" in answer["text"]
    assert harness.slack.posts() == []


async def test_an_unexpected_failure_shows_only_a_reference(
    make_harness: Make, caplog: pytest.LogCaptureFixture
) -> None:
    engine = GatedEngine(make_engine(), fail=True)
    engine.gate.set()
    harness = await make_harness(engine)
    _, response_url = await harness.click(PAPER, message_ts="1711440000.000001")
    await harness.adapter.idle()
    [clicked] = harness.responses(response_url)
    [typed] = await harness.command(f"explain {PAPER}")
    for answer in (clicked, typed):
        assert answer["response_type"] == "ephemeral"
        assert "Sorry, something went wrong on our side (reference " in answer["text"]
        assert "hunter2" not in text_of(answer)
        ref = answer["text"].split("reference ")[1][:8]
        assert f"[ref {ref}]" in caplog.text


async def test_a_failure_while_answering_is_logged_not_lost(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.slack.script("response", server_error(500), server_error(500))
    await harness.command("help")  # the response_url answers 500: nothing more to tell the user
    assert "response_url answered HTTP 500" in caplog.text
    payload = action_payload("2403.99999", "", message_ts="1711440000.000001")
    del payload["response_url"]  # a click without a response_url: respond() cannot answer
    body = urlencode({"payload": json.dumps(payload)})
    status, _ = await harness.post(body, sign(body))
    await harness.adapter.idle()
    assert status == 200
    assert "Slack background work failed" in caplog.text


# --- posting digests -------------------------------------------------------------------------------


STAT_PAPERS = tuple(item.paper for item in parse_rss(STAT_FEED, ["stat"]).items)


def sample_digest(count: int = 10) -> DigestMessage:
    cards = tuple(make_card(p) for p in STAT_PAPERS[:count])
    return DigestMessage(categories=("stat",), announced=date(2024, 3, 26), cards=cards)


async def test_post_digest_posts_a_header_then_a_message_per_card_paced_and_recorded(make_harness: Make) -> None:
    harness = await make_harness(post_interval_s=1.0)  # Slack's real pace
    digest = sample_digest(3)
    here = ChannelRef("slack", TEAM_ID, "C222")
    await harness.adapter.post_digest(here, digest)
    posts = harness.slack.posts("C222")
    expected = render_digest(digest)
    assert len(expected) == 4  # the header, then one message per card
    assert [p.args["blocks"] for p in posts] == [list(m.blocks) for m in expected]
    assert [p.args["text"] for p in posts] == [m.text for m in expected]
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert all(gap >= 0.95 for gap in gaps)  # paced: one message per second per channel
    # Each message is recorded with what it shows: a reaction or a thread on it finds its paper.
    found = [posted_messages.find(harness.engine.store, here, m["ts"]) for m in harness.slack.history["C222"]]
    assert [(f.kind, f.paper_id) for f in found if f is not None] == [
        (MessageKind.HEADER, None),
        *((MessageKind.CARD, card.paper_id) for card in digest.cards),
    ]


async def test_a_briefing_and_a_note_are_recorded_as_what_they_are(harness: Harness) -> None:
    from bot.cards import DigestMessage

    briefing = DigestMessage(("stat",), date(2024, 3, 26), (), note="Briefing · 3 papers", briefing=True)
    quiet = DigestMessage(("stat",), date(2024, 3, 26), (), note="No announcement today.")
    await harness.adapter.post_digest(HERE, briefing)
    await harness.adapter.post_digest(HERE, quiet)
    kinds = [posted_messages.find(harness.engine.store, HERE, m["ts"]) for m in harness.slack.history[CHANNEL]]
    assert [(k.kind, k.paper_id) for k in kinds if k is not None] == [
        (MessageKind.BRIEFING, None),
        (MessageKind.NOTE, None),
    ]


async def test_an_answer_to_paper_ask_is_the_bots_own_message_so_its_thread_takes_questions(harness: Harness) -> None:
    await harness.engine.refresh(["stat"])
    responses = await harness.command(f"ask {PAPER} what coverage does it guarantee?")
    assert responses == []  # nothing through the response_url: the answer is a message of the channel
    [post] = harness.slack.posts(CHANNEL)
    assert "coverage" in text_of(post.args)
    found = posted_messages.find(harness.engine.store, HERE, harness.slack.history[CHANNEL][-1]["ts"])
    assert found is not None and found.paper_id == PAPER


async def test_a_429_is_retried_after_retry_after(harness: Harness) -> None:
    harness.slack.script("chat.postMessage", ratelimited(retry_after=1))
    await harness.adapter.post_digest(HERE, sample_digest(3))
    calls = harness.slack.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 200, 200, 200, 200]  # the header again, then the 3 cards
    assert calls[1].at - calls[0].at >= 1.0


async def test_a_server_error_is_retried(harness: Harness) -> None:
    harness.slack.script("chat.postMessage", server_error(503))
    await harness.adapter.post_digest(HERE, sample_digest(3))
    assert [c.status for c in harness.slack.calls("chat.postMessage")] == [503, 200, 200, 200, 200]


@pytest.mark.parametrize("code", sorted(UNAVAILABLE))
async def test_a_channel_we_cannot_post_to_is_unavailable(harness: Harness, code: str) -> None:
    harness.slack.channel_error("C_GONE", code)
    with pytest.raises(ChannelUnavailable) as err:
        await harness.adapter.post_digest(ChannelRef("slack", TEAM_ID, "C_GONE"), sample_digest(3))
    assert str(err.value).startswith(f"Slack says {code}: ")


async def test_other_slack_errors_propagate(harness: Harness) -> None:
    harness.slack.channel_error("C_ODD", "fatal_error")
    with pytest.raises(SlackApiError):
        await harness.adapter.post_digest(ChannelRef("slack", TEAM_ID, "C_ODD"), sample_digest(3))


def _poster(adapter: SlackAdapter) -> Any:
    """deliver_digest took the adapter's post_digest; with the outbox it takes the adapter itself."""
    takes_object = "poster" in inspect.signature(deliver_digest).parameters
    return adapter if takes_object else adapter.post_digest


async def test_a_removed_channel_pauses_only_its_own_subscriptions(harness: Harness) -> None:
    engine = harness.engine
    alive, removed = ChannelRef("slack", TEAM_ID, "C_ALIVE"), ChannelRef("slack", TEAM_ID, "C_REMOVED")
    for channel in (removed, alive):
        for category in ("stat.ML", "stat.ME"):
            engine.store.subscribe(Subscription(id=0, channel=channel, category=category))
    harness.slack.channel_error("C_REMOVED", "channel_not_found")
    outcomes = {}
    for channel in (removed, alive):
        subs = engine.store.channel_subscriptions(channel)
        outcomes[channel.channel] = await deliver_digest(engine, _poster(harness.adapter), channel, subs)
    assert outcomes == {"C_REMOVED": Outcome.PAUSED, "C_ALIVE": Outcome.POSTED}
    reasons = {s.paused_reason for s in engine.store.channel_subscriptions(removed)}
    assert reasons == {"Slack says channel_not_found: the channel is gone or private to the bot: invite the bot "
                       "or subscribe again"}  # fmt: skip
    assert all(s.paused_reason is None for s in engine.store.channel_subscriptions(alive))
    assert harness.slack.posts("C_ALIVE")
    [listed] = await harness.command("list", channel="C_REMOVED")
    assert "paused: Slack says channel_not_found" in listed["text"]


# --- Socket Mode -----------------------------------------------------------------------------------


async def test_socket_mode_round_trip(slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine()
    adapter = SlackAdapter(engine, slack_config(slack, mode="socket"))
    await adapter.start()  # returns once connected, in this loop
    try:
        assert await slack.wait_async(lambda: slack.socket_connections == 1)
        response_url = slack.response_url()
        envelope = slack.send_envelope("slash_commands", slash_fields("help", response_url))
        assert await slack.wait_async(lambda: any(a.get("envelope_id") == envelope for a in slack.socket_acks))
        assert await slack.wait_async(lambda: slack.count("response") == 1)
        await adapter.idle()
        assert "/paper explain &lt;paper-id&gt;" in text_of(slack.calls("response")[0].args)
        assert slack.calls("apps.connections.open")[0].token == APP_TOKEN
    finally:
        await adapter.stop()
        await adapter.stop()
        await engine.aclose()
    assert await slack.wait_async(lambda: slack.socket_connections == 0)
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in caplog.text


async def test_a_refused_app_token_stops_start(slack: FakeSlack) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-wrong"}
    adapter = SlackAdapter(make_engine(), slack_config(slack, mode="socket", env=env))
    with pytest.raises(ConfigError, match=r"Slack refused SLACK_APP_TOKEN \(invalid_auth\)"):
        await asyncio.wait_for(adapter.start(), 10)
    await adapter.stop()


async def test_secrets_never_reach_the_logs_in_http_mode(make_harness: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    harness = await make_harness()
    harness.slack.set_user(USER, is_admin=True)
    await harness.command("subscribe stat.ML")
    await harness.command("digest")
    body = urlencode(slash_fields("help", harness.slack.response_url()))
    await harness.post(body, sign(body, secret="wrong"))
    assert harness.slack.posts(CHANNEL)
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert secret not in caplog.text


# --- paperbot doctor -------------------------------------------------------------------------------


async def test_check_slack_reports_a_working_setup(slack: FakeSlack) -> None:
    lines = await check_slack(slack_config(slack, mode="socket"))
    assert lines == [
        "Slack: bot token OK for workspace Test Workspace (team T111) as @paperbot",
        "Slack: app-level token OK (Socket Mode)",
    ]
    assert await check_slack(slack_config(slack, mode="http")) == [
        "Slack: bot token OK for workspace Test Workspace (team T111) as @paperbot"
    ]


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("socket", {}, "Slack: off (SLACK_BOT_TOKEN is not set"),
        ("socket", {"SLACK_BOT_TOKEN": BOT_TOKEN}, "Slack: SLACK_APP_TOKEN is not set"),
        ("http", {"SLACK_BOT_TOKEN": BOT_TOKEN}, "Slack: SLACK_SIGNING_SECRET is not set"),
        ("http", {"SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": "s"}, "refused (invalid_auth)"),
        ("socket", {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-wrong"}, "app-level token was refused"),
        ("http", {"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": "s"}, "does not start with xoxb-"),
    ],
)
async def test_check_slack_says_what_is_wrong(slack: FakeSlack, mode: str, env: dict[str, str], expected: str) -> None:
    lines = await check_slack(slack_config(slack, mode=mode, env=env))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("Slack: ") for line in lines)


async def test_check_slack_names_the_scopes_an_older_install_lacks(slack: FakeSlack) -> None:
    slack.scopes = ["commands", "chat:write", "chat:write.public", "users:read", "channels:history", "groups:history"]
    lines = await check_slack(slack_config(slack, mode="http"))
    assert lines[0].startswith("Slack: bot token OK")
    [missing] = lines[1:]
    assert "lacks reactions:read, app_mentions:read, files:write" in missing
    assert "reactions teaching the radar" in missing and "reinstall" in missing


def test_the_doctor_knows_every_scope_the_manifest_asks_for() -> None:
    from adapters.slack_client import SCOPES

    manifest = (ROOT / "slack" / "manifest.yml").read_text()
    scopes_part = manifest.split("\n    bot:\n", 1)[1].split("\nsettings:", 1)[0]
    assert re.findall(r"^ {6}- ([a-z_.:]+)", scopes_part, re.M) == list(SCOPES)


async def test_check_slack_when_slack_is_unreachable() -> None:
    with FakeSlack() as gone:
        config = slack_config(gone, mode="http")
    lines = await check_slack(config)
    assert lines == [f"Slack: cannot reach {config.get('slack', 'api_url')} (ClientConnectorError)"]


# --- the manifest and the docs ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_the_manifest_declares_the_command_scopes_interactivity_and_socket_mode() -> None:
    manifest = (ROOT / "slack" / "manifest.yml").read_text()
    assert re.search(r"^\s+- command: /paper$", manifest, re.M)
    assert re.search(r"^\s+usage_hint: \"[^\"]+\"$", manifest, re.M)
    scopes_part = manifest.split("\n    bot:\n", 1)[1].split("\nsettings:", 1)[0]
    scopes = re.findall(r"^ {6}- ([a-z_.:]+)\s+# \S", scopes_part, re.M)  # each scope says why it is needed
    assert scopes == [
        "commands", "chat:write", "chat:write.public", "users:read", "channels:history", "groups:history",
        "reactions:read", "app_mentions:read", "files:write",
    ]  # fmt: skip
    assert len(scopes) == len(re.findall(r"^ {6}- ", scopes_part, re.M))
    events = re.search(r"^  event_subscriptions:\n    bot_events:.*\n((?: {6}- \w+\n)+)", manifest, re.M)
    assert events is not None
    assert events.group(1).split() == ["-", "reaction_added", "-", "reaction_removed", "-", "app_mention"]
    assert re.search(r"interactivity:\n\s+is_enabled: true", manifest)
    assert re.search(r"^\s+socket_mode_enabled: true$", manifest, re.M)


def test_the_docs_name_every_slack_setting_and_secret() -> None:
    docs = (ROOT / "docs" / "slack.md").read_text()
    for key in SCHEMA["slack"]:
        assert f"`[slack] {key}`" in docs, key
    for secret in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert secret in docs
    for code in UNAVAILABLE:
        assert f"`{code}`" in docs, code
    assert "/paper subscribe cs.LG" in docs and "paperbot run" in docs


# --- exactly once after a crash ---------------------------------------------------------------------


async def test_a_digest_cut_by_a_crash_is_completed_from_the_channel_history(harness: Harness) -> None:
    """The outbox left the digest "sending" after Slack got its first part: on restart the adapter
    finds that part in the history (message metadata) and posts only the rest."""
    from bot.delivery import resume_unfinished
    from bot.outbox import Outbox

    engine = harness.engine
    here = ChannelRef("slack", TEAM_ID, "C777")
    engine.store.subscribe(Subscription(id=0, channel=here, category="stat.ML"))
    await engine.plan_digest(here, engine.store.channel_subscriptions(here))  # fetches the feed
    # Every new paper (29), so that the drawing takes several messages.
    selection = select_digest(engine.store, here, engine.store.channel_subscriptions(here), limit=0)
    message = engine.digest_message(selection)
    parts = render_digest(message)
    assert len(parts) >= 2
    outbox = Outbox(engine.store)
    row = outbox.plan(here, selection.announced, selection.categories, [p.id for p in selection.papers])  # type: ignore[arg-type]
    outbox.sending(row.key)
    # The first part reached Slack, then the process died.
    first = {
        "event_type": "paperbot_digest",
        "event_payload": {"key": row.key, "part": 0, "parts": len(parts), "kind": "header"},
    }
    await harness.adapter._post(here.channel, parts[0], metadata=first)
    before = len(harness.slack.posts("C777"))
    assert await resume_unfinished(engine, {"slack": harness.adapter}) == 1
    posted = harness.slack.posts("C777")
    assert len(posted) - before == len(parts) - 1  # only the missing parts
    assert outbox.get(row.key).state == "sent"  # type: ignore[union-attr]
    # Every part of the digest is now in the channel exactly once.
    keys = [m["metadata"]["event_payload"]["part"] for m in harness.slack.history["C777"] if m.get("metadata")]
    assert sorted(keys) == list(range(len(parts)))
    # Each part is recorded, the one posted before the crash too (found in the history): reactions and
    # threads on any of them find their paper.
    found = [posted_messages.find(engine.store, here, m["ts"]) for m in harness.slack.history["C777"]]
    assert [(f.kind, f.paper_id, f.outbox_key) for f in found if f is not None] == [
        (MessageKind.HEADER, None, row.key),
        *((MessageKind.CARD, p.paper_id, row.key) for p in parts[1:]),
    ]


async def test_without_history_access_a_cut_digest_is_sent_again(harness: Harness) -> None:
    from bot.delivery import resume_unfinished
    from bot.outbox import Outbox

    harness.slack.history_scope = False
    engine = harness.engine
    here = ChannelRef("slack", TEAM_ID, "C778")
    engine.store.subscribe(Subscription(id=0, channel=here, category="stat.ML"))
    selection = await engine.plan_digest(here, engine.store.channel_subscriptions(here))
    outbox = Outbox(engine.store)
    row = outbox.plan(here, selection.announced, selection.categories, [p.id for p in selection.papers])  # type: ignore[arg-type]
    outbox.sending(row.key)
    assert await harness.adapter.already_posted(here, row.key) is None
    await resume_unfinished(engine, {"slack": harness.adapter})
    assert outbox.get(row.key).state == "sent"  # type: ignore[union-attr]


async def test_the_radar_is_shown_to_anyone_and_changed_by_admins(harness: Harness) -> None:
    harness.slack.set_user(USER, is_admin=False)
    [refused] = await harness.command('radar add "conformal prediction"')
    assert "Only people who can manage this channel" in refused["text"]
    [shown] = await harness.command("radar list")
    assert "has no radar" in shown["text"]
    harness.slack.set_user("W222", is_admin=True)  # another person: admin checks are cached per person
    [added] = await harness.command('radar add "conformal prediction"', user="W222")
    assert "Added" in added["text"] and "conformal prediction" in added["text"]


def test_an_error_answer_that_is_not_slacks_json_is_named_by_its_status() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    from adapters.slack_client import error_code

    def answer(data: Any, status: int) -> SlackApiError:
        response = AsyncSlackResponse(
            client=None, http_verb="POST", api_url="u", req_args={}, data=data, headers={}, status_code=status
        )
        return SlackApiError("failed", response)

    assert error_code(answer({"ok": False, "error": "channel_not_found"}, 200)) == "channel_not_found"
    assert error_code(answer("<html>414 Request-URI Too Large</html>", 414)) == "HTTP 414"
