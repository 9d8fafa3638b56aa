"""Thread-answer benchmark, run by hand: `python bench/bench_questions.py` from the repository root.

The bot's own latency per question in a paper's thread, the LLM excluded: an in-process provider (the
LLMProvider protocol) answers at once, so what is timed is everything around the call: the settings,
the rate limits (SQLite), the paper from the store, its full text from the on-disk cache, the prompt with
its budget, the cache key and lookup, the budget check (ledger sums), the ledger row, the cache write and
the drawing and sanitising of the reply. 200 distinct questions (cache misses) over 20 papers with a
10-message thread each, then the same 200 again (cache hits), then 200 answered offline (no LLM).
Target: p95 ≤ 200 ms. Store on a file in a temporary folder, as in production.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CATEGORIES, big_feed  # noqa: E402
from bench.scratch import scratch_dir  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.llm import ProviderAnswer, Tool, ToolAnswer  # noqa: E402
from bot.explain.service import Explainer  # noqa: E402
from bot.fulltext import FullTextCache, parse_full_text  # noqa: E402
from bot.models import ChannelRef  # noqa: E402
from bot.questions import ThreadMessage, ThreadQuestion, answer_question  # noqa: E402
from bot.sources.arxiv import ArxivClient, parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.test_fulltext import SYNTHETIC  # noqa: E402

T = TypeVar("T")
QUESTIONS = 200
PAPERS = 20
TARGET_P95_MS = 200.0


class InstantProvider:
    """Answers every structured request at once, as a model that takes no time would."""

    name = "anthropic"
    model = "claude-haiku-5-5"

    async def explain(self, system: str, user: str) -> ProviderAnswer:
        raise NotImplementedError("only questions are benchmarked here")

    async def ask(self, tool: Tool[T], system: str, user: str) -> ToolAnswer[T]:
        data: dict[str, Any] = {
            "answer": "λ sets the step size of the update in Eq. 2; a larger λ trades stability for speed. " * 3,
            "equations": ["2", "3"],
            "answered_by_paper": True,
        }
        return ToolAnswer(tool.read(data), (len(system) + len(user)) // 4, 150, self.model)

    async def aclose(self) -> None:
        return None


def _figures(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    verdict = "ok" if p95 <= TARGET_P95_MS else "MISSED"
    return (
        f"{label:<26} n={len(ms)}  p50 {statistics.median(ms):6.2f} ms  p95 {p95:6.2f} ms  max {ms[-1]:6.2f} ms"
        f"  (target p95 ≤ {TARGET_P95_MS:.0f} ms: {verdict})"
    )


async def _timed(engine: Engine, questions: list[ThreadQuestion]) -> list[float]:
    times = []
    for question in questions:
        start = time.perf_counter()
        reply = await answer_question(engine, question)
        times.append(time.perf_counter() - start)
        assert reply.text and not reply.ephemeral, reply.text
    return times


async def run() -> None:
    folder = scratch_dir()
    store = Store(folder / "bench.db")
    store.migrate()
    store.save_feed(parse_rss(big_feed(2000), list(CATEGORIES)))
    papers = [p for p in (store.get_paper(pid) for pid in _some_ids(store, PAPERS)) if p is not None]
    cache = FullTextCache(folder / "fulltext")
    for paper in papers:  # the full text is on disk already, as after the day's explanations
        cache.put(
            paper.id,
            paper.version,
            parse_full_text(SYNTHETIC, paper.id, paper.version, f"https://arxiv.org/html/{paper.id}v{paper.version}"),
        )
    config = Config(
        values=validate({"questions": {"per_user_per_hour": 10_000, "per_channel_per_hour": 100_000}}),
        source="bench",
        env={},
    )
    arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query")  # never asked: all stored
    engine = Engine(config, store, arxiv, explainer=Explainer(config, store, InstantProvider()))
    thread = tuple(
        ThreadMessage(f"earlier message {n}: what about the noise term in Eq. 2?", n % 2 == 1) for n in range(10)
    )
    questions = [
        ThreadQuestion(
            ChannelRef("slack", "T1", f"C{n % 50}"),
            f"U{n}",
            papers[n % len(papers)].id,
            f"Question {n}: what does λ control in Eq. 3, and why is the loss squared?",
            thread,
        )
        for n in range(QUESTIONS)
    ]
    await answer_question(engine, questions[0])  # warm-up: imports, the glossary and TeX tables compiled once
    since = engine.now() - timedelta(days=1)
    misses = await _timed(engine, questions[1:])
    calls = engine.explainer.ledger.totals(since, purpose="question").calls
    hits = await _timed(engine, questions[1:])
    assert calls == QUESTIONS == engine.explainer.ledger.totals(since, purpose="question").calls, calls
    offline_engine = Engine(config, store, arxiv, explainer=Explainer(config, store, None))
    offline = await _timed(offline_engine, questions[1:])
    print(_figures("cache miss (instant LLM)", misses))
    print(_figures("cache hit", hits))
    print(_figures("offline (no LLM)", offline))
    await arxiv.aclose()
    store.close()


def _some_ids(store: Store, count: int) -> list[str]:
    rows = store.db.conn.execute("SELECT id FROM papers ORDER BY id LIMIT ?", [count]).fetchall()
    return [str(row[0]) for row in rows]


if __name__ == "__main__":
    asyncio.run(run())
