"""A chat platform stand-in that posts what the adapters post (a header, then one message per card, each
recorded in ``posted_messages``), a recorder of the SQL a piece of work runs with its query plans, and
days of history written through the store as a fan-out writes them (for retention's checks)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bot import posted_messages
from bot.cards import DigestMessage
from bot.models import ChannelRef, Feed, FeedItem, Paper
from bot.posted_messages import MessageKind
from bot.store import Store, utcnow


class RecordingPoster:
    """Posts a digest as Slack and Discord do: its header, then each card as a message of its own."""

    platform = "test"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.messages = 0
        self.digests: list[tuple[ChannelRef, DigestMessage]] = []

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        self.digests.append((channel, digest))
        self._post(channel, MessageKind.HEADER if digest.cards else MessageKind.NOTE, None)
        for card in digest.cards:
            self._post(channel, MessageKind.CARD, card.paper_id)

    def _post(self, channel: ChannelRef, kind: MessageKind, paper_id: str | None) -> None:
        self.messages += 1
        posted_messages.record(self.store, channel, f"m{self.messages}", kind, paper_id=paper_id)


@dataclass
class QueryLog:
    """Distinct statements (by shape: literals folded) in the order first run, each with its plan."""

    statements: dict[str, str] = field(default_factory=dict)

    def add(self, sql: str) -> None:
        shape = " ".join(re.sub(r"'[^']*'|\b\d+\b", "?", sql).split())
        shape = re.sub(r"\(\?(?:, ?\?)+\)", "(?…)", shape)  # IN lists of any length are one shape
        self.statements.setdefault(shape, sql)

    def plans(self, conn: sqlite3.Connection) -> dict[str, list[str]]:
        """Each read, update or delete with the lines of its EXPLAIN QUERY PLAN."""
        found: dict[str, list[str]] = {}
        for shape, sql in self.statements.items():
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb in ("SELECT", "UPDATE", "DELETE", "WITH") or (" SELECT " in sql.upper() and verb == "INSERT"):
                found[shape] = [str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        return found


@contextmanager
def recorded_queries(conn: sqlite3.Connection) -> Iterator[QueryLog]:
    log = QueryLog()
    conn.set_trace_callback(log.add)
    try:
        yield log
    finally:
        conn.set_trace_callback(None)


# --- days of history, written through the store's own calls and dated as if they had passed ----------

HISTORY_FEED = "stat.ML"
# Each table's own time column: rows written "now" by the store are moved to the simulated day.
_STAMPED = {
    "papers": ("updated_at",),
    "deliveries": ("delivered_at",),
    "outbox": ("created_at", "updated_at"),
    "posted_messages": ("posted_at",),
    "fetches": ("fetched_at",),
}


def history_paper(day: int, n: int) -> Paper:
    return Paper(
        id=f"{2000 + day:04d}.{n:05d}",
        version=1,
        title=f"Paper {n} of day {day} on sparse estimation",
        authors=("Ada Lovelace",),
        categories=(HISTORY_FEED,),
        primary_category=HISTORY_FEED,
        abstract=f"We study estimator number {n} announced on day {day}.",
    )


def write_history_day(store: Store, day: int, at: datetime, channels: int, papers: int, sent: int) -> None:
    """One day at ``at``: a feed of ``papers`` papers, each of ``channels`` channels sent ``sent`` of them
    (its own ones) in a digest posted as a header and a card per paper, every row dated ``at``."""
    written_from = utcnow().isoformat()
    items = tuple(FeedItem(history_paper(day, n), n, (HISTORY_FEED,)) for n in range(papers))
    store.save_feed(Feed(categories=(HISTORY_FEED,), announced=at.date(), items=items))
    for c in range(channels):
        channel = ChannelRef("test", "T1", f"c{c}")
        ids = [history_paper(day, c * sent + k).id for k in range(sent)]
        store.record_delivery(channel, at.date(), (HISTORY_FEED,), ids)
        posted_messages.record(store, channel, f"d{day}c{c}", MessageKind.HEADER, papers=ids)
        for pid in ids:
            posted_messages.record(store, channel, f"d{day}c{c}:{pid}", MessageKind.CARD, paper_id=pid)
    with store.db.atomic():
        for table, columns in _STAMPED.items():
            for column in columns:
                store.db.conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} >= ?", (at.isoformat(), written_from)
                )
    store.clear_caches()
