"""The daily schedule: slot arithmetic across time zones and DST, real APScheduler firing, catch-up
after a late start, and no second post after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import feed_date
from bot.cards import DigestMessage
from bot.models import ChannelRef, Subscription
from bot.scheduler import DigestScheduler, missed_slot, previous_fire
from bot.store import Store
from tests.support import FEED_MORNING, FakeArxiv, make_config, make_engine

BERLIN = ZoneInfo("Europe/Berlin")


class RecordingAdapter:
    platform = "test"

    def __init__(self) -> None:
        self.posts: list[tuple[ChannelRef, DigestMessage]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        self.posts.append((channel, digest))


@pytest.mark.parametrize(
    ("now_utc", "slot", "expected_utc"),
    [
        # Same day, after the slot.
        (
            datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            ("09:00", "Europe/Berlin"),
            datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        ),
        # Before today's slot: yesterday's.
        (
            datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            ("09:00", "Europe/Berlin"),
            datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        ),
        # Summer time: 09:00 Berlin is 07:00 UTC.
        (datetime(2026, 7, 1, 7, 30, tzinfo=UTC), ("09:00", "Europe/Berlin"), datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        # The day clocks go forward (2026-03-29): 09:00 is already summer time.
        (datetime(2026, 3, 29, 7, 5, tzinfo=UTC), ("09:00", "Europe/Berlin"), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # The day clocks go back in New York (2026-11-01): 00:30 is still daylight time.
        (
            datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
            ("00:30", "America/New_York"),
            datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
        ),
        # A zone ahead of UTC across the date line.
        (
            datetime(2026, 11, 22, 23, 30, tzinfo=UTC),
            ("08:00", "Asia/Tokyo"),
            datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        ),
    ],
)
def test_previous_fire(now_utc: datetime, slot: tuple[str, str], expected_utc: datetime) -> None:
    assert previous_fire(slot, now_utc) == expected_utc


def test_missed_slot_within_the_window_and_after_the_rebuild_only() -> None:
    slot = ("09:00", "Europe/Berlin")  # 08:00 UTC in winter; the feed is rebuilt at 05:00 UTC (+5 min)
    assert missed_slot(slot, datetime(2026, 11, 23, 8, 59, tzinfo=UTC), 3600)
    assert not missed_slot(slot, datetime(2026, 11, 23, 9, 1, tzinfo=UTC), 3600)
    assert missed_slot(slot, datetime(2026, 11, 23, 23, 0, tzinfo=UTC), 24 * 3600)
    # 04:00 UTC: yesterday's 09:00 served yesterday's feed, still the current one: due.
    assert missed_slot(slot, datetime(2026, 11, 24, 4, 0, tzinfo=UTC), 24 * 3600)
    # 06:00 UTC: a new feed is out, 09:00 has not come since: not due (never early).
    assert not missed_slot(slot, datetime(2026, 11, 24, 6, 0, tzinfo=UTC), 24 * 3600)


def _engine_with_channels(store: Store, now: datetime, slot: tuple[str, str]):  # type: ignore[no-untyped-def]
    engine = make_engine(FakeArxiv(day=feed_date(now)), store=store, now=lambda: now)
    for name in ("c1", "c2"):
        engine.store.subscribe(
            Subscription(
                id=0, channel=ChannelRef("test", "w", name), category="stat.ML", time=slot[0], timezone=slot[1]
            )
        )
    return engine


async def test_a_late_start_within_the_grace_catches_up_and_a_restart_posts_nothing(tmp_path: Path) -> None:
    slot = ("09:00", "Europe/Berlin")
    now = datetime(2026, 11, 23, 8, 40, tzinfo=UTC)  # 40 minutes after 09:00 Berlin
    store = Store(tmp_path / "p.db")
    store.migrate()
    engine = _engine_with_channels(store, now, slot)
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: now)
    scheduler.start()
    await _until(lambda: len(adapter.posts) == 2)
    scheduler.shutdown()
    assert sorted(c.channel for c, _ in adapter.posts) == ["c1", "c2"]
    assert all(len(d.cards) == 10 for _, d in adapter.posts)

    # The bot restarts five minutes later: same announcement, nothing is posted again.
    later = now + timedelta(minutes=5)
    engine2 = make_engine(FakeArxiv(day=feed_date(later)), store=store, now=lambda: later)
    adapter2 = RecordingAdapter()
    scheduler2 = DigestScheduler(engine2, {"test": adapter2}, now=lambda: later)
    scheduler2.start()
    await scheduler2.run_slot(slot)
    await asyncio.sleep(0.1)
    scheduler2.shutdown()
    assert adapter2.posts == []


async def test_a_slot_not_yet_due_since_the_feed_was_rebuilt_is_not_posted_early() -> None:
    slot = ("09:00", "Europe/Berlin")
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 Berlin: today's feed is out, 09:00 is not here yet
    store = Store(":memory:")
    store.migrate()
    engine = _engine_with_channels(store, now, slot)
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: now)
    scheduler.start()
    await asyncio.sleep(0.3)
    scheduler.shutdown()
    assert adapter.posts == []


async def test_downtime_across_a_posting_time_gives_one_catch_up_post(tmp_path: Path) -> None:
    slot = ("09:00", "Europe/Berlin")
    down_until = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # the bot was down from 07:00 to 16:30 Berlin
    store = Store(tmp_path / "p.db")
    store.migrate()
    engine = _engine_with_channels(store, down_until, slot)
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: down_until)
    scheduler.start()
    await _until(lambda: len(adapter.posts) == 2)
    scheduler.shutdown()
    # Another restart the same evening: nothing more.
    again = DigestScheduler(engine, {"test": adapter}, now=lambda: down_until + timedelta(hours=2))
    again.start()
    await asyncio.sleep(0.3)
    again.shutdown()
    assert len(adapter.posts) == 2


async def test_apscheduler_fires_the_slot_job() -> None:
    """The cron job itself is wired to run_slot: make APScheduler run it now, through its own machinery."""
    slot = ("06:15", "Asia/Tokyo")
    store = Store(":memory:")
    store.migrate()
    engine = _engine_with_channels(store, FEED_MORNING, slot)
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: FEED_MORNING, grace_s=0)
    scheduler.start()
    job = scheduler._scheduler.get_job("digest 06:15 Asia/Tokyo")
    assert job is not None and job.trigger.timezone == ZoneInfo("Asia/Tokyo")
    assert scheduler.next_run(slot) is not None
    job.modify(next_run_time=datetime.now(UTC) + timedelta(milliseconds=100))
    await _until(lambda: len(adapter.posts) == 2)
    scheduler.shutdown()


async def test_one_job_per_slot_not_per_channel_and_new_slots_join() -> None:
    store = Store(":memory:")
    store.migrate()
    engine = make_engine(FakeArxiv(), store=store, config=make_config(schedule={"time": "07:00", "timezone": "UTC"}))
    for i in range(5):
        store.subscribe(Subscription(id=0, channel=ChannelRef("test", "w", f"c{i}"), category="cs.LG"))
    scheduler = DigestScheduler(engine, {"test": RecordingAdapter()}, now=lambda: FEED_MORNING)
    scheduler.start()
    assert [j.id for j in scheduler._scheduler.get_jobs() if j.id != "prune"] == ["digest 07:00 UTC"]
    store.subscribe(
        Subscription(
            id=0, channel=ChannelRef("test", "w", "x"), category="cs.LG", time="09:00", timezone="Europe/Berlin"
        )
    )
    engine.subscriptions_changed()
    assert sorted(j.id for j in scheduler._scheduler.get_jobs()) == [
        "digest 07:00 UTC",
        "digest 09:00 Europe/Berlin",
        "prune",  # retention: one daily job, whatever the slots
    ]
    scheduler.shutdown()


async def test_a_source_failure_is_retried_later_not_posted_half() -> None:
    slot = ("09:00", "Europe/Berlin")
    store = Store(":memory:")
    store.migrate()
    fake = FakeArxiv(status={"/rss/": 503})
    clock = [FEED_MORNING]
    engine = make_engine(fake, store=store, now=lambda: clock[0])
    store.subscribe(
        Subscription(
            id=0, channel=ChannelRef("test", "w", "c"), category="stat.ML", time="09:00", timezone="Europe/Berlin"
        )
    )
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: clock[0], retry_delay_s=0.2, grace_s=0)
    scheduler.start()
    await scheduler.run_slot(slot)
    assert adapter.posts == [] and scheduler._scheduler.get_job("retry 09:00 Europe/Berlin") is not None
    fake.status.clear()
    clock[0] += timedelta(minutes=10)  # the retry comes ten minutes later in real life
    await _until(lambda: len(adapter.posts) == 1, timeout=5)
    scheduler.shutdown()


async def _until(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
