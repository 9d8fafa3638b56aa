"""The thread layout with the day's briefing on Slack and Discord: the real adapters against their fakes
give the channel one message, the header opening with the briefing, with the cards in its thread; the
cards and compact layouts keep the briefing first on its own; a crash after the header posts nothing twice
and never the briefing alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters import discord_posting
from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from adapters.slack_blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS, blocks_size
from bot import layouts, posted_messages
from bot.cards import Layout
from bot.config import Config, validate
from bot.delivery import Outcome, deliver_digest, resume_unfinished
from bot.engine import Engine
from bot.models import ChannelRef
from bot.outbox import Kind
from bot.posted_messages import MessageKind
from bot.questions import paper_in_thread
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from tests.support import make_engine
from tests.support_discord_layouts import (  # noqa: F401 (the fixtures)
    bot_posts,
    custom_ids,
    duplicates,
    fake_discord,
    reset_discord_endpoints,
    started_adapter,
    started_bot,
)
from tests.support_thread_briefing import OPENS, follow, outbox_kinds

SLACK_CHANNEL = "C111"
SLACK_HERE = ChannelRef("slack", TEAM_ID, SLACK_CHANNEL)
DISCORD_HERE = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))


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
    subs = follow(engine, SLACK_HERE, Layout.THREAD)
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
    subs = follow(engine, SLACK_HERE, Layout.CARDS)
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
    subs = follow(engine, SLACK_HERE, Layout.THREAD)
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
    assert outbox_kinds(engine) == {Kind.DIGEST: "sent"}
    found = posted_messages.find(engine.store, SLACK_HERE, header["ts"])
    assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 10
    await engine.aclose()


# --- Discord -------------------------------------------------------------------------------------------


def _embedded(message: dict[str, Any]) -> str:
    return json.dumps(message.get("embeds", []), ensure_ascii=False)


async def test_discord_gets_one_channel_message_with_the_briefing_and_header_and_the_cards_in_its_thread(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    subs = follow(bot.engine, DISCORD_HERE, Layout.THREAD)
    assert await deliver_digest(bot.engine, bot, DISCORD_HERE, subs) == Outcome.POSTED
    [header] = bot_posts(fake, CHANNEL_ID)
    assert header["content"].startswith("**arXiv digest") and "thread" in header["content"]
    assert OPENS in _embedded(header)
    cards = bot_posts(fake, header["id"])
    assert len(cards) == 10 and not any(OPENS in _embedded(card) for card in cards)
    found = posted_messages.find(bot.engine.store, DISCORD_HERE, header["id"])
    assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 10
    assert paper_in_thread(bot.engine.store, found, "and #10?") == found.papers[9]
    assert outbox_kinds(bot.engine) == {Kind.DIGEST: "sent"}


async def test_discord_in_the_compact_layout_posts_the_briefing_first_as_before(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    subs = follow(bot.engine, DISCORD_HERE, Layout.COMPACT)
    await deliver_digest(bot.engine, bot, DISCORD_HERE, subs)
    note, *digest = bot_posts(fake, CHANNEL_ID)  # compact: as few messages as Discord's limits allow
    assert note["content"].startswith("Briefing") and not note["embeds"]
    assert not any(OPENS in _embedded(part) + (part["content"] or "") for part in digest)
    liked = [i for part in digest for i in custom_ids(part) if i.startswith("paper:like:")]
    assert len(liked) == 10  # every card, with its buttons


async def test_discord_crash_after_the_header_with_the_briefing_posts_nothing_twice_and_no_lone_briefing(
    fake: FakeDiscord, bot: DiscordAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = follow(bot.engine, DISCORD_HERE, Layout.THREAD)
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
    assert outbox_kinds(bot.engine) == {Kind.DIGEST: "sent"}


async def test_discord_where_no_thread_can_be_held_the_cards_header_keeps_the_briefing(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    fake.refuse_threads(CHANNEL_ID, 403, 50013, "Missing Permissions")
    subs = follow(bot.engine, DISCORD_HERE, Layout.THREAD)
    await deliver_digest(bot.engine, bot, DISCORD_HERE, subs)
    header, *cards = bot_posts(fake, CHANNEL_ID)
    assert fake.edits == [int(header["id"])] and "thread" not in header["content"]
    assert OPENS in _embedded(header) and len(cards) == 10  # the edit to the cards layout kept the briefing
