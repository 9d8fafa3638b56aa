"""The outbox: each (channel, announcement, categories) digest is one row moving
planned → sending → sent, or failed with a reason. The row is written before and after every platform
call. What that guarantees, with the adapter's help:

- A crash before the platform call leaves "planned"/"sending" with nothing posted: the digest is sent
  on restart (never lost).
- A crash after the platform accepted the message but before "sent" was written leaves "sending":
  on restart the adapter is asked whether the message with this key is already there (Discord: the
  message nonce with enforce_nonce makes a resend a no-op; Slack: the key travels in the message
  metadata and recent history is checked). Only an adapter that cannot tell (the terminal) may repeat
  a digest, and only in that window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.models import ChannelRef
from bot.store import Store, outbox_key, utcnow


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


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def get(self, key: str) -> OutboxRow | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else _row(row)

    def plan(
        self,
        channel: ChannelRef,
        announced: date,
        categories: Sequence[str],
        paper_ids: Sequence[str],
        kind: str = "digest",
        *,
        sending: bool = False,
    ) -> OutboxRow:
        """The row for this digest, created as planned with its papers if new (or directly as sending,
        one write instead of two, when the post follows at once). An existing row keeps the papers it
        was planned with, so a resend after a crash sends the same digest."""
        key = outbox_key(channel, announced, categories, kind)
        now = utcnow().isoformat()
        state, attempts = ("sending", 1) if sending else ("planned", 0)
        with self.db.atomic():
            self.db.conn.execute(
                "INSERT OR IGNORE INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
                " paper_ids, attempts, error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?)",
                (
                    key,
                    channel.platform,
                    channel.workspace,
                    channel.channel,
                    announced.isoformat(),
                    "+".join(sorted(categories)),
                    kind,
                    state,
                    json.dumps(list(paper_ids)),
                    attempts,
                    now,
                    now,
                ),
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

    def sent(self, row: OutboxRow) -> None:
        if row.kind == "digest":
            self.store.record_delivery(row.channel, row.announced, row.categories, row.paper_ids)
        else:
            self._set(row.key, "sent", None)

    def unfinished(self) -> list[OutboxRow]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state IN ('planned', 'sending') ORDER BY created_at"
        ).fetchall()
        return [_row(r) for r in rows]

    def counts_since(self, since: datetime) -> dict[str, int]:
        rows = self.db.conn.execute(
            "SELECT state, count(*) FROM outbox WHERE updated_at >= ? GROUP BY state", (since.isoformat(),)
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


_COLUMNS = (
    "key, platform, workspace, channel, announced, categories, kind, state, paper_ids, attempts, error, updated_at"
)


def _row(row: Sequence[object]) -> OutboxRow:
    return OutboxRow(
        key=str(row[0]),
        channel=ChannelRef(str(row[1]), str(row[2]), str(row[3])),
        announced=date.fromisoformat(str(row[4])),
        categories=tuple(str(row[5]).split("+")) if row[5] else (),
        kind=str(row[6] or "digest"),
        state=str(row[7]),
        paper_ids=tuple(json.loads(str(row[8] or "[]"))),
        attempts=int(str(row[9] or 0)),
        error=None if row[10] is None else str(row[10]),
        updated_at=datetime.fromisoformat(str(row[11])),
    )
