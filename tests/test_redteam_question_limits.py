"""Rate limits as a demanding user meets them: one person asking in two channels of a workspace is one
person; the window slides across the hour boundary (no reset at the top of the hour); the same person
on another workspace or platform is someone else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.engine import Engine
from bot.models import ChannelRef
from bot.questions import answer_question
from tests.fakes.llm_server import FakeLLMServer
from tests.test_questions import CHANNEL, OTHER_CHANNEL, Clock, answering, ask, clock, llm, make  # noqa: F401


async def test_the_hourly_window_slides_across_the_hour_and_follows_a_person_across_channels(
    make: Callable[..., Engine],  # noqa: F811
    llm: FakeLLMServer,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    answering(llm, 4)
    engine = make(questions={"per_user_per_hour": 2, "per_channel_per_hour": 100})
    clock.now = datetime(2024, 3, 26, 9, 59, 30, tzinfo=UTC)
    assert not (await answer_question(engine, ask("what is the loss?"))).ephemeral
    clock.now += timedelta(seconds=40)  # 10:00:10, past the top of the hour
    assert not (await answer_question(engine, ask("why squared?", channel=OTHER_CHANNEL))).ephemeral
    over = await answer_question(engine, ask("and the prior?"))
    assert over.ephemeral and "ask again after 10:59 UTC (in 60 minutes)" in over.text
    # The same user id on another workspace, or on another platform, is another person.
    for elsewhere in (ChannelRef("slack", "T2", CHANNEL.channel), ChannelRef("discord", "T1", CHANNEL.channel)):
        assert not (await answer_question(engine, ask("the prior?", channel=elsewhere))).ephemeral
    clock.now = datetime(2024, 3, 26, 10, 59, 31, tzinfo=UTC)  # the first question has left the window
    assert not (await answer_question(engine, ask("and now the prior?"))).ephemeral
