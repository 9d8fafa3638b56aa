"""Every layout fanned out to many channels through discord.py against the fake Discord enforcing
Discord's limits (in a twentieth of the time): all delivered, nothing twice, every header first."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from adapters.discord import DiscordAdapter, configure_endpoints
from adapters.discord_limiter import TokenBucket
from bot.cards import Layout
from bot.delivery import Outcome, deliver_digest
from bot.models import ChannelRef, Subscription
from tests.fakes.discord_limits import DiscordLimits
from tests.fakes.discord_server import GUILD_ID, FakeDiscord
from tests.support import make_config, make_engine
from tests.support_discord_layouts import LayoutPoster, bot_posts, discord_test_config, duplicates

SMALL = DiscordLimits(channel_messages=5, channel_window_s=0.25, global_requests=10, global_window_s=0.05)
CHANNELS = 12
CARDS = 6


@pytest.fixture(autouse=True)
def default_endpoints() -> Iterator[None]:
    yield
    configure_endpoints(make_config())


@pytest.mark.parametrize("layout", list(Layout))
async def test_every_channel_gets_its_digest_once_in_its_layout_headers_first(layout: Layout) -> None:
    async with FakeDiscord(limits=SMALL) as fake:
        engine = make_engine(config=discord_test_config(fake, digest={"limit": CARDS}))
        channels = [ChannelRef("discord", str(GUILD_ID), str(7000 + n)) for n in range(CHANNELS)]
        for channel in channels:
            engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
        limiter = TokenBucket.for_limit(SMALL.global_requests, SMALL.global_window_s)
        adapter = DiscordAdapter(engine, ready_timeout=10, guild_ready_timeout=0.05, limiter=limiter)
        await adapter.start()
        poster = LayoutPoster(adapter, layout)
        try:
            outcomes = await asyncio.gather(
                *(deliver_digest(engine, poster, c, engine.store.channel_subscriptions(c)) for c in channels)
            )
        finally:
            await adapter.stop()
    assert outcomes == [Outcome.POSTED] * CHANNELS
    assert duplicates(fake) == 0
    per_channel = Counter(m["channel_id"] for m in bot_posts(fake))
    embeds = Counter(m["channel_id"] for m in bot_posts(fake) for _ in m["embeds"])
    if layout is Layout.THREAD:
        assert sorted(fake.threads) == sorted(int(m["id"]) for m in bot_posts(fake) if m["channel_id"].startswith("70"))
        assert all(per_channel[str(t)] == CARDS for t in fake.threads)
    elif layout is Layout.COMPACT:
        assert all(per_channel[c.channel] <= 2 and embeds[c.channel] >= CARDS for c in channels)
    else:
        assert all(per_channel[c.channel] == 1 + CARDS for c in channels)
    posts = [c for c in fake.calls if c.method == "POST" and c.path.endswith("/messages")]
    headers = {c.path for c in posts if str((c.json or {}).get("content") or "").startswith("**arXiv digest")}
    assert len(headers) == CHANNELS
    assert {p.path for p in posts[:CHANNELS]} == headers  # every channel's header before any card
