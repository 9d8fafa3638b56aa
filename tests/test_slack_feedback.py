"""Reactions and questions in threads, end to end: the real bolt app in Socket Mode (and once over signed
HTTP) against the fake Slack, the real slack_sdk client, an Engine on an in-memory store. Events are the
recorded Events API bodies (tests/data/slack/event-*.json) with only their ids and texts changed."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from adapters.slack import SlackAdapter
from adapters.slack_events import (
    THREAD_HINT,
    plain_text,
    question_text,
    reaction_weight,
    read_reaction,
    thread_messages,
)
from bot import posted_messages, radar_teachers
from bot.cards import Reply
from bot.engine import Engine
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.questions import MAX_THREAD_MESSAGES, ThreadQuestion
from bot.radar import DISLIKE, LIKE, MAX_ENTRIES, Radar
from bot.store import Store
from tests.fakes.slack_server import TEAM_ID, FakeSlack
from tests.support import DATA, make_engine
from tests.test_slack_adapter import (  # noqa: F401 (fixtures)
    CHANNEL,
    HERE,
    PAPER,
    USER,
    Harness,
    Make,
    make_harness,
    sample_digest,
    sign,
    slack,
    slack_config,
)

RECORDED_REACTION = json.loads((DATA / "slack" / "event-reaction-added.json").read_text())
RECORDED_MENTION = json.loads((DATA / "slack" / "event-app-mention.json").read_text())
BOT_USER = "UBOT"  # the fake's auth.test user_id
OTHER = "W222"
HOSTILE = "<!channel> ping <@U123> and see <https://evil.example|arxiv.org> @everyone"


def reaction_event(name: str, ts: str, *, user: str = USER, removed: bool = False, **item: str) -> dict[str, Any]:
    event = copy.deepcopy(RECORDED_REACTION["event"])
    event.update(type="reaction_removed" if removed else "reaction_added", user=user, reaction=name)
    event["item"].update(channel=CHANNEL, ts=ts, **item)
    return cast(dict[str, Any], event)


def mention_event(text: str, ts: str, *, thread_ts: str | None = None, user: str = USER) -> dict[str, Any]:
    event = copy.deepcopy(RECORDED_MENTION["event"])
    event.update(text=f"<@{BOT_USER}> {text}", user=user, ts=ts, event_ts=ts, channel=CHANNEL, team=TEAM_ID)
    if thread_ts:
        event.update(thread_ts=thread_ts, parent_user_id=BOT_USER)
    return cast(dict[str, Any], event)


@dataclass
class Answerer:
    """Stands in for bot.questions.answer_question: records the questions, answers as told."""

    reply: Reply = field(default_factory=lambda: Reply(text=f"Eq. 3 weighs the two losses. {HOSTILE}"))
    fail: bool = False
    asked: list[ThreadQuestion] = field(default_factory=list)

    async def __call__(self, engine: Engine, question: ThreadQuestion) -> Reply:
        self.asked.append(question)
        if self.fail:
            raise RuntimeError("database password is hunter2")
        return self.reply


@dataclass
class Socket:
    slack: FakeSlack
    engine: Engine
    adapter: SlackAdapter
    answerer: Answerer

    async def event(self, event: dict[str, Any]) -> None:
        """Deliver one event, wait for the adapter's acknowledgement and for the work it started."""
        envelope = self.slack.send_event(event)
        acked = lambda: any(a.get("envelope_id") == envelope for a in self.slack.socket_acks)  # noqa: E731
        assert await self.slack.wait_async(acked, timeout=15)  # two cores shared with other work: be patient
        await asyncio.sleep(0)  # the listener has run by the time its ack is out; one more turn to be sure
        await self.adapter.idle()

    async def digest(self, cards: int = 3) -> list[str]:
        """Post a digest here; the ts of its messages (the header first, then a card per paper)."""
        before = len(self.slack.history.get(CHANNEL, []))
        await self.adapter.post_digest_keyed(HERE, sample_digest(cards), "digest-key-1")
        return [m["ts"] for m in self.slack.history[CHANNEL][before:]]

    def likes(self) -> list[tuple[str, float, str]]:
        return [(like.paper_id, like.weight, like.origin) for like in Radar(self.engine.store).profile(HERE).likes]


