"""The outbox: every message the bot posts on its own (a scheduled digest, a `/paper digest`, a quiet-day
note, an admin report) is one row moving planned → sending → sent, or failed with a reason. The row is
written before and after every platform call, and it holds what is needed to draw the message again (the
papers and the "… and N more" count of a digest, the text of a note). What that guarantees, with the
adapter's help:

- A crash before the platform call leaves "planned"/"sending" with nothing posted: the message is sent
  on restart (never lost), drawn from the row as it was planned.
- A crash after the platform accepted the message but before "sent" was written leaves "sending":
  on restart the adapter is asked whether the message with this key is already there (Discord: the
  message nonce with enforce_nonce makes a resend a no-op; Slack: the key travels in the message
  metadata and recent history is checked). Only an adapter that cannot tell (the terminal) may repeat
  a message, and only in that window.

The outbox owns its table's later changes (a migration set of its own, applied with the store's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import sqlite_utils

from bot.models import ChannelRef
from bot.posting_gate import HANDED_BACK
from bot.store import Store, TableMigrations, outbox_key, utcnow


class Kind(StrEnum):
    """What a row posts; each kind is drawn again from the row after a restart."""

    DIGEST = "digest"  # the scheduled digest of a channel's categories for one announcement
    REQUESTED = "requested"  # the same digest, asked for with /paper digest
    QUIET = "quiet"  # one line on a day without an announcement
    REPORT = "report"  # problems with a slot's digests, to `[admin] channel`
    # The day's briefing opening a digest (bot.briefing): planned with that digest, in the same
    # transaction, and sent before it; its text is on the row, so a restart posts the same words.
    BRIEFING = "briefing"


DIGEST_KINDS = frozenset({Kind.DIGEST, Kind.REQUESTED})
NOTE_KINDS = frozenset({Kind.QUIET, Kind.REPORT, Kind.BRIEFING})

migrations = TableMigrations("paperbot.outbox")


@migrations()
def m001_outbox_payload(db: sqlite_utils.Database) -> None:
    # What a row needs to be drawn again that its other columns do not hold: a note's text, a digest's
    # "… and N more" count. JSON, so a new kind needs no new column.
    if "payload" not in db.table("outbox").columns_dict:
        db.execute("ALTER TABLE outbox ADD COLUMN payload TEXT")


@migrations()
def m002_outbox_recent_index(db: sqlite_utils.Database) -> None:
    # The status report counts rows by kind and state updated in the last day: (kind, updated_at) finds
    # them without reading the whole table, and carrying state makes the index cover the query.
    db.table("outbox").create_index(["kind", "updated_at", "state"], if_not_exists=True)


@migrations()
def m003_outbox_channel_day_index(db: sqlite_utils.Database) -> None:
    # Every fan-out asks, per channel, which feeds of today's announcement were already sent: found by the
    # channel and the day, a few rows, instead of walking every sent row of the table's whole history
    # (the only index it had led with the state, which almost every row shares).
    db.execute(
        "CREATE INDEX IF NOT EXISTS outbox_channel_day ON outbox (platform, workspace, channel, announced, kind)"
    )


def migrate(store: Store) -> None:
    """Apply the outbox's own migrations (after the store's, which create the table); cheap to repeat."""
    migrations.apply_to(store)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    key: str
    channel: ChannelRef
    announced: date
    categories: tuple[str, ...]
    kind: str
    state: str
    paper_ids: tuple[str, ...]
    attempts: int
    error: str | None
    updated_at: datetime
    note: str = ""  # the text of a note kind
    more_count: int = 0  # a digest's papers cut by the cap, for its "… and N more" line
    opens: str = ""  # a briefing: the key of the digest row it opens


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        migrate(store)

    def get(self, key: str) -> OutboxRow | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else _row(row)

    def plan(
        self,
        channel: ChannelRef,
        announced: date,
        categories: Sequence[str],
        paper_ids: Sequence[str],
        kind: str = Kind.DIGEST,
        *,
        sending: bool = False,
        note: str = "",
        more_count: int = 0,
        discriminator: str = "",
        opens: str = "",
    ) -> OutboxRow:
        """The row for this message, created as planned if new (see ``create``)."""
        row, _ = self.create(
            channel,
            announced,
            categories,
            paper_ids,
            kind,
            sending=sending,
            note=note,
            more_count=more_count,
            discriminator=discriminator,
            opens=opens,
        )
        return row

    def create(
        self,
        channel: ChannelRef,
        announced: date,
        categories: Sequence[str],
        paper_ids: Sequence[str],
        kind: str = Kind.DIGEST,
        *,
        sending: bool = False,
        note: str = "",
        more_count: int = 0,
        discriminator: str = "",
        opens: str = "",
    ) -> tuple[OutboxRow, bool]:
        """The row for this message and whether this call created it. A new row is planned with what
        draws it (or directly sending, one write instead of two, when the post follows at once). An
        existing row keeps what it was planned with, so a resend after a crash sends the same message.
        ``discriminator`` tells apart messages of one kind, channel and day (an admin report per slot)."""
        key = key_for(channel, announced, categories, kind, discriminator)
        now = utcnow().isoformat()
        state, attempts = ("sending", 1) if sending else ("planned", 0)
        payload = _payload(note, more_count, opens)
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "INSERT OR IGNORE INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
                " paper_ids, attempts, error, created_at, updated_at, payload)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?,?)",
                (
                    key,
                    channel.platform,
                    channel.workspace,
                    channel.channel,
                    announced.isoformat(),
                    "+".join(sorted(categories)),
                    str(kind),
                    state,
                    json.dumps(list(paper_ids)),
                    attempts,
                    now,
                    now,
                    payload,
                ),
            )
        row = self.get(key)
        assert row is not None
        return row, cursor.rowcount == 1

    def replan(
        self, key: str, paper_ids: Sequence[str], *, more_count: int = 0, note: str = "", opens: str = ""
    ) -> OutboxRow:
        """A finished row sent again with new contents (a `/paper digest` retried after a failure)."""
        payload = _payload(note, more_count, opens)
        with self.db.atomic():
            self.db.conn.execute(
                "UPDATE outbox SET state = 'sending', error = NULL, paper_ids = ?, payload = ?, updated_at = ?,"
                " attempts = attempts + 1 WHERE key = ?",
                (json.dumps(list(paper_ids)), payload, utcnow().isoformat(), key),
            )
        row = self.get(key)
        assert row is not None
        return row

    def sending(self, key: str) -> None:
        self._set(key, "sending", None, attempt=True)

    def failed(self, key: str, reason: str) -> None:
        self._set(key, "failed", reason[:500])

    def retry_later(self, key: str, reason: str) -> None:
        """Back to planned with the reason kept: a transient failure that will be retried."""
        self._set(key, "planned", reason[:500])

    def hand_back(self, key: str) -> None:
        """Back to planned, nothing posted: the bot stopped before this row's post started."""
        self._set(key, "planned", HANDED_BACK)

    def sent(self, row: OutboxRow) -> None:
        """Record the row as sent; a digest (scheduled or asked for) also records its papers as delivered
        and its announcement as done, in the same transaction."""
        with self.db.atomic():
            if row.kind in DIGEST_KINDS:
                self.store.record_delivery(row.channel, row.announced, row.categories, row.paper_ids)
            if row.kind != Kind.DIGEST:
                self.mark_sent(row.key)

    def mark_sent(self, key: str) -> None:
        """Only the row's state (``sent`` also records what a digest delivered)."""
        self._set(key, "sent", None)

    def sent_feeds(self, channel: ChannelRef, announced: date) -> set[str]:
        """The feeds of every digest (scheduled or requested) sent to ``channel`` for ``announced``."""
        rows = self.store.db.conn.execute(
            "SELECT categories FROM outbox WHERE platform = ? AND workspace = ? AND channel = ? AND announced = ?"
            " AND kind IN (?, ?) AND state = 'sent'",
            (channel.platform, channel.workspace, channel.channel, announced.isoformat(), Kind.DIGEST, Kind.REQUESTED),
        ).fetchall()
        return {feed for (categories,) in rows if categories for feed in str(categories).split("+")}

    def in_flight(self, channel: ChannelRef, announced: date, categories: Sequence[str]) -> OutboxRow | None:
        """A `/paper digest` of this announcement being posted now (or left so by a crash, which the
        restart finishes): the scheduled digest must not post the same papers beside it."""
        row = self.get(key_for(channel, announced, categories, Kind.REQUESTED))
        return row if row is not None and row.state in ("planned", "sending") else None

    def unfinished(self) -> list[OutboxRow]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state IN ('planned', 'sending') ORDER BY created_at"
        ).fetchall()
        return [_row(r) for r in rows]

    def counts_since(self, since: datetime, kinds: Sequence[str] = (Kind.DIGEST,)) -> dict[str, int]:
        """Rows of these kinds by state, updated since ``since``. Digests by default: a `/paper digest`
        also marks its announcement's digest row sent, so counting both would count it twice."""
        marks = ",".join("?" * len(kinds))
        rows = self.db.conn.execute(
            f"SELECT state, count(*) FROM outbox WHERE kind IN ({marks}) AND updated_at >= ? GROUP BY state",
            (*(str(k) for k in kinds), since.isoformat()),
        )
        return {state: count for state, count in rows}

    def failures_since(self, since: datetime) -> list[OutboxRow]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = 'failed' AND updated_at >= ? ORDER BY updated_at",
            (since.isoformat(),),
        ).fetchall()
        return [_row(r) for r in rows]

    def _set(self, key: str, state: str, error: str | None, *, attempt: bool = False) -> None:
        with self.db.atomic():
            self.db.conn.execute(
                "UPDATE outbox SET state = ?, error = ?, updated_at = ?, attempts = attempts + ? WHERE key = ?",
                (state, error, utcnow().isoformat(), 1 if attempt else 0, key),
            )


