"""`paperbot run` builds at start what the first morning would otherwise build (bot.runner.warm_up)."""

from __future__ import annotations

import logging
import sys

import pytest

from bot import runner
from bot.explain import glossary
from bot.isolated import WorkerPool
from bot.sources.arxiv_workers import feed_pool


async def test_the_start_builds_the_glossary_matcher_and_the_feed_workers_before_any_digest() -> None:
    glossary._matcher.cache_clear()
    try:
        await runner.warm_up()
        assert glossary._matcher.cache_info().currsize == 1
        assert glossary.find_concepts("a Gaussian process prior")  # and it is the matcher the digests use
        assert glossary._matcher.cache_info().misses == 1
        assert len(feed_pool().pids) == feed_pool().size == 2
        assert runner.HTTP_BACKEND in sys.modules
    finally:
        feed_pool().close()


async def test_a_failed_warm_up_is_one_log_line_and_the_bot_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ValueError("glossary.json must hold a list of entries")

    closed = WorkerPool(name="test-closed")  # no worker can start in it
    closed.close()
    monkeypatch.setattr(glossary, "warm_up", broken)
    monkeypatch.setattr(runner, "feed_pool", lambda: closed)
    with caplog.at_level(logging.WARNING, logger="bot.runner"):
        await runner.warm_up()
    assert [r.getMessage() for r in caplog.records] == [
        "could not prepare the digest's glossary at start: glossary.json must hold a list of entries",
        "could not prepare the workers that read arXiv's feeds at start: the pool is closed",
    ]
