"""Retention: what the database and the caches keep, pruned once a day so their size stops growing.

``[retention]`` says how long each kind of history is kept. What dedupe needs is never pruned: which
papers each channel was sent (the ``delivered`` table, a channel number and a paper id per row, about
20 bytes) stays forever, so a paper reaches a channel once, whatever went. It is the one thing that grows
without end, and it is kept so on purpose: a paper comes back long after its announcement (a cross-list
added later, a replacement, a Hugging Face daily list featuring an old paper), and no source promises a
date after which it never does.

A paper's row (with its search-index row, embedding, explanations and cached answers) goes once no feed
has listed it for ``papers_days``, whether or not a channel was sent it: dedupe reads ``delivered``, and a
paper asked about later is fetched again (``/paper explain``, a question). It stays while something still
kept shows or needs it: a radar likes it, a kept listing (each feed's latest day) holds it, a kept message
shows it (a card, a compact digest), a digest still to be posted plans it. Nor goes what is still being
worked on: an outbox row planned or sending, the latest fetch of every feed.

The search index records a removed paper as a delete marker: once a week (and at each `paperbot prune`)
its segments are merged into one, which drops them, or the index would grow by the markers alone.

SQLite does not give pruned pages back to the disk by itself: they are reused first, so the file stops
growing once pruning keeps up. A database created with incremental auto-vacuum (every new one) also
hands the free pages beyond a day's worth back after each prune; an older file is switched over once by
``paperbot prune --vacuum``.

Pruning runs in small transactions (``CHUNK`` rows), and ``prune_steps`` yields between them, so the
bot's loop (which shares the connection) keeps serving while a day's worth of rows goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.config import Config
from bot.database_space import database_line, file_size, release_free_pages
from bot.store import Store, utcnow

__all__ = [
    "PruneReport",
    "RetentionSettings",
    "database_size",
    "prune",
    "prune_in_background",
    "prune_steps",
    "size_line",
]

log = logging.getLogger(__name__)

CHUNK = 5000  # rows per transaction: a few milliseconds each
MERGE_PAGES = 1000  # search-index pages written per merge step (4 MB)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    outbox_days: int = 90
    deliveries_days: int = 90
    papers_days: int = 180
    posted_messages_days: int = 120
    cache_mb: int = 200
    prune_at: str = "04:30"

    @classmethod
    def from_config(cls, config: Config) -> RetentionSettings:
        return cls(
            outbox_days=int(config.get("retention", "outbox_days")),
            deliveries_days=int(config.get("retention", "deliveries_days")),
            papers_days=int(config.get("retention", "papers_days")),
            posted_messages_days=int(config.get("retention", "posted_messages_days")),
            cache_mb=int(config.get("retention", "cache_mb")),
            prune_at=str(config.get("retention", "prune_at")),
        )


@dataclass
class PruneReport:
    removed: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, count: int) -> None:
        self.removed[what] = self.removed.get(what, 0) + max(count, 0)

    def text(self) -> str:
        gone = [f"{count} {what}" for what, count in self.removed.items() if count]
        return "Pruned: " + (", ".join(gone) if gone else "nothing (everything is within [retention])")


def prune(store: Store, settings: RetentionSettings, *, now: datetime | None = None) -> PruneReport:
    """Everything ``settings`` no longer keeps, removed at once (``paperbot prune``, tests, benchmarks)."""
    report = PruneReport()
    for _ in prune_steps(store, settings, report, now=now):
        pass
    return report


async def prune_in_background(store: Store, settings: RetentionSettings, *, now: datetime | None = None) -> PruneReport:
    """The daily job: the same pruning, giving the loop its turn between transactions."""
    report = PruneReport()
    for _ in prune_steps(store, settings, report, now=now):
        await asyncio.sleep(0)
    log.info("%s; %s", report.text(), size_line(store))
    return report


def prune_steps(
    store: Store, settings: RetentionSettings, report: PruneReport, *, now: datetime | None = None
) -> Iterator[None]:
    """Prune, yielding after every transaction; counts go to ``report``."""
    moment = now or utcnow()

    def cutoff(days: int) -> str:
        return (moment - timedelta(days=days)).isoformat()

    tables = set(store.db.table_names())
    if "outbox" in tables:
        # Only finished rows: a digest planned or being posted is what a restart resends.
        yield from _delete(
            store, report, "outbox rows", "outbox",
            "state IN ('sent', 'failed') AND updated_at < ?", (cutoff(settings.outbox_days),),
        )  # fmt: skip
    yield from _delete(
        store, report, "deliveries", "deliveries", "delivered_at < ?", (cutoff(settings.deliveries_days),)
    )
    if "posted_messages" in tables:
        yield from _delete(
            store, report, "posted messages", "posted_messages", "posted_at < ?",
            (cutoff(settings.posted_messages_days),),
        )  # fmt: skip
    # The fetch log, but never a feed's latest fetch or latest good one: what the engine reads.
    yield from _delete(
        store, report, "fetch records", "fetches",
        "fetched_at < ? AND id NOT IN (SELECT max(id) FROM fetches GROUP BY category)"
        " AND id NOT IN (SELECT max(id) FROM fetches WHERE error IS NULL GROUP BY category)",
        (cutoff(settings.outbox_days),),
    )  # fmt: skip
    papers_day = cutoff(settings.papers_days)[:10]
    # Old listings, except each feed's latest day (a feed that went quiet still has its last digest).
    yield from _delete(
        store, report, "listings", "listings",
        "announced < ? AND announced < (SELECT max(l.announced) FROM listings l WHERE l.category = listings.category)",
        (papers_day,),
    )  # fmt: skip
    if "briefings" in tables:  # a day's briefing is asked for again only while its digest may be resent
        yield from _delete(store, report, "briefings", "briefings", "day < ?", (cutoff(settings.outbox_days)[:10],))
    if "upstream_searches" in tables:  # what matters is whether a query was asked upstream within the day
        yield from _delete(store, report, "upstream search records", "upstream_searches", "asked_at < ?", (cutoff(2),))
    yield from _prune_papers(store, report, cutoff(settings.papers_days), tables)
    if "papers_fts" in tables and (moment.toordinal() % 7 == 0 or now is None):  # weekly, and when asked by hand
        yield from _merge_search_index(store)
    report.add("cached full texts", _trim_folder(_cache_folder(store), settings.cache_mb * 1_000_000))
    yield
    yield from release_free_pages(store.db.conn)


def _prune_papers(store: Store, report: PruneReport, before: str, tables: set[str]) -> Iterator[None]:
    """Papers not seen in a feed since ``before`` that nothing refers to, with what hangs on them (their
    full-text index rows go with them, by the index's trigger)."""
    # Not ``delivered``: dedupe reads that record alone, and a paper asked about after it went is fetched again.
    kept = ["SELECT paper_id FROM listings"]  # a listing still kept (a feed's latest day)
    if "radar_entries" in tables:  # the radar ranks by the liked paper's own words
        kept.append("SELECT key FROM radar_entries WHERE kind = 'like'")
    if "posted_messages" in tables:  # a reaction or a question under a kept message names its paper
        kept.append("SELECT paper_id FROM posted_messages WHERE paper_id IS NOT NULL")
        if "papers" in {column.name for column in store.db["posted_messages"].columns}:
            kept.append(_MESSAGE_PAPERS)
    if "outbox" in tables:  # the papers a digest still to be posted plans
        kept.append("SELECT j.value FROM outbox o, json_each(o.paper_ids) j WHERE o.state IN ('planned', 'sending')")
    conn = store.db.conn
    # The doomed ids are found once (each NOT IN reads its table once), then deleted in chunks.
    conn.execute("DROP TABLE IF EXISTS temp.doomed_papers")
    conn.execute(
        "CREATE TEMP TABLE doomed_papers AS SELECT id FROM papers WHERE updated_at < ?"
        + "".join(f" AND id NOT IN ({query})" for query in kept),
        (before,),
    )
    try:
        yield from _delete(store, report, "papers", "papers", "id IN (SELECT id FROM temp.doomed_papers)", ())
        for table, what in _HANGING_ON_PAPERS:
            if table in tables:
                yield from _delete(store, report, what, table, "paper_id IN (SELECT id FROM temp.doomed_papers)", ())
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.doomed_papers")
    store.clear_caches()


# Rows that are about one paper and worth nothing without it (caches: asked again if the paper comes back).
_HANGING_ON_PAPERS = (
    ("explanations", "explanations"),
    ("paper_embeddings", "embeddings"),
    ("question_answers", "cached answers"),
)

# The papers of multi-paper messages (a compact digest, a thread layout's header): ids space-separated.
_MESSAGE_PAPERS = """WITH RECURSIVE split(rest, id) AS (
        SELECT papers || ' ', '' FROM posted_messages WHERE papers IS NOT NULL
        UNION ALL SELECT substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1)
        FROM split WHERE rest <> '')
    SELECT id FROM split WHERE id <> ''"""


def _merge_search_index(store: Store) -> Iterator[None]:
    """Merge the search index into one segment, ``MERGE_PAGES`` at a time, dropping its delete markers.

    The full-text index records a removed paper as a delete marker, kept until the segments holding it are
    merged into the oldest one: with only FTS5's own merges, a steady stream of pruned papers makes the
    index grow without end (about 2 MB a day at 2,000 papers a day) though it indexes no more papers.
    """
    conn = store.db.conn
    merge = "INSERT INTO papers_fts(papers_fts, rank) VALUES ('merge', ?)"
    before = conn.total_changes
    conn.execute(merge, (-MERGE_PAGES,))  # negative: every segment, whatever its level, is merged
    yield
    while conn.total_changes - before >= 2:  # fewer than two changes: nothing was left to merge
        before = conn.total_changes
        conn.execute(merge, (MERGE_PAGES,))  # positive: carries on the merge begun above
        yield


def _delete(
    store: Store, report: PruneReport, what: str, table: str, where: str, params: tuple[object, ...]
) -> Iterator[None]:
    """DELETE ``table`` rows matching ``where``, ``CHUNK`` at a time, each chunk its own transaction."""
    while True:
        with store.db.atomic():
            cursor = store.db.conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT {CHUNK})",
                params,
            )
        report.add(what, cursor.rowcount)
        yield
        if cursor.rowcount < CHUNK:
            return


def _cache_folder(store: Store) -> Path | None:
    if store.path in ("", ":memory:") or store.path.startswith("file:"):
        return None
    return Path(store.path).resolve().parent / "fulltext"


def _trim_folder(folder: Path | None, max_bytes: int) -> int:
    """Remove the least recently written files until the folder holds at most ``max_bytes``."""
    if folder is None or not folder.is_dir():
        return 0
    files = []
    for path in folder.iterdir():
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file():
            files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def database_size(store: Store) -> tuple[int, int]:
    """The database's bytes on disk (file and write-ahead log) and the bytes of free pages in it."""
    return file_size(store.db.conn, store.path)


def size_line(store: Store) -> str:
    return database_line(store.db.conn, store.path)
