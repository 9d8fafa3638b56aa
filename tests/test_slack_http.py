"""Slack's HTTP mode as a hostile client sees it: the real bolt app served over HTTP on 127.0.0.1, requests
signed with Slack's algorithm (slack_sdk's SignatureVerifier, or HMAC over raw bytes for bodies that are not
text). Whatever arrives, the answer is 401/400/404/413, never 500, with one quiet log line and no traceback,
and nothing reaches a listener unless it is signed, fresh, first-seen and well-formed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from adapters.slack import SlackAdapter, progress_note
from adapters.slack_http import MAX_DEPTH, ReplayGuard, RequestRefused
from bot.commands import parse
from bot.engine import Engine
from tests.fakes.slack_server import FakeSlack
from tests.support import make_engine
from tests.test_slack_adapter import (
    PAPER,
    SIGNING_SECRET,
    GatedEngine,
    Harness,
    action_payload,
    slack_config,
    slash_fields,
)

FORM = "application/x-www-form-urlencoded"
VERIFIER = SignatureVerifier(SIGNING_SECRET)


def signed(body: bytes | str, *, timestamp: str | None = None, content_type: str = FORM) -> dict[str, str]:
    """Headers as Slack sends them. Text bodies are signed by slack_sdk itself; other bytes with the same
    HMAC-SHA256 of ``v0:{timestamp}:{body}`` (SignatureVerifier decodes bytes as UTF-8 first)."""
    ts = timestamp or str(int(time.time()))
    if isinstance(body, str):
        signature = VERIFIER.generate_signature(timestamp=ts, body=body)
        assert signature is not None
    else:
        signature = (
            "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


class Door:
    """The adapter in HTTP mode with an engine whose explain() is counted (an LLM call costs money)."""

    def __init__(self, harness: Harness, engine: GatedEngine) -> None:
        self.harness = harness
        self.engine = engine
        self.url = harness.url

    async def send(self, body: bytes | str, headers: dict[str, str] | list[tuple[str, str]]) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        async with self.harness.http.post(self.url, data=data, headers=headers) as response:
            return response.status, await response.text()

    async def load_papers(self) -> None:
        """The recorded stat feed, so that the paper clicked and explained is known."""
        await self.engine.refresh(["stat"])

    def listener_calls(self) -> int:
        """What reached a listener: anything answered, posted or explained."""
        slack = self.harness.slack
        return slack.count("response") + slack.count("chat.postMessage") + self.engine.calls


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    with FakeSlack() as slack:
        inner = make_engine()
        engine = GatedEngine(inner)
        engine.gate.set()
        adapter = SlackAdapter(cast(Engine, engine), slack_config(slack), host="127.0.0.1", port=0)
        await adapter.start()
        harness = Harness(slack, cast(Engine, engine), adapter, aiohttp.ClientSession())
        try:
            yield Door(harness, engine)
        finally:
            await adapter.stop()
            await harness.http.close()
            await inner.aclose()


def quiet(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records of one exchange; asserts none is an error and none carries a traceback."""
    records = list(caplog.records)
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records]
    return records


def refusal_lines(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if "Slack HTTP request refused" in r.getMessage()]


def command_body(door: Door, text: str = "help") -> str:
    return urlencode(slash_fields(text, door.harness.slack.response_url()))


def click_body(door: Door, actions: Any = None) -> str:
    payload = action_payload(PAPER, door.harness.slack.response_url(), message_ts="1711440000.000001")
    if actions is not None:
        payload["actions"] = actions
    return urlencode({"payload": json.dumps(payload)})


EVENT = (
    '{"type":"event_callback","team_id":"T111","event":{"type":"reaction_added","user":"W111",'
    '"reaction":"+1","item":{"type":"message","channel":"C111","ts":"1.2"}}}'
)


def nested(depth: int) -> str:
    return '{"type":"block_actions","actions":' + "[" * depth + "]" * depth + "}"


