"""arXiv's announcement calendar, with controlled clocks: weekends, holidays, DST change days, far zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import (
    ARXIV_HOLIDAYS_2026,
    EASTERN,
    expects_announcement,
    feed_date,
    feed_rebuilt_since,
    is_announcement_evening,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def eastern(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=EASTERN, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ---------------------------------------------------------------- is_announcement_evening


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 8), True),  # Sunday
        (date(2026, 3, 9), True),  # Monday
        (date(2026, 3, 12), True),  # Thursday
        (date(2026, 3, 13), False),  # Friday
        (date(2026, 3, 14), False),  # Saturday
    ],
)
def test_announcements_are_sunday_to_thursday(day: date, expected: bool) -> None:
    assert is_announcement_evening(day) is expected


@pytest.mark.parametrize("holiday", sorted(ARXIV_HOLIDAYS_2026))
def test_no_announcement_on_holidays(holiday: date) -> None:
    assert not is_announcement_evening(holiday)


def test_holiday_list_is_the_2026_schedule() -> None:
    assert len(ARXIV_HOLIDAYS_2026) == 9
    assert date(2026, 11, 26) in ARXIV_HOLIDAYS_2026  # Thanksgiving, a Thursday


# ---------------------------------------------------------------- feed_date


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (eastern(2026, 3, 10, 0, 0), date(2026, 3, 10)),  # the rebuild instant
        (eastern(2026, 3, 9, 23, 59), date(2026, 3, 9)),
        (utc(2026, 3, 10, 3, 59), date(2026, 3, 9)),  # 23:59 EDT
        (utc(2026, 3, 10, 4, 0), date(2026, 3, 10)),  # 00:00 EDT
        # Spring forward (2026-03-08 02:00 EST -> 03:00 EDT): midnight is still 05:00 UTC that night...
        (utc(2026, 3, 8, 4, 59), date(2026, 3, 7)),
        (utc(2026, 3, 8, 5, 0), date(2026, 3, 8)),
        # ...and 04:00 UTC the next.
        (utc(2026, 3, 9, 3, 59), date(2026, 3, 8)),
        (utc(2026, 3, 9, 4, 0), date(2026, 3, 9)),
        # Fall back (2026-11-01 02:00 EDT -> 01:00 EST): a 25-hour day.
        (utc(2026, 11, 1, 4, 0), date(2026, 11, 1)),
        (eastern(2026, 11, 1, 1, 30, fold=1), date(2026, 11, 1)),  # the second 01:30
        (utc(2026, 11, 2, 4, 59), date(2026, 11, 1)),
        (utc(2026, 11, 2, 5, 0), date(2026, 11, 2)),
        # Tokyo is 13 h ahead of EDT: Tuesday morning there is still Monday in New York.
        (datetime(2026, 3, 10, 9, 0, tzinfo=TOKYO), date(2026, 3, 9)),
        (datetime(2026, 3, 10, 13, 0, tzinfo=TOKYO), date(2026, 3, 10)),
    ],
)
def test_feed_date_is_the_eastern_calendar_date(now: datetime, expected: date) -> None:
    assert feed_date(now) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        feed_date(datetime(2026, 3, 10, 12, 0))
    with pytest.raises(ValueError, match="aware"):
        feed_rebuilt_since(datetime(2026, 3, 10), utc(2026, 3, 11))


# ---------------------------------------------------------------- expects_announcement


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (eastern(2026, 3, 9, 9, 0), True),  # Monday's feed: Sunday evening's announcement
        (eastern(2026, 3, 10, 9, 0), True),  # Tuesday
        (eastern(2026, 3, 13, 9, 0), True),  # Friday's feed: Thursday evening's
        (eastern(2026, 3, 13, 23, 59), True),  # Friday night, still Thursday evening's feed
        (eastern(2026, 3, 14, 0, 0), False),  # Saturday's feed: nothing on Friday evening
        (eastern(2026, 3, 15, 12, 0), False),  # Sunday's feed: nothing on Saturday evening
        (eastern(2026, 3, 8, 21, 0), False),  # Sunday 20:00 announced, but the feed has not rebuilt
        (utc(2026, 3, 9, 4, 0), True),  # DST day: Monday 00:00 EDT
        (utc(2026, 3, 9, 3, 59), False),  # still Sunday 23:59 EDT
        (eastern(2026, 11, 2, 0, 30), True),  # fall-back weekend, Monday's feed
        (eastern(2026, 11, 27, 9, 0), False),  # Thanksgiving (Thursday) evening: no announcement
        (eastern(2026, 1, 20, 9, 0), False),  # Martin Luther King Day (Monday) evening
        (eastern(2026, 1, 2, 9, 0), False),  # New Year's Day (Thursday) evening
        (eastern(2026, 12, 30, 9, 0), False),  # 2026-12-29 (Tuesday) evening
        (eastern(2026, 12, 31, 9, 0), True),  # 2026-12-30 (Wednesday) evening is normal
    ],
)
def test_expects_announcement(now: datetime, expected: bool) -> None:
    assert expects_announcement(now) is expected


def test_far_zone_monday_morning_is_sunday_feed() -> None:
    # A Tokyo user on Monday morning sees Sunday's feed (empty: nothing on Saturday evening).
    monday_tokyo = datetime(2026, 3, 9, 10, 0, tzinfo=TOKYO)
    assert feed_date(monday_tokyo) == date(2026, 3, 8)
    assert not expects_announcement(monday_tokyo)
    assert expects_announcement(monday_tokyo + timedelta(days=1))


# ---------------------------------------------------------------- feed_rebuilt_since


@pytest.mark.parametrize(
    ("ts", "now", "expected"),
    [
        (eastern(2026, 3, 10, 23, 50), eastern(2026, 3, 11, 0, 10), True),
        (eastern(2026, 3, 10, 23, 50), eastern(2026, 3, 11, 0, 3), False),  # rebuild may not be done yet
        (eastern(2026, 3, 11, 0, 2), eastern(2026, 3, 11, 0, 6), True),  # fetched mid-rebuild: stale
        (eastern(2026, 3, 11, 0, 6), eastern(2026, 3, 11, 23, 59), False),
        (eastern(2026, 3, 11, 9, 0), eastern(2026, 3, 13, 9, 0), True),
        (eastern(2026, 3, 11, 9, 0), eastern(2026, 3, 10, 9, 0), False),  # now before ts
        (eastern(2026, 3, 7, 23, 0), eastern(2026, 3, 8, 12, 0), True),  # across spring forward
        (eastern(2026, 3, 8, 0, 30), eastern(2026, 3, 8, 3, 30), False),  # spring-forward day itself
        (eastern(2026, 11, 1, 0, 30), eastern(2026, 11, 1, 1, 30, fold=1), False),  # fall-back day
        (eastern(2026, 11, 1, 0, 30), eastern(2026, 11, 2, 0, 5), True),
        # Different zones on each side: 09:00 Tokyo Wed = 20:00 EDT Tue; 14:00 Tokyo Wed = 01:00 EDT Wed.
        (datetime(2026, 3, 11, 9, 0, tzinfo=TOKYO), datetime(2026, 3, 11, 14, 0, tzinfo=TOKYO), True),
        (datetime(2026, 3, 11, 9, 0, tzinfo=TOKYO), utc(2026, 3, 11, 3, 0), False),
    ],
)
def test_feed_rebuilt_since(ts: datetime, now: datetime, expected: bool) -> None:
    assert feed_rebuilt_since(ts, now) is expected
