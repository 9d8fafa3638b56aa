"""The thread layout with the day's briefing: one channel message, the header opening with the briefing,
and the cards in its thread; the other layouts keep the briefing as a message of its own before the
digest. Through the outbox (bot.delivery), the terminal, and each platform's drawing (limits, safety); the
real Slack and Discord adapters are in test_thread_briefing_platforms."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from adapters.discord_embeds import CONTENT_LIMIT, EMBEDS_PER_MESSAGE, MESSAGE_EMBED_TOTAL, units
from adapters.discord_layouts import render_layout
from adapters.slack_blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS, SECTION_MAX, blocks_size
from adapters.slack_layouts import lay_out
from bot import delivery, layouts
from bot.briefing import MAX_BRIEFING_CHARS
from bot.cards import DigestMessage, Layout, Reply, render_digest_text
from bot.commands import Invocation, dispatch
from bot.delivery import Outcome, deliver_digest, resume_unfinished, send_reply
from bot.engine import Engine
from bot.models import ChannelRef
from bot.outbox import Kind, Outbox
from bot.posted_messages import MessageKind
from bot.untrusted import MAX_UNTRUSTED_CHARS
from tests.support import make_engine
from tests.support_discord_layouts import layout_digest
from tests.support_payload_safety import HOSTILE, HOSTILE_SHAPES, strings, unsafe_parts
from tests.support_thread_briefing import OPENS, follow, outbox_kinds

LAB = ChannelRef("test", "w", "lab")


class Recorder:
    """A platform keeping what it is given; like Slack metadata or Discord nonces it can tell a key."""

    platform = "test"

    def __init__(self) -> None:
        self.messages: list[tuple[DigestMessage, str]] = []

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.post_digest_keyed(channel, digest, "")

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        del channel
        self.messages.append((digest, key))

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        del channel
        return any(k == key for _, k in self.messages)


# --- what the outbox gives each layout ---------------------------------------------------------------


async def test_in_the_thread_layout_the_digest_opens_with_the_briefing_and_no_briefing_row_exists() -> None:
    engine = make_engine()
    subs = follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    [(digest, key)] = platform.messages
    assert digest.layout == Layout.THREAD and len(digest.cards) == 10 and not digest.is_note
    assert digest.opening.startswith(OPENS) and len(digest.opening) <= MAX_BRIEFING_CHARS
    assert outbox_kinds(engine) == {Kind.DIGEST: "sent"}  # the briefing is the digest row's own: nothing left alone
    assert Outbox(engine.store).get(key).note == digest.opening  # type: ignore[union-attr]
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.ALREADY_POSTED
    assert len(platform.messages) == 1 and Outbox(engine.store).unfinished() == []
    await engine.aclose()


@pytest.mark.parametrize("layout", [Layout.CARDS, Layout.COMPACT])
async def test_the_cards_and_compact_layouts_keep_the_briefing_as_its_own_message_first(layout: Layout) -> None:
    engine = make_engine()
    subs = follow(engine, LAB, layout)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    (note, _), (digest, _) = platform.messages
    assert note.is_note and note.briefing and note.note.startswith(OPENS)
    assert digest.layout == layout and digest.opening == "" and len(digest.cards) == 10
    assert outbox_kinds(engine) == {Kind.BRIEFING: "sent", Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_when_the_briefing_cannot_be_made_the_thread_header_goes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails(engine: Engine, selection: Any) -> str:
        raise RuntimeError("the briefing broke")

    monkeypatch.setattr(delivery, "briefing_note", fails)
    engine = make_engine()
    subs = follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    [(digest, _)] = platform.messages
    assert digest.layout == Layout.THREAD and digest.opening == "" and len(digest.cards) == 10
    assert outbox_kinds(engine) == {Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_a_requested_digest_in_the_thread_layout_opens_with_the_briefing_whoever_draws_it() -> None:
    engine = make_engine()
    follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    said: list[Reply] = []

    async def answer(reply: Reply) -> None:
        said.append(reply)

    reply = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, reply, answer, poster=platform)
    [(digest, _)] = platform.messages
    assert digest.opening.startswith(OPENS) and digest.layout == Layout.THREAD
    assert outbox_kinds(engine) == {Kind.REQUESTED: "sent", Kind.DIGEST: "sent"}

    other = make_engine()  # drawn by the reply itself (no poster): one reply, opening with the briefing
    follow(other, LAB, Layout.THREAD)
    reply = await dispatch(other, Invocation(channel=LAB), "/paper digest")
    await send_reply(other, reply, answer)
    [drawn] = said
    assert drawn.digest is not None and drawn.digest.opening.startswith(OPENS) and drawn.digest.cards
    await engine.aclose()
    await other.aclose()


async def test_a_request_tried_again_after_failing_still_opens_with_the_briefing() -> None:
    engine = make_engine()
    follow(engine, LAB, Layout.THREAD)

    class Refuses(Recorder):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            raise ConnectionError("reset")

    said: list[Reply] = []

    async def answer(reply: Reply) -> None:
        said.append(reply)

    reply = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, reply, answer, poster=Refuses(), backoff_s=0)
    assert outbox_kinds(engine) == {Kind.REQUESTED: "failed"}
    platform = Recorder()
    again = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, again, answer, poster=platform, backoff_s=0)
    [(digest, _)] = platform.messages
    assert digest.opening.startswith(OPENS) and digest.layout == Layout.THREAD
    assert outbox_kinds(engine) == {Kind.REQUESTED: "sent", Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_a_digest_planned_for_the_thread_stays_in_it_when_the_channel_changes_before_a_restart() -> None:
    engine = make_engine()
    subs = follow(engine, LAB, Layout.THREAD)

    class Dies(Recorder):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            raise asyncio.CancelledError  # the process is killed as the header goes out

    with pytest.raises(asyncio.CancelledError):
        await deliver_digest(engine, Dies(), LAB, subs)
    [row] = Outbox(engine.store).unfinished()
    assert row.kind == Kind.DIGEST and row.state == "sending" and row.note.startswith(OPENS)
    layouts.set_layout(engine.store, LAB, Layout.CARDS)
    platform = Recorder()
    assert await resume_unfinished(engine, {"test": platform}) == 1
    [(digest, _)] = platform.messages  # no briefing alone: the header opens with it, in the thread layout
    assert digest.layout == Layout.THREAD and digest.opening == row.note
    assert outbox_kinds(engine) == {Kind.DIGEST: "sent"}
    await engine.aclose()


# --- the terminal ----------------------------------------------------------------------------------------


class Writes(io.StringIO):
    """A terminal that keeps each message the console writes."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def write(self, text: str) -> int:
        self.messages.append(text)
        return len(text)


