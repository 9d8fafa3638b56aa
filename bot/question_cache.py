"""Answers to thread questions, kept so that the same question costs one LLM call.

The key: the paper's id and version, the prompt version, the model, the equations sent (their labels),
the question normalised (Unicode compatibility forms, case, blanks and punctuation folded, so "What does
λ control in Eq. 3?" and "what does λ control in eq 3" are one question; symbols such as ≤ are kept, they
change the meaning) and the thread's context: the normalised messages of *readers* in the thread that
were sent with it. The bot's own messages are left out of the key: they follow from the paper and the
readers' messages, which are in it. So a first question in the thread of a card (no reader message
before it) is shared by every channel that got that card, and a follow-up ("and why is it squared?") is
answered again in another thread whose earlier questions differ, since its meaning depends on them.

The table is a set of its own (own migrations, applied on first use after the store's). Answers older
than ``KEEP_DAYS`` are pruned as new ones come.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.explain.answers import without_surrogates
from bot.explain.prompt import MalformedAnswer
from bot.question_prompt import QUESTION_PROMPT_VERSION, ThreadAnswer, read_thread_answer
from bot.store import Store, TableMigrations
from bot.untrusted import strip_unsafe_chars

__all__ = ["KEEP_DAYS", "CachedAnswer", "QuestionCache", "answer_key", "normalise_question"]

KEEP_DAYS = 30
_PRUNE_EVERY = 100  # puts between two prunes


migrations = TableMigrations("paperbot.question_answers")


@migrations()
def m001_question_answers(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS question_answers (
               key TEXT PRIMARY KEY, paper_id TEXT NOT NULL, version INTEGER NOT NULL,
               model TEXT NOT NULL, provider TEXT NOT NULL, answer TEXT NOT NULL, created_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS question_answers_age ON question_answers (created_at)")


def migrate(store: Store) -> None:
    """Apply this table's migrations once per store (after the store's own); cheap to repeat."""
    migrations.apply_to(store)


def normalise_question(text: str) -> str:
    """``text`` with compatibility forms, case, blanks and punctuation folded: one form per question."""
    folded = unicodedata.normalize("NFKC", strip_unsafe_chars(text)).casefold()
    # Punctuation goes, symbols (≤, +, ∇) stay: "x ≤ y" and "x ≥ y" are different questions.
    kept = "".join(ch if not unicodedata.category(ch).startswith("P") else " " for ch in folded)
    return " ".join(kept.split())


def answer_key(
    paper_id: str,
    version: int,
    model: str,
    grounding_key: str,
    question: str,
    thread: Sequence[tuple[bool, str]],
) -> str:
    """The cache key (see the module docstring): a digest, so any length of question gives one short key."""
    readers = [normalise_question(text) for from_bot, text in thread if not from_bot]
    parts = [QUESTION_PROMPT_VERSION, model, paper_id, str(version), grounding_key, normalise_question(question)]
    raw = json.dumps([*parts, [r for r in readers if r]], ensure_ascii=False)
    return hashlib.sha256(without_surrogates(raw).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: ThreadAnswer
    provider: str
    model: str


class QuestionCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._puts = 0

    def get(self, key: str) -> CachedAnswer | None:
        migrate(self.store)
        row = self.store.db.execute(
            "SELECT answer, provider, model FROM question_answers WHERE key = ?", [key]
        ).fetchone()
        if row is None:
            return None
        try:
            return CachedAnswer(read_thread_answer(json.loads(row[0])), row[1], row[2])
        except (MalformedAnswer, ValueError):
            return None  # written by an older schema: asked again

    def put(
        self, key: str, paper_id: str, version: int, provider: str, model: str, answer: ThreadAnswer, now: datetime
    ) -> None:
        migrate(self.store)
        data = {"answer": answer.answer, "equations": list(answer.equation_labels),
                "answered_by_paper": answer.answered_by_paper}  # fmt: skip
        with self.store.db.atomic():
            self.store.db.conn.execute(
                "INSERT OR REPLACE INTO question_answers (key, paper_id, version, model, provider, answer, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key, paper_id, version, model, provider,
                 without_surrogates(json.dumps(data, ensure_ascii=False)), now.isoformat()],
            )  # fmt: skip
        self._puts += 1
        if self._puts % _PRUNE_EVERY == 1:
            self.prune(now)

    def prune(self, now: datetime, keep_days: int = KEEP_DAYS) -> int:
        """Forget answers older than ``keep_days``; returns how many went."""
        migrate(self.store)
        cutoff = (now - timedelta(days=keep_days)).isoformat()
        with self.store.db.atomic():
            cursor = self.store.db.conn.execute("DELETE FROM question_answers WHERE created_at < ?", [cutoff])
        return cursor.rowcount
