"""Explanations prepared ahead of posting are built on the same basis as ``/paper explain``: the paper's full
text is fetched first (in digest order, through the arXiv client and its on-disk cache, until a deadline
well inside the prepare window), so the interactive explanation afterwards is a cache hit. The real anthropic
SDK against the fake LLM server (Messages and Message Batches), the HTML from the fake arXiv server; LLM
calls are counted on the fake."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.cards import Reply
from bot.digest import DigestSelection
from bot.engine import Engine
from bot.explain.offline import NO_HTML_BADGE
from bot.explain.providers import AnthropicProvider
from bot.explain.service import Explainer
from bot.models import ChannelRef, Paper, Subscription
from bot.scheduler import DigestScheduler, by_digest_rank
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import FakeLLMServer
from tests.support import FEED_MORNING, make_config
from tests.test_fulltext import PAPER, SYNTHETIC

MODEL = "claude-haiku-5-5"
NO_HTML = replace(PAPER, id="2501.00002", title="A paper arXiv could not convert")


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _engine(
    server: FakeArxivServer,
    llm: FakeLLMServer,
    tmp_path: Path,
    papers: list[Paper],
    *,
    spacing_s: float = 0.0,
    **llm_keys: Any,
) -> Engine:
    store = Store(tmp_path / "p.db")
    store.migrate()
    store.save_papers(papers)
    config = make_config(**{"sources.arxiv": {"html_url": server.html_url}, "llm": {"timeout_s": 10.0, **llm_keys}})
    client = ArxivClient(
        server.rss_url, server.api_url, html_url=server.html_url, min_interval_s=spacing_s, retries=0, backoff_s=0
    )
    engine = Engine(config, store, client, now=lambda: FEED_MORNING)
    provider = AnthropicProvider("sk-ant-test", MODEL, base_url=llm.anthropic_url, timeout_s=10.0, max_retries=0)
    engine.explainer = Explainer(config, store, provider, batch_poll_interval_s=0.01)
    return engine


def _prompts(llm: FakeLLMServer) -> list[str]:
    return [str(call.body["messages"][0]["content"]) for call in llm.calls("/v1/messages", exact=True)]


async def _explain(engine: Engine, paper: Paper) -> Reply:
    _, reply = await engine.explain(paper.versioned_id)
    return reply


async def test_a_prepared_explanation_is_the_one_paper_explain_shows(
    arxiv_server: FakeArxivServer, llm: FakeLLMServer, tmp_path: Path
) -> None:
    arxiv_server.set_html(PAPER.versioned_id, SYNTHETIC)
    engine = _engine(arxiv_server, llm, tmp_path, [PAPER, NO_HTML])
    try:
        report = await engine.prepare_explanations([PAPER, NO_HTML, PAPER])
        assert (report.wanted, report.explained, report.grounded, report.batched) == (2, 2, 1, False)
        prompts = _prompts(llm)
        assert len(prompts) == 2 and sum("<equation><label>2</label>" in p for p in prompts) == 1
        grounded = await _explain(engine, PAPER)
        plain = await _explain(engine, NO_HTML)
    finally:
        await engine.aclose()
    assert len(_prompts(llm)) == 2  # both hits: the LLM is paid once per paper
    assert grounded.explanation is not None and grounded.explanation.cached is True
    assert grounded.explanation.grounding == "full_text" and "full text (v2)" in grounded.explanation.note
    assert grounded.explanation.badge == "from the paper's full text (v2)"
    assert [e.label for e in grounded.explanation.equations] == ["2", "3", "A.4"]
    assert plain.explanation is not None and plain.explanation.cached is True
    assert plain.explanation.grounding == "abstract" and plain.explanation.badge == NO_HTML_BADGE
    # The page was fetched once (the explanation read it from the cache on disk); the missing one once too.
    assert arxiv_server.count(f"/html/{PAPER.versioned_id}") == 1
    assert arxiv_server.count(f"/html/{NO_HTML.versioned_id}") == 1


async def test_the_batch_path_prepares_the_same_basis(
    arxiv_server: FakeArxivServer, llm: FakeLLMServer, tmp_path: Path
) -> None:
    arxiv_server.set_html(PAPER.versioned_id, SYNTHETIC)
    engine = _engine(arxiv_server, llm, tmp_path, [PAPER, NO_HTML], batch_threshold=2)
    try:
        report = await engine.prepare_explanations([PAPER, NO_HTML])
        assert report.batched and report.explained == 2 and report.grounded == 1
        [batch] = llm.calls("/v1/messages/batches", method="POST", exact=True)
        contents = [str(r["params"]["messages"][0]["content"]) for r in batch.body["requests"]]
        with_page = next(c for c in contents if f"{PAPER.id}v2" in c)
        without = next(c for c in contents if f"{NO_HTML.id}v2" in c)
        assert "<equation><label>2</label>" in with_page and "<equation>" not in without
        grounded = await _explain(engine, PAPER)
        plain = await _explain(engine, NO_HTML)
    finally:
        await engine.aclose()
    assert llm.count("/v1/messages", exact=True) == 0  # no second, full-price call
    assert grounded.explanation is not None and grounded.explanation.cached
    assert grounded.explanation.grounding == "full_text"
    assert plain.explanation is not None and plain.explanation.cached and plain.explanation.grounding == "abstract"


async def test_past_the_fetch_deadline_the_rest_is_prepared_from_the_abstract(
    arxiv_server: FakeArxivServer, llm: FakeLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    papers = [replace(PAPER, id=f"2501.0001{n}") for n in range(3)]
    for paper in papers:
        arxiv_server.set_html(paper.versioned_id, SYNTHETIC)
    # arXiv's spacing, shortened: the second page may not start before the fetch deadline has passed.
    engine = _engine(arxiv_server, llm, tmp_path, papers, spacing_s=1.0)
    caplog.set_level(logging.INFO, logger="bot.engine")
    try:
        report = await engine.prepare_explanations(papers, window_s=1.0)  # fetching stops after 0.5 s
    finally:
        await engine.aclose()
    # The deadline, not the pages' spacing, ended the fetching: one page asked for, the second cut while it
    # waited for its turn, the third never started (the log below names each), and all three explained.
    assert report.explained == 3 and report.grounded == 1
    prompts = _prompts(llm)
    assert len(prompts) == 3 and sum("<equation>" in p for p in prompts) == 1
    assert "<equation>" in next(p for p in prompts if papers[0].id in p)  # the best-ranked one got its page
    assert arxiv_server.count("/html/") == 1
    assert "full text of 1 of 3 papers" in caplog.text
    assert (
        "2 from the abstract (0 without a full text, 1 not fetched in time or failed, 1 past the deadline"
        in caplog.text
    )


async def test_a_failing_arxiv_is_asked_three_times_then_left_alone(
    arxiv_server: FakeArxivServer, llm: FakeLLMServer, tmp_path: Path
) -> None:
    papers = [replace(PAPER, id=f"2501.0002{n}") for n in range(5)]
    arxiv_server.script("/html/", *[(503,)] * 10)
    engine = _engine(arxiv_server, llm, tmp_path, papers)
    try:
        report = await engine.prepare_explanations(papers)
    finally:
        await engine.aclose()
    assert report.explained == 5 and report.grounded == 0
    assert arxiv_server.count("/html/") == 3


def _selection(name: str, papers: list[Paper]) -> DigestSelection:
    channel = ChannelRef("test", "w", name)
    return DigestSelection(channel, ("cs.LG",), date(2025, 1, 1), tuple(papers), more_count=0)


def test_full_texts_are_fetched_best_ranked_first_across_digests() -> None:
    a, b, c, d = (replace(PAPER, id=f"2501.0003{n}") for n in range(4))
    order = by_digest_rank([_selection("c1", [a, b, c]), _selection("c2", [d, a]), _selection("c3", [])])
    assert [p.id for p in order] == [a.id, d.id, b.id, c.id]


async def test_the_scheduled_prepare_job_grounds_the_digests_papers(
    arxiv_server: FakeArxivServer, llm: FakeLLMServer, tmp_path: Path
) -> None:
    engine = _engine(arxiv_server, llm, tmp_path, [])
    channel = ChannelRef("test", "w", "c1")
    engine.store.subscribe(Subscription(id=0, channel=channel, category="stat", time="09:00", timezone="UTC"))

    class Poster:
        platform = "test"

        async def post_digest(self, channel: ChannelRef, digest: object) -> None: ...

    scheduler = DigestScheduler(engine, {"test": Poster()}, now=engine.now, grace_s=0)
    try:
        digest = await engine.plan_digest(channel, engine.store.channel_subscriptions(channel))
        first, *rest = digest.papers
        arxiv_server.set_html(first.versioned_id, SYNTHETIC)  # the digest's top paper has an HTML version
        await scheduler.prepare_slot(("09:00", "UTC"))
        prepared = len(_prompts(llm))
        reply = await _explain(engine, first)
        other = await _explain(engine, rest[0])
    finally:
        scheduler.shutdown()
        await engine.aclose()
    assert prepared == len(digest.papers) == len(_prompts(llm))  # both explanations were hits
    assert reply.explanation is not None and reply.explanation.cached and reply.explanation.grounding == "full_text"
    assert other.explanation is not None and other.explanation.cached and other.explanation.grounding == "abstract"
    assert arxiv_server.count(f"/html/{first.versioned_id}") == 1
