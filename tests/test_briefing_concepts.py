"""The offline briefing's "concepts several papers are about", on the recorded feeds: a concept counts for
a paper when the title names it, a sentence saying what the paper does names it, or the abstract keeps
returning to it; never when an abstract names it in an example list ("such as A, B and C", "e.g., X, Y"),
a comparison ("outperforms X") or once in passing. What the briefing said before on these feeds is
written next to each case."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import briefing
from bot.briefing_abstract import about_text, defining_sentences, without_examples
from bot.briefing_offline import concepts_about, shared_concepts
from bot.explain.glossary import all_concepts
from bot.models import ChannelRef, Paper, Subscription
from bot.sources.arxiv import parse_rss
from bot.sources.huggingface import parse_daily_page
from tests.support import STAT_FEED, FakeArxiv, make_engine

DATA = Path(__file__).parent / "data"
STAT = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items]
HF = list(
    parse_daily_page((DATA / "huggingface/daily_papers-2024-10-25.json").read_bytes(), date(2024, 10, 25)).papers
)
LAB = ChannelRef("test", "w", "lab")


def test_example_lists_comparisons_and_what_the_work_builds_on_are_left_out() -> None:
    assert without_examples("We compare methods such as random forests, neural nets and lasso; we prove a bound.") == (
        "We compare methods ; we prove a bound."
    )
    assert without_examples("We propose a sampler (e.g., for Gaussian processes) that mixes fast.") == (
        "We propose a sampler that mixes fast."
    )
    assert without_examples("We propose X, which outperforms random forests and boosting.") == "We propose X, which"
    assert without_examples("Inspired by diffusion models, we propose a Huber-like loss.") == (
        "we propose a Huber-like loss."
    )
    assert without_examples("We study optimal transport (OT) maps.") == "We study optimal transport (OT) maps."


def test_only_sentences_saying_what_the_paper_does_define_it() -> None:
    abstract = (
        "Diffusion models achieve superior quality. We further applied Bayesian analysis to the maps. "
        "In this paper, we propose a copula model for counts. We apply the proposed method to RNA data."
    )
    assert defining_sentences(abstract) == ["In this paper, we propose a copula model for counts."]
    assert about_text("A title", abstract) == "A title · In this paper, we propose a copula model for counts."


def test_on_the_recorded_stat_feed_no_concept_comes_from_an_example_list() -> None:
    papers = STAT[:10]
    clusters = dict(shared_concepts(papers))
    # Before: "Random forest: #1, #3": #1 lists "(random forests, neural nets, regularized linear models,
    # etc.)" as methods one might conformalize, #3 trained one random forest as a tool.
    assert "Random forest" not in clusters
    # Before: "Bayesian inference: #2, #3, #10": #3 only "further applied Bayesian analysis" to its maps.
    assert clusters["Bayesian inference"] == (2, 10)
    assert clusters["Copula"] == (8, 10)  # both titles name it
    # Before, over 40 papers: "Propensity score: #7, #15, #16, #17", all four in passing.
    assert "Propensity score" not in dict(shared_concepts(STAT[:40]))


def test_on_the_recorded_hugging_face_day_results_and_context_sentences_share_nothing() -> None:
    clusters = dict(shared_concepts(HF))
    # Before: "Cross-entropy: #25, #26": #25 reaches "their lowest cross-entropy loss up to 85.1% faster".
    assert "Cross-entropy" not in clusters
    # Before: "Transformer attention: #8, #11, #13, #19, #21": #8 only opens with "efficient attention
    # mechanisms have significantly expanded the context length" as background.
    assert 8 not in clusters["Transformer attention"]
    assert clusters["Diffusion model"] == (10, 11, 15, 18)


def test_a_concept_the_abstract_keeps_returning_to_counts_even_outside_its_title() -> None:
    conformal = next(p for p in STAT if p.title == "Conformal online model aggregation")
    assert "Conformal prediction" in concepts_about(conformal)
    assert "Random forest" not in concepts_about(conformal)


async def test_the_offline_briefing_of_the_recorded_digest_names_only_what_papers_are_about() -> None:
    engine = make_engine(FakeArxiv())
    engine.store.subscribe(Subscription(id=0, channel=LAB, category="stat.ML", time="09:00", timezone="UTC"))
    briefing.set_on(engine.store, LAB, True)
    selection = await engine.plan_digest(LAB, engine.store.channel_subscriptions(LAB))
    text = await briefing.briefing_note(engine, selection)
    # Before: "Concepts several papers share: • Conformal prediction: #1, #7 • Linear regression: #1, #10",
    # the second from #1's example list "(random forests, neural nets, regularized linear models, etc.)".
    assert "Concepts several papers are about:\n• Conformal prediction: #1, #7\n" in text
    assert "Linear regression" not in text


_TERMS = [c.term for c in all_concepts()]


@settings(max_examples=60, deadline=None)
@given(
    term=st.sampled_from(_TERMS),
    marker=st.sampled_from(["such as", "e.g.,", "for example", "including", "like"]),
    papers=st.integers(min_value=2, max_value=5),
)
def test_property_a_concept_named_only_in_example_lists_is_never_shared(term: str, marker: str, papers: int) -> None:
    listed = [
        Paper(
            f"2403.0000{n}",
            1,
            f"Paper {n}",
            ("A. B",),
            ("stat.ML",),
            "stat.ML",
            f"We propose a new method. It improves on methods {marker} {term}, boosting and lasso.",
        )
        for n in range(1, papers + 1)
    ]
    assert term not in dict(shared_concepts(listed))
