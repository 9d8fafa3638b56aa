"""A bot process for the crash test: delivers one slot's digests to the fake chat platform through the
real engine, outbox and scheduler fan-out, on a real SQLite file. The test SIGKILLs it at random points
and starts it again.

    python -m tests.crash_harness DB_PATH PLATFORM_URL
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.config import Config, validate
from bot.delivery import resume_unfinished
from bot.engine import Engine
from bot.scheduler import DigestScheduler
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes.keyed_poster import KeyedHttpPoster

SLOT = ("09:00", "UTC")
NOW = datetime(2024, 3, 26, 9, 0, tzinfo=UTC)  # the stored feed's announcement day


async def main(db_path: str, platform_url: str) -> None:
    store = Store(db_path)
    store.migrate()
    config = Config(values=validate({}), source="crash harness", env={})
    # Feeds are already stored for today: nothing goes to arXiv (an unreachable address, to be sure).
    arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query", retries=0)
    engine = Engine(config, store, arxiv, now=lambda: NOW)
    poster = KeyedHttpPoster(platform_url, per_channel_gap_s=0.05)  # the test platform allows 20/s
    scheduler = DigestScheduler(engine, {"chat": poster}, now=lambda: NOW)
    await resume_unfinished(engine, {"chat": poster})
    await scheduler.run_slot(SLOT)
    print("done", flush=True)
    await poster.aclose()
    await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
