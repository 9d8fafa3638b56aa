"""A bot process for the crash tests: delivers one slot's digests to the fake chat platform through the
real engine, outbox and scheduler fan-out, on a real SQLite file. The tests SIGKILL it at random points
and start it again.

    python -m tests.crash_harness DB_PATH PLATFORM_URL [CONFIG_TOML]

Without a config file, feeds are already stored for today and nothing goes to arXiv (an unreachable
address, to be sure). With one, every source is asked at the addresses it names (``[sources.arxiv]
rss_url``, ``[sources.huggingface] api_url``, ``[sources.biorxiv] api_url``: fakes in the test process),
as the real bot would, on the harness's clock ``NOW``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bot.config import Config, load_config, validate
from bot.delivery import resume_unfinished
from bot.engine import Engine
from bot.scheduler import DigestScheduler
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes.chat_platform import FakeChatPlatform
from tests.fakes.keyed_poster import KeyedHttpPoster

ROOT = Path(__file__).parent.parent

SLOT = ("09:00", "UTC")
# The stored feed's announcement day (a Tuesday morning): Hugging Face's settled day and bioRxiv's
# finished day are both the day before, 2024-03-25.
NOW = datetime(2024, 3, 26, 9, 0, tzinfo=UTC)


def _arxiv(config: Config | None) -> ArxivClient:
    if config is None:
        return ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query", retries=0)
    rss_url, api_url = config.get("sources.arxiv", "rss_url"), config.get("sources.arxiv", "api_url")
    return ArxivClient(rss_url, api_url, retries=0, now=lambda: NOW)


async def main(db_path: str, platform_url: str, config_path: str | None = None) -> None:
    store = Store(db_path)
    store.migrate()
    loaded = load_config(config_path, env={}) if config_path else None
    config = loaded or Config(values=validate({}), source="crash harness", env={})
    engine = Engine(config, store, _arxiv(loaded), now=lambda: NOW)
    # Paced from the platform's rate-limit headers, as the real adapters pace: the test sets the rate.
    poster = KeyedHttpPoster(platform_url)
    scheduler = DigestScheduler(engine, {"chat": poster}, now=lambda: NOW)
    await resume_unfinished(engine, {"chat": poster})
    await scheduler.run_slot(SLOT)
    print("done", flush=True)
    await poster.aclose()
    await engine.aclose()


# --- used by the tests, in the test process -------------------------------------------------------


def start(
    db: Path, platform_url: str, config: Path | None = None, *, stderr: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """This module as a bot process of its own (stderr: where its log goes, nowhere by default)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_harness", str(db), platform_url, *([str(config)] if config else [])],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def posted(platform: FakeChatPlatform) -> int:
    """Messages the platform holds, in every channel."""
    return platform.stats()["posted"]


def posted_at_least(platform: FakeChatPlatform, count: int) -> Callable[[], bool]:
    return lambda: posted(platform) >= count


def kill_when(process: subprocess.Popen[bytes], reached: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """SIGKILL the bot as soon as ``reached()`` holds (or it has ended): a point chosen by the bot's
    progress, never by the clock, so it lands where it was meant to however fast the bot starts."""
    deadline = time.monotonic() + timeout
    while not reached() and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot did not reach {what} within {timeout} s")
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
