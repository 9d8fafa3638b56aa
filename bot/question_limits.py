"""How many questions the bot answers, and how much of the day's LLM budget they may spend.

Rate limits (``[questions] per_user_per_hour``, ``per_channel_per_hour``) count the questions asked in the
last hour (a sliding window, kept in the store so a restart does not reset it): a person's across every
channel of a workspace, a channel's from everyone. Past either, the asker is told when the oldest
question of the window leaves it, and nothing else happens (no lookup, no LLM call).

The budget: thread answers may spend ``[questions] budget_share`` of ``[llm] daily_budget_usd`` per UTC
day. A question is sent to the LLM only when its worst case (a full prompt of ``[llm] max_input_tokens``
and the whole output allowance) still fits both what is left of that share and what is left of the whole
day's budget. Questions therefore never take more than their share, so explanations and briefings always
keep the rest of the day's budget; past it, answers are offline until the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot.config import Config
from bot.explain.pricing import cost_usd
from bot.explain.service import Explainer
from bot.models import ChannelRef
from bot.question_prompt import ANSWER_OUTPUT_TOKENS
from bot.store import Store, TableMigrations

__all__ = ["WINDOW", "LimitHit", "QuestionSettings", "may_use_llm", "take_a_turn"]

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


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def worst_case_cost(explainer: Explainer, settings: QuestionSettings) -> float:
    """What one question could cost at most: a full prompt and the whole output allowance."""
    if explainer.provider is None:
        return 0.0
    override = (
        float(explainer.config.get("llm", "input_usd_per_mtok")),
        float(explainer.config.get("llm", "output_usd_per_mtok")),
    )
    return cost_usd(explainer.provider.model, settings.max_input_tokens, ANSWER_OUTPUT_TOKENS, override=override)


def may_use_llm(explainer: Explainer, settings: QuestionSettings) -> bool:
    """Whether one more question fits the questions' share of today's budget and the budget itself."""
    budget = float(explainer.config.get("llm", "daily_budget_usd"))
    share = budget * settings.budget_share
    if share <= 0:
        return False
    worst = worst_case_cost(explainer, settings)
    start = day_start(explainer.now())
    spent_on_questions = explainer.ledger.totals(start, purpose=PURPOSE).cost_usd
    spent_in_all = explainer.ledger.totals(start).cost_usd
    return spent_on_questions + worst <= share and spent_in_all + worst <= budget