# --- the five requests that used to answer 500 ---------------------------------------------------


async def test_a_timestamp_that_is_not_a_number_is_refused_before_parsing(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    body = command_body(door)
    for stamp in ("abc", " 1711440000", "1_711_440_000", "١٧١١٤٤٠٠٠٠", "1e9", "-1", "", "9" * 40):
        headers = {**signed(body), "X-Slack-Request-Timestamp": stamp}
        assert await door.send(body, headers) == (401, "invalid request signature"), stamp
    await door.harness.adapter.idle()
    assert door.listener_calls() == 0
    assert len(refusal_lines(quiet(caplog))) == 8


@pytest.mark.parametrize(
    ("name", "make_body", "status"),
    [
        ("invalid UTF-8", lambda door: b"command=%2Fpaper&text=\xff\xfe", 400),
        ("invalid UTF-8 in an escape", lambda door: "command=%2Fpaper&text=%ff%fe", 400),
        ("payload=notjson", lambda door: "payload=notjson", 400),
        ("deeply nested payload", lambda door: urlencode({"payload": nested(100_000)}), 400),
        ("deeply nested JSON body", lambda door: nested(100_000), 400),
        ("nested just too deep", lambda door: nested(MAX_DEPTH), 400),
        ("actions [1]", lambda door: '{"type":"block_actions","actions":[1]}', 400),
        ("actions [1] as a form", lambda door: click_body(door, [1]), 400),
        ("a lone surrogate", lambda door: click_body(door, [{"action_id": "\ud800"}]), 400),
        ("NaN", lambda door: '{"type":"block_actions","actions":[{"action_id":NaN}]}', 400),
        ("a huge integer", lambda door: '{"type":"block_actions","x":' + "1" * 5000 + "}", 400),
        ("payload and other fields", lambda door: click_body(door) + "&command=%2Fpaper", 400),
        ("a repeated field", lambda door: command_body(door) + "&text=list", 400),
        ("a NUL in a field", lambda door: command_body(door, "help\x00"), 400),
        ("an empty body", lambda door: "", 400),
        ("a JSON array", lambda door: "payload=%5B1%5D", 400),
        ("a slash command without a channel", lambda door: command_body(door).replace("channel_id=", "x="), 400),
        ("another command", lambda door: command_body(door).replace("command=%2Fpaper", "command=%2Fother"), 404),
        ("an event not subscribed to", lambda door: EVENT.replace("reaction_added", "message"), 404),
        ("an event of the wrong shape", lambda door: EVENT.replace('"user":"W111"', '"user":1'), 400),
        ("an event without its item", lambda door: EVENT.replace('"item"', '"x"'), 400),
        ("an event without an object", lambda door: '{"type":"event_callback","event":[1]}', 400),
        ("a URL check without a challenge", lambda door: '{"type":"url_verification"}', 400),
        ("a form that is no command", lambda door: "a=1", 404),
    ],
)
async def test_signed_but_malformed_requests_get_4xx_and_one_quiet_line(
    door: Door, caplog: pytest.LogCaptureFixture, name: str, make_body: Any, status: int
) -> None:
    body = make_body(door)
    assert (await door.send(body, signed(body)))[0] == status, name
    await door.harness.adapter.idle()
    assert door.listener_calls() == 0
    assert len(refusal_lines(quiet(caplog))) == 1


@pytest.mark.parametrize(
    "make_body",
    [
        lambda door: b"command=%2Fpaper&text=\xff",
        lambda door: "payload=notjson",
        lambda door: nested(100_000),
        lambda door: '{"type":"block_actions","actions":[1]}',
        lambda door: command_body(door),
    ],
)
async def test_unsigned_requests_get_401_whatever_the_body(
    door: Door, caplog: pytest.LogCaptureFixture, make_body: Any
) -> None:
    body = make_body(door)
    for headers in ({"Content-Type": FORM}, {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64}):
        assert await door.send(body, headers) == (401, "invalid request signature")
    await door.harness.adapter.idle()
    assert door.listener_calls() == 0
    assert len(refusal_lines(quiet(caplog))) == 2


async def test_repeated_signature_headers_are_refused(door: Door, caplog: pytest.LogCaptureFixture) -> None:
    body = command_body(door)
    good = signed(body)
    for name in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
        headers = [*good.items(), (name, good[name])]
        assert (await door.send(body, headers))[0] == 401
    await door.harness.adapter.idle()
    assert door.listener_calls() == 0
    quiet(caplog)


async def test_a_body_over_the_limit_is_refused(door: Door, caplog: pytest.LogCaptureFixture) -> None:
    body = b"text=" + b"a" * (2 * 1024 * 1024)
    assert (await door.send(body, signed(body)))[0] == 413
    assert door.listener_calls() == 0
    quiet(caplog)


# --- replays ---------------------------------------------------------------------------------------


async def test_a_replayed_explain_is_answered_once_and_costs_one_llm_call(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    await door.load_papers()
    body = command_body(door, f"explain {PAPER}")
    headers = signed(body)
    first = await door.send(body, headers)
    assert first[0] == 200 and first[1].startswith(f"Fetching {PAPER} from arXiv")
    for _ in range(3):
        assert await door.send(body, headers) == (401, "invalid request signature")
    await door.harness.adapter.idle()
    assert door.engine.calls == 1
    # One answer: the explanation, posted in the channel as the bot's own message.
    assert len(door.harness.slack.posts()) == 1 and door.harness.slack.count("response") == 0
    assert (
        refusal_lines(quiet(caplog))
        == ["Slack HTTP request refused (401): a replayed request (this signature was already answered)"] * 3
    )


async def test_a_replayed_click_is_answered_once(door: Door) -> None:
    await door.load_papers()
    body = click_body(door)
    headers = signed(body)
    assert (await door.send(body, headers))[0] == 200
    assert (await door.send(body, headers))[0] == 401
    await door.harness.adapter.idle()
    assert door.engine.calls == 1
    assert len(door.harness.slack.posts()) == 1


async def test_the_same_command_signed_again_is_a_new_request(door: Door) -> None:
    """Slack signs each request anew (another timestamp): only the very same signature is a replay."""
    body = command_body(door, "help")
    now = int(time.time())
    assert (await door.send(body, signed(body, timestamp=str(now))))[0] == 200
    assert (await door.send(body, signed(body, timestamp=str(now - 1))))[0] == 200
    await door.harness.adapter.idle()
    assert door.harness.slack.count("response") == 2


def test_the_replay_guard_forgets_only_what_has_gone_stale_and_stays_bounded() -> None:
    guard = ReplayGuard(window_s=300, limit=3)
    guard.admit("a", 1000, now=1000.0)
    guard.admit("b", 1100, now=1100.0)
    with pytest.raises(RequestRefused) as replay:
        guard.admit("a", 1000, now=1299.0)  # still within a's window
    assert replay.value.status == 401
    guard.admit("c", 1200, now=1301.0)  # a has expired (its timestamp is stale now): forgotten
    assert len(guard) == 2
    guard.admit("d", 1301, now=1301.0)
    with pytest.raises(RequestRefused) as full:
        guard.admit("e", 1301, now=1301.0)  # full: refusing is safer than forgetting b early
    assert full.value.status == 503
    guard.admit("e", 1501, now=1501.0)  # b and c have gone stale, room again
    assert len(guard) == 2


# --- well-formed requests still work ---------------------------------------------------------------


async def test_the_word_payload_in_a_command_is_just_a_word(door: Door) -> None:
    """bolt's own parser took any form body containing "payload" for an interaction (and dropped it)."""
    door.harness.slack.set_user("W111", is_admin=True)
    [answer] = await door.harness.command("explain payload")
    assert "is not an arXiv id" in answer["text"]


async def test_ssl_check_is_answered_when_signed(door: Door) -> None:
    body = "ssl_check=1&token=verification_token"
    assert (await door.send(body, signed(body)))[0] == 200
    assert (await door.send(body, {"Content-Type": FORM}))[0] == 401


async def test_a_click_sent_as_a_json_body_works(door: Door) -> None:
    await door.load_papers()
    payload = action_payload(PAPER, door.harness.slack.response_url(), message_ts="1711440000.000001")
    body = json.dumps(payload)
    assert (await door.send(body, signed(body, content_type="application/json")))[0] == 200
    await door.harness.adapter.idle()
    assert len(door.harness.slack.posts()) == 1


# --- the class: fuzzing the endpoint ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
CLICK_KEYS = ["type", "actions", "user", "team", "channel", "container", "message", "response_url", "enterprise"]
click_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "shortcut", ""]) | json_values},
    optional={key: json_values for key in CLICK_KEYS[1:]}
    | {"actions": st.lists(st.dictionaries(st.sampled_from(["action_id", "value", "block_id"]), json_values))},
)
FORM_KEYS = (
    "command text team_id channel_id user_id response_url payload ssl_check authorizations response_urls".split()
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    click_like.map(lambda v: json.dumps(v).encode()),
    click_like.map(lambda v: ("payload=" + quote(json.dumps(v))).encode()),
    st.dictionaries(
        st.sampled_from(FORM_KEYS),
        st.text(max_size=30),
    ).map(lambda d: urlencode(d).encode()),
    st.integers(1, 3000).map(lambda depth: nested(depth).encode()),
)
content_types = st.sampled_from([FORM, "application/json", "text/plain", "", "multipart/form-data; boundary=x"])
# Half the examples keep Slack's headers intact, so that most bodies get past the signature.
header_mutations = st.just("none") | st.sampled_from(["missing", "duplicated", "huge", "stale", "garbage", "uppercase"])


