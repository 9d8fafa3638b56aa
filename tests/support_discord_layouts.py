"""Shared by the Discord layout tests and the Discord benchmark: digests in a given layout, a poster that
sets the layout a channel chose (the engine's side sets it from ``/paper layout``), and what the fake
Discord holds of the bot's posts; the fixtures of a test against the fake Discord (import them by name)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from adapters.discord import DiscordAdapter, configure_endpoints
from bot.cards import Card, DigestMessage, Layout, listing_links, make_card
from bot.config import Config, validate
from bot.models import ChannelRef
from bot.sources.arxiv import parse_rss
from tests.fakes.discord_server import BOT_USER_ID, TOKEN, FakeDiscord
from tests.support import STAT_FEED, make_config, make_engine

EPHEMERAL = 64
ANNOUNCED = date(2024, 3, 26)


def stat_cards(count: int = 10) -> tuple[Card, ...]:
    """Real cards from the recorded stat feed, numbered 1..count as a digest numbers them."""
    items = parse_rss(STAT_FEED, ["stat"]).items
    cards = [make_card(item.paper) for item in items]
    while len(cards) < count:  # more than the feed holds: the same cards again, under other ids
        cards += [replace(c, paper_id=f"{c.paper_id}{len(cards)}") for c in cards[: count - len(cards)]]
    return tuple(replace(card, number=n) for n, card in enumerate(cards[:count], start=1))


def layout_digest(layout: Layout, count: int = 10, *, more: int = 0, cards: tuple[Card, ...] = ()) -> DigestMessage:
    return DigestMessage(
        categories=("stat",),
        announced=ANNOUNCED,
        cards=cards or stat_cards(count),
        more_count=more,
        more_links=listing_links(["stat"]) if more else (),
        layout=layout,
    )


class LayoutPoster:
    """The adapter, with every digest it posts in ``layout``: what the engine does for a channel whose
    ``/paper layout`` is that."""

    def __init__(self, adapter: DiscordAdapter, layout: Layout) -> None:
        self.adapter = adapter
        self.layout = layout
        self.platform = adapter.platform

    def _laid_out(self, digest: DigestMessage) -> DigestMessage:
        return digest if digest.is_note else replace(digest, layout=self.layout)

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.adapter.post_digest(channel, self._laid_out(digest))

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        await self.adapter.post_digest_keyed(channel, self._laid_out(digest), key)

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        return await self.adapter.already_posted(channel, key)


def bot_posts(fake: FakeDiscord, channel_id: int | str | None = None) -> list[dict[str, Any]]:
    """The bot's messages as stored (oldest first), ephemeral answers left out; in one channel (or
    thread) when ``channel_id`` is given."""
    return [
        m
        for m in fake.messages.values()
        if m["author"]["id"] == str(BOT_USER_ID)
        and not int(m.get("flags", 0)) & EPHEMERAL
        and "webhook_id" not in m
        and (channel_id is None or m["channel_id"] == str(channel_id))
    ]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [button["custom_id"] for row in message.get("components", []) for button in row.get("components", [])]


def duplicates(fake: FakeDiscord) -> int:
    """Messages stored twice in one channel (the same content and embeds)."""
    seen: dict[tuple[str, str, str], int] = {}
    for m in bot_posts(fake):
        key = (m["channel_id"], m["content"], repr(m["embeds"]))
        seen[key] = seen.get(key, 0) + 1
    return sum(n - 1 for n in seen.values())


def discord_test_config(fake: FakeDiscord, **sections: dict[str, object]) -> Config:
    values = validate({"discord": {"api_url": fake.api_url, "gateway_url": fake.gateway_url}, **sections})
    return Config(values=values, source="test", env={"DISCORD_TOKEN": TOKEN})


async def started_adapter(fake: FakeDiscord, **sections: dict[str, object]) -> DiscordAdapter:
    adapter = DiscordAdapter(
        make_engine(config=discord_test_config(fake, **sections)), ready_timeout=10, guild_ready_timeout=0.05
    )
    await adapter.start()
    return adapter


# --- fixtures ---------------------------------------------------------------------------------------------


# Imported by name into a test module, these are its fixtures ``default_endpoints`` (automatic), ``fake``
# and ``bot``; the functions' own names differ from the fixtures' so the import shadows no test argument.


@pytest.fixture(name="default_endpoints", autouse=True)
def reset_discord_endpoints() -> Iterator[None]:
    """discord.py keeps its endpoints in class attributes: put the defaults back after each test."""
    yield
    configure_endpoints(make_config())


@pytest.fixture(name="fake")
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture(name="bot")
async def started_bot(fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    adapter = await started_adapter(fake)
    yield adapter
    await adapter.stop()
