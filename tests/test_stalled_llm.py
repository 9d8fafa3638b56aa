"""A stalled LLM never leaves a person in silence: after "Asking <model>…" they hear "Still waiting…", and at
the end of the wait (shortened here) they get the offline answer with a note saying why; the call goes on
and its answer is kept for the next asker. Through the engine, the real anthropic SDK and the fake LLM
server, whose gate holds the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.explain.waiting import Wait
from bot.models import ChannelRef
from bot.questions import ThreadQuestion, answer_question, ask_paper
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import ToolInput
from tests.support_budget import PATIENT_S, GatedLLMServer, engine_with_paper
from tests.support_questions import RECORDED_PAPER

SHORT = Wait(limit_s=0.6, every_s=0.2)
ANSWER = {"answer": "It is the share of answers naming the trigger.", "equations": ["2"], "answered_by_paper": True}


@pytest.fixture
def llm() -> Iterator[GatedLLMServer]:
    with GatedLLMServer() as server:
        yield server


def _heard_waiting(heard: list[str]) -> None:
    assert heard[0] == "Asking claude-haiku-5-5…"
    assert len(heard) >= 2 and all(line.startswith("Still waiting for claude-haiku-5-5 (") for line in heard[1:])
    assert all(line.endswith("of at most 0.6 s)…") for line in heard[1:])


async def test_a_stalled_llm_gives_the_offline_explanation_at_the_end_of_the_wait_and_keeps_the_late_answer(
    tmp_path: Path, arxiv_server: FakeArxivServer, llm: GatedLLMServer
) -> None:
    engine = engine_with_paper(tmp_path, arxiv_server, llm, wait=SHORT)
    heard: list[str] = []
    first = await engine.explainer.explain(RECORDED_PAPER, progress=heard.append)
    assert first.source == "offline"
    assert "claude-haiku-5-5 has not answered within 0.6 s, so this is the offline explanation" in first.note
    _heard_waiting(heard)
    llm.open()  # the answer comes after all: the call went on, and the next asker gets it
    engine.explainer.wait = Wait(PATIENT_S)
    again = await engine.explainer.explain(RECORDED_PAPER)
    assert again.source == "anthropic" and llm.count("/v1/messages", exact=True) == 1
    assert engine.explainer.usage().today.calls == 1  # settled once, at its real cost
    await engine.aclose()


async def test_a_stalled_llm_gives_the_thread_asker_the_offline_answer_at_the_end_of_the_wait(
    tmp_path: Path, arxiv_server: FakeArxivServer, llm: GatedLLMServer
) -> None:
    llm.script("/v1/messages", ToolInput(ANSWER))
    engine = engine_with_paper(tmp_path, arxiv_server, llm, wait=SHORT)
    heard: list[str] = []
    question = ThreadQuestion(
        ChannelRef("slack", "T1", "C1"), "U1", RECORDED_PAPER.id, "What does Eq. (2) measure?", progress=heard.append
    )
    reply = await answer_question(engine, question)
    assert not reply.ephemeral and "has not answered within 0.6 s, so this is the offline answer" in reply.text
    assert "Equations of the paper that bear on it:" in reply.text  # the offline answer itself
    _heard_waiting(heard)
    llm.open()
    engine.explainer.wait = Wait(PATIENT_S)
    # `paperbot ask` with the same question joins the call still under way and gets its answer.
    answer = await ask_paper(engine, RECORDED_PAPER, "What does Eq. (2) measure?")
    assert answer.source == "anthropic" and llm.count("/v1/messages", exact=True) == 1
    await engine.aclose()
