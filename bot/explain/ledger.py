"""The explanation cache and the LLM call ledger, on the bot's SQLite store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.explain.answer_schema import answer_to_data
from bot.explain.answers import token_count, without_surrogates
from bot.explain.prompt import MalformedAnswer, StructuredAnswer, parse_answer
from bot.explain.usage import UsageTotals as UsageTotals  # re-exported: it lived here
from bot.explain.usage import ledger_totals
from bot.store import Store


def answer_to_json(answer: StructuredAnswer) -> str:
    """The answer as the model sent it (parse_answer reads it back)."""
    data = answer_to_data(answer)
    # Providers refuse answers with lone surrogates already; this keeps a write to SQLite (UTF-8) from
    # failing should one ever get this far.
    return without_surrogates(json.dumps(data, ensure_ascii=False))


@dataclass(frozen=True, slots=True)
class CachedExplanation:
    answer: StructuredAnswer
    provider: str
    model: str


class ExplanationCache:
    """One explanation per (paper id, version, prompt version, model), shared by every channel."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    def get(self, paper_id: str, version: int, prompt_version: str, model: str) -> CachedExplanation | None:
        row = self.db.conn.execute(
            "SELECT answer, provider, model FROM explanations WHERE paper_id=? AND version=? AND prompt_version=?"
            " AND model=?",
            (paper_id, version, prompt_version, model),
        ).fetchone()
        if row is None:
            return None
        try:
            return CachedExplanation(parse_answer(json.loads(row[0])), row[1], row[2])
        except (MalformedAnswer, json.JSONDecodeError):
            return None  # written by an older schema: explain again

    def put(
        self,
        paper_id: str,
        version: int,
        prompt_version: str,
        model: str,
        provider: str,
        answer: StructuredAnswer,
        now: datetime,
    ) -> None:
        with self.db.atomic():
            self.db.conn.execute(
                "INSERT OR REPLACE INTO explanations (paper_id, version, prompt_version, model, provider, answer,"
                " one_liner, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    paper_id,
                    version,
                    prompt_version,
                    model,
                    provider,
                    answer_to_json(answer),
                    without_surrogates(answer.math_in_a_sentence),
                    now.isoformat(),
                ),
            )

    def one_liners(self, keys: list[tuple[str, int]], prompt_version: str, model: str) -> dict[tuple[str, int], str]:
        found: dict[tuple[str, int], str] = {}
        ids = sorted({k[0] for k in keys})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.db.conn.execute(
                f"SELECT paper_id, version, one_liner FROM explanations WHERE prompt_version=? AND model=?"
                f" AND paper_id IN ({','.join('?' * len(chunk))})",
                (prompt_version, model, *chunk),
            )
            found.update({(r[0], r[1]): r[2] for r in rows if r[2]})
        return {k: v for k, v in found.items() if k in set(keys)}


class Ledger:
    """Every LLM call with its tokens and estimated cost; the daily budget is read from here."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    def record(
        self,
        *,
        at: datetime,
        provider: str,
        model: str,
        paper_id: str,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
        batch: bool,
        outcome: str,
        purpose: str = "explain",
    ) -> None:
        """``purpose``: "explain", "briefing" or "question": one budget, reported apart."""
        with self.db.atomic():
            self.db.conn.execute(
                "INSERT INTO llm_calls (at, provider, model, paper_id, input_tokens, output_tokens, cost_usd, batch,"
                " outcome, purpose) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    at.isoformat(),
                    provider,
                    model,
                    paper_id,
                    token_count(input_tokens),  # bounded: SQLite INTEGER overflows past 2**63
                    token_count(output_tokens),
                    cost_usd,
                    int(batch),
                    outcome,
                    purpose,
                ),
            )

    def totals(self, since: datetime, until: datetime | None = None, *, purpose: str | None = None) -> UsageTotals:
        """Calls in [since, until), of one purpose or (None) of all."""
        return ledger_totals(self.db.conn, since, until, purpose=purpose)
