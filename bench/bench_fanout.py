"""Fan-out benchmark, run by hand: `python bench/bench_fanout.py [CHANNELS]` from the repository root.

1,000 channels each get today's digest (10 papers, drawn as 2 messages) through the real engine,
outbox and scheduler fan-out, posted to a fake chat platform on loopback that allows 1 message per
second per channel (429 + Retry-After beyond, rate-limit headers on every answer). The floor that limit
forces is 1 s (the second message of each channel must wait a second); the target is to finish within
1.2× that, with peak memory ≤ 200 MB.

The same run then replays the very same posts over HTTP alone: a plain client with the same pacing and
connection pool posts the same messages to fresh channels of the same platform, with no engine. The
bot's time over the replay's is what the engine adds; the floor ratio also counts the loopback HTTP
and the platform fake, which a real platform would not charge to this machine. Both phases report the
429s the platform answered and the TCP connections it accepted, so a stand-in that collects needless
429s or reconnects on every post shows in the figures instead of being timed as the bot.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.glossary import find_concepts  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from bot.sources.arxiv import ArxivClient, parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.keyed_poster import KeyedHttpPoster  # noqa: E402

FEED = (ROOT / "tests" / "data" / "rss-stat-2024-03-26.xml").read_bytes()
NOW = datetime(2024, 3, 26, 9, 0, tzinfo=UTC)
Posts = dict[str, list[dict[str, Any]]]  # channel -> the bodies it received, in order


@dataclass(frozen=True)
class Phase:
    seconds: float
    posted: int
    rejected: int  # 429s the platform answered
    connections: int  # TCP connections the platform accepted

    def describe(self) -> str:
        return f"{self.seconds:.2f} s, {self.posted} posts, {self.rejected} × 429, {self.connections} connections"


async def _stats(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with session.get(f"{url}/stats") as response:
        stats: dict[str, int] = await response.json()
        return stats


async def _timed(session: aiohttp.ClientSession, url: str, work: Any) -> Phase:
    before = await _stats(session, url)
    start = time.perf_counter()
    await work
    seconds = time.perf_counter() - start
    after = await _stats(session, url)
    return Phase(seconds, *(after[k] - before[k] for k in ("posted", "rejected", "connections")))


async def deliver_through_the_bot(channels: int, url: str, session: aiohttp.ClientSession) -> tuple[Phase, Engine]:
    store = Store(Path(tempfile.mkdtemp()) / "fanout.db")
    store.migrate()
    store.save_feed(parse_rss(FEED, ["stat.ML"]), fetched_at=NOW)
    for n in range(channels):
        channel = ChannelRef("chat", "", f"c{n}")
        store.subscribe(Subscription(id=0, channel=channel, category="stat.ML", time="09:00", timezone="UTC"))
    config = Config(values=validate({"delivery": {"concurrency": channels}}), source="bench", env={})
    arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query")
    engine = Engine(config, store, arxiv, now=lambda: NOW)
    poster = KeyedHttpPoster(url)
    scheduler = DigestScheduler(engine, {"chat": poster}, now=lambda: NOW)
    find_concepts("warm-up")  # build the glossary matcher once, as the running bot has long done
    phase = await _timed(session, url, scheduler.run_slot(("09:00", "UTC")))
    await poster.aclose()
    return phase, engine


async def replay_over_http(posts: Posts, url: str, session: aiohttp.ClientSession) -> Phase:
    """The same messages, the same pacing and pool, to fresh channels: only the HTTP part of a fan-out."""
    poster = KeyedHttpPoster(url)

    async def one_channel(channel: str, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            await poster.post_message(f"replay-{channel}", body)

    phase = await _timed(session, url, asyncio.gather(*(one_channel(c, b) for c, b in posts.items())))
    await poster.aclose()
    return phase


async def received(channels: int, url: str, session: aiohttp.ClientSession) -> Posts:
    posts: Posts = {}
    for n in range(channels):
        async with session.get(f"{url}/channels/c{n}/messages") as response:
            messages = await response.json()
        posts[f"c{n}"] = [{"nonce": m["nonce"], "text": m["text"]} for m in messages]
    return posts


async def run(channels: int) -> None:
    # The platform runs in its own process, as a real one would: its CPU is not the bot's.
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.chat_platform", "1.0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        async with aiohttp.ClientSession() as session:  # the benchmark's own calls: stats and listings
            bot, engine = await deliver_through_the_bot(channels, url, session)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            posts = await received(channels, url, session)
            replay = await replay_over_http(posts, url, session)
            await engine.aclose()
    finally:
        server.kill()
        server.wait()
    per_channel = Counter(len(bodies) for bodies in posts.values())
    floor = max(per_channel) - 1.0
    print(f"fan-out: {channels} channels, messages per channel {dict(per_channel)}")
    print(f"  bot (engine, outbox, scheduler, poster): {bot.describe()}")
    print(f"  HTTP-only replay of the same posts:      {replay.describe()}")
    print(
        f"  bot / replay: {bot.seconds / replay.seconds:.2f}×; against the {floor:.0f} s floor of 1 message/s per "
        f"channel: bot {bot.seconds / floor:.2f}×, replay {replay.seconds / floor:.2f}× (target ≤ 1.2×); "
        f"peak RSS of the bot {peak_mb:.0f} MB (target ≤ 200 MB)"
    )


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
