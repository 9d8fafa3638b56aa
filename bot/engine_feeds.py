"""When the engine fetches a feed, and how a source's day batch becomes a stored listing.

arXiv's feed is its latest announcement: fetched once arXiv has rebuilt it since the last fetch (or when
the stored copy is stale), and a feed whose fetch failed moments ago is not asked again before the
scheduler's retry. The feeds of one refresh that are due are named before any is fetched, so arXiv's can
be asked for together (bot.sources.arxiv_combined).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from bot import calendar
from bot.errors import SourceError
from bot.models import Feed, FeedItem
from bot.sources.base import Batch, FeedName, Source
from bot.store import Store

__all__ = ["announcement_stale", "arxiv_feed_due", "as_feed", "feed_name", "recent_failure"]


def announcement_stale(announced: date | None, now: datetime) -> bool:
    """A feed is stale when today's feed should hold a newer announcement than the one it shows."""
    if announced is None or not calendar.expects_announcement(now):
        return False
    return announced < calendar.feed_date(now)


def arxiv_feed_due(store: Store, category: str, now: datetime, force: bool) -> bool:
    """Whether arXiv's feed of ``category`` is to be fetched: never fetched, rebuilt since, or stale."""
    last = store.last_fetch(category)
    if force or last is None:
        return True
    return calendar.feed_rebuilt_since(last.fetched_at, now) or announcement_stale(last.announced, now)


def recent_failure(store: Store, category: str, now: datetime, within: timedelta) -> str | None:
    """The error of the feed's last fetch when it failed less than ``within`` ago, else None."""
    tried = store.last_fetch(category, ok_only=False)
    if tried is not None and tried.error and now - tried.fetched_at < within:
        return tried.error
    return None


def feed_name(source: Source, stored: str) -> FeedName:
    found = source.resolve_feed(stored)
    if found is None:  # pragma: no cover - stored names come from the same source's resolve_feed
        raise SourceError(f"{stored} is not a {source.display_name} feed")
    return found


def as_feed(batch: Batch) -> Feed:
    """A source's day batch as a stored listing: every paper new, in the source's order."""
    items = tuple(
        FeedItem(replace(paper, announce_type="new"), position, (batch.feed,))
        for position, paper in enumerate(batch.papers)
    )
    return Feed(categories=(batch.feed,), announced=batch.day, items=items)