@pytest.fixture
async def socket(slack: FakeSlack) -> AsyncIterator[Socket]:  # noqa: F811
    engine = make_engine()
    answerer = Answerer()
    adapter = SlackAdapter(engine, slack_config(slack, mode="socket"), post_interval_s=0.01, answer_question=answerer)
    await adapter.start()
    try:
        assert await slack.wait_async(lambda: slack.socket_connections == 1)
        yield Socket(slack, engine, adapter, answerer)
    finally:
        await adapter.stop()
        await engine.aclose()


CARD_PAPERS = [card.paper_id for card in sample_digest(3).cards]


# --- reactions -------------------------------------------------------------------------------------


async def test_a_thumbs_up_on_a_card_likes_its_paper_once_and_taking_it_back_undoes_it(socket: Socket) -> None:
    _, card, *_ = await socket.digest()
    await socket.event(reaction_event("+1", card))
    await socket.event(reaction_event("+1", card))  # delivered twice: counted once
    assert socket.likes() == [(CARD_PAPERS[0], LIKE, f"reaction:{USER}")]
    await socket.event(reaction_event("+1", card, user=OTHER))  # another person counts on their own
    assert len(socket.likes()) == 2
    await socket.event(reaction_event("+1", card, removed=True))
    assert socket.likes() == [(CARD_PAPERS[0], LIKE, f"reaction:{OTHER}")]  # exactly that person's entry


async def test_stars_skin_tones_and_thumbs_down_teach_and_a_later_reaction_replaces_an_earlier_one(
    socket: Socket,
) -> None:
    _, first, second, third = await socket.digest()
    await socket.event(reaction_event("star2", first))
    await socket.event(reaction_event("+1::skin-tone-3", second))
    await socket.event(reaction_event("thumbsdown", third))
    assert sorted(socket.likes()) == sorted(
        [
            (CARD_PAPERS[0], LIKE, f"reaction:{USER}"),
            (CARD_PAPERS[1], LIKE, f"reaction:{USER}"),
            (CARD_PAPERS[2], DISLIKE, f"reaction:{USER}"),
        ]
    )
    # Changing one's mind: 👍 after 👎 replaces it; taking back the old 👎 then leaves the 👍.
    await socket.event(reaction_event("-1", first))
    await socket.event(reaction_event("star2", first, removed=True))
    assert (CARD_PAPERS[0], DISLIKE, f"reaction:{USER}") in socket.likes()


async def test_reactions_that_teach_nothing_are_ignored(socket: Socket) -> None:
    header, card, *_ = await socket.digest()
    someone = socket.slack.add_message(CHANNEL, "a person's own message", user=OTHER)
    posts_before = len(socket.slack.posts())
    for event in (
        reaction_event("+1", card, user=BOT_USER),  # the bot's own reaction
        reaction_event("+1", header),  # the digest's header is about no paper
        reaction_event("+1", someone),  # a message the bot did not post
        reaction_event("+1", "1711449999.000001"),  # nothing at all
        reaction_event("heart_eyes", card),  # another emoji
        reaction_event("+1", card, type="file"),  # not a message
        reaction_event("-1", card, removed=True),  # taking back what was never given
    ):
        await socket.event(event)
    assert socket.likes() == []
    assert len(socket.slack.posts()) == posts_before  # nothing is said about a reaction
    assert socket.slack.count("chat.postEphemeral") == 0


async def test_a_reaction_on_an_explanation_in_a_cards_thread_likes_that_paper(socket: Socket) -> None:
    posted_messages.record(
        socket.engine.store, HERE, "1711440000.900001", MessageKind.EXPLANATION, paper_id=PAPER, thread_id="1.1"
    )
    await socket.event(reaction_event("glowing_star", "1711440000.900001"))
    assert socket.likes() == [(PAPER, LIKE, f"reaction:{USER}")]


async def test_a_reaction_over_signed_http_teaches_too(make_harness: Make) -> None:  # noqa: F811
    harness = await make_harness()
    await harness.adapter.post_digest(HERE, sample_digest(1))
    card = harness.slack.history[CHANNEL][-1]["ts"]
    body = copy.deepcopy(RECORDED_REACTION)
    body["event"] = reaction_event("thumbsup", card)
    text = json.dumps(body)
    status, _ = await harness.post(text, {**sign(text), "Content-Type": "application/json"})
    assert status == 200
    await harness.adapter.idle()
    likes = Radar(harness.engine.store).profile(HERE).likes
    assert [(like.paper_id, like.origin) for like in likes] == [(CARD_PAPERS[0], f"reaction:{USER}")]
    # Slack checking the request URL gets its challenge back.
    check = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    status, answer = await harness.post(check, {**sign(check), "Content-Type": "application/json"})
    assert status == 200 and "c-123" in answer


