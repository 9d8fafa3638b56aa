"""Fan-out benchmark, run by hand: `python bench/bench_fanout.py [CHANNELS]` from the repository root.

1,000 channels each get today's digest (10 papers, drawn as 2 messages) through the real engine,
outbox and scheduler fan-out, posted to a fake chat platform on loopback that allows 1 message per
second per channel (429 + Retry-After beyond). The floor that limit forces is 1 s (the second message
of each channel must wait a second); the target is to finish within 1.2× that plus nothing else,
with peak memory ≤ 200 MB (the platform fake runs in the same process and is included).
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

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


async def run(channels: int) -> None:
    store = Store(Path(tempfile.mkdtemp()) / "fanout.db")
    store.migrate()
    store.save_feed(parse_rss(FEED, ["stat.ML"]), fetched_at=NOW)
    for n in range(channels):
        channel = ChannelRef("chat", "", f"c{n}")
        store.subscribe(Subscription(id=0, channel=channel, category="stat.ML", time="09:00", timezone="UTC"))
    config = Config(values=validate({"delivery": {"concurrency": channels}}), source="bench", env={})
    arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query")
    engine = Engine(config, store, arxiv, now=lambda: NOW)
    # The platform runs in its own process, as a real one would: its CPU is not the bot's.
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.chat_platform", "1.0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        poster = KeyedHttpPoster(url)
        scheduler = DigestScheduler(engine, {"chat": poster}, now=lambda: NOW)
        find_concepts("warm-up")  # build the glossary matcher once, as the running bot has long done
        start = time.perf_counter()
        await scheduler.run_slot(("09:00", "UTC"))
        elapsed = time.perf_counter() - start
        per_channel = Counter()
        for channel in range(channels):
            async with poster.session.get(f"{url}/channels/c{channel}/messages") as response:
                per_channel[len(await response.json())] += 1
        await poster.aclose()
    finally:
        server.kill()
    await engine.aclose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = max(per_channel) - 1.0
    print(
        f"fan-out: {channels} channels, messages per channel {dict(per_channel)}, {elapsed:.2f} s "
        f"(the 1 message/s/channel floor is {floor:.0f} s: {elapsed / floor:.2f}× it; target ≤ 1.2×), "
        f"peak RSS of the bot {peak_mb:.0f} MB (target ≤ 200 MB)"
    )


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
