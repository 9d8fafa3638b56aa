"""arXiv feeds read in worker processes: both cores for a morning's feeds, and expat and feedparser on an
untrusted document kept out of the bot's process.

Reading a feed is the strict XML check, feedparser and our conversion of each item, and it ran under the
GIL in a thread: a 1,500-item combined feed held one core for most of a second while the other had little
to do, and the bot's own work (storing the feed before) waited for the GIL. Here a worker of ``feed_pool``
checks the document and cuts it into items (``cut_items``); the bot's process keeps the item cache (each
distinct item is still read once across feeds, whatever worker reads it) and sends the items not read
before to the workers in ``pool.size`` parts at once (``read_part``), each part read as the document's
head, its items and its tail, as ``bot.sources.arxiv`` reads the unseen items of a feed. A feed reads to
exactly what the thread read; about 1,500 papers (3 MB) pickle back in a few hundredths of a second.

A worker that crashes, runs out of memory or outruns ``PARSE_TIMEOUT_S`` costs that fetch only, as a
FeedFormatError saying so; the worker is replaced (``bot.isolated``). The warnings a worker's reading logs
(an item without a readable id, say) come back with its result and are logged here, as the thread would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bot.errors import PaperbotError
from bot.isolated import WorkerError, WorkerPool, shared_pool
from bot.models import Feed, FeedItem, Paper
from bot.sources import arxiv
from bot.sources.arxiv_items import ItemCache, SplitFeed, slim_item, split_items, typed_item_key

__all__ = ["PARSE_TIMEOUT_S", "feed_pool", "parse_rss_in_workers", "start_workers"]

log = logging.getLogger(__name__)

POOL_NAME = "arxiv-feeds"
PARSE_TIMEOUT_S = 60.0  # a 2,000-item part takes about a second; a busy machine ten times that at worst
_UNPARSED = "the feed could not be parsed"
MIN_PART = 100  # fewer unseen items than this each are read by one worker: a second would cost more than it saves


def feed_pool() -> WorkerPool:
    """The process's pool for arXiv feeds: two workers, one per core, their parser imported before any job."""
    return shared_pool(POOL_NAME, size=2, warm_up=_import_parser)


def _import_parser() -> None:
    import bot.sources.arxiv_workers  # noqa: F401  # feedparser and the conversion, before any job's clock


async def start_workers(pool: WorkerPool) -> None:
    """Start every worker of ``pool`` now (a long-lived bot's first morning then finds them ready)."""
    await asyncio.gather(*(pool.run(_ready, timeout_s=PARSE_TIMEOUT_S) for _ in range(pool.size)))


def _ready() -> None:
    return None


# ---------------------------------------------------------------- in the worker


@dataclass(frozen=True, slots=True)
class _Read:
    """What a worker read: the papers (None for an item without a readable id), the channel's date as
    written, the warnings logged meanwhile; or why the document is not a complete feed, or that the cut
    was wrong (``entries`` differs from the items given)."""

    papers: tuple[Paper | None, ...] = ()
    published: str | None = None
    warnings: tuple[str, ...] = ()
    problem: str | None = None
    miscut: bool = False


@dataclass(frozen=True, slots=True)
class _Cut:
    """A document checked and cut into items (``split`` None: not to be cut, read whole), each item's cache
    key and own announce type; or why it is not XML we accept."""

    split: SplitFeed | None = None
    typed: tuple[tuple[bytes, str | None], ...] = ()
    warnings: tuple[str, ...] = ()
    problem: str | None = None


def cut_items(data: bytes, complete: bool) -> _Cut:
    """Worker job: the strict check (expat over the whole document) and the cut, out of the bot's process
    too: there they would hold its GIL while it stores the papers of the feed before."""
    try:
        bounded, problem = arxiv._checked_xml(data, complete)
        if problem:
            return _Cut(problem=problem)
        split = split_items(bounded)
        if split is None:
            return _Cut()
        return _Cut(split, tuple(typed_item_key(split.context, item) for item in split.items))
    except PaperbotError:
        raise
    except Exception as exc:  # as parse_rss
        return _Cut(warnings=(f"unreadable arXiv feed: {arxiv._short(repr(exc))}",), problem=_UNPARSED)


def read_part(head: bytes, items: tuple[bytes, ...], tail: bytes, complete: bool) -> _Read:
    """Worker job: ``items`` read as the document ``head`` + items + ``tail``."""
    return _read(head + b"".join(slim_item(item) for item in items) + tail, complete, len(items))


def read_whole(data: bytes, complete: bool) -> _Read:
    """Worker job: a document that is not cut into items, checked and read whole."""
    try:
        bounded, problem = arxiv._checked_xml(data, complete)
    except PaperbotError:
        raise
    except Exception as exc:  # as parse_rss
        return _Read(warnings=(f"unreadable arXiv feed: {arxiv._short(repr(exc))}",), problem=_UNPARSED)
    if problem:
        return _Read(problem=problem)
    return _read(bounded, complete, None)