def key_for(
    channel: ChannelRef, announced: date, categories: Sequence[str], kind: str = Kind.DIGEST, discriminator: str = ""
) -> str:
    """The row's key, also the platform-side dedupe key (Discord nonce, Slack metadata)."""
    key = outbox_key(channel, announced, categories, str(kind))
    return f"{key}:{discriminator}" if discriminator else key


def briefing_key(channel: ChannelRef, announced: date, categories: Sequence[str], digest_kind: str) -> str:
    """The key of the briefing opening the digest of this kind (scheduled or requested)."""
    discriminator = "" if digest_kind == Kind.DIGEST else str(digest_kind)
    return key_for(channel, announced, categories, Kind.BRIEFING, discriminator)


def _payload(note: str, more_count: int, opens: str) -> str | None:
    payload: dict[str, str | int] = {"note": note} if note else {}
    if more_count:
        payload["more"] = more_count
    if opens:
        payload["opens"] = opens
    return json.dumps(payload) if payload else None


_COLUMNS = (
    "key, platform, workspace, channel, announced, categories, kind, state, paper_ids, attempts, error, updated_at,"
    " payload"
)


def _row(row: Sequence[object]) -> OutboxRow:
    payload = json.loads(str(row[12])) if row[12] else {}
    return OutboxRow(
        key=str(row[0]),
        channel=ChannelRef(str(row[1]), str(row[2]), str(row[3])),
        announced=date.fromisoformat(str(row[4])),
        categories=tuple(str(row[5]).split("+")) if row[5] else (),
        kind=str(row[6] or Kind.DIGEST),
        state=str(row[7]),
        paper_ids=tuple(json.loads(str(row[8] or "[]"))),
        attempts=int(str(row[9] or 0)),
        error=None if row[10] is None else str(row[10]),
        updated_at=datetime.fromisoformat(str(row[11])),
        note=str(payload.get("note", "")),
        more_count=int(payload.get("more", 0)),
        opens=str(payload.get("opens", "")),
    )
