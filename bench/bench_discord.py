"""Discord fan-out benchmark, run by hand: `python bench/bench_discord.py [CHANNELS ...]` (default 200 1000).

Each channel gets a digest of a header and 10 cards (11 messages) at once, as the scheduler delivers a
slot, through the real engine, outbox and Discord adapter (discord.py) against the fake Discord of
`tests/fakes` enforcing Discord's limits: 5 messages per 5 s per channel, 50 requests per second per bot
(sliding window), global 429s with `X-RateLimit-Global`. Reported: digests delivered and failed,
duplicate messages (the same part twice in a channel), re-sends the fake absorbed by nonce, 429s (global,
per channel), and the time against the floor: messages ÷ 50/s (and 11 messages at 5 per 5 s per channel,
10 s, whichever is longer). Target ≤ 1.2× the floor, 0 failed, 0 duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.discord import DiscordAdapter, configure_endpoints  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.delivery import deliver_digest  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.discord_limits import DISCORD_LIMITS  # noqa: E402
from tests.fakes.discord_server import GUILD_ID, TOKEN, FakeDiscord  # noqa: E402
from tests.support import make_engine  # noqa: E402

CARDS = 10


async def run(channels: int) -> str:
    async with FakeDiscord(limits=DISCORD_LIMITS) as fake:
        values = validate(
            {"discord": {"api_url": fake.api_url, "gateway_url": fake.gateway_url}, "digest": {"limit": CARDS}}
        )
        config = Config(values=values, source="bench", env={"DISCORD_TOKEN": TOKEN})
        store = Store(Path(tempfile.mkdtemp()) / "discord.db")
        store.migrate()
        engine = make_engine(config=config, store=store)
        refs = [ChannelRef("discord", str(GUILD_ID), str(10_000 + n)) for n in range(channels)]
        for ref in refs:
            store.subscribe(Subscription(id=0, channel=ref, category="stat.ML"))
        adapter = DiscordAdapter(engine, ready_timeout=30, guild_ready_timeout=0.05)
        await adapter.start()
        try:
            start = time.perf_counter()
            outcomes = await asyncio.gather(
                *(deliver_digest(engine, adapter, r, store.channel_subscriptions(r)) for r in refs),
                return_exceptions=True,
            )
            seconds = time.perf_counter() - start
        finally:
            await adapter.stop()
            configure_endpoints(Config(values=validate({}), source="bench", env={}))
    tally = Counter(getattr(o, "value", type(o).__name__) for o in outcomes)
    stored = list(fake.messages.values())
    same = Counter((m["channel_id"], m["content"], repr(m["embeds"])) for m in stored)
    duplicates = sum(n - 1 for n in same.values())
    messages = channels * (1 + CARDS)
    floor = max(messages / DISCORD_LIMITS.global_requests, CARDS * DISCORD_LIMITS.channel_window_s / 5)
    limits = fake.rate_limits
    assert limits is not None
    return (
        f"{channels} channels × {1 + CARDS} messages: {tally.get('posted', 0)} delivered, "
        f"{channels - tally.get('posted', 0)} not ({dict(tally)}), {len(stored)} messages stored, "
        f"{duplicates} duplicates, {fake.deduped} re-sends deduped by nonce, "
        f"{limits.global_429s} global 429s, {limits.channel_429s} channel 429s; "
        f"{seconds:.1f} s against a {floor:.1f} s floor = {seconds / floor:.2f}×"
    )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    sizes = [int(a) for a in sys.argv[1:]] or [200, 1000]
    for channels in sizes:
        print(asyncio.run(run(channels)), flush=True)


if __name__ == "__main__":
    main()
