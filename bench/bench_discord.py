"""Discord fan-out benchmark, run by hand:
`python bench/bench_discord.py [CHANNELS ...] [--layout cards|compact|thread|all]` (default 200 1000, cards).

Each channel gets a digest of a header and 10 cards at once, as the scheduler delivers a slot, through the
real engine, outbox and Discord adapter (discord.py) against the fake Discord of `tests/fakes` enforcing
Discord's limits: 5 messages per 5 s per channel (a thread is a channel of its own), 50 requests per second
per bot (sliding window), global 429s with `X-RateLimit-Global`. The digest is drawn in the layout asked
for (what `/paper layout` sets for a channel): `cards` (a header, then a message per card), `compact` (every
card in as few messages as Discord's limits allow, with 👍/👎 buttons), `thread` (the header, a thread
started from it, the cards in the thread).

Reported per layout and size: digests delivered and failed, messages stored, duplicate messages (the same
part twice in a channel), re-sends the fake absorbed by nonce, 429s (global, per channel), and the time
against the floor measured from the same run: the requests made (messages, and a thread start per channel)
÷ 50/s, or the busiest channel's messages at 5 per 5 s, whichever is longer. Target ≤ 1.2× the floor,
0 failed, 0 duplicates. The bot, its engine and the fake Discord share one process and event loop: on a
busy machine (the load average is printed) their work competes for the same core as the pacing does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.discord import DiscordAdapter, configure_endpoints  # noqa: E402
from bench.scratch import scratch_dir  # noqa: E402
from bot.cards import Layout  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.delivery import deliver_digest  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.discord_limits import DISCORD_LIMITS  # noqa: E402
from tests.fakes.discord_server import GUILD_ID, TOKEN, FakeDiscord  # noqa: E402
from tests.support import make_engine  # noqa: E402
from tests.support_discord_layouts import LayoutPoster, bot_posts, duplicates  # noqa: E402

CARDS = 10


def floor_seconds(requests: int, busiest_channel: int) -> float:
    """The least time Discord's limits allow: the global rate over every request, or the busiest channel's
    messages at 5 per 5 s (the first five at once, then five more each window)."""
    by_rate = requests / (DISCORD_LIMITS.global_requests / DISCORD_LIMITS.global_window_s)
    windows = max(0, math.ceil(busiest_channel / DISCORD_LIMITS.channel_messages) - 1)
    return max(by_rate, windows * DISCORD_LIMITS.channel_window_s)


async def run(channels: int, layout: Layout) -> str:
    async with FakeDiscord(limits=DISCORD_LIMITS) as fake:
        values = validate(
            {"discord": {"api_url": fake.api_url, "gateway_url": fake.gateway_url}, "digest": {"limit": CARDS}}
        )
        config = Config(values=values, source="bench", env={"DISCORD_TOKEN": TOKEN})
        store = Store(scratch_dir() / "discord.db")
        store.migrate()
        engine = make_engine(config=config, store=store)
        refs = [ChannelRef("discord", str(GUILD_ID), str(10_000 + n)) for n in range(channels)]
        for ref in refs:
            store.subscribe(Subscription(id=0, channel=ref, category="stat.ML"))
        adapter = DiscordAdapter(engine, ready_timeout=30, guild_ready_timeout=0.05)
        poster = LayoutPoster(adapter, layout)
        await adapter.start()
        try:
            start = time.perf_counter()
            outcomes = await asyncio.gather(
                *(deliver_digest(engine, poster, r, store.channel_subscriptions(r)) for r in refs),
                return_exceptions=True,
            )
            seconds = time.perf_counter() - start
        finally:
            await adapter.stop()
            configure_endpoints(Config(values=validate({}), source="bench", env={}))
    tally = Counter(getattr(o, "value", type(o).__name__) for o in outcomes)
    stored = bot_posts(fake)
    per_channel = Counter(m["channel_id"] for m in stored)
    requests = len(stored) + len(fake.threads)
    floor = floor_seconds(requests, max(per_channel.values(), default=0))
    limits = fake.rate_limits
    assert limits is not None
    delivered = tally.get("posted", 0)
    return (
        f"{layout:>7} · {channels:>5} channels: {delivered} delivered, {channels - delivered} failed"
        f"{'' if delivered == channels else f' ({dict(tally)})'}, {len(stored)} messages"
        f"{f' + {len(fake.threads)} thread starts' if fake.threads else ''} ({len(stored) / channels:.1f} a channel), "
        f"{duplicates(fake)} duplicates, {fake.deduped} re-sends deduped by nonce, "
        f"{limits.global_429s} global 429s, {limits.channel_429s} channel 429s; "
        f"{seconds:.1f} s against a {floor:.1f} s floor = {seconds / floor:.2f}× "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description="Discord fan-out against the fake Discord's limits")
    parser.add_argument("channels", nargs="*", type=int, default=[200, 1000])
    parser.add_argument("--layout", choices=[*(str(x) for x in Layout), "all"], default="cards")
    args = parser.parse_args()
    layouts = list(Layout) if args.layout == "all" else [Layout(args.layout)]
    for channels in args.channels:
        for layout in layouts:
            print(asyncio.run(run(channels, layout)), flush=True)


if __name__ == "__main__":
    main()
