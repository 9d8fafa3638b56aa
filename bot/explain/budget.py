"""The day's LLM budget, reserved before a call and settled after it.

Checking the budget, awaiting the call and charging it afterwards lets every call that starts while others
are in flight see the same unspent budget: 60 thread questions at once all passed the check and spent three
times the questions' share. So each call first RESERVES its worst case (``worst_case_tokens``: the prompt
estimated high, plus the whole output allowance, for every try a malformed answer may take) at the model's
price, in one ``BEGIN IMMEDIATE`` transaction that also reads what is spent and held: two calls of one
process, or of several processes sharing the database, cannot both take the last of the budget. When the
call ends the reservation is SETTLED into the ledger (``llm_calls``) at the real cost, dated when it was
reserved (the day it was checked against); a call that never happened (cancelled, crashed) RELEASES it.

A reservation left by a process that died holds its money until ``expires_at``, which is well past the
longest the call could have taken; then it no longer counts.

What is spent today = the day's settled calls + every open reservation. A call fits when that is below the
limit and that plus its worst case is within it: the whole ``[llm] daily_budget_usd``, and for thread
questions also their ``[questions] budget_share`` of it. A call that costs $0 (a model on one's own server)
fits until the day is spent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import sqlite_utils

from bot.config import Config
from bot.explain.ledger import Ledger
from bot.explain.llm import MALFORMED_RETRIES, LLMProvider, Tool
from bot.explain.pricing import BATCH_DISCOUNT, Price, price_for
from bot.store import Store, TableMigrations

__all__ = ["Budget", "Meter", "Reservation", "worst_case_tokens"]

# A token is rarely fewer than 3 characters, even of dense Unicode mathematics (the prompt builders count
# 4): the estimate errs high, and settling corrects it.
CHARS_PER_TOKEN_AT_LEAST = 3
# What a provider adds to the prompt we send: Anthropic's tool-use system prompt (~350 tokens), framing.
OVERHEAD_TOKENS = 500
# A reservation outlives the call it is for by this much before it stops counting (a process that died).
EXPIRY_MARGIN = timedelta(minutes=10)

migrations = TableMigrations("paperbot.llm_reservations")


@migrations()
def m001_llm_reservations(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS llm_reservations (
               id INTEGER PRIMARY KEY, at TEXT NOT NULL, expires_at TEXT NOT NULL, purpose TEXT NOT NULL,
               subject TEXT NOT NULL, model TEXT NOT NULL, cost_usd REAL NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS llm_reservations_expiry ON llm_reservations (expires_at)")


def worst_case_tokens(tool: Tool[Any], system: str, user: str) -> tuple[int, int]:
    """(input, output) tokens one call with this prompt could be billed at most: every try of it."""
    chars = len(system) + len(user) + len(tool.description) + len(json.dumps(tool.schema, ensure_ascii=False))
    tries = 1 + MALFORMED_RETRIES
    return tries * (-(-chars // CHARS_PER_TOKEN_AT_LEAST) + OVERHEAD_TOKENS), tries * tool.max_output_tokens


@dataclass(frozen=True, slots=True)
class Meter:
    """Who is called (as the ledger names it), with which model, at what price."""

    provider: str
    model: str
    price: Price

    def cost(self, tokens_in: int, tokens_out: int, *, batch: bool = False) -> float:
        price = self.price
        cost = (tokens_in * price.input_usd_per_mtok + tokens_out * price.output_usd_per_mtok) / 1_000_000
        return cost * BATCH_DISCOUNT if batch else cost


class Budget:
    """The daily budget over the ledger, with reservations (see the module docstring)."""

    def __init__(self, config: Config, store: Store, *, now: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.ledger = Ledger(store)
        self.now = now

    @property
    def daily_usd(self) -> float:
        return float(self.config.get("llm", "daily_budget_usd"))

    def meter(self, provider: LLMProvider) -> Meter:
        """How ``provider``'s calls are metered: ``[llm]`` prices, the built-in ones, or the dearest known."""
        base_url = str(getattr(provider, "base_url", "") or self.config.get("llm", "base_url"))
        price = price_for(provider.model, self.config.price_override, provider=provider.name, base_url=base_url)
        return Meter(provider.name, provider.model, price)

    def day_start(self) -> datetime:
        return self.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def spent(self, purpose: str | None = None) -> float:
        """Today's settled calls and every open reservation, of one purpose or (None) of all."""
        migrations.apply_to(self.store)
        return self._spent(self.store.db.conn, purpose)

    def day_is_spent(self) -> bool:
        return self.spent() >= self.daily_usd

    def reserve(
        self,
        meter: Meter,
        *,
        purpose: str,
        subject: str,
        tokens: tuple[int, int],
        batch: bool = False,
        share: float | None = None,
        hold: timedelta = timedelta(minutes=5),
    ) -> Reservation | None:
        """Hold the cost of ``tokens`` (input, output: the worst case) for one call, or None when it does not
        fit what is left of today's budget (and of ``share``, in dollars, for ``purpose``). ``hold``: the
        longest the call can take; the reservation stops counting ``EXPIRY_MARGIN`` after it."""
        migrations.apply_to(self.store)
        cost = meter.cost(*tokens, batch=batch)
        at = self.now().astimezone(UTC)
        conn = self.store.db.conn
        with _immediate(conn):
            checks = [(self.daily_usd, None)] + ([(share, purpose)] if share is not None else [])
            for limit, of in checks:
                spent = self._spent(conn, of)
                if spent >= limit or spent + cost > limit:
                    return None
            expires = at + hold + EXPIRY_MARGIN
            cursor = conn.execute(
                "INSERT INTO llm_reservations (at, expires_at, purpose, subject, model, cost_usd) VALUES (?,?,?,?,?,?)",
                (at.isoformat(), expires.isoformat(), purpose, subject, meter.model, cost),
            )
            # Rows of processes long gone are never read again.
            conn.execute("DELETE FROM llm_reservations WHERE expires_at < ?", ((at - timedelta(days=2)).isoformat(),))
        return Reservation(self, int(cursor.lastrowid or 0), at, meter, purpose, subject, batch, cost)

    def record(
        self,
        meter: Meter,
        subject: str,
        tokens: tuple[int, int],
        *,
        outcome: str,
        purpose: str,
        batch: bool = False,
        at: datetime | None = None,
    ) -> None:
        """One call in the ledger at its real cost (``at``: when its budget was checked; default now)."""
        self.ledger.record(
            at=(at or self.now()).astimezone(UTC),
            provider=meter.provider,
            model=meter.model,
            paper_id=subject,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost_usd=meter.cost(*tokens, batch=batch),
            batch=batch,
            outcome=outcome,
            purpose=purpose,
        )

    def _spent(self, conn: sqlite3.Connection, purpose: str | None) -> float:
        now = self.now().astimezone(UTC)
        settled = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE at >= ? AND (? IS NULL OR purpose = ?)",
            (self.day_start().isoformat(), purpose, purpose),
        ).fetchone()[0]
        # Open reservations count whatever day they were made on: one made before midnight and settled
        # after it is charged to its own day, and until then holds this day's money too.
        held = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_reservations WHERE expires_at > ?"
            " AND (? IS NULL OR purpose = ?)",
            (now.isoformat(), purpose, purpose),
        ).fetchone()[0]
        return float(settled) + float(held)


