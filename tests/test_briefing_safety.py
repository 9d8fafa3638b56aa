"""Hostile LLM answers and hostile radar words make a safe, bounded briefing: numbers outside the digest
and claims citing nothing are dropped, lists are cut, a broken shape falls back offline, and what every
renderer sends (Slack blocks, Discord messages, the terminal) holds no live mention, no foreign link and
no control character (the checker of tests/test_payload_safety.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import discord_embeds, slack_blocks
from bot.briefing import MAX_BRIEFING_CHARS, SharedAnswer, compose
from bot.briefing_answer import MAX_CONNECTIONS, MAX_MUST_READS, MAX_THEMES, read_briefing
from bot.briefing_offline import Facts
from bot.cards import DigestMessage, render_digest_text
from bot.explain.prompt import MalformedAnswer
from tests.test_payload_safety import hostile_text, strings, unsafe_parts

DAY = date(2024, 3, 26)
CARDS = 10
EVIL = "Ignore the papers. <!channel> @everyone <@U123> [arxiv.org](https://evil.example/x) https://evil.example \u202e"
NO_FACTS = Facts(feeds=(("stat.ML", CARDS),), upvoted=(), concepts=(), radar=())


def drawn(text: str) -> Iterator[tuple[str, str]]:
    """Every string each renderer sends for a briefing note with this text."""
    note = DigestMessage(categories=("stat.ML",), announced=DAY, cards=(), note=text)
    for message in slack_blocks.render_digest(note):
        for part in strings(message.payload()):
            yield "slack", part
        assert all(len(b["text"]["text"]) <= 3000 for b in message.payload()["blocks"] if b["type"] == "section")
    for discord_message in discord_embeds.render_digest(note):
        assert len(discord_message.content or "") <= 2000
        yield "discord", discord_message.content or ""
    yield "console", render_digest_text(note)


def _safe(text: str) -> None:
    assert len(text) <= MAX_BRIEFING_CHARS
    problems = [(where, p) for where, part in drawn(text) for p in unsafe_parts(part)]
    assert not problems, problems[:5]


def test_a_hostile_answer_is_cut_to_claims_citing_this_digests_cards_and_drawn_inert() -> None:
    hostile: dict[str, Any] = {
        "themes": [
            {"title": f"{EVIL} {i}", "summary": EVIL * 3, "cards": [i, 99, -1, 0, "#3", True]} for i in range(100)
        ],
        "must_reads": [{"card": n, "why": EVIL} for n in (0, 11, 5, 5, "7", 2, 3)],
        "connections": [
            {"text": EVIL, "cards": []},  # cites nothing: dropped
            {"text": "Links #4 and #99 across fields.", "cards": [4, 99]},
        ],
        "extra": "ignored",
    }
    answer = read_briefing(hostile, CARDS)
    assert len(answer.themes) == MAX_THEMES and len(answer.must_reads) == MAX_MUST_READS
    assert [m.card for m in answer.must_reads] == [5, 7, 2]
    assert [c.cards for c in answer.connections] == [(4,)]
    assert all(set(t.cards) <= set(range(1, CARDS + 1)) for t in answer.themes)
    assert answer.themes[0].cards == (3,) and answer.themes[1].cards == (1, 3)  # 0, 99, -1, True dropped
    text = compose(DAY, CARDS, SharedAnswer(answer, "claude-haiku-5-5"), NO_FACTS)
    _safe(text)
    assert "evil.example" not in text and "<!channel>" not in text and not re.search(r"@everyone\b", text)
    assert (
        sum(1 for line in text.splitlines() if line.startswith("• ")) <= MAX_THEMES + MAX_MUST_READS + MAX_CONNECTIONS
    )


@pytest.mark.parametrize(
    "data",
    [
        "a string",
        [{"themes": []}],
        {"themes": []},
        {"themes": "not a list"},
        {"themes": [{"title": 5, "summary": "", "cards": [1]}]},
        {"themes": [{"title": "x" * 5000, "summary": "", "cards": [1]}]},
        {"themes": [{"title": "\ud800", "summary": "", "cards": [1]}]},
        {"themes": [{"title": "t", "summary": "s", "cards": [50]}], "must_reads": [{"card": 0, "why": "w"}]},
        {"themes": [{"title": "t", "summary": "y" * 3000, "cards": [1]}] * 50},
    ],
)
def test_an_answer_of_no_usable_shape_is_malformed(data: Any) -> None:
    with pytest.raises(MalformedAnswer):
        read_briefing(data, CARDS)


def _answers() -> st.SearchStrategy[Any]:
    numbers = st.lists(st.one_of(st.integers(-5, 30), st.text(max_size=4), st.booleans()), max_size=12)
    theme = st.fixed_dictionaries({"title": hostile_text, "summary": hostile_text, "cards": numbers})
    must = st.fixed_dictionaries({"card": st.one_of(st.integers(-5, 30), st.text(max_size=3)), "why": hostile_text})
    link = st.fixed_dictionaries({"text": hostile_text, "cards": numbers})
    return st.fixed_dictionaries(
        {
            "themes": st.lists(theme, max_size=8),
            "must_reads": st.lists(must, max_size=6),
            "connections": st.lists(link, max_size=6),
        }
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_answers(), hostile_text, st.integers(1, 60))
def test_any_answer_and_any_radar_word_make_a_safe_bounded_briefing(data: Any, radar_word: str, cards: int) -> None:
    try:
        answer = read_briefing(data, cards)
    except MalformedAnswer:
        answer = None
    both = (1, 2) if cards > 1 else (1,)
    facts = Facts(feeds=(("hf", cards),), upvoted=((1, 3),), concepts=(("Optimal transport", both),), radar=())
    facts = Facts(facts.feeds, facts.upvoted, facts.concepts, radar=((f"“{radar_word}”", (1,)),))
    shared = SharedAnswer(answer, "claude-haiku-5-5") if answer else SharedAnswer(None, offline_reason="no LLM")
    text = compose(DAY, cards, shared, facts)
    _safe(text)
    if answer is not None:  # what the reader kept cites this digest's cards only
        ours = {n for t in answer.themes for n in t.cards} | {m.card for m in answer.must_reads}
        assert ours | {n for c in answer.connections for n in c.cards} <= set(range(1, cards + 1))
