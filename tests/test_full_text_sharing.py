"""A paper's full text is one request to its source however many ask for it: many people explaining the
same paper at once share the fetch (arXiv's one-request-per-3-s rule would otherwise queue them for
minutes), and a database kept in memory still remembers what it fetched."""

from __future__ import annotations

import asyncio

from bot.fulltext import MemoryFullTextCache
from tests.support import FakeArxiv, make_engine

PAPER = "2403.15527"  # in the recorded stat feed


async def test_fifty_people_explaining_one_paper_at_once_cost_one_page_request() -> None:
    fake = FakeArxiv()
    engine = make_engine(fake)
    try:
        await engine.refresh(["stat"])
        replies = await asyncio.gather(*(engine.explain(PAPER) for _ in range(50)))
        assert all(reply.explanation is not None for _, reply in replies)
        assert fake.count("/html/") == 1
        await engine.explain(PAPER)  # later: remembered (no HTML version), not asked again
        assert fake.count("/html/") == 1
    finally:
        await engine.aclose()


def test_the_memory_cache_keeps_the_newest_and_forgets_a_missing_page_after_a_day() -> None:
    now = [0.0]
    cache = MemoryFullTextCache(max_files=2, clock=lambda: now[0])
    cache.put("a", 1, None)
    assert cache.get("a", 1) is False
    now[0] += 25 * 3600
    assert cache.get("a", 1) is None  # asked again a day later: arXiv may have converted it since
    cache.put("b", 1, None)
    cache.put("c", 1, None)
    cache.put("d", 1, None)
    assert cache.get("b", 1) is None and cache.get("d", 1) is False
