"""Which day's batch a digest brings at the channel's own time and zone: the scheduler posts each source's
latest complete (settled) day whatever the time and zone, on an injected clock, and subscribing says so,
with the time that would bring yesterday's list. Real source clients against the local fakes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import DigestMessage
from bot.commands import Invocation, dispatch
from bot.models import ChannelRef, Subscription
from bot.scheduler import DigestScheduler
from bot.sources.registry import naming
from bot.sources.timing import describe_feed_timing, digest_lags
from tests.fakes.biorxiv_server import FakePreprintServer, item
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.support import FakeArxiv, make_config, make_engine

CHANNEL = ChannelRef("test", "w", "timing")
FIRST_DAY = date(2027, 3, 1)  # after the machine's clock: only the injected clock may decide what is due
DAYS = 40


class RecordingAdapter:
    platform = "test"

    def __init__(self) -> None:
        self.posts: list[DigestMessage] = []

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        self.posts.append(digest)


@pytest.fixture(scope="module")
def hf() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        base = recorded_daily_papers()[:2]
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            entries = copy.deepcopy(base)
            for n, entry in enumerate(entries):
                entry["paper"]["id"] = f"{day:%y%m}.{day.day:02d}{n:03d}"
                entry["paper"]["title"] = f"hf list of {day.isoformat()}"
            server.set_day(day.isoformat(), entries)
        yield server


@pytest.fixture(scope="module")
def preprints() -> Iterator[FakePreprintServer]:
    with FakePreprintServer(page_sizes=(100,)) as server:
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            posted = item(offset, day.isoformat(), "neuroscience", doi=f"10.1101/{day:%Y.%m.%d}.{600000 + offset}")
            posted["title"] = f"bioRxiv list of {day.isoformat()}"
            server.add("biorxiv", [posted])
        yield server


def latest_settled(now: datetime, settle_hours: int) -> date:
    """Independently of the sources: the latest UTC day D whose list is complete at ``now``, i.e.
    now ≥ D + 1 day + settle_hours (Hugging Face 6, bioRxiv 0)."""
    day = now.astimezone(UTC).date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, hours=settle_hours) > now:
        day -= timedelta(days=1)
    return day


SLOTS = [
    ("00:30", "America/New_York"),  # the default: before Hugging Face's 06:00 UTC settle
    ("01:30", "America/New_York"),  # before it in summer time, after it in winter
    ("02:00", "America/New_York"),
    ("09:00", "Europe/Berlin"),
    ("08:00", "Asia/Tokyo"),  # the evening before in UTC: before bioRxiv's day is over too
    ("23:00", "America/Los_Angeles"),  # after the settle of that same day
    ("06:00", "UTC"),  # exactly at the settle
    ("05:59", "UTC"),
    ("07:00", "Pacific/Kiritimati"),  # UTC+14
    ("12:00", "Pacific/Pago_Pago"),  # UTC-11
]


@pytest.mark.parametrize("slot", SLOTS, ids=[f"{t} {z}" for t, z in SLOTS])
@pytest.mark.parametrize("local_day", [date(2027, 3, 10), date(2027, 3, 16), date(2027, 3, 29)])
async def test_each_digest_posts_each_sources_latest_settled_day_at_the_channels_time(
    hf: FakeHuggingFaceServer, preprints: FakePreprintServer, slot: tuple[str, str], local_day: date
) -> None:
    hour, minute = (int(x) for x in slot[0].split(":"))
    now = datetime(local_day.year, local_day.month, local_day.day, hour, minute, tzinfo=ZoneInfo(slot[1]))
    config = make_config(
        **{
            "sources.huggingface": {"api_url": hf.api_url},
            "sources.biorxiv": {"api_url": preprints.base_url, "content_url": preprints.base_url},
        }
    )
    engine = make_engine(FakeArxiv(), config=config, now=lambda: now)
    for feed in ("hf", "biorxiv:neuroscience"):
        engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category=feed, time=slot[0], timezone=slot[1]))
    adapter = RecordingAdapter()
    scheduler = DigestScheduler(engine, {"test": adapter}, now=lambda: now)
    try:
        await scheduler.run_slot(slot)
    finally:
        scheduler.shutdown()
        await engine.aclose()
    [digest] = adapter.posts
    titles = {card.title for card in digest.cards}
    hf_day, preprint_day = latest_settled(now, 6), latest_settled(now, 0)
    assert titles == {f"hf list of {hf_day.isoformat()}", f"bioRxiv list of {preprint_day.isoformat()}"}
    # What subscribing says is what the digest did: the same lag, counted from the channel's own date.
    sources = naming()
    for feed, posted in (("hf", hf_day), ("biorxiv:neuroscience", preprint_day)):
        lags = digest_lags(sources.source_of_feed(feed), slot[0], slot[1], local_day)
        assert (local_day - posted).days in lags[bool(now.dst())]


async def test_subscribing_at_the_default_time_says_the_list_is_two_days_old_and_what_brings_yesterdays() -> None:
    engine = make_engine()  # default schedule: 00:30 America/New_York
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe hf")
    assert (
        "complete at 06:00 UTC the next day (01:00 America/New_York the next day, 02:00 in summer time)" in reply.text
    )
    assert "Your digest at 00:30 America/New_York comes before that" in reply.text
    assert "the list of two days before" in reply.text
    assert "/paper subscribe hf 02:00 America/New_York" in reply.text
    moved = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe hf 09:00 Europe/Berlin")
    assert "your digest at 09:00 Europe/Berlin posts yesterday's list" in moved.text
    await engine.aclose()


async def test_subscribing_to_a_preprint_server_says_its_day_ends_in_utc() -> None:
    engine = make_engine()
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe medrxiv 08:00 Asia/Tokyo")
    assert "is complete when that day is over in UTC (09:00 Asia/Tokyo the next day)" in reply.text
    assert "the list of two days before" in reply.text and "/paper subscribe medrxiv 09:00 Asia/Tokyo" in reply.text
    evening = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe biorxiv 00:30 America/New_York")
    assert "your digest at 00:30 America/New_York posts yesterday's list" in evening.text
    arxiv = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe cs.LG")
    assert "UTC" not in arxiv.text  # arXiv's feed is an announcement, not a day's batch
    await engine.aclose()


_ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
]


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    minutes=st.integers(0, 24 * 60 - 1),
    feed=st.sampled_from(["hf", "biorxiv", "medrxiv:oncology"]),
)
def test_the_sentence_names_the_lag_the_calendar_gives_and_a_time_that_brings_yesterday(
    zone: str, minutes: int, feed: str
) -> None:
    time = f"{minutes // 60:02d}:{minutes % 60:02d}"
    source = naming().source_of_feed(feed)
    said = describe_feed_timing(source, feed, time, zone, date(2027, 1, 1))
    assert said is not None and said.startswith(f"{feed}: ")
    lags = {lag for found in digest_lags(source, time, zone, date(2027, 1, 1)).values() for lag in found}
    assert lags <= {0, 1, 2}
    if 2 in lags:
        # The time offered instead really brings yesterday's list all year.
        offered = said.split("A digest at ", 1)[1].split(" ", 1)[0]
        better = {lag for found in digest_lags(source, offered, zone, date(2027, 1, 1)).values() for lag in found}
        assert better <= {0, 1}
    else:
        assert "yesterday's list" in said or "that same day's list" in said