class Reservation:
    """One call's held worst case. ``settle`` it with what the call was billed, or ``release`` it (as
    leaving a ``with`` block does) when no call was made; either ends it, and only the first counts."""

    def __init__(
        self,
        budget: Budget,
        row: int,
        at: datetime,
        meter: Meter,
        purpose: str,
        subject: str,
        batch: bool,
        cost_usd: float,
    ) -> None:
        self.budget = budget
        self.row = row
        self.at = at
        self.meter = meter
        self.purpose = purpose
        self.subject = subject
        self.batch = batch
        self.cost_usd = cost_usd
        self.open = True

    def settle(self, tokens_in: int, tokens_out: int, *, outcome: str) -> None:
        """The call's real cost into the ledger, and the reservation gone, in one transaction."""
        if not self.open:
            return
        self.open = False
        with self.budget.store.db.atomic():
            self._drop()
            self.budget.record(
                self.meter,
                self.subject,
                (tokens_in, tokens_out),
                outcome=outcome,
                purpose=self.purpose,
                batch=self.batch,
                at=self.at,
            )

    def release(self) -> None:
        if self.open:
            self.open = False
            self._drop()

    def _drop(self) -> None:
        self.budget.store.db.conn.execute("DELETE FROM llm_reservations WHERE id = ?", (self.row,))

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes the write lock before it reads (BEGIN IMMEDIATE): what it read is still
    true when it writes, whichever process wants the budget next. Inside another transaction: a savepoint
    (that one already decides)."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT budget")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO SAVEPOINT budget")
            conn.execute("RELEASE SAVEPOINT budget")
            raise
        conn.execute("RELEASE SAVEPOINT budget")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