@pytest.mark.parametrize(
    ("name", "weight"),
    [
        ("+1", LIKE), ("thumbsup", LIKE), ("+1::skin-tone-6", LIKE), ("star", LIKE), ("star2", LIKE),
        ("glowing_star", LIKE), ("-1", DISLIKE), ("thumbsdown::skin-tone-2", DISLIKE), ("heart", None),
        ("star-struck", None), ("", None), ("+", None),
    ],
)  # fmt: skip
def test_which_reactions_count(name: str, weight: float | None) -> None:
    assert reaction_weight(name) == weight


def test_a_malformed_reaction_event_teaches_nothing() -> None:
    for event in ({}, {"item": "x"}, {"item": {"type": "message"}, "user": USER, "reaction": "+1"}):
        assert read_reaction(event, TEAM_ID, BOT_USER) is None


MANAGER = "W999"
TROLL = "W666"


async def _react_over_http(harness: Harness, name: str, ts: str, user: str) -> None:
    """One signed ``reaction_added`` event over HTTP, as Slack sends it."""
    body = copy.deepcopy(RECORDED_REACTION)
    body["event"] = reaction_event(name, ts, user=user)
    text = json.dumps(body)
    status, _ = await harness.post(text, {**sign(text), "Content-Type": "application/json"})
    assert status == 200
    await harness.adapter.idle()


def learned_by_person(store: Store, channel: ChannelRef) -> dict[str, list[str]]:
    """Each teacher's learned entries (paper ids), oldest first."""
    found: dict[str, list[str]] = {}
    for entry in Radar(store).entries(channel):
        person = radar_teachers.person_of(entry.origin)
        if person is not None:
            found.setdefault(person, []).append(entry.value)
    return found


