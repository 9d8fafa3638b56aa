"""The bot killed with SIGKILL at random points during a 50-channel fan-out (after a random number of
the fan-out's messages reached the platform), then restarted: every channel ends with exactly one digest
(no part missing, no part twice), in every run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bot.models import ChannelRef, Subscription
from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.fakes.chat_platform import FakeChatPlatform
from tests.support import FEED_MORNING, STAT_FEED

ROOT = Path(__file__).parent.parent
CHANNELS = 50
MESSAGES = CHANNELS * 2  # each channel's digest (10 papers) is two messages of five cards
RUNS = 8


def _prepare(db: Path) -> None:
    store = Store(db)
    store.migrate()
    store.save_feed(parse_rss(STAT_FEED, ["stat.ML"]), fetched_at=FEED_MORNING)
    for n in range(CHANNELS):
        channel = ChannelRef("chat", "", f"c{n}")
        store.subscribe(Subscription(id=0, channel=channel, category="stat.ML", time="09:00", timezone="UTC"))
    store.close()


def _harness(db: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_harness", str(db), url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _posted(platform: FakeChatPlatform) -> int:
    with platform._lock:
        return sum(len(messages) for messages in platform.messages.values())


def _kill_after(platform: FakeChatPlatform, process: subprocess.Popen[bytes], posts: int, timeout: float = 30) -> None:
    """SIGKILL the bot once the platform has received ``posts`` messages: a point in the fan-out
    chosen by progress, not by the clock, so it lands mid-run however fast the bot starts."""
    deadline = time.monotonic() + timeout
    while _posted(platform) < posts and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot posted {_posted(platform)} messages in {timeout} s, waiting for {posts}")
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_sigkill_at_random_points_never_loses_or_repeats_a_digest(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    template = tmp_path / "template.db"
    _prepare(template)
    killed_mid_run = 0
    for run in range(RUNS):
        db = tmp_path / f"run{run}.db"
        shutil.copyfile(template, db)
        # 20 messages/s per channel: a digest of two messages paces like the real platforms, faster.
        with FakeChatPlatform(per_channel_per_s=20) as platform:
            first = _harness(db, platform.url)
            # From before the first post to just before the last one, each run in its own stretch of
            # the fan-out so that a few runs cover all of it.
            stretch = (run * MESSAGES // RUNS, (run + 1) * MESSAGES // RUNS)
            _kill_after(platform, first, rng.randrange(*stretch))
            if _posted(platform) < MESSAGES:
                killed_mid_run += 1
            second = _harness(db, platform.url)
            out, _ = second.communicate(timeout=60)
            assert second.returncode == 0 and b"done" in out
            for n in range(CHANNELS):
                nonces = [m["nonce"] for m in platform.messages[f"c{n}"]]
                assert nonces, f"run {run}: channel c{n} got no digest"
                assert max(Counter(nonces).values()) == 1, f"run {run}: channel c{n} got a part twice"
                total = int(nonces[0].rsplit("/", 1)[1])
                assert len(nonces) == total and len({x.rsplit("#", 1)[0] for x in nonces}) == 1, (
                    f"run {run}: channel c{n} got {nonces}"
                )
            assert _posted(platform) == MESSAGES
    assert killed_mid_run >= RUNS - 2, "the kills should land while the fan-out is running"


def test_a_429_storm_delays_but_never_duplicates_or_drops(tmp_path: Path) -> None:
    """A poster that does not pace itself meets a platform answering 429 to most posts: every channel
    still ends with its digest exactly once."""
    import asyncio

    from bot.config import Config, validate
    from bot.engine import Engine
    from bot.scheduler import DigestScheduler
    from bot.sources.arxiv import ArxivClient
    from tests.fakes.keyed_poster import KeyedHttpPoster

    db = tmp_path / "storm.db"
    _prepare(db)

    async def run(url: str) -> None:
        store = Store(db)
        config = Config(values=validate({}), source="test", env={})
        engine = Engine(config, store, ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query"),
                        now=lambda: FEED_MORNING)  # fmt: skip
        poster = KeyedHttpPoster(url, per_channel_gap_s=0)
        await DigestScheduler(engine, {"chat": poster}, now=lambda: FEED_MORNING).run_slot(("09:00", "UTC"))
        await poster.aclose()
        await engine.aclose()

    with FakeChatPlatform(per_channel_per_s=10) as platform:
        asyncio.run(run(platform.url))
        assert platform.rejected >= CHANNELS  # every second part was refused at least once
        for n in range(CHANNELS):
            nonces = [m["nonce"] for m in platform.messages[f"c{n}"]]
            assert len(nonces) == 2 and len(set(nonces)) == 2