def mutate(headers: dict[str, str], how: str) -> list[tuple[str, str]]:
    items = list(headers.items())
    if how == "missing":
        return [(k, v) for k, v in items if k != "X-Slack-Signature"]
    if how == "duplicated":
        return [*items, ("X-Slack-Request-Timestamp", headers["X-Slack-Request-Timestamp"])]
    if how == "huge":
        return [(k, v * 50 if k.startswith("X-Slack") else v) for k, v in items]
    if how == "stale":
        return [(k, str(int(v) - 301) if k == "X-Slack-Request-Timestamp" else v) for k, v in items]
    if how == "garbage":
        return [(k, "v0=zz" if k == "X-Slack-Signature" else v) for k, v in items]
    if how == "uppercase":
        return [(k, v.upper() if k == "X-Slack-Signature" else v) for k, v in items]
    return items


def near_valid(door: Door, data: st.DataObject) -> bytes:
    """A real slash command or click with one field changed: what gets furthest into bolt."""
    if data.draw(st.booleans()):
        text = data.draw(
            st.sampled_from(["help", "list", f"explain {PAPER}", "explain", "usage"]) | st.text(max_size=40)
        )
        fields: dict[str, Any] = slash_fields(text, door.harness.slack.response_url())
        field = data.draw(st.sampled_from([*fields, "authorizations", "response_urls", "event", "payload"]))
        if data.draw(st.booleans()):
            fields[field] = data.draw(st.text(max_size=30))
        return urlencode(fields).encode()
    payload = action_payload(PAPER, door.harness.slack.response_url(), message_ts=f"{time.time():.6f}")
    target: Any = payload
    path: list[Any] = data.draw(
        st.sampled_from([[], ["actions", 0], ["user"], ["channel"], ["message"], ["container"]])
    )
    for step in path:
        target = target[step]
    key = data.draw(st.sampled_from([*target, "authorizations", "response_urls", "enterprise", "team"]))
    target[key] = data.draw(json_values)
    return urlencode({"payload": json.dumps(payload)}).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    body=bodies,
    content_type=content_types,
    how=header_mutations,
    signed_right=st.sampled_from([True, True, True, False]),
)
async def test_fuzzed_requests_never_get_500_nor_an_error_log(
    door: Door,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
    body: bytes,
    content_type: str,
    how: str,
    signed_right: bool,
) -> None:
    caplog.clear()
    if data.draw(st.booleans()):
        body, content_type = near_valid(door, data), FORM
    headers = signed(body, content_type=content_type) if signed_right else {"Content-Type": content_type}
    status, _ = await door.send(body, mutate(headers, how) if signed_right else list(headers.items()))
    await door.harness.adapter.idle()
    event(f"HTTP {status}")  # --hypothesis-show-statistics shows how far the examples got
    assert status in (200, 400, 401, 404, 413), status
    if status != 200:
        assert len(refusal_lines(quiet(caplog))) == 1
    else:
        quiet(caplog)
    if not signed_right or how != "none":
        assert status == 401


