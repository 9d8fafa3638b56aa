"""`paperbot run` builds at start what the first digest would otherwise build (bot.runner.warm_up)."""

from __future__ import annotations

import logging

import pytest

from bot import runner
from bot.explain import glossary


async def test_the_start_builds_the_glossary_matcher_before_any_digest() -> None:
    glossary._matcher.cache_clear()
    await runner.warm_up()
    assert glossary._matcher.cache_info().currsize == 1
    assert glossary.find_concepts("a Gaussian process prior")  # and it is the matcher the digests use
    assert glossary._matcher.cache_info().misses == 1


async def test_a_failed_warm_up_is_one_log_line_and_the_bot_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ValueError("glossary.json must hold a list of entries")

    monkeypatch.setattr(glossary, "warm_up", broken)
    with caplog.at_level(logging.WARNING, logger="bot.runner"):
        await runner.warm_up()
    assert [r.getMessage() for r in caplog.records] == [
        "could not prepare the digest's glossary at start: glossary.json must hold a list of entries"
    ]
