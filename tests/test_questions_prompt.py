"""The thread-answer prompt and cache key, without I/O: bounded by the token budget whatever the thread,
user text kept inside its delimiters, the answer reader strict, and one cache key per question however
it is typed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.explain.prompt import MalformedAnswer, _data
from bot.fulltext import parse_full_text
from bot.question_cache import answer_key, normalise_question
from bot.question_prompt import QUESTION_SYSTEM_PROMPT, build_prompt, named_labels, read_thread_answer
from tests.test_fulltext import PAPER, SYNTHETIC

FULL_TEXT = parse_full_text(SYNTHETIC, PAPER.id, 2, "https://arxiv.org/html/2501.00001v2")
BUDGET = 1500  # tokens: small enough that a long thread must be cut


@settings(max_examples=60, deadline=None)
@given(
    thread=st.lists(st.tuples(st.booleans(), st.text(max_size=3000)), max_size=12),
    question=st.text(min_size=1, max_size=2000),
)
def test_the_prompt_stays_within_the_budget_and_user_text_within_its_delimiters(
    thread: list[tuple[bool, str]], question: str
) -> None:
    parts = build_prompt(PAPER, FULL_TEXT, question, thread, max_input_tokens=BUDGET)
    fixed_question = len(question) + 40  # the question is never cut here (it is cut to its own limit before)
    assert len(parts.user) + len(QUESTION_SYSTEM_PROMPT) <= BUDGET * 4 + fixed_question + 600
    assert parts.user.count("<question>") == 1 and parts.user.count("<thread>") <= 1
    assert parts.user.count("<message ") == len(parts.thread_sent) <= len(thread)
    body = parts.user.split("<question>", 1)[1].removesuffix("</question>")
    assert "<" not in body and ">" not in body
    # Newest messages are the ones kept.
    if parts.thread_sent:
        assert parts.thread_sent[-1][0] == [m for m in thread if _data(m[1][:1200], one_line=False)][-1][0]


def test_a_long_thread_keeps_its_newest_messages_and_equations_still_fit() -> None:
    thread = [(n % 2 == 1, f"message {n} " + "x" * 500) for n in range(1000)][-10:]
    parts = build_prompt(PAPER, FULL_TEXT, "what is Eq. 3?", thread, max_input_tokens=6000)
    assert [text.split()[1] for _, text in parts.thread_sent] == [str(n) for n in range(990, 1000)]
    assert parts.grounding is not None and parts.grounding.equations[0].label == "3"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("What does λ control in Eq. 3?", "what does λ control in eq 3"),
        ("  Why   is it SQUARED?! ", "why is it squared"),
        ("ｗｈａｔ is ε?", "what is ε"),
        ("what\u200b is ε?", "what is ε?"),
    ],
)
def test_case_space_and_punctuation_are_folded(one: str, other: str) -> None:
    assert normalise_question(one) == normalise_question(other)
    assert answer_key("1", 1, "m", "", one, ()) == answer_key("1", 1, "m", "", other, ())


def test_what_changes_the_meaning_changes_the_key() -> None:
    assert normalise_question("is x ≤ y?") != normalise_question("is x ≥ y?")
    assert normalise_question("eq 3") != normalise_question("eq 4")
    base = answer_key("2501.00001", 2, "m", "v2:2,3", "why?", ())
    assert base != answer_key("2501.00001", 3, "m", "v2:2,3", "why?", ())  # a new version
    assert base != answer_key("2501.00001", 2, "other", "v2:2,3", "why?", ())  # another model
    assert base != answer_key("2501.00001", 2, "m", "v2:2", "why?", ())  # other equations sent
    # A reader's earlier message is context; the bot's own messages are not.
    assert base != answer_key("2501.00001", 2, "m", "v2:2,3", "why?", ((False, "what is the loss?"),))
    assert base == answer_key("2501.00001", 2, "m", "v2:2,3", "why?", ((True, "the card"),))


def test_named_labels() -> None:
    assert named_labels("What is Eq. (A.4)? and eq 3, (2.1), Equation 4b, eqs. A4") == ("A.4", "3", "2.1", "4b", "A4")
    assert named_labels("no equation here (see above)") == ()


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"answer": "", "equations": [], "answered_by_paper": True},
        {"answer": "x", "equations": [1], "answered_by_paper": True},
        {"answer": "x", "equations": [], "answered_by_paper": "yes"},
        {"answer": "x" * 100_000, "equations": [], "answered_by_paper": True},
        {"answer": "\ud800", "equations": [], "answered_by_paper": True},
    ],
)
def test_a_malformed_answer_is_refused(data: Any) -> None:
    with pytest.raises(MalformedAnswer):
        read_thread_answer(data)


def test_labels_are_bounded_and_deduplicated() -> None:
    answer = read_thread_answer(
        {"answer": "ok", "equations": ["3", " 3 ", "x" * 50, *["7"] * 100], "answered_by_paper": False}
    )
    assert answer.equation_labels == ("3", "7") and not answer.answered_by_paper


def test_old_answers_are_pruned_as_new_ones_come() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.question_cache import KEEP_DAYS, QuestionCache
    from bot.question_prompt import ThreadAnswer
    from bot.store import Store

    store = Store(":memory:")
    store.migrate()
    cache = QuestionCache(store)
    now = datetime(2025, 1, 31, tzinfo=UTC)
    answer = ThreadAnswer("ok", ("3",), True)
    cache.put("old", "1", 1, "anthropic", "m", answer, now - timedelta(days=KEEP_DAYS + 1))
    cache.put("new", "1", 1, "anthropic", "m", answer, now)
    assert cache.get("new") is not None and cache.get("new").answer == answer  # type: ignore[union-attr]
    assert cache.prune(now) == 1 and cache.get("old") is None
