"""The thread layout with the day's briefing: one channel message, the header opening with the briefing,
and the cards in its thread; the other layouts keep the briefing as a message of its own before the
digest. Driven through the outbox (bot.delivery) and the real Slack and Discord adapters against their
fakes, and the terminal."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from adapters import discord_posting
from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from adapters.discord import DiscordAdapter, configure_endpoints
from adapters.discord_embeds import CONTENT_LIMIT, EMBEDS_PER_MESSAGE, MESSAGE_EMBED_TOTAL, units
from adapters.discord_layouts import render_layout
from adapters.slack import SlackAdapter
from adapters.slack_blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS, SECTION_MAX, blocks_size
from adapters.slack_layouts import lay_out
from bot import briefing, delivery, layouts, posted_messages
from bot.briefing import MAX_BRIEFING_CHARS
from bot.cards import DigestMessage, Layout, Reply, render_digest_text
from bot.commands import Invocation, dispatch
from bot.config import Config, validate
from bot.delivery import Outcome, deliver_digest, resume_unfinished, send_reply
from bot.engine import Engine
from bot.models import ChannelRef, Subscription
from bot.outbox import Kind, Outbox
from bot.posted_messages import MessageKind
from bot.questions import paper_in_thread
from bot.untrusted import MAX_UNTRUSTED_CHARS
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from tests.support import make_config, make_engine
from tests.support_discord_layouts import bot_posts, custom_ids, duplicates, layout_digest, started_adapter
from tests.support_payload_safety import HOSTILE, HOSTILE_SHAPES, strings, unsafe_parts

OPENS = "Briefing · 10 papers · "  # how the offline briefing (no LLM in these tests) begins
SLACK_CHANNEL = "C111"
SLACK_HERE = ChannelRef("slack", TEAM_ID, SLACK_CHANNEL)
DISCORD_HERE = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
LAB = ChannelRef("test", "w", "lab")


def _follow(engine: Engine, channel: ChannelRef, layout: Layout, *, briefing_on: bool = True) -> list[Subscription]:
    engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
    briefing.set_on(engine.store, channel, briefing_on)
    layouts.set_layout(engine.store, channel, layout)
    return engine.store.channel_subscriptions(channel)


def _kinds(engine: Engine) -> dict[str, str]:
    return dict(engine.store.db.conn.execute("SELECT kind, state FROM outbox").fetchall())


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
    subs = _follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    [(digest, key)] = platform.messages
    assert digest.layout == Layout.THREAD and len(digest.cards) == 10 and not digest.is_note
    assert digest.opening.startswith(OPENS) and len(digest.opening) <= MAX_BRIEFING_CHARS
    assert _kinds(engine) == {Kind.DIGEST: "sent"}  # the briefing is the digest row's own: nothing left alone
    assert Outbox(engine.store).get(key).note == digest.opening  # type: ignore[union-attr]
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.ALREADY_POSTED
    assert len(platform.messages) == 1 and Outbox(engine.store).unfinished() == []
    await engine.aclose()


@pytest.mark.parametrize("layout", [Layout.CARDS, Layout.COMPACT])
async def test_the_cards_and_compact_layouts_keep_the_briefing_as_its_own_message_first(layout: Layout) -> None:
    engine = make_engine()
    subs = _follow(engine, LAB, layout)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    (note, _), (digest, _) = platform.messages
    assert note.is_note and note.briefing and note.note.startswith(OPENS)
    assert digest.layout == layout and digest.opening == "" and len(digest.cards) == 10
    assert _kinds(engine) == {Kind.BRIEFING: "sent", Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_when_the_briefing_cannot_be_made_the_thread_header_goes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails(engine: Engine, selection: Any) -> str:
        raise RuntimeError("the briefing broke")

    monkeypatch.setattr(delivery, "briefing_note", fails)
    engine = make_engine()
    subs = _follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    assert await deliver_digest(engine, platform, LAB, subs) == Outcome.POSTED
    [(digest, _)] = platform.messages
    assert digest.layout == Layout.THREAD and digest.opening == "" and len(digest.cards) == 10
    assert _kinds(engine) == {Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_a_requested_digest_in_the_thread_layout_opens_with_the_briefing_whoever_draws_it() -> None:
    engine = make_engine()
    _follow(engine, LAB, Layout.THREAD)
    platform = Recorder()
    said: list[Reply] = []

    async def answer(reply: Reply) -> None:
        said.append(reply)

    reply = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, reply, answer, poster=platform)
    [(digest, _)] = platform.messages
    assert digest.opening.startswith(OPENS) and digest.layout == Layout.THREAD
    assert _kinds(engine) == {Kind.REQUESTED: "sent", Kind.DIGEST: "sent"}

    other = make_engine()  # drawn by the reply itself (no poster): one reply, opening with the briefing
    _follow(other, LAB, Layout.THREAD)
    reply = await dispatch(other, Invocation(channel=LAB), "/paper digest")
    await send_reply(other, reply, answer)
    [drawn] = said
    assert drawn.digest is not None and drawn.digest.opening.startswith(OPENS) and drawn.digest.cards
    await engine.aclose()
    await other.aclose()


async def test_a_request_tried_again_after_failing_still_opens_with_the_briefing() -> None:
    engine = make_engine()
    _follow(engine, LAB, Layout.THREAD)

    class Refuses(Recorder):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            raise ConnectionError("reset")

    said: list[Reply] = []

    async def answer(reply: Reply) -> None:
        said.append(reply)

    reply = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, reply, answer, poster=Refuses(), backoff_s=0)
    assert _kinds(engine) == {Kind.REQUESTED: "failed"}
    platform = Recorder()
    again = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    await send_reply(engine, again, answer, poster=platform, backoff_s=0)
    [(digest, _)] = platform.messages
    assert digest.opening.startswith(OPENS) and digest.layout == Layout.THREAD
    assert _kinds(engine) == {Kind.REQUESTED: "sent", Kind.DIGEST: "sent"}
    await engine.aclose()


async def test_a_digest_planned_for_the_thread_stays_in_it_when_the_channel_changes_before_a_restart() -> None:
    engine = make_engine()
    subs = _follow(engine, LAB, Layout.THREAD)

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
    assert _kinds(engine) == {Kind.DIGEST: "sent"}
    await engine.aclose()


# --- Slack ---------------------------------------------------------------------------------------------


def _slack_config(slack: FakeSlack) -> Config:
    values = validate({"slack": {"mode": "socket", "api_url": slack.api_url}})
    return Config(values=values, source="test", env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})


async def _slack_adapter(slack: FakeSlack, engine: Engine) -> SlackAdapter:
    adapter = SlackAdapter(engine, _slack_config(slack), post_interval_s=0.01)
    await adapter.start()
    assert await slack.wait_async(lambda: slack.socket_connections >= 1)
    return adapter


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _top_level(slack: FakeSlack) -> list[dict[str, Any]]:
    """What the channel shows (not in a thread): each post's arguments, with the ts Slack gave it."""
    stored = slack.history.get(SLACK_CHANNEL, [])
    posts = [call.args for call in slack.posts(SLACK_CHANNEL)]
    assert len(posts) == len(stored)
    return [
        {**args, "ts": message["ts"]} for args, message in zip(posts, stored, strict=True) if not args.get("thread_ts")
    ]


