"""arXiv's announcement calendar, in US Eastern time. Pure functions: the caller passes the clock.

arXiv announces Sunday to Thursday at 20:00 US Eastern (none on Friday and Saturday, none on its
holidays) and rebuilds the RSS at midnight Eastern, so the feed dated D holds the announcement of the
evening of D-1. Every function takes an aware ``datetime``; a naive one is a bug, not "local time".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "ARXIV_HOLIDAYS_2026",
    "EASTERN",
    "REBUILD_SLACK",
    "expects_announcement",
    "feed_date",
    "feed_rebuilt_since",
    "is_announcement_evening",
    "last_rebuild",
]

EASTERN = ZoneInfo("America/New_York")

# Evenings without an announcement (arXiv help/availability.md, 2026 schedule).
ARXIV_HOLIDAYS_2026: frozenset[date] = frozenset(
    {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
        date(2026, 12, 29),
        date(2026, 12, 31),
    }
)

# The rebuild starts at midnight but is not instant: until a few minutes past, arXiv may still serve
# yesterday's feed, so a fetch made in that window cannot be trusted to be the new one.
REBUILD_SLACK = timedelta(minutes=5)

_ANNOUNCING_WEEKDAYS = frozenset({6, 0, 1, 2, 3})  # Sunday..Thursday (Monday is 0)


def is_announcement_evening(d: date) -> bool:
    """True if arXiv announces new papers on the evening of ``d`` (Eastern)."""
    return d.weekday() in _ANNOUNCING_WEEKDAYS and d not in ARXIV_HOLIDAYS_2026


def feed_date(now: datetime) -> date:
    """The date of the RSS feed arXiv serves at ``now``: the calendar date in US Eastern."""
    return _eastern(now).date()


def expects_announcement(now: datetime) -> bool:
    """True if the feed served at ``now`` should list papers (an empty one is then suspicious)."""
    return is_announcement_evening(feed_date(now) - timedelta(days=1))


def feed_rebuilt_since(ts: datetime, now: datetime) -> bool:
    """True if a midnight-Eastern rebuild happened after ``ts`` and before ``now``.

    A rebuild counts as done ``REBUILD_SLACK`` after midnight: a fetch at 00:02 may still have
    received the old feed, so it is stale once 00:05 has passed.
    """
    if _eastern(now) <= _eastern(ts):
        return False
    return _served_feed_date(ts) != _served_feed_date(now)


def last_rebuild(now: datetime) -> datetime:
    """When the feed served at ``now`` became current: its midnight-Eastern rebuild plus the slack."""
    served = _served_feed_date(now)
    midnight = datetime(served.year, served.month, served.day, tzinfo=EASTERN)
    return (midnight.astimezone(UTC) + REBUILD_SLACK).astimezone(UTC)


def _served_feed_date(moment: datetime) -> date:
    # Subtract in UTC: aware arithmetic in a zone with DST is wall-clock arithmetic in Python.
    return (_eastern(moment).astimezone(UTC) - REBUILD_SLACK).astimezone(EASTERN).date()


def _eastern(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the arXiv calendar needs an aware datetime (with a time zone)")
    return moment.astimezone(EASTERN)
