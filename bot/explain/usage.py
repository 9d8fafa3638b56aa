"""What `/paper usage` reports (LLM calls, tokens and estimated cost, today and this month, per purpose), and
what preparing explanations ahead of posting did.

The report is read from the ledger's table with the stdlib alone: `paperbot usage` builds it from the
database and the config without the explainer (its prompts, renderers and the ranking's numpy).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config

__all__ = [
    "USAGE_PURPOSES",
    "PrepareReport",
    "PurposeUsage",
    "UsageReport",
    "UsageTotals",
    "configured_llm",
    "ledger_totals",
    "usage_report",
]


@dataclass(frozen=True, slots=True)
class UsageTotals:
    calls: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class PrepareReport:
    wanted: int  # distinct papers asked for
    cached: int  # already explained
    explained: int  # explained now
    failed: int
    batched: bool
    skipped_for_budget: int = 0
    grounded: int = 0  # of those asked for now, how many with the paper's own equations


@dataclass(frozen=True, slots=True)
class UsageReport:
    provider: str
    model: str
    budget_usd: float
    today: UsageTotals
    month: UsageTotals
    cached_explanations: int
    # Each purpose of the ledger (explanations, briefings, questions) apart, today and this month.
    purposes: tuple[PurposeUsage, ...] = ()
    question_budget_usd: float = 0.0  # the share of the daily budget questions may spend

    def text(self) -> str:
        def totals(t: UsageTotals) -> str:
            failed = f" ({t.failed} failed)" if t.failed else ""
            return (
                f"{t.calls} calls{failed}, {t.input_tokens:,} tokens in / {t.output_tokens:,} out, ≈ ${t.cost_usd:.4f}"
            )

        head = f"LLM usage: {self.provider}" + (
            f" ({self.model})" if self.provider != "none" else " (explanations are offline)"
        )
        lines = [
            head,
            f"Today: {totals(self.today)} of a ${self.budget_usd:.2f} daily budget",
            f"This month: {totals(self.month)}",
        ]
        for usage in self.purposes:
            if usage.purpose == "embedding" and not usage.month.calls:
                continue  # embeddings are optional: no line for a bot that has none
            share = ""
            if usage.purpose == "question":
                share = f" (may spend ${self.question_budget_usd:.2f} a day)"
            lines.append(f"{usage.label}{share}: today {totals(usage.today)}; this month {totals(usage.month)}")
        lines.append(f"Explanations cached for reuse: {self.cached_explanations:,}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PurposeUsage:
    purpose: str  # as recorded in the ledger: "explain" | "briefing" | "question" | "embedding"
    label: str  # as shown: "Explanations"
    today: UsageTotals
    month: UsageTotals


USAGE_PURPOSES = (
    ("explain", "Explanations"),
    ("briefing", "Briefings"),
    ("question", "Questions in threads"),
    ("embedding", "Embeddings"),
)


def ledger_totals(
    conn: sqlite3.Connection, since: datetime, until: datetime | None = None, *, purpose: str | None = None
) -> UsageTotals:
    """The ledger's calls in [since, until), of one purpose or (None) of all."""
    until = until or since + timedelta(days=36500)
    row: Any = conn.execute(
        "SELECT count(*), sum(outcome != 'ok'), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
        " coalesce(sum(cost_usd), 0) FROM llm_calls WHERE at >= ? AND at < ? AND (? IS NULL OR purpose = ?)",
        (since.isoformat(), until.isoformat(), purpose, purpose),
    ).fetchone()
    return UsageTotals(row[0], row[1] or 0, row[2], row[3], float(row[4]))


def usage_report(conn: sqlite3.Connection, config: Config, *, provider: str, model: str, day: datetime) -> UsageReport:
    """The report for the UTC day that starts at ``day`` and its month, ``provider`` ("none" when offline)
    and ``model`` being what answers."""
    month = day.replace(day=1)
    budget = float(config.get("llm", "daily_budget_usd"))
    purposes = tuple(
        PurposeUsage(
            purpose, label, ledger_totals(conn, day, purpose=purpose), ledger_totals(conn, month, purpose=purpose)
        )
        for purpose, label in USAGE_PURPOSES
    )
    return UsageReport(
        provider=provider,
        model=model,
        budget_usd=budget,
        today=ledger_totals(conn, day),
        month=ledger_totals(conn, month),
        cached_explanations=conn.execute("SELECT count(*) FROM explanations").fetchone()[0],
        purposes=purposes,
        question_budget_usd=budget * float(config.get("questions", "budget_share")),
    )


def configured_llm(config: Config) -> tuple[str, str] | None:
    """(provider, model) of the LLM bot.explain.llm.build_provider makes from ``config``, or None when it
    makes none (explanations offline), told without making it (a test holds the two equal)."""
    provider = config.llm_provider
    if provider == "anthropic" and config.secret("ANTHROPIC_API_KEY") is None:
        return None
    return (provider, config.llm_model) if provider in ("anthropic", "openai") else None
