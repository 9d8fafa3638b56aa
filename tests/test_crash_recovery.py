"""The bot killed with SIGKILL at random points during a 50-channel fan-out (after a random number of
the fan-out's messages reached the platform), then restarted: every channel ends with exactly one digest
(no part missing, no part twice), in every run."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

from bot.models import ChannelRef, Subscription
from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.crash_harness import kill_when, posted, posted_at_least, start
from tests.fakes.chat_platform import FakeChatPlatform
from tests.support import FEED_MORNING, STAT_FEED

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
            first = start(db, platform.url)
            # From before the first post to just before the last one, each run in its own stretch of
            # the fan-out so that a few runs cover all of it.
            stretch = (run * MESSAGES // RUNS, (run + 1) * MESSAGES // RUNS)
            goal = rng.randrange(*stretch)
            kill_when(first, posted_at_least(platform, goal), f"{goal} posted messages")
            if posted(platform) < MESSAGES:
                killed_mid_run += 1
            second = start(db, platform.url)
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
            assert posted(platform) == MESSAGES
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
