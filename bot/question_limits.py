"""How many questions the bot answers, and how much of the day's LLM budget they may spend.

Rate limits (``[questions] per_user_per_hour``, ``per_channel_per_hour``) count the questions asked in the
last hour (a sliding window, kept in the store so a restart does not reset it): a person's across every
channel of a workspace, a channel's from everyone. Past either, the asker is told when the oldest
question of the window leaves it, and nothing else happens (no lookup, no LLM call).

The budget: thread answers may spend ``[questions] budget_share`` of ``[llm] daily_budget_usd`` per UTC
day. A question is sent to the LLM only when its worst case (its prompt estimated high and the whole
output allowance, for every try) is RESERVED within both what is left of that share and what is left of
the whole day's budget, answers still in flight counted (bot.explain.budget); the reservation is settled
at the real cost when the answer comes. Questions therefore never take more than their share, even 60 at
once, so explanations and briefings always keep the rest of the day's budget; past it, answers are offline
until the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot.config import Config
from bot.explain.budget import Reservation
from bot.explain.service import Explainer
from bot.models import ChannelRef
from bot.question_prompt import ANSWER_TOOL, QUESTION_SYSTEM_PROMPT
from bot.store import Store, TableMigrations

__all__ = ["WINDOW", "LimitHit", "QuestionSettings", "reserve_question", "share_usd", "take_a_turn"]

WINDOW = timedelta(hours=1)
PURPOSE = "question"


@dataclass(frozen=True, slots=True)
class QuestionSettings:
    per_user_per_hour: int
    per_channel_per_hour: int
    budget_share: float
    max_question_chars: int
    max_input_tokens: int

    @classmethod
    def from_config(cls, config: Config) -> QuestionSettings:
        return cls(
            per_user_per_hour=int(config.get("questions", "per_user_per_hour")),
            per_channel_per_hour=int(config.get("questions", "per_channel_per_hour")),
            budget_share=float(config.get("questions", "budget_share")),
            max_question_chars=int(config.get("questions", "max_question_chars")),
            max_input_tokens=int(config.get("llm", "max_input_tokens")),
        )


migrations = TableMigrations("paperbot.question_asks")


@migrations()
def m001_question_asks(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS question_asks (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               user TEXT NOT NULL, at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS question_asks_user ON question_asks (platform, workspace, user, at)")
    db.execute("CREATE INDEX IF NOT EXISTS question_asks_channel ON question_asks (platform, workspace, channel, at)")
    db.execute("CREATE INDEX IF NOT EXISTS question_asks_age ON question_asks (at)")


def migrate(store: Store) -> None:
    """Apply this module's migrations once per store (after the store's own); cheap to repeat."""
    migrations.apply_to(store)


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A question over a limit: whose limit (``"you"`` or ``"channel"``), its size, and when to ask again."""

    whose: str
    limit: int
    retry_at: datetime

    def message(self, now: datetime) -> str:
        minutes = max(1, -(-int((self.retry_at - now).total_seconds()) // 60))  # rounded up
        when = f"after {self.retry_at.astimezone(UTC):%H:%M} UTC (in {minutes} minute{'s' if minutes > 1 else ''})"
        if self.whose == "you":
            return f"You have asked {self.limit} questions in the last hour, the most one person may; ask again {when}."
        return f"This channel has asked {self.limit} questions in the last hour, the most it may; ask again {when}."


def take_a_turn(
    store: Store, channel: ChannelRef, user: str, settings: QuestionSettings, now: datetime
) -> LimitHit | None:
    """Count one question of ``user`` in ``channel`` now, or say which limit it is over (and count nothing).

    Synchronous on purpose: called on the event loop with no await inside, so two questions arriving at
    once cannot both take the last turn."""
    migrate(store)
    now = now.astimezone(UTC)  # stored as text: one offset, so that text order is time order
    since = (now - WINDOW).isoformat()
    db = store.db.conn
    checks = (
        ("you", settings.per_user_per_hour, "platform = ? AND workspace = ? AND user = ?", user),
        ("channel", settings.per_channel_per_hour, "platform = ? AND workspace = ? AND channel = ?", channel.channel),
    )
    for whose, limit, where, who in checks:
        args = [channel.platform, channel.workspace, who, since]
        count, oldest = db.execute(
            f"SELECT count(*), min(at) FROM question_asks WHERE {where} AND at > ?", args
        ).fetchone()
        if count >= limit:
            # The window frees a turn when its oldest question leaves it. Several may have come within
            # the same second: the count still says no until enough have left.
            retry = datetime.fromisoformat(_nth_oldest(store, where, args, count - limit + 1) or oldest) + WINDOW
            return LimitHit(whose, limit, retry)
    with store.db.atomic():
        db.execute(
            "INSERT INTO question_asks (platform, workspace, channel, user, at) VALUES (?, ?, ?, ?, ?)",
            [channel.platform, channel.workspace, channel.channel, user, now.isoformat()],
        )
        # Nothing older than the window is ever read again.
        db.execute("DELETE FROM question_asks WHERE at <= ?", [(now - 2 * WINDOW).isoformat()])
    return None


def _nth_oldest(store: Store, where: str, args: list[str], n: int) -> str | None:
    row = store.db.conn.execute(
        f"SELECT at FROM question_asks WHERE {where} AND at > ? ORDER BY at LIMIT 1 OFFSET ?", [*args, n - 1]
    ).fetchone()
    return None if row is None else str(row[0])


def share_usd(explainer: Explainer, settings: QuestionSettings) -> float:
    """What thread answers may spend today, in dollars."""
    return float(explainer.config.get("llm", "daily_budget_usd")) * settings.budget_share


def reserve_question(explainer: Explainer, settings: QuestionSettings, paper_id: str, user: str) -> Reservation | None:
    """The worst case of one answer about ``paper_id`` to this prompt (``user``) held in the questions' share of today's
    budget and in the budget itself, or None when it does not fit either (a share of 0: never)."""
    provider = explainer.provider
    share = share_usd(explainer, settings)
    if provider is None or share <= 0:
        return None
    return explainer.reserve(
        provider, ANSWER_TOOL, QUESTION_SYSTEM_PROMPT, user, subject=paper_id, purpose=PURPOSE, share=share
    )
