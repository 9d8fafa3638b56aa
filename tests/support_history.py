"""A chat platform stand-in that posts what the adapters post (a header, then one message per card, each
recorded in ``posted_messages``), and a recorder of the SQL a piece of work runs with its query plans."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot import posted_messages
from bot.cards import DigestMessage
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.store import Store


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
