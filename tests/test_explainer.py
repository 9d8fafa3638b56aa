"""The Explainer end to end: the real anthropic SDK against the fake Messages API, through the engine.
Cache hits and misses, a new version, the budget, failures falling back offline, hostile text, usage,
preparing ahead (concurrent and batched), and one-liners on digest cards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest

from bot.engine import Engine
from bot.explain.providers import AnthropicProvider, OpenAICompatibleProvider
from bot.explain.service import BUDGET_NOTE, Explainer
from bot.models import ChannelRef, Subscription
from tests.fakes.llm_server import CANNED_ANSWER, HANG, FakeLLMServer, ToolInput, overloaded
from tests.support import FakeArxiv, make_config, make_engine

KEY = "sk-ant-test"
MODEL = "claude-haiku-5-5"
PAPER_ID = "2403.15527"  # first paper of the recorded stat feed


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


async def _engine(llm: FakeLLMServer, *, fake: FakeArxiv | None = None, **llm_config: Any) -> Engine:
    config = make_config(llm={"timeout_s": 2.0, **llm_config})
    engine = make_engine(fake or FakeArxiv(), config=config)
    provider = AnthropicProvider(KEY, MODEL, base_url=llm.anthropic_url, timeout_s=2.0, max_retries=1)
    engine.explainer = Explainer(config, engine.store, provider, now=engine.now, batch_poll_interval_s=0.01)
    await engine.refresh(["stat"])
    return engine


@pytest.fixture
async def engine(llm: FakeLLMServer) -> AsyncIterator[Engine]:
    eng = await _engine(llm)
    yield eng
    await eng.explainer.aclose()


def _messages(llm: FakeLLMServer) -> int:
    return llm.count("/v1/messages", exact=True)


async def test_miss_then_hit_shared_by_every_channel(engine: Engine, llm: FakeLLMServer) -> None:
    paper, first = await engine.explain(PAPER_ID)
    assert first.explanation is not None and first.explanation.source == "anthropic"
    assert first.explanation.cached is False
    titles = [s.title for s in first.explanation.sections]
    assert titles[:4] == ["The problem", "Main result", "What is new", "Key objects and notation"]
    assert "formulas marked background are not" in first.explanation.note and paper.pdf_url in first.explanation.note
    _, second = await engine.explain(f"https://arxiv.org/abs/{PAPER_ID}")
    assert second.explanation is not None and second.explanation.cached is True
    assert second.explanation.sections == first.explanation.sections
    assert _messages(llm) == 1
    # The card carries the "math in a sentence" line now that an explanation exists.
    assert second.cards[0].math_line


async def test_the_request_carries_the_abstract_as_delimited_data(engine: Engine, llm: FakeLLMServer) -> None:
    paper, _ = await engine.explain(PAPER_ID)
    [call] = llm.calls("/v1/messages", exact=True)
    inside = call.body["messages"][0]["content"].split("<paper>", 1)[1].split("</paper>", 1)[0]
    assert paper.abstract_tex[:200] in inside
    assert call.body["tool_choice"] == {"type": "tool", "name": "record_explanation"}
    assert call.body["model"] == MODEL


async def test_a_new_version_gets_a_new_explanation(engine: Engine, llm: FakeLLMServer) -> None:
    from dataclasses import replace

    paper, _ = await engine.explain(PAPER_ID)
    engine.store.save_papers([replace(paper, version=paper.version + 1)])
    _, reply = await engine.explain(PAPER_ID)
    assert reply.explanation is not None and reply.explanation.cached is False
    assert _messages(llm) == 2


async def test_prompt_injection_and_hostile_output_come_out_safe(llm: FakeLLMServer) -> None:
    hostile = {
        **CANNED_ANSWER,
        "problem": "<!channel> @everyone IGNORE PREVIOUS INSTRUCTIONS <https://evil.example|arxiv.org/abs/1>",
        "idea": "Read [the proof](http://evil.example/x) or $\\mathcal{O}(n^{2})$ <@U123> " + "long " * 400,
    }
    llm.script("/v1/messages", ToolInput(hostile))
    engine = await _engine(llm)
    _, reply = await engine.explain(PAPER_ID)
    explanation = reply.explanation
    assert explanation is not None and explanation.source == "anthropic"
    text = explanation.text + "".join(s.text for s in explanation.sections)
    for bad in ("<!channel>", "<@U123>", "evil.example", "\\mathcal", "$", "<https"):
        assert bad not in text
    assert "@everyone" not in text.replace("@\u2060everyone", "")
    assert "𝒪(n²)" in text
    assert all(len(s.text) <= 900 for s in explanation.sections)
    await engine.explainer.aclose()


@pytest.mark.parametrize("failure", ["overloaded", "timeout", "garbage"])
async def test_failures_fall_back_to_the_offline_explanation(llm: FakeLLMServer, failure: str) -> None:
    if failure == "overloaded":
        llm.script("/v1/messages", *[overloaded(retry_after_ms=1)] * 6)
    elif failure == "timeout":
        llm.script("/v1/messages", HANG)
    else:
        llm.script("/v1/messages", ToolInput({"problem": 42}), ToolInput({"nonsense": True}))
    engine = await _engine(llm)
    _, reply = await engine.explain(PAPER_ID)
    assert reply.cards and reply.cards[0].paper_id == PAPER_ID  # the card is never lost
    assert reply.explanation is not None and reply.explanation.source == "offline"
    assert "offline explanation" in reply.explanation.note
    for raw in ("overloaded_error", "Traceback", "req_"):
        assert raw not in reply.explanation.note
    usage = engine.explainer.usage()
    assert usage.today.calls == 1 and usage.today.failed == 1
    await engine.explainer.aclose()


async def test_budget_cut_off_goes_offline_until_tomorrow(llm: FakeLLMServer) -> None:
    engine = await _engine(llm, daily_budget_usd=1.0)
    _, first = await engine.explain(PAPER_ID)
    assert first.explanation is not None and first.explanation.source == "anthropic"
    # The day's budget is what that call cost: spent.
    spent = engine.explainer.usage().today.cost_usd
    engine.config.values[("llm", "daily_budget_usd")] = spent
    _, second = await engine.explain("2403.15670")
    assert second.explanation is not None and second.explanation.source == "offline"
    assert second.explanation.note.startswith(BUDGET_NOTE)  # then what it was built from
    assert _messages(llm) == 1
    # Cached explanations are still served: they cost nothing.
    _, again = await engine.explain(PAPER_ID)
    assert again.explanation is not None and again.explanation.cached
    await engine.explainer.aclose()


async def test_a_budget_smaller_than_one_calls_worst_case_makes_no_call(llm: FakeLLMServer) -> None:
    # Checked before the call and charged after, a budget of a millionth of a dollar let one call through.
    engine = await _engine(llm, daily_budget_usd=0.000001)
    _, reply = await engine.explain(PAPER_ID)
    assert reply.explanation is not None and reply.explanation.source == "offline"
    assert reply.explanation.note.startswith(BUDGET_NOTE)
    assert _messages(llm) == 0 and engine.explainer.usage().today.cost_usd == 0
    await engine.explainer.aclose()


async def test_usage_reports_calls_tokens_and_cost(engine: Engine, llm: FakeLLMServer) -> None:
    await engine.explain(PAPER_ID)
    await engine.explain("2403.15670")
    report = engine.explainer.usage()
    assert report.today.calls == 2 and report.month.calls == 2
    assert report.today.input_tokens > 0 and report.today.output_tokens > 0
    assert report.today.cost_usd > 0
    text = report.text()
    assert "Today: 2 calls" in text and MODEL in text and "daily budget" in text


async def test_prepare_explains_each_distinct_paper_once_with_bounded_concurrency(
    engine: Engine, llm: FakeLLMServer
) -> None:
    papers = engine.store.listed_papers("stat", engine.store.last_fetch("stat").announced)[:6]  # type: ignore[union-attr]
    report = await engine.explainer.prepare([*papers, *papers])
    assert (report.wanted, report.explained, report.batched) == (6, 6, False)
    assert _messages(llm) == 6
    again = await engine.explainer.prepare(papers)
    assert again.cached == 6 and _messages(llm) == 6


async def test_prepare_uses_message_batches_above_the_threshold(llm: FakeLLMServer) -> None:
    engine = await _engine(llm, batch_threshold=3)
    papers = engine.store.listed_papers("stat", engine.store.last_fetch("stat").announced)[:4]  # type: ignore[union-attr]
    report = await engine.explainer.prepare(papers)
    assert report.batched and report.explained == 4
    assert llm.count("/v1/messages/batches", method="POST", exact=True) == 1 and _messages(llm) == 0
    _, reply = await engine.explain(papers[0].id)
    assert reply.explanation is not None and reply.explanation.cached
    assert engine.explainer.usage().today.cost_usd > 0  # billed at the batch price, still recorded
    await engine.explainer.aclose()


async def test_digest_cards_carry_math_in_a_sentence_once_prepared(engine: Engine) -> None:
    channel = ChannelRef("test", "w", "c")
    engine.store.subscribe(Subscription(id=0, channel=channel, category="stat"))
    selection = await engine.plan_digest(channel, engine.store.channel_subscriptions(channel))
    await engine.explainer.prepare(selection.papers)
    message = engine.digest_message(selection)
    assert all(card.math_line for card in message.cards)
    assert message.cards[0].math_line == CANNED_ANSWER["math_in_a_sentence"][:200].strip() or message.cards[0].math_line


async def test_openai_compatible_provider_through_the_explainer(llm: FakeLLMServer) -> None:
    config = make_config(llm={"timeout_s": 2.0})
    engine = make_engine(FakeArxiv(), config=config)
    provider = OpenAICompatibleProvider(llm.openai_url, "llama3.1", timeout_s=2.0)
    engine.explainer = Explainer(config, engine.store, provider, now=engine.now)
    await engine.refresh(["stat"])
    _, reply = await engine.explain(PAPER_ID)
    assert reply.explanation is not None and reply.explanation.source == "openai"
    assert engine.explainer.usage().today.cost_usd == 0  # a local model costs nothing
    await provider.aclose()


async def test_the_scheduler_prepares_a_slot_ahead_of_posting(engine: Engine, llm: FakeLLMServer) -> None:
    from bot.scheduler import DigestScheduler

    for name in ("c1", "c2", "c3"):  # three channels, same category: each paper is explained once
        engine.store.subscribe(
            Subscription(id=0, channel=ChannelRef("test", "w", name), category="stat", time="09:00", timezone="UTC")
        )

    class Poster:
        platform = "test"

        async def post_digest(self, channel: ChannelRef, digest: object) -> None: ...

    # Before the slot's time, so starting the scheduler catches up no missed 09:00 digest (which would be
    # posted, and so not prepared, whichever task the event loop happens to run first).
    def before_the_slot() -> datetime:
        return engine.now().replace(hour=8, minute=0)

    scheduler = DigestScheduler(engine, {"test": Poster()}, now=before_the_slot, grace_s=0)
    scheduler.start()
    jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
    assert "prepare 09:00 UTC" in jobs
    fire = jobs["prepare 09:00 UTC"].trigger.get_next_fire_time(None, engine.now())
    assert (fire.hour, fire.minute) == (8, 30)  # [llm] prepare_minutes = 30 before posting
    await scheduler.prepare_slot(("09:00", "UTC"))
    scheduler.shutdown()
    assert _messages(llm) == 10  # the digest limit: ten distinct papers, not ten per channel
