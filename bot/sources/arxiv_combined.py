"""arXiv's feeds of several categories in one request (``{rss_url}/{cat1}+{cat2}``), each category then
recorded exactly as its own feed would have given it.

A bot following ten categories used to ask for ten feeds and receive most papers two or three times (once
per category they are listed in). A combined feed holds each paper once, so a morning is one or a few
requests and each paper is read and stored once. What arXiv's combined feed does differently, and how a
category's own listing is rebuilt from it (arXiv's feed service, arXiv/arxiv-feed ``get_announce_papers``,
and the recorded feed of 2024-03-26 agree on this):

- An item's announce type is relative to the whole request: a new paper whose primary class is one of the
  requested categories is "new" in the combined feed, though in another requested category's own feed it
  is a "cross" (and a replacement is "replace" there, "replace-cross" elsewhere). ``category_type`` gives
  the type each category's own feed shows.
- Items come in type order (new, cross, replace, replace-cross), by paper id within a type; a category's
  listing is put in that order again, so its positions are those of its own feed.
- arXiv serves at most 2,000 items per feed. Categories are grouped so that their last listings add up to
  well under that (``group_categories``); a combined answer that reaches the limit may be cut and is not
  used (``usable``): its categories are then fetched one by one, as they are when the combined request
  fails, or when it holds nothing for one of them (an unknown or empty category fails or is empty on its
  own, exactly as it would have alone). When arXiv does not answer, or sends nothing at all for the whole
  group on an announcement day, every category of the group fails the same way, without more requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.errors import SourceError, SourceUnreachable, SuspiciousEmptyFeed
from bot.models import Feed, FeedItem
from bot.sources.arxiv import ArxivClient

__all__ = [
    "COMBINED_LIMIT",
    "CombinedFeeds",
    "category_type",
    "group_categories",
    "split_combined",
    "usable",
]

log = logging.getLogger(__name__)

COMBINED_LIMIT = 2_000  # arXiv's cap on the items of one feed ("Limit 2000 results")
GROUP_BUDGET = 1_500  # the last listings of a group's categories add up to at most this (days vary)
UNKNOWN_SIZE = 600  # a category never fetched counts as a busy one (cs.LG lists 500-900 a day)
_TYPE_ORDER = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}


def group_categories(
    categories: Sequence[str], expected: Callable[[str], int | None], budget: int = GROUP_BUDGET
) -> list[tuple[str, ...]]:
    """``categories`` in groups of one request each, in order, each group's expected items within ``budget``
    (``expected``: the items a category listed last time, None when unknown)."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    size = 0
    for category in dict.fromkeys(categories):
        known = expected(category)
        items = UNKNOWN_SIZE if known is None else known
        if current and size + items > budget:
            groups.append(tuple(current))
            current, size = [], 0
        current.append(category)
        size += items
    if current:
        groups.append(tuple(current))
    return groups


def usable(feed: Feed) -> bool:
    """Whether a combined answer can stand for its categories' own feeds: not possibly cut at arXiv's limit."""
    return len(feed.items) < COMBINED_LIMIT


def belongs(category: str, requested: str) -> bool:
    """Whether a paper's class falls under a requested category (an archive such as ``stat`` holds its classes)."""
    have, want = category.casefold(), requested.casefold()
    return have == want or ("." not in want and have.startswith(want + "."))


def category_type(combined_type: str, primary_here: bool) -> str | None:
    """The announce type one category's own feed gives an item of that category, from its type in a combined
    feed and whether its primary class is that category's; None when that feed would not list it (a paper
    cross-listed today into another requested category is listed there only, not in its primary's feed)."""
    if combined_type == "new":
        return "new" if primary_here else "cross"
    if combined_type == "cross":
        return None if primary_here else "cross"
    if combined_type == "replace":
        return "replace" if primary_here else "replace-cross"
    return combined_type  # "replace-cross", or a type arXiv may add later: as it came


