"""What the bot posted where: each platform message id with the paper it is about.

A reaction names a message, a thread names its parent message, a Discord reply names the message it
answers: this table turns each of them back into the paper of that card, explanation or answer. Adapters
record every message they post about one paper (a digest card, an explanation, a thread answer, a search
result); a message about no single paper (a digest's header, a briefing, a note) is recorded with no paper,
so the bot still knows it is its own and can say that it is not about one paper.

The table is a set of its own (own migrations, applied on first use after the store's). Rows older than
``KEEP_DAYS`` are pruned: a reaction or question on a card months old is not worth a table without end.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlite_utils

from bot.models import ChannelRef
from bot.store import Store, TableMigrations, utcnow

__all__ = ["KEEP_DAYS", "MessageKind", "PostedMessage", "find", "flush", "migrate", "prune", "record"]

KEEP_DAYS = 120


class MessageKind(StrEnum):
    CARD = "card"  # one paper's card in a digest
    HEADER = "header"  # a digest's header (no paper)
    BRIEFING = "briefing"  # the day's briefing (no single paper)
    EXPLANATION = "explanation"  # an explanation of one paper
    ANSWER = "answer"  # an answer to a question about one paper, in its thread
    RESULT = "result"  # a search result or a /paper show card
    NOTE = "note"  # a quiet-day note, an admin report
    # A message holding several papers' cards (the compact layout; a thread layout's header lists them):
    # ``papers`` keeps them in digest order, so "#3" or a paper's id in its thread finds the paper.
    DIGEST = "digest"


migrations = TableMigrations("paperbot.posted_messages")


@migrations()
def m001_posted_messages(db: sqlite_utils.Database) -> None:
    # ``thread_id`` is the message a reply was posted under (Slack's thread_ts, Discord's referenced
    # message), so a question in the thread of an explanation finds the card's paper too.
    db.execute(
        """CREATE TABLE IF NOT EXISTS posted_messages (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               message_id TEXT NOT NULL, kind TEXT NOT NULL, paper_id TEXT,
               thread_id TEXT, outbox_key TEXT, posted_at TEXT NOT NULL,
               PRIMARY KEY (platform, workspace, channel, message_id))"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS posted_messages_age ON posted_messages (posted_at)")


@migrations()
def m002_posted_message_papers(db: sqlite_utils.Database) -> None:
    # The papers of a multi-paper message, space-separated in digest order (#1 first); NULL for the rest.
    if "papers" not in db.table("posted_messages").columns_dict:
        db.execute("ALTER TABLE posted_messages ADD COLUMN papers TEXT")


def migrate(store: Store) -> None:
    """Apply this table's migrations once per store (after the store's own); cheap to repeat."""
    migrations.apply_to(store)


@dataclass(frozen=True, slots=True)
class PostedMessage:
    channel: ChannelRef
    message_id: str
    kind: MessageKind
    paper_id: str | None
    thread_id: str | None
    outbox_key: str | None
    posted_at: datetime
    papers: tuple[str, ...] = ()  # a multi-paper message's papers in digest order (#1 first)

    def paper_number(self, number: int) -> str | None:
        """The paper shown as #number in this message, or None when it holds no such number."""
        return self.papers[number - 1] if 1 <= number <= len(self.papers) else None


def record(
    store: Store,
    channel: ChannelRef,
    message_id: str,
    kind: MessageKind,
    *,
    paper_id: str | None = None,
    thread_id: str | None = None,
    outbox_key: str | None = None,
    papers: Sequence[str] = (),
) -> None:
    """Remember one posted message. Recording the same message again replaces the row (a resend after a
    crash keeps one row). ``papers``: a multi-paper message's papers in digest order.

    In a running event loop the messages recorded in one turn of the loop are written in one commit at
    the start of its next turn (a fan-out records hundreds of messages a second, and a commit each was a
    fifth of its CPU): before any event (a reaction, a click, a reply) is read, and ``find`` writes them
    first anyway, so a message is found as soon as it is recorded. Without a running loop: at once."""
    if not message_id:
        return
    migrate(store)
    row = (
        channel.platform,
        channel.workspace,
        channel.channel,
        message_id,
        str(kind),
        paper_id or None,
        thread_id or None,
        outbox_key,
        utcnow().isoformat(),
        " ".join(papers) or None,
    )
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _write(store, [row])
        return
    pending = _pending.get(store)
    if pending is None:
        pending = _pending[store] = []
        loop.call_soon(flush, store)
    pending.append(row)


_Row = tuple[str, str, str, str, str, str | None, str | None, str | None, str, str | None]
# Rows recorded in the current turn of the event loop, per store, written by ``flush``.
_pending: weakref.WeakKeyDictionary[Store, list[_Row]] = weakref.WeakKeyDictionary()


def flush(store: Store) -> None:
    """Write the rows recorded and not yet written, in one commit (in their order: the last of a message
    wins). Called at the next turn of the loop, and before anything here reads the table."""
    rows = _pending.pop(store, None)
    if rows:
        _write(store, rows)


def _write(store: Store, rows: list[_Row]) -> None:
    with store.db.atomic():
        store.db.conn.executemany(
            """INSERT OR REPLACE INTO posted_messages
               (platform, workspace, channel, message_id, kind, paper_id, thread_id, outbox_key, posted_at,
                papers)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )


def find(store: Store, channel: ChannelRef, message_id: str) -> PostedMessage | None:
    """The bot's own message with this id in this channel, or None when the bot did not post it (or it
    was pruned)."""
    if not message_id:
        return None
    migrate(store)
    flush(store)
    row = store.db.execute(
        """SELECT kind, paper_id, thread_id, outbox_key, posted_at, papers FROM posted_messages
           WHERE platform = ? AND workspace = ? AND channel = ? AND message_id = ?""",
        [channel.platform, channel.workspace, channel.channel, message_id],
    ).fetchone()
    if row is None:
        return None
    kind, paper_id, thread_id, outbox_key, posted_at, papers = row
    try:
        message_kind = MessageKind(kind)
    except ValueError:  # a kind from a newer release: known to be ours, about no paper we can tell
        message_kind, paper_id = MessageKind.NOTE, None
    return PostedMessage(
        channel,
        message_id,
        message_kind,
        paper_id,
        thread_id,
        outbox_key,
        datetime.fromisoformat(posted_at),
        tuple(str(papers).split()) if papers else (),
    )


def prune(store: Store, *, now: datetime | None = None, keep_days: int = KEEP_DAYS) -> int:
    """Forget messages older than ``keep_days``; returns how many rows went."""
    migrate(store)
    flush(store)
    cutoff = ((now or utcnow()) - timedelta(days=keep_days)).isoformat()
    with store.db.atomic():
        cursor = store.db.conn.execute("DELETE FROM posted_messages WHERE posted_at < ?", [cutoff])
    return cursor.rowcount