# --- the acknowledgement says what is being fetched ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("explain 2604.11422", "Fetching 2604.11422 from arXiv… the explanation follows in a few seconds."),
        ("explain arXiv:2604.11422v2", "Fetching 2604.11422v2 from arXiv… the explanation follows in a few seconds."),
        ("EXPLAIN https://arxiv.org/abs/2604.11422", "Fetching 2604.11422 from arXiv…"),
        ("digest", "Fetching the latest papers for this channel's digest…"),
        ("ask 2604.11422 what is x?", "Fetching 2604.11422 from arXiv… the answer follows in a few seconds."),
        ("ask not-an-id what?", None),
        ("explain not-an-id", None),
        ("help", None),
        ("list", None),
        ("usage", None),
        ("subscribe cs.LG", None),
    ],
)
def test_only_commands_that_fetch_say_so_at_once(text: str, note: str | None) -> None:
    command = parse(text)[0]
    said = progress_note(text, command)
    assert said == note if note is None else (said or "").startswith(note)


def test_with_an_llm_the_acknowledgement_says_the_model_is_asked_next() -> None:
    for text, what in (("explain 2604.11422", "explanation"), ("ask 2604.11422 what is x?", "answer")):
        said = progress_note(text, parse(text)[0], "claude-haiku-5-5")
        expected = f"Fetching 2604.11422 from arXiv, then asking claude-haiku-5-5… the {what} follows in a few seconds."
        assert said == expected