def split_combined(feed: Feed) -> dict[str, Feed]:
    """A combined feed as the feeds of its categories, each as arXiv serves that category alone."""
    feeds: dict[str, Feed] = {}
    for category in feed.categories:
        listed = []
        for item in feed.items:
            paper = item.paper
            if not any(belongs(have, category) for have in paper.categories):
                continue
            shown = category_type(paper.announce_type, belongs(paper.primary_category, category))
            if shown == paper.announce_type:
                listed.append(paper)  # as it came (most are: a copy for each of thousands costs)
            elif shown is not None:
                listed.append(replace(paper, announce_type=shown))
        # arXiv's order: by type, then by paper id (the order within a type in the combined feed too).
        listed.sort(key=lambda p: (_TYPE_ORDER.get(p.announce_type, len(_TYPE_ORDER)), p.id))
        items = tuple(FeedItem(paper, position, (category,)) for position, paper in enumerate(listed))
        feeds[category] = Feed((category,), feed.announced, items, feed.skip_days)
    return feeds


@dataclass(slots=True)
class _Group:
    categories: tuple[str, ...]
    answer: asyncio.Future[dict[str, Feed]]  # asked for at the plan
    taken: set[str] = field(default_factory=set)


class CombinedFeeds:
    """The arXiv feeds one refresh needs, asked for together: ``plan`` names the categories about to be
    fetched and asks arXiv for each group at once (the client spaces the requests), then ``fetch`` gives
    each one's feed from its group's answer."""

    def __init__(self, client: ArxivClient) -> None:
        self._client = client
        self._groups: dict[str, _Group] = {}

    def plan(self, categories: Sequence[str], expected: Callable[[str], int | None]) -> None:
        """Group ``categories`` (those due now); a category already in a pending group keeps it."""
        for category in categories:  # a group already answered is spent: its answer is not today's for long
            group = self._groups.get(category)
            if group is not None and group.answer.done():
                self.forget(group.categories)
        fresh = [c for c in dict.fromkeys(categories) if c not in self._groups]
        for categories_of_group in group_categories(fresh, expected):
            if len(categories_of_group) < 2:
                continue  # alone: its own request, as ever
            # Asked for now, not when the refresh reaches the group: a group's feed is then read (in the
            # client's workers) while the papers of the one before are stored. The client still spaces
            # the requests, so arXiv sees them as before.
            group = _Group(categories_of_group, asyncio.ensure_future(self._fetch_group(categories_of_group)))
            group.answer.add_done_callback(_retrieved)
            for category in categories_of_group:
                self._groups[category] = group

    def forget(self, categories: Sequence[str]) -> None:
        """Drop what is left of the plans of ``categories`` (a refresh is over): a later refresh asks anew."""
        for category in categories:
            group = self._groups.pop(category, None)
            if group is not None and not group.taken:
                group.answer.cancel()  # nobody waits for it: a refresh cut short asks arXiv no more

    async def fetch(self, category: str) -> Feed:
        """``category``'s feed: from its group's combined answer when there is a usable one, else its own."""
        group = self._groups.get(category)
        if group is None:
            return await self._client.fetch_feed([category])
        group.taken.add(category)
        if group.taken >= set(group.categories):  # the last of the group: the plan is spent
            for member in group.categories:
                if self._groups.get(member) is group:
                    del self._groups[member]
        try:
            feeds = await asyncio.shield(group.answer)
        except (SourceUnreachable, SuspiciousEmptyFeed):
            # arXiv did not answer, or sent nothing for all of them (each alone would be as empty): asking
            # again for each category would only wait longer and ask more.
            raise
        except SourceError as err:
            log.info("the combined arXiv feed of %s failed (%s): fetched one by one", "+".join(group.categories), err)
            feeds = {}
        feed = feeds.get(category)
        if feed is None or not feed.items:
            return await self._client.fetch_feed([category])  # fails, or is empty, on its own
        return feed

    async def _fetch_group(self, categories: tuple[str, ...]) -> dict[str, Feed]:
        combined = await self._client.fetch_feed(categories)
        if not usable(combined):
            log.info(
                "the combined arXiv feed of %s may be cut at %d items: fetched one by one",
                "+".join(categories),
                COMBINED_LIMIT,
            )
            return {}
        return split_combined(combined)


def _retrieved(answer: asyncio.Future[dict[str, Feed]]) -> None:
    """A group's failure is its categories' to report (each fetch raises it): read here, so that an answer
    nobody came for (a refresh cut short) is not reported as an exception never retrieved."""
    if not answer.cancelled():
        answer.exception()
