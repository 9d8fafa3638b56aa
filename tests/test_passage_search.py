"""BM25 over a paper's passages: on the real paragraphs of a recorded arXiv page, and as properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fulltext import Passage
from bot.passage_search import question_terms, relevant_passages
from tests.support_questions import recorded_passages


def test_a_question_about_backdoors_finds_the_backdoor_section_of_the_real_paper() -> None:
    found = relevant_passages(recorded_passages(), "Can the model tell us its backdoor trigger?", 5)
    assert len(found) == 5
    assert sum(s.passage.section == "4 Awareness of backdoors" for s in found) >= 2
    assert all("backdoor" in s.passage.text.lower() or "trigger" in s.passage.text.lower() for s in found)
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_asking_words_and_stop_words_find_nothing() -> None:
    assert question_terms("What does the paper mean by this, and why?") == ()
    assert relevant_passages(recorded_passages(), "what does it mean and why?", 5) == ()


def test_plurals_and_accents_and_the_section_title_count() -> None:
    passages = (
        Passage("paragraph", "2 Related work", "Earlier studies of language models."),
        Passage("paragraph", "3 Method", "We train neural networks on the data."),
        Passage("theorem", "4 Theory", "Coverage holds for every sample size.", label="Theorem 2"),
    )
    assert [s.position for s in relevant_passages(passages, "which network?", 3)] == [1]
    assert [s.position for s in relevant_passages(passages, "what is the related work?", 3)] == [0]
    assert relevant_passages(passages, "what does Théorem 2 say?", 3)[0].position == 2


def test_equal_scores_keep_the_paper_order_and_the_limit_holds() -> None:
    passages = tuple(Passage("paragraph", "", f"the loss {n}") for n in range(10))
    assert [s.position for s in relevant_passages(passages, "loss", 3)] == [0, 1, 2]
    assert relevant_passages(passages, "loss", 0) == ()


words = st.sampled_from(["loss", "coverage", "trigger", "networks", "λ", "risk", "the", "of", "model"])
texts = st.lists(words, max_size=30).map(" ".join)


@settings(max_examples=80, deadline=None)
@given(
    texts=st.lists(st.tuples(texts, st.sampled_from(["", "3 Method", "4 Results"])), max_size=25),
    question=st.lists(words, min_size=1, max_size=6).map(" ".join),
    limit=st.integers(min_value=0, max_value=8),
)
def test_results_share_a_word_with_the_question_best_first_and_bounded(
    texts: list[tuple[str, str]], question: str, limit: int
) -> None:
    passages = tuple(Passage("paragraph", section, text) for text, section in texts)
    found = relevant_passages(passages, question, limit)
    assert len(found) <= limit
    assert len({s.position for s in found}) == len(found)
    wanted = set(question_terms(question))
    for scored in found:
        assert scored.passage is passages[scored.position] and scored.score > 0
        assert wanted & set(question_terms(f"{scored.passage.section} {scored.passage.text}"))
    assert [(-s.score, s.position) for s in found] == sorted((-s.score, s.position) for s in found)