async def test_digest_says_at_once_that_it_is_fetching(door: Door) -> None:
    door.harness.slack.set_user("W111", is_admin=True)
    body = command_body(door, "digest")
    status, ack = await door.send(body, signed(body))
    # What is coming, in the ack itself: the digest follows through the response_url (the order of ack and
    # work is shown with a gated engine in test_slack_adapter).
    assert status == 200 and ack == "Fetching the latest papers for this channel's digest…"
    await door.harness.adapter.idle()


async def test_headers_over_the_server_limit_get_4xx_without_an_error_log(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = command_body(door)
    for name in ("X-Slack-Signature", "X-Slack-Request-Timestamp", "X-Anything"):
        status, _ = await door.send(body, {**signed(body), name: "9" * 20_000})
        assert 400 <= status < 500
    assert door.listener_calls() == 0
    quiet(caplog)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",  # TLS spoken to the plain port
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ncut short",
    ],
)
async def test_broken_http_gets_no_error_log(door: Door, caplog: pytest.LogCaptureFixture, raw: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", door.harness.adapter.port)
    writer.write(raw)
    await writer.drain()
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await asyncio.sleep(0.05)  # let the server finish with the connection
    assert not answer.startswith(b"HTTP/1.1 5")
    assert door.listener_calls() == 0
    quiet(caplog)
