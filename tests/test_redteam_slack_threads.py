"""Hostile Slack events against the real bolt app and slack_sdk client (fake Slack, Socket Mode): malformed,
oversized or foreign app_mention and reaction events are ignored or answered with the short hint, never
a traceback at ERROR, and the listener keeps answering the next real question."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.slack_events import THREAD_HINT
from bot.untrusted import MAX_UNTRUSTED_CHARS
from tests.fakes.slack_server import FakeSlack
from tests.test_slack_adapter import CHANNEL, USER, slack  # noqa: F401 (fixtures)
from tests.test_slack_feedback import (  # noqa: F401 (fixtures)
    CARD_PAPERS,
    Socket,
    mention_event,
    reaction_event,
    socket,
)

OTHER_CHANNEL = "C0OTHER"


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def _still_answers(socket: Socket, card: str) -> None:  # noqa: F811
    """The listener survived: a real question in the card's thread is answered there."""
    before = len(socket.answerer.asked)
    await socket.event(mention_event("still there?", "1711440099.000001", thread_ts=card))
    assert len(socket.answerer.asked) == before + 1
    assert socket.answerer.asked[-1].paper_id == CARD_PAPERS[0]


async def test_malformed_and_oversized_mentions_are_ignored_without_an_error(
    socket: Socket,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, card, *_ = await socket.digest()
    caplog.set_level(logging.INFO)
    hostile: list[dict[str, Any]] = []
    for field_name, value in (
        ("thread_ts", float(card)),  # a number: not a thread Slack would send
        ("ts", None),
        ("channel", {"id": CHANNEL}),
        ("user", [USER]),
        ("text", 12345),
        ("ts", "9" * 10_000),  # a ts no integer conversion takes
        ("thread_ts", "1" * 10_000),
    ):
        event = mention_event("what?", f"1711440001.{len(hostile):06d}", thread_ts=card)
        event[field_name] = value
        hostile.append(event)
    for event in hostile:
        await socket.event(event)
    assert [q.text for q in socket.answerer.asked] == [""]
    assert len([p for p in socket.slack.posts(CHANNEL) if p.args.get("thread_ts")]) == 1  # the stand-in's answer
    assert all(THREAD_HINT in h.args["text"] for h in socket.slack.ephemerals())
    assert _errors(caplog) == []
    await _still_answers(socket, card)


async def test_a_huge_question_reaches_the_engine_bounded(socket: Socket) -> None:  # noqa: F811
    _, card, *_ = await socket.digest(1)
    await socket.event(mention_event("why " * 100_000, "1711440002.000001", thread_ts=card))
    [asked] = socket.answerer.asked
    assert 0 < len(asked.text) <= MAX_UNTRUSTED_CHARS


async def test_a_mention_in_another_channel_naming_a_cards_ts_asks_about_nothing(socket: Socket) -> None:  # noqa: F811
    """posted_messages is per channel: channel B's thread with the ts of channel A's card is not a paper thread."""
    _, card, *_ = await socket.digest(1)
    event = mention_event("what about this?", "1711440003.000001", thread_ts=card)
    event["channel"] = OTHER_CHANNEL
    await socket.event(event)
    assert socket.answerer.asked == []
    [hint] = socket.slack.ephemerals(OTHER_CHANNEL)
    assert THREAD_HINT in hint.args["text"]
    assert socket.slack.posts(OTHER_CHANNEL) == [] and not [
        p for p in socket.slack.posts(CHANNEL) if p.args.get("thread_ts")
    ]


async def test_a_mention_from_another_workspace_asks_about_nothing(socket: Socket, slack: FakeSlack) -> None:  # noqa: F811
    _, card, *_ = await socket.digest(1)
    envelope = slack.send_event(mention_event("and this?", "1711440004.000001", thread_ts=card), team_id="T999")
    assert await slack.wait_async(lambda: any(a.get("envelope_id") == envelope for a in slack.socket_acks))
    await socket.adapter.idle()
    assert socket.answerer.asked == []


async def test_hostile_reactions_teach_nothing_and_raise_nothing(
    socket: Socket,  # noqa: F811
    slack: FakeSlack,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, card, *_ = await socket.digest(1)
    caplog.set_level(logging.INFO)
    numeric_ts = reaction_event("+1", card)
    numeric_ts["item"]["ts"] = float(card)
    by_bot_id = reaction_event("+1", card, user="BBOT")  # the bot, named by its bot id
    no_item = reaction_event("+1", card)
    no_item["item"] = ["message", card]
    for event in (numeric_ts, by_bot_id, no_item, reaction_event("x" * 10_000, card)):
        await socket.event(event)
    envelope = slack.send_event(reaction_event("+1", card), team_id="T999")  # the same ts in another workspace
    assert await slack.wait_async(lambda: any(a.get("envelope_id") == envelope for a in slack.socket_acks))
    await socket.adapter.idle()
    assert socket.likes() == []
    assert _errors(caplog) == []
    await socket.event(reaction_event("+1", card))  # and a real one still teaches
    assert len(socket.likes()) == 1


async def test_fifty_mentions_outside_a_thread_are_one_hint_per_person_an_hour(socket: Socket) -> None:  # noqa: F811
    """The same limit as Discord's public hint, from the same place (bot.hint_limit)."""
    for i in range(50):
        await socket.event(mention_event("how do I ask?", f"1711440100.{i:06d}"))
    await socket.event(mention_event("and me?", "1711440200.000001", user="U0SECOND"))
    await socket.adapter.idle()
    hints = socket.slack.ephemerals(CHANNEL)
    assert len(hints) == 2 and all(THREAD_HINT in h.args["text"] for h in hints)
    assert socket.answerer.asked == []
