"""A thread question whose shared work (a paper lookup or full text another asker started) is cancelled under
it is told the source took too long, never left without an answer; the bot's own stop still stops it."""

from __future__ import annotations

import asyncio

import pytest

from bot import questions
from bot.models import ChannelRef
from bot.questions import ThreadQuestion, answer_question
from bot.stray_cancellation import TOOK_TOO_LONG
from tests.support import make_engine

QUESTION = ThreadQuestion(channel=ChannelRef("test", "w", "c"), user="U1", paper_id="1605.08386", text="why?")


async def test_shared_work_cancelled_under_a_thread_question_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    shared: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def waits_on_shared_work(engine: object, question: ThreadQuestion) -> object:
        return await shared  # what single_flight hands every asker

    monkeypatch.setattr(questions, "_answer", waits_on_shared_work)
    engine = make_engine()
    asking = asyncio.ensure_future(answer_question(engine, QUESTION))
    await asyncio.sleep(0)
    shared.cancel()  # the shared task was cancelled (not this asker's task)
    reply = await asking
    assert reply.text == TOOK_TOO_LONG and reply.ephemeral
    await engine.aclose()


async def test_the_bots_own_stop_still_stops_a_thread_question(monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def slow(engine: object, question: ThreadQuestion) -> object:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    monkeypatch.setattr(questions, "_answer", slow)
    engine = make_engine()
    asking = asyncio.ensure_future(answer_question(engine, QUESTION))
    await started.wait()
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    await engine.aclose()