def _read(document: bytes, complete: bool, items: int | None) -> _Read:
    with _warnings() as warnings:
        try:
            parsed = arxiv._feedparse(document)
            problem = arxiv._rss_problem(parsed, complete)
            if problem:
                return _Read(problem=problem)
            if items is not None and len(parsed.entries) != items:
                return _Read(miscut=True)
            papers = tuple(arxiv._item_or_none(arxiv._rss_paper, entry, None) for entry in parsed.entries)
            published = arxiv._str(parsed.feed.get("published"))
        except PaperbotError:
            raise
        except Exception as exc:  # as parse_rss: feedparser or our conversion failed on what we did not foresee
            warnings.append(f"unreadable arXiv feed: {arxiv._short(repr(exc))}")
            return _Read(warnings=tuple(warnings), problem=_UNPARSED)
    return _Read(papers, published, tuple(warnings))


_Job = TypeVar("_Job", _Cut, _Read)


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextmanager
def _warnings() -> Iterator[list[str]]:
    """The warnings the reading logs, collected to be logged by the bot's process (a worker has no log)."""
    collected: list[str] = []
    logger = logging.getLogger(arxiv.__name__)
    handler, propagate = _Collect(collected), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield collected
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


# ---------------------------------------------------------------- in the bot's process


async def parse_rss_in_workers(data: bytes, requested: Sequence[str], cache: ItemCache, pool: WorkerPool) -> Feed:
    """What ``bot.sources.arxiv.parse_rss`` gives for this feed, read in ``pool``'s workers (see the module)."""
    categories = tuple(requested)
    complete = data.rstrip().endswith(b"</rss>")
    cut: _Cut = await _run(pool, categories, cut_items, data, complete)
    if cut.problem:
        raise arxiv._unreadable_feed(categories, cut.problem)
    papers: list[Paper | None] | None = None
    published: str | None = None
    if cut.split is not None:
        read = await _read_unseen(cut.split, cut.typed, complete, categories, cache, pool)
        if read is not None:
            papers, published = read
    if papers is None:  # not cut into items (or the cut was doubtful): the whole document, as always
        whole: _Read = await _run(pool, categories, read_whole, data, complete)
        if whole.problem:
            raise arxiv._unreadable_feed(categories, whole.problem)
        papers, published = list(whole.papers), whole.published
    channel_date = arxiv._rfc822_date(published)
    items: list[FeedItem] = []
    for position, paper in enumerate(papers):
        if paper is None:
            continue
        if paper.announced is None and channel_date is not None:
            paper = replace(paper, announced=channel_date)  # an item without its own date has the feed's
        items.append(FeedItem(paper, position, arxiv._listed_in(paper.categories, categories)))
    return Feed(categories, channel_date, tuple(items), arxiv._skip_days(data))


async def _read_unseen(
    split: SplitFeed,
    typed: tuple[tuple[bytes, str | None], ...],
    complete: bool,
    categories: tuple[str, ...],
    cache: ItemCache,
    pool: WorkerPool,
) -> tuple[list[Paper | None], str | None] | None:
    """Every item's paper in document order and the channel's date, the unseen items read in parts at once;
    None when a part's cut proved wrong."""
    known = {key: cache.get(key) for key, _ in typed}
    unseen: dict[bytes, bytes] = {}
    for (key, _), item in zip(typed, split.items, strict=True):
        if known[key] is None:
            unseen.setdefault(key, item)
    parts = _parts(list(unseen), pool.size)
    reads = await asyncio.gather(
        *(
            _run(pool, categories, read_part, split.head, tuple(unseen[k] for k in part), split.tail, complete)
            for part in parts
        )
    )
    if any(read.problem for read in reads):
        return None  # told as the whole document tells it (a line number is the whole document's)
    if any(read.miscut for read in reads):
        log.info("an arXiv feed was not read item by item: the cut found %d items", len(unseen))
        return None
    for part, read in zip(parts, reads, strict=True):
        for key, paper in zip(part, read.papers, strict=True):
            known[key] = paper
            if paper is not None:  # one without an id is read (and reported) again each time
                cache.put(key, paper)
    papers = [arxiv._typed(known[key], announce_type) for key, announce_type in typed]
    return papers, reads[0].published


def _parts(keys: list[bytes], workers: int) -> list[list[bytes]]:
    """``keys`` in at most ``workers`` runs of at least ``MIN_PART`` (one, maybe empty, at least: the channel's
    own elements are read from it)."""
    count = max(1, min(workers, len(keys) // MIN_PART))
    size = -(-len(keys) // count) if keys else 0
    return [keys[start : start + size] for start in range(0, len(keys), size)] if keys else [[]]


async def _run(pool: WorkerPool, categories: tuple[str, ...], job: Callable[..., _Job], *args: Any) -> _Job:
    """One job's read, its warnings logged; FeedFormatError when the worker failed (crashed, out of memory,
    out of time: that fetch only)."""
    label = f"reading the arXiv feed of {arxiv._describe(categories)}"
    try:
        read = await pool.run(job, *args, timeout_s=PARSE_TIMEOUT_S, label=label)
    except WorkerError as err:
        raise arxiv._unreadable_feed(categories, f"reading it in a worker failed: {err.reason}") from None
    for warning in read.warnings:
        logging.getLogger(arxiv.__name__).warning("%s", warning)
    return read