def _said(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


async def test_slack_gets_one_channel_message_with_the_briefing_and_header_and_the_cards_in_its_thread(
    slack: FakeSlack,
) -> None:
    engine = make_engine()
    subs = _follow(engine, SLACK_HERE, Layout.THREAD)
    adapter = await _slack_adapter(slack, engine)
    try:
        assert await deliver_digest(engine, adapter, SLACK_HERE, subs) == Outcome.POSTED
    finally:
        await adapter.stop()
    [header] = _top_level(slack)
    blocks = header["blocks"]
    assert blocks[0]["type"] == "header" and OPENS in _said(header) and "in this message's thread" in _said(header)
    assert len(blocks) <= MAX_BLOCKS and blocks_size(blocks) <= MAX_MESSAGE_CHARS
    cards = [call.args for call in slack.posts(SLACK_CHANNEL) if call.args.get("thread_ts") == header["ts"]]
    assert len(cards) == 10 and not any(OPENS in _said(card) for card in cards)
    found = posted_messages.find(engine.store, SLACK_HERE, header["ts"])
    assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 10
    # The briefing cites cards as #n: a question under the header naming one is about that card.
    assert paper_in_thread(engine.store, found, "what does #3 assume?") == found.papers[2]
    await engine.aclose()


async def test_slack_in_the_cards_layout_posts_the_briefing_first_as_before(slack: FakeSlack) -> None:
    engine = make_engine()
    subs = _follow(engine, SLACK_HERE, Layout.CARDS)
    adapter = await _slack_adapter(slack, engine)
    try:
        await deliver_digest(engine, adapter, SLACK_HERE, subs)
    finally:
        await adapter.stop()
    note, header, *cards = _top_level(slack)
    assert OPENS in _said(note) and OPENS not in _said(header) and len(cards) == 10
    found = posted_messages.find(engine.store, SLACK_HERE, note["ts"])
    assert found is not None and found.kind == MessageKind.BRIEFING
    await engine.aclose()


async def test_slack_crash_after_the_header_with_the_briefing_posts_nothing_twice_and_no_lone_briefing(
    slack: FakeSlack,
) -> None:
    engine = make_engine()
    subs = _follow(engine, SLACK_HERE, Layout.THREAD)
    first = await _slack_adapter(slack, engine)
    slack.hold_posts_after(1)  # the header with the briefing is posted; the first card is on its way: kill
    sending = asyncio.ensure_future(deliver_digest(engine, first, SLACK_HERE, subs))
    assert await slack.wait_async(lambda: slack.held == 1, timeout=15)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    slack.release_held()
    await first.stop()
    engine.store.db.conn.execute("DELETE FROM posted_messages")  # killed before recording the header too
    layouts.set_layout(engine.store, SLACK_HERE, Layout.CARDS)  # and the channel changed its mind meanwhile
    restarted = await _slack_adapter(slack, engine)
    try:
        assert await resume_unfinished(engine, {"slack": restarted}) == 1
    finally:
        await restarted.stop()
    [header] = _top_level(slack)  # one channel message: the header, opening with the briefing
    assert OPENS in _said(header)
    parts = [int(m["metadata"]["event_payload"]["part"]) for m in slack.history[SLACK_CHANNEL] if m.get("metadata")]
    assert sorted(parts) == list(range(11))  # the header and each card exactly once
    assert all(m.get("thread_ts") == header["ts"] for m in slack.history[SLACK_CHANNEL][1:])
    assert _kinds(engine) == {Kind.DIGEST: "sent"}
    found = posted_messages.find(engine.store, SLACK_HERE, header["ts"])
    assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 10
    await engine.aclose()


# --- Discord -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def default_endpoints() -> Iterator[None]:
    """discord.py keeps its endpoints in class attributes: put the defaults back after each test."""
    yield
    configure_endpoints(make_config())


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    adapter = await started_adapter(fake)
    yield adapter
    await adapter.stop()


def _embedded(message: dict[str, Any]) -> str:
    return json.dumps(message.get("embeds", []), ensure_ascii=False)


async def test_discord_gets_one_channel_message_with_the_briefing_and_header_and_the_cards_in_its_thread(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    subs = _follow(bot.engine, DISCORD_HERE, Layout.THREAD)
    assert await deliver_digest(bot.engine, bot, DISCORD_HERE, subs) == Outcome.POSTED
    [header] = bot_posts(fake, CHANNEL_ID)
    assert header["content"].startswith("**arXiv digest") and "thread" in header["content"]
    assert OPENS in _embedded(header)
    cards = bot_posts(fake, header["id"])
    assert len(cards) == 10 and not any(OPENS in _embedded(card) for card in cards)
    found = posted_messages.find(bot.engine.store, DISCORD_HERE, header["id"])
    assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 10
    assert paper_in_thread(bot.engine.store, found, "and #10?") == found.papers[9]
    assert _kinds(bot.engine) == {Kind.DIGEST: "sent"}


async def test_discord_in_the_compact_layout_posts_the_briefing_first_as_before(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    subs = _follow(bot.engine, DISCORD_HERE, Layout.COMPACT)
    await deliver_digest(bot.engine, bot, DISCORD_HERE, subs)
    note, *digest = bot_posts(fake, CHANNEL_ID)  # compact: as few messages as Discord's limits allow
    assert note["content"].startswith("Briefing") and not note["embeds"]
    assert not any(OPENS in _embedded(part) + (part["content"] or "") for part in digest)
    liked = [i for part in digest for i in custom_ids(part) if i.startswith("paper:like:")]
    assert len(liked) == 10  # every card, with its buttons


async def test_discord_crash_after_the_header_with_the_briefing_posts_nothing_twice_and_no_lone_briefing(
    fake: FakeDiscord, bot: DiscordAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = _follow(bot.engine, DISCORD_HERE, Layout.THREAD)
    record = posted_messages.record

    def killed(*args: Any, **kwargs: Any) -> None:
        raise asyncio.CancelledError  # Discord took the header; the process died before recording it

    monkeypatch.setattr(discord_posting.posted_messages, "record", killed)
    with pytest.raises(asyncio.CancelledError):
        await deliver_digest(bot.engine, bot, DISCORD_HERE, subs)
    monkeypatch.setattr(discord_posting.posted_messages, "record", record)
    layouts.set_layout(bot.engine.store, DISCORD_HERE, Layout.CARDS)  # the channel changed its mind meanwhile
    assert await resume_unfinished(bot.engine, {"discord": bot}) == 1
    [header] = bot_posts(fake, CHANNEL_ID)
    assert OPENS in _embedded(header)
    assert len(bot_posts(fake, header["id"])) == 10 and duplicates(fake) == 0
    assert _kinds(bot.engine) == {Kind.DIGEST: "sent"}


async def test_discord_where_no_thread_can_be_held_the_cards_header_keeps_the_briefing(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    fake.refuse_threads(CHANNEL_ID, 403, 50013, "Missing Permissions")
    subs = _follow(bot.engine, DISCORD_HERE, Layout.THREAD)
    await deliver_digest(bot.engine, bot, DISCORD_HERE, subs)
    header, *cards = bot_posts(fake, CHANNEL_ID)
    assert fake.edits == [int(header["id"])] and "thread" not in header["content"]
    assert OPENS in _embedded(header) and len(cards) == 10  # the edit to the cards layout kept the briefing


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
    subs = _follow(engine, CONSOLE_CHANNEL, layout)
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