async def test_one_persons_reactions_are_capped_and_give_way_to_what_a_manager_types(
    make_harness: Make,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(radar_teachers, "MAX_LEARNED_PER_PERSON", 3)  # the rule, at a size a test reaches fast
    harness = await make_harness()
    await harness.adapter.post_digest(HERE, sample_digest(6))
    cards = [m["ts"] for m in harness.slack.history[CHANNEL][-6:]]
    papers = [card.paper_id for card in sample_digest(6).cards]
    await _react_over_http(harness, "+1", cards[0], USER)  # someone else's like: the troll never displaces it
    for ts in cards:
        await _react_over_http(harness, "thumbsup", ts, TROLL)
    taught = learned_by_person(harness.engine.store, HERE)
    assert taught[TROLL] == papers[3:]  # their newest three: their oldest gave way to their own newer ones
    assert taught[USER] == papers[:1]

    # A manager fills the radar: what they type pushes learned entries out, oldest first.
    harness.slack.set_user(MANAGER, is_admin=True)
    room = MAX_ENTRIES - Radar(harness.engine.store).size(HERE)
    [added] = await harness.command("radar add " + " ".join(f"topic{i}" for i in range(room + 2)), user=MANAGER)
    assert "Added keywords" in added["text"] and "the oldest 2 learned entries" in added["text"]
    assert learned_by_person(harness.engine.store, HERE) == {TROLL: papers[4:]}
    assert Radar(harness.engine.store).size(HERE) == MAX_ENTRIES

    # Anyone sees who taught what, as plain text (never a mention); a manager can forget one person.
    [listed] = await harness.command("radar list", user=USER)
    drawn = json.dumps(listed["blocks"], ensure_ascii=False)
    assert f"👍 by {TROLL}" in drawn and f"learned, by person: {TROLL} 2" in drawn
    assert "<@" not in drawn
    [forgot] = await harness.command(f"radar remove {TROLL}", user=MANAGER)
    assert f"Forgot what {TROLL} taught" in forgot["text"] and "(2 entries)" in forgot["text"]
    assert learned_by_person(harness.engine.store, HERE) == {}


async def test_a_radar_full_of_typed_entries_refuses_more_and_a_reaction_then_teaches_nothing(
    make_harness: Make,  # noqa: F811
) -> None:
    harness = await make_harness()
    harness.slack.set_user(MANAGER, is_admin=True)
    [added] = await harness.command("radar add " + " ".join(f"topic{i}" for i in range(MAX_ENTRIES)), user=MANAGER)
    assert "Added keywords" in added["text"]
    [refused] = await harness.command("radar add onemore", user=MANAGER)
    assert f"at most {MAX_ENTRIES} entries" in refused["text"]
    await harness.adapter.post_digest(HERE, sample_digest(1))
    await _react_over_http(harness, "+1", harness.slack.history[CHANNEL][-1]["ts"], TROLL)
    assert learned_by_person(harness.engine.store, HERE) == {}


# --- questions in threads --------------------------------------------------------------------------


async def test_a_mention_in_a_cards_thread_is_answered_in_that_thread(socket: Socket) -> None:
    _, card, *_ = await socket.digest()
    earlier = socket.slack.add_message(CHANNEL, "Does Eq. 3 &amp; the <@W999> remark hold?", user=OTHER, thread_ts=card)
    question = socket.slack.add_message(CHANNEL, f"<@{BOT_USER}> what does λ control?", user=USER, thread_ts=card)
    socket.slack.add_message(CHANNEL, "a later reply", user=OTHER, thread_ts=card)  # after the question
    await socket.event(mention_event("what does λ control?", question, thread_ts=card))

    [asked] = socket.answerer.asked
    assert asked.paper_id == CARD_PAPERS[0] and asked.user == USER and asked.channel == HERE
    assert asked.text == "what does λ control?"  # the bot's mention taken out
    assert [m.from_bot for m in asked.thread] == [True, False]  # the card, then the earlier reply
    assert CARD_PAPERS[0] in asked.thread[0].text or "Conformal" in asked.thread[0].text
    assert asked.thread[1].text == "Does Eq. 3 & the @someone remark hold?"
    assert earlier != question

    [answer] = [p for p in socket.slack.posts(CHANNEL) if p.args.get("thread_ts") == card]
    text = answer.args["text"] + json.dumps(answer.args["blocks"])
    assert "Eq. 3 weighs the two losses." in text
    assert not re.search(r"<[!@#]|<https://evil|@(everyone|here|channel)", text)  # drawn by the renderer
    ts = socket.slack.history[CHANNEL][-1]["ts"]
    recorded = posted_messages.find(socket.engine.store, HERE, ts)
    assert recorded is not None
    assert (recorded.kind, recorded.paper_id, recorded.thread_id) == (MessageKind.ANSWER, CARD_PAPERS[0], card)


async def test_the_thread_passed_on_is_bounded_to_the_newest_messages(socket: Socket) -> None:
    _, card, *_ = await socket.digest(1)
    for i in range(MAX_THREAD_MESSAGES + 5):
        socket.slack.add_message(CHANNEL, f"message {i}", user=OTHER, thread_ts=card)
    question = socket.slack.add_message(CHANNEL, f"<@{BOT_USER}> and?", user=USER, thread_ts=card)
    await socket.event(mention_event("and?", question, thread_ts=card))
    [asked] = socket.answerer.asked
    assert [m.text for m in asked.thread] == [f"message {i}" for i in range(5, MAX_THREAD_MESSAGES + 5)]


async def test_a_mention_under_the_header_asks_about_no_single_paper(socket: Socket) -> None:
    header, *_ = await socket.digest(1)
    question = socket.slack.add_message(CHANNEL, f"<@{BOT_USER}> which is best?", user=USER, thread_ts=header)
    await socket.event(mention_event("which is best?", question, thread_ts=header))
    [asked] = socket.answerer.asked
    assert asked.paper_id is None


async def test_a_mention_outside_a_paper_thread_gets_only_a_private_hint(socket: Socket) -> None:
    await socket.digest(1)
    someone = socket.slack.add_message(CHANNEL, "my own thread", user=OTHER)
    reply_ts = socket.slack.add_message(CHANNEL, f"<@{BOT_USER}> hi", user=OTHER, thread_ts=someone)
    posts_before = len(socket.slack.posts())
    await socket.event(mention_event("hello", "1711440000.777777"))  # in the channel, not in a thread
    await socket.event(mention_event("hi", reply_ts, thread_ts=someone, user=OTHER))  # under someone else's message
    await socket.event(mention_event("hello?", "1711440000.777778"))  # again: the hint was given this hour
    assert socket.answerer.asked == []
    assert len(socket.slack.posts()) == posts_before  # nothing for the channel
    hints = socket.slack.ephemerals(CHANNEL)
    assert [h.args["user"] for h in hints] == [USER, OTHER]
    assert [h.args.get("thread_ts") for h in hints] == [None, someone]
    assert all(THREAD_HINT in h.args["text"] for h in hints)


async def test_a_private_or_failed_answer_goes_only_to_the_asker(socket: Socket) -> None:
    _, card, *_ = await socket.digest(1)
    posts_before = len(socket.slack.posts())
    socket.answerer.reply = Reply(text="You asked a lot today: try again in an hour.", ephemeral=True)
    await socket.event(mention_event("one?", "1711440000.800001", thread_ts=card))
    socket.answerer.fail = True
    await socket.event(mention_event("two?", "1711440000.800002", thread_ts=card))
    assert len(socket.slack.posts()) == posts_before
    limited, failed = socket.slack.ephemerals(CHANNEL)
    assert limited.args["thread_ts"] == card and "try again in an hour" in limited.args["text"]
    assert failed.args["user"] == USER and "Sorry, something went wrong on our side (reference " in failed.args["text"]
    assert "hunter2" not in json.dumps(failed.args)


async def test_a_mention_delivered_twice_is_answered_once(socket: Socket) -> None:
    _, card, *_ = await socket.digest(1)
    event = mention_event("what?", "1711440000.800003", thread_ts=card)
    await socket.event(event)
    await socket.event(event)
    assert len(socket.answerer.asked) == 1
    assert len([p for p in socket.slack.posts(CHANNEL) if p.args.get("thread_ts") == card]) == 1


async def test_the_engines_own_answer_is_what_a_thread_gets_by_default(slack: FakeSlack) -> None:  # noqa: F811
    """The adapter's default route: bot.questions.answer_question, with the engine."""
    engine = make_engine()
    await engine.refresh(["stat"])
    adapter = SlackAdapter(engine, slack_config(slack, mode="socket"), post_interval_s=0.01)
    await adapter.start()
    try:
        posted_messages.record(engine.store, HERE, "1711440000.000042", MessageKind.CARD, paper_id=PAPER)
        socket = Socket(slack, engine, adapter, Answerer())
        await socket.event(
            mention_event("What is the main result?", "1711440000.800004", thread_ts="1711440000.000042")
        )
        # Without an LLM the engine answers from the paper's own text, for the channel, in the thread.
        [answer] = [p for p in slack.posts(CHANNEL) if p.args.get("thread_ts") == "1711440000.000042"]
        assert "No LLM is set up" in answer.args["text"] + json.dumps(answer.args["blocks"])
        recorded = posted_messages.find(engine.store, HERE, slack.history[CHANNEL][-1]["ts"])
        assert recorded is not None and (recorded.kind, recorded.paper_id) == (MessageKind.ANSWER, PAPER)
    finally:
        await adapter.stop()
        await engine.aclose()


# --- translation, without I/O ----------------------------------------------------------------------


def test_slack_markup_becomes_plain_text() -> None:
    assert plain_text("<@U1> &lt;b&gt; &amp;lt; <!here> <https://x.example/a|label> <#C1|general>") == (
        "@someone <b> &lt; @here label (https://x.example/a) #general"
    )
    assert question_text(f"<@{BOT_USER}|paperbot>  what   is <@{BOT_USER}>?", BOT_USER) == "what is ?"


def test_the_thread_keeps_only_messages_before_the_question() -> None:
    messages = [
        {"ts": "10.000002", "text": "second", "user": OTHER},
        {"ts": "10.000001", "text": "card", "bot_id": "BBOT", "blocks": [{"type": "section", "text": {"text": "T"}}]},
        {"ts": "10.000003", "text": "the question", "user": USER},
        {"ts": "9.999999", "text": "", "user": OTHER},  # empty: nothing to pass on
    ]
    thread = thread_messages(messages, before="10.000003", bot_user=BOT_USER, bot_id="BBOT")
    assert [(m.text, m.from_bot) for m in thread] == [("T", True), ("second", False)]
