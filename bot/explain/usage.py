"""What `/paper usage` reports (LLM calls, tokens and estimated cost, today and this month, per purpose), and
what preparing explanations ahead of posting did."""

from __future__ import annotations

from dataclasses import dataclass

from bot.explain.ledger import UsageTotals

__all__ = ["USAGE_PURPOSES", "PrepareReport", "PurposeUsage", "UsageReport"]


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