@pytest.mark.parametrize("layout", list(Layout))
async def test_the_terminal_prints_the_briefing_in_the_thread_header_and_on_its_own_otherwise(layout: Layout) -> None:
    engine = make_engine()
    subs = follow(engine, CONSOLE_CHANNEL, layout)
    out = Writes()
    await deliver_digest(engine, ConsoleAdapter(engine, stdout=out), CONSOLE_CHANNEL, subs)
    if layout == Layout.THREAD:
        [message] = out.messages
        header, rule, opening = message.splitlines()[:3]
        assert header.startswith("arXiv digest · stat.ML") and set(rule) == {"="} and opening.startswith(OPENS)
        assert message.index("10 papers, in the thread below.") > message.index(OPENS)
        assert message.count("  │ 1. ") == 1
    else:
        note, digest = out.messages
        assert note.startswith(OPENS) and OPENS not in digest and digest.startswith("arXiv digest")
    await engine.aclose()


# --- drawing: limits and safety ----------------------------------------------------------------------------


def _thread_digest(opening: str, count: int = 10, *, more: int = 0) -> DigestMessage:
    return replace(layout_digest(Layout.THREAD, count, more=more), opening=opening)


def _hostile_briefing(size: int = MAX_BRIEFING_CHARS) -> str:
    text = " ".join(HOSTILE)
    return (text * (size // len(text) + 1))[:size]


@pytest.mark.parametrize("opening", [_hostile_briefing(), '&<>"\\' * 400, *HOSTILE_SHAPES.values()])
def test_the_thread_header_with_a_briefing_stays_within_every_limit_and_inert(opening: str) -> None:
    digest = _thread_digest(opening, more=3)
    slack_header, *slack_cards = lay_out(digest)
    blocks = list(slack_header.message.blocks)
    assert len(blocks) <= MAX_BLOCKS and blocks_size(blocks) <= MAX_MESSAGE_CHARS
    assert all(len(b.get("text", {}).get("text", "")) <= SECTION_MAX for b in blocks)
    assert slack_header.kind == MessageKind.DIGEST and len(slack_cards) == 10
    discord_header, *discord_cards = render_layout(digest)
    assert units(discord_header.content or "") <= CONTENT_LIMIT
    assert len(discord_header.embeds) <= EMBEDS_PER_MESSAGE and discord_header.embed_units <= MESSAGE_EMBED_TOTAL
    assert discord_header.papers == digest.paper_ids and len(discord_cards) == 10
    shown = [*strings(slack_header.message.payload()), discord_header.content or ""]
    shown += [text for embed in discord_header.embeds for text in strings(embed.to_dict())]
    terminal = render_digest_text(digest)
    shown.append(terminal)
    assert len(terminal) <= len(render_digest_text(_thread_digest(""))) + 2 * MAX_UNTRUSTED_CHARS + 2
    assert not [p for text in shown if len(text) < 30_000 for p in unsafe_parts(text)]


def test_a_real_size_briefing_is_drawn_whole_on_every_platform() -> None:
    opening = ("Sampling and inference (#1, #4, #7): new samplers with guarantees. " * 30)[:MAX_BRIEFING_CHARS]
    digest = _thread_digest(opening)
    slack_text = json.dumps(lay_out(digest)[0].message.payload(), ensure_ascii=False)
    discord_text = json.dumps([e.to_dict() for e in render_layout(digest)[0].embeds], ensure_ascii=False)
    for drawn in (slack_text, discord_text, render_digest_text(digest)):
        assert opening[:60] in drawn and opening[-40:] in drawn  # nothing cut


def test_compact_never_draws_an_opening_and_notes_are_unchanged() -> None:
    compact = replace(_thread_digest("Briefing · x"), layout=Layout.COMPACT)
    assert "Briefing" not in json.dumps([p.message.payload() for p in lay_out(compact)], ensure_ascii=False)
    assert "Briefing" not in render_digest_text(compact)
    note = DigestMessage(("stat",), date(2024, 3, 26), cards=(), note="No announcement.", opening="Briefing · x")
    assert "Briefing" not in render_digest_text(note)


def test_a_card_less_digest_draws_no_briefing_citing_cards_it_does_not_show() -> None:
    empty = replace(_thread_digest("Briefing · #1"), cards=())  # every planned paper gone from the store
    assert "Briefing" not in render_digest_text(empty)
    assert "Briefing" not in json.dumps([p.message.payload() for p in lay_out(empty)], ensure_ascii=False)
    assert not any(m.embeds for m in render_layout(empty))
