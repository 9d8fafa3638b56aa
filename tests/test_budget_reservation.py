"""The day's LLM budget is reserved before a call and settled after it: many calls at once (held in flight by
the fake LLM's gate) never spend more than their limit, and a reservation made through one connection to
the database is seen by another (another process); embeddings are metered too. Through the engine, the real
anthropic SDK and the fake LLM server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, validate
from bot.embedding_budget import embedding_meter
from bot.embeddings import embed_new_papers
from bot.explain.budget import Budget, Meter
from bot.explain.ledger import Ledger
from bot.explain.pricing import Price
from bot.explain.service import BUDGET_NOTE as EXPLAIN_BUDGET_NOTE
from bot.explain.waiting import Wait
from bot.models import ChannelRef
from bot.questions import BUDGET_NOTE, ThreadQuestion, answer_question
from bot.store import Store, utcnow
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import FakeLLMServer, ToolInput
from tests.support import make_config
from tests.support_budget import PATIENT_S, GatedLLMServer, engine_with_paper, until_each_asked_or_answered
from tests.support_questions import RECORDED_PAPER

ANSWER = {"answer": "It is the share of answers naming the trigger.", "equations": ["2"], "answered_by_paper": True}
ASKERS = 60


@pytest.fixture
def llm() -> Iterator[GatedLLMServer]:
    with GatedLLMServer() as server:
        yield server


def _question(n: int) -> ThreadQuestion:
    channel = ChannelRef("slack", "T1", f"C{n % 7}")
    return ThreadQuestion(channel, f"U{n}", RECORDED_PAPER.id, f"Question {n}: what does Eq. (2) measure?")


async def test_sixty_questions_at_once_never_spend_more_than_the_questions_share(
    tmp_path: Path, arxiv_server: FakeArxivServer, llm: GatedLLMServer
) -> None:
    llm.script("/v1/messages", *[ToolInput(ANSWER)] * (ASKERS + 1))
    limits = {"per_user_per_hour": 100, "per_channel_per_hour": 1000, "budget_share": 0.25}
    engine = engine_with_paper(tmp_path, arxiv_server, llm, questions=limits, wait=Wait(PATIENT_S))
    llm.open()  # one question first, to learn what one answer really costs
    calibration = ThreadQuestion(ChannelRef("slack", "T1", "C0"), "U0", RECORDED_PAPER.id, "How is Eq. (1) computed?")
    await answer_question(engine, calibration)
    day = engine.explainer.budget.day_start()
    one = engine.explainer.ledger.totals(day, purpose="question").cost_usd
    assert one > 0
    share = 30 * one  # a few answers' worst cases, far fewer than 60 real answers
    engine.config.values[("llm", "daily_budget_usd")] = share / 0.25
    llm.gate.clear()

    tasks = [asyncio.create_task(answer_question(engine, _question(n))) for n in range(ASKERS)]
    try:
        in_flight = await until_each_asked_or_answered(tasks, llm)
        # While they are all held, what is spent and reserved is within the share.
        assert engine.explainer.budget.spent("question") <= share
    finally:
        llm.open()
    replies = await asyncio.gather(*tasks)
    spent = engine.explainer.ledger.totals(day, purpose="question")
    assert spent.cost_usd <= share, f"{spent.calls} calls spent {spent.cost_usd / share:.1f}× the share"
    assert spent.calls == in_flight + 1 and in_flight >= 2  # several still asked at once
    refused = [r for r in replies if BUDGET_NOTE in r.text]
    assert len(refused) == ASKERS - in_flight and not any(r.ephemeral for r in replies)
    await engine.aclose()


async def test_sixty_explanations_at_once_never_spend_more_than_the_day(
    tmp_path: Path, arxiv_server: FakeArxivServer, llm: GatedLLMServer
) -> None:
    engine = engine_with_paper(tmp_path, arxiv_server, llm, wait=Wait(PATIENT_S))
    papers = [replace(RECORDED_PAPER, id=f"2501.{11200 + n}", title=f"{RECORDED_PAPER.title} {n}") for n in range(61)]
    llm.open()
    first = await engine.explainer.explain(papers[-1])
    assert first.source == "anthropic"
    day = engine.explainer.budget.day_start()
    one = engine.explainer.ledger.totals(day).cost_usd
    budget = 20 * one
    engine.config.values[("llm", "daily_budget_usd")] = budget
    llm.gate.clear()

    tasks = [asyncio.create_task(engine.explainer.explain(paper)) for paper in papers[:-1]]
    try:
        in_flight = await until_each_asked_or_answered(tasks, llm)
        assert engine.explainer.budget.spent() <= budget
    finally:
        llm.open()
    explained = await asyncio.gather(*tasks)
    spent = engine.explainer.ledger.totals(day)
    assert spent.cost_usd <= budget, f"{spent.calls} calls spent {spent.cost_usd / budget:.1f}× the budget"
    assert spent.calls == in_flight + 1 and in_flight >= 2
    offline = [e for e in explained if e.source == "offline"]
    assert len(offline) == ASKERS - in_flight and all(e.note.startswith(EXPLAIN_BUDGET_NOTE) for e in offline)
    await engine.aclose()


def _budget(path: Path, usd: float) -> Budget:
    store = Store(path)
    store.migrate()
    return Budget(make_config(llm={"daily_budget_usd": usd}), store, now=utcnow)


def test_a_reservation_is_seen_through_another_connection_and_settles_to_the_real_cost(tmp_path: Path) -> None:
    # Two processes sharing the database each have their own connection.
    here, there = _budget(tmp_path / "p.db", 1.0), _budget(tmp_path / "p.db", 1.0)
    meter = Meter("anthropic", "claude-haiku-5-5", Price(100_000.0, 0.0, "configured"))  # $0.1 a token
    held = here.reserve(meter, purpose="question", subject="x", tokens=(6, 0))
    assert held is not None and there.spent() == pytest.approx(0.6)
    assert there.reserve(meter, purpose="explain", subject="y", tokens=(5, 0)) is None  # 0.6 + 0.5 > 1
    shared: dict[str, Any] = {"share": 0.7}
    assert there.reserve(meter, purpose="question", subject="z", tokens=(2, 0), **shared) is None  # 0.6 + 0.2 > 0.7
    held.settle(2, 0, outcome="ok")
    assert there.spent() == pytest.approx(0.2) and there.ledger.totals(there.day_start()).calls == 1
    other = there.reserve(meter, purpose="explain", subject="y", tokens=(5, 0))
    assert other is not None
    with other:
        pass  # no call made: released
    assert here.spent() == pytest.approx(0.2)


def test_a_reservation_left_by_a_process_that_died_stops_counting_once_it_expires(tmp_path: Path) -> None:
    clock = {"now": utcnow()}
    store = Store(tmp_path / "p.db")
    store.migrate()
    budget = Budget(make_config(llm={"daily_budget_usd": 1.0}), store, now=lambda: clock["now"])
    meter = Meter("anthropic", "m", Price(100_000.0, 0.0, "configured"))
    assert budget.reserve(meter, purpose="explain", subject="x", tokens=(9, 0), hold=timedelta(seconds=60))
    assert budget.spent() == pytest.approx(0.9)
    clock["now"] += timedelta(minutes=12)  # the call's 60 s and the 10-minute margin are over
    assert budget.spent() == 0


def _embedding_config(base_url: str, budget_usd: float) -> Config:
    values = validate({"radar": {"embeddings_base_url": base_url}, "llm": {"daily_budget_usd": budget_usd}})
    return Config(values=values, source="test", env={})


async def test_embeddings_are_metered_in_the_ledger_and_wait_when_the_day_is_spent(tmp_path: Path) -> None:
    papers = [replace(RECORDED_PAPER, id=f"2501.{11300 + n}") for n in range(3)]
    with FakeLLMServer() as llm:
        store = Store(tmp_path / "p.db")
        store.migrate()
        store.save_papers(papers)
        assert await embed_new_papers(store, _embedding_config(llm.openai_url, 1.0), papers[:2]) == 2
        usage = Ledger(store).totals(utcnow() - timedelta(days=1), purpose="embedding")
        assert usage.calls == 1 and usage.input_tokens > 0 and usage.cost_usd == 0  # a server of one's own
        requests = llm.count("/v1/embeddings")
        Ledger(store).record(
            at=utcnow(), provider="anthropic", model="m", paper_id="x", input_tokens=1, output_tokens=1,
            cost_usd=1.0, batch=False, outcome="ok",
        )  # fmt: skip
        assert await embed_new_papers(store, _embedding_config(llm.openai_url, 1.0), papers) == 0
        assert llm.count("/v1/embeddings") == requests  # not even asked
    assert embedding_meter("https://api.openai.com/v1", "text-embedding-3-small").cost(1_000_000, 0) == 0.02
