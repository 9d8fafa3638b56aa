"""When a feed's papers come, in a channel's own time: which day's batch its digest posts, and why.

A source of day batches (Hugging Face, bioRxiv/medRxiv) completes the batch of a UTC day at a fixed
moment (``Source.settles_at``); a digest posts the latest batch complete at its own time. So whether a
channel gets yesterday's list or an older one depends on its time and zone (and on summer time): 00:30 in
New York falls before Hugging Face's 06:00 UTC settle, so that digest brings the list of two days
before. People are told this when they subscribe, with the time that would bring yesterday's list.

Everything is computed from the source's own calendar (``batch_day`` and ``settles_at``) over a year of
dates, never written per source or per zone: a new source or a new settle hour says the right thing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.sources.base import Source

__all__ = ["describe_feed_timing", "digest_lags"]

_DAYS_SAMPLED = 366  # a year of dates: every summer-time change of every zone
_RELATIVE = {-1: "the day before", 0: "that evening", 1: "the next day", 2: "two days later"}


def _slot_moment(local_day: date, time: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in time.split(":"))
    return datetime(local_day.year, local_day.month, local_day.day, hour, minute, tzinfo=zone)


def digest_lags(source: Source, time: str, zone_name: str, start: date) -> dict[bool, set[int]]:
    """How many days before its own local date a digest at ``time`` in ``zone_name`` posts, over the
    year from ``start``, by whether the zone keeps summer time that day: {summer: {lags}}. Empty for a
    source without day batches (arXiv)."""
    zone = ZoneInfo(zone_name)
    lags: dict[bool, set[int]] = {}
    for offset in range(_DAYS_SAMPLED):
        local_day = start + timedelta(days=offset)
        moment = _slot_moment(local_day, time, zone)
        day = source.batch_day(moment)
        if day is None or source.settles_at(day) is None:
            return {}
        lags.setdefault(_summer(moment), set()).add((local_day - day).days)
    return lags


def describe_feed_timing(source: Source, feed: str, time: str, zone_name: str, start: date) -> str | None:
    """One sentence for people: when ``feed``'s batch of a day is complete (in UTC and in the channel's
    zone) and which day a digest at ``time`` posts; None for a source without day batches."""
    lags = digest_lags(source, time, zone_name, start)
    if not lags:
        return None
    zone = ZoneInfo(zone_name)
    settles = [_settle(source, start + timedelta(days=offset)) for offset in range(_DAYS_SAMPLED)]
    where = "" if zone_name == "UTC" else f" ({_local_clocks(settles, zone, zone_name)})"
    complete = f"{source.display_name}'s list of a (UTC) day is complete {_utc_clock(source, start)}{where}"
    at = f"your digest at {time} {zone_name}"
    if all(lag <= 1 for found in lags.values() for lag in found):
        return f"{feed}: {complete}; {at} posts {_posts(lags)}."
    later = max(s.astimezone(zone).time() for s in settles).strftime("%H:%M")
    return (
        f"{feed}: {complete}. {at[0].upper()}{at[1:]} comes before that, so it posts the latest complete "
        f"list: {_posts(lags)}. A digest at {later} {zone_name} or later would bring yesterday's "
        f"(/paper subscribe {feed} {later} {zone_name})."
    )


def _summer(moment: datetime) -> bool:
    return bool(moment.dst())


def _settle(source: Source, day: date) -> datetime:
    moment = source.settles_at(day)
    if moment is None:  # pragma: no cover - ``digest_lags`` already answered {} for such a source
        raise ValueError(f"{source.name} has no day batches")
    return moment


def _utc_clock(source: Source, day: date) -> str:
    after = _settle(source, day) - datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    if after == timedelta(0):
        return "when that day is over in UTC"
    clock = (datetime(2000, 1, 1, tzinfo=UTC) + after).strftime("%H:%M")
    return f"at {clock} UTC the next day" if after < timedelta(days=1) else f"{after} after that day is over in UTC"


def _local_clocks(settles: list[datetime], zone: ZoneInfo, zone_name: str) -> str:
    """ "01:00 America/New_York the next day, 02:00 in summer time": the settle of day D in the channel's
    calendar (the evening of D itself west of UTC, the next morning east of it)."""
    by_season: dict[bool, tuple[str, str]] = {}
    for settle in settles:
        local = settle.astimezone(zone)
        shift = (local.date() - (settle.astimezone(UTC).date() - timedelta(days=1))).days
        by_season.setdefault(_summer(local), (f"{local:%H:%M}", _RELATIVE.get(shift, f"{shift} days later")))
    standard, summer = by_season.get(False), by_season.get(True)
    first = standard or summer
    if first is None:  # pragma: no cover - a year of dates is never empty
        return ""
    said = f"{first[0]} {zone_name} {first[1]}"
    if standard is None or summer is None or summer == standard:
        return said
    return f"{said}, {summer[0]} in summer time" + ("" if summer[1] == standard[1] else f" {summer[1]}")


def _posts(lags: dict[bool, set[int]]) -> str:
    words = {0: "that same day's list", 1: "yesterday's list", 2: "the list of two days before"}

    def named(found: set[int]) -> str:
        return " or ".join(words.get(lag, f"the list of {lag} days before") for lag in sorted(found))

    standard, summer = lags.get(False), lags.get(True)
    if standard is None or summer is None or standard == summer:
        return named(standard or summer or set())
    return f"{named(standard)} ({named(summer)} in summer time)"
