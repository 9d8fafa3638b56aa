"""A briefing against a hostile or careless model and a channel changing its mind: numbers in the prose
that name no card are not shown as citations, and a channel that turns the briefing off after the
prepare job gets its cards without one."""

from __future__ import annotations

import re
from typing import Any

from bot import briefing
from bot.briefing import SharedAnswer, compose
from bot.briefing_answer import OUTSIDE, read_briefing
from bot.engine import Engine
from bot.scheduler import DigestScheduler
from tests.fakes.llm_server import FakeLLMServer, ToolInput
from tests.test_briefing import ANSWER, DAY, LAB, SLOT, Platform, _briefing_calls, _run_slot, _subscribe, engine, llm  # noqa: F401
from tests.test_briefing_safety import NO_FACTS

CARDS = 10


def test_card_numbers_in_the_prose_that_name_no_card_are_not_shown_as_citations() -> None:
    careless: dict[str, Any] = {
        "themes": [{"title": "Samplers #0", "summary": "See #11 and # -1 and #1e9 and #4.", "cards": [4, 4, 4]}],
        "must_reads": [{"card": 4, "why": "Builds on #12 and #3; beats #" + "9" * 3000 + "."}],
        "connections": [{"text": "The trick in #4 is what #999 uses.", "cards": [4, 11]}],
    }
    answer = read_briefing(careless, CARDS)
    text = compose(DAY, CARDS, SharedAnswer(answer, "claude-haiku-5-5"), NO_FACTS)
    cited = {int(n) for n in re.findall(r"#(\d{1,6})\b", text)}
    assert cited <= set(range(1, CARDS + 1)), cited
    assert {3, 4} <= cited and OUTSIDE in text
    assert answer.themes[0].cards == (4,)  # duplicates cited once


async def test_a_channel_turning_the_briefing_off_after_the_prepare_job_gets_no_briefing(
    engine: Engine,  # noqa: F811
    llm: FakeLLMServer,  # noqa: F811
) -> None:
    _subscribe(engine, LAB)
    llm.script("/v1/messages#record_briefing", ToolInput(ANSWER))  # explanations are prepared first
    await DigestScheduler(engine, {"test": Platform()}, now=engine.now).prepare_slot(SLOT)
    assert len(_briefing_calls(llm)) == 1
    briefing.set_on(engine.store, LAB, False)
    platform = Platform()
    await _run_slot(engine, platform)
    [digest] = platform.to(LAB)
    assert not digest.is_note and digest.cards
