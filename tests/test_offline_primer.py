"""The offline primer from a paper's full text: notation, key equations with their sentences, statements,
links beside the text, and the badge only when the full text gave something shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import Explanation, Link, render_explanation_text
from bot.explain.notation import MAX_ENTRIES, MEANING_CHARS, NotationEntry, notation, notation_in
from bot.explain.offline import NOTHING_USED_BADGE, SECTION_MAX, offline_explanation
from bot.fulltext import FullText, PaperEquation, Passage, parse_full_text
from bot.models import Paper
from bot.text import clean_text

DATA = Path(__file__).parent / "data"
URL = "https://arxiv.org/html/2401.00001v2"
ABSTRACT_TEX = (
    r"We study split conformal prediction. We prove that the prediction set covers $Y_{n+1}$ with probability "
    r"at least $1-\alpha$, and that its size converges to the oracle's."
)
PAPER = Paper(
    id="2401.00001",
    version=2,
    title="Conformal prediction with a where-clause",
    authors=("A. Author",),
    categories=("stat.ML",),
    primary_category="stat.ML",
    abstract=clean_text(ABSTRACT_TEX),
    abstract_tex=ABSTRACT_TEX,
)


def equation(label: str, tex: str, *, intro: str = "", after: str = "", refs: int = 1, **kw: str) -> PaperEquation:
    return PaperEquation(
        label=label,
        anchor=kw.get("anchor", f"S2.E{label}"),
        tex=tex,
        section="2 Method",
        appendix=False,
        intro=intro,
        references=refs,
        after=after,
        statement=kw.get("statement", ""),
    )


DEFINITIONS = (
    "Let s(x, y) denote the nonconformity score of a pair. We write q̂ for the empirical quantile of the scores, "
    "which we compute once."
)
THEOREM = "If the data are exchangeable, the set Ĉₙ covers Yₙ₊₁ with probability at least 1 − α."
CONFORMAL = FullText(
    paper_id="2401.00001",
    version=2,
    url=URL,
    sections=("1 Introduction", "2 Method"),
    equations=(
        equation(
            "1",
            r"\hat{C}_{n}(x)=\{y:s(x,y)\leq\hat{q}\}",
            intro="The prediction set is",
            after="where α ∈ (0,1) is the miscoverage level and n the number of calibration points.",
            refs=4,
        ),
        equation(
            "2",
            r"\mathbb{P}(Y_{n+1}\in\hat{C}_{n}(X_{n+1}))\geq 1-\alpha",
            intro="Our main result is the coverage guarantee",
            after="where the probability is over the calibration data and the test point.",
            refs=3,
            statement="Theorem 1",
        ),
    ),
    passages=(
        Passage("paragraph", "2 Method", DEFINITIONS),
        Passage("theorem", "2 Method", THEOREM, "Theorem 1"),
    ),
)


def section(explanation: Explanation, title: str) -> str:
    return next((s.text for s in explanation.sections if s.title == title), "")


# ---------------------------------------------------------------- notation


def test_a_where_clause_gives_symbol_and_meaning() -> None:
    assert list(notation_in("where α ∈ (0,1) is the miscoverage level and n the number of calibration points.")) == [
        NotationEntry("α", "the miscoverage level", "α ∈ (0,1)"),
        NotationEntry("n", "the number of calibration points"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Here, θₜ are the parameters at step t, η > 0 is the learning rate and ∇L(θ) the gradient of the loss.",
         [("θₜ", "the parameters at step t"), ("η", "the learning rate"), ("∇L(θ)", "the gradient of the loss")]),
        ("where Sᵢ = s(Xᵢ, Yᵢ) is the score of point i; and q̂ the (1−α)(1+1/n) quantile of the scores.",
         [("Sᵢ", "the score of point i"), ("q̂", "the (1−α)(1+1/n) quantile of the scores")]),
        ("where μ denotes the mean and variance of the prior.", [("μ", "the mean and variance of the prior")]),
        ("Let X denote a vector in ℝᵈ and let P be its law.", [("X", "a vector in ℝᵈ"), ("P", "its law")]),
        ("We write Pₙ for the empirical measure, which is random.", [("Pₙ", "the empirical measure")]),
        ("We denote by 𝒟 the training set.", [("𝒟", "the training set")]),
        ("The loss L denotes the cross-entropy.", [("L", "the cross-entropy")]),
        # not notation: a clause about words, an English word as the "symbol", a condition
        ("where the expectation is over the data.", []),
        ("where We is the thing and KL the divergence.", []),
        ("with probability at least 1 − δ.", []),
    ],
)  # fmt: skip
def test_notation_in(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(e.symbol, e.meaning) for e in notation_in(text)] == expected


def test_notation_of_a_paper_reads_equations_then_passages_each_symbol_once() -> None:
    entries = notation(CONFORMAL)
    assert [(e.symbol, e.meaning) for e in entries] == [
        ("α", "the miscoverage level"),
        ("n", "the number of calibration points"),
        ("s(x, y)", "the nonconformity score of a pair"),
        ("q̂", "the empirical quantile of the scores"),
    ]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("where is the and α n Xᵢ , ; ( ) denote Let We write for 𝒟 :"), max_size=400))
def test_notation_is_bounded_whatever_the_text(text: str) -> None:
    page = FullText("1", 1, URL, (), (equation("1", "x+y=z", after=text),), passages=(Passage("paragraph", "", text),))
    entries = notation(page)
    assert len(entries) <= MAX_ENTRIES
    assert len({"".join(e.symbol.split()) for e in entries}) == len(entries)
    assert all(len(e.meaning) <= MEANING_CHARS and e.symbol.strip() == e.symbol for e in entries)


# ---------------------------------------------------------------- the primer


def test_the_primer_from_a_full_text() -> None:
    explanation = offline_explanation(PAPER, full_text=CONFORMAL)
    titles = [s.title for s in explanation.sections]
    assert titles[:3] == ["Key equations of the paper", "Notation", "What the paper states"]
    assert "Formulas in the abstract" not in titles and titles[-1] == "Abstract"
    equations = next(s for s in explanation.sections if s.title == "Key equations of the paper")
    lines = equations.text.splitlines()
    assert lines[0].startswith("• Eq. (1) Ĉₙ(x)=") and "— “The prediction set is”" in lines[0]
    assert "Then: “where α ∈ (0,1) is the miscoverage level" in lines[0]
    assert lines[1].startswith("• Eq. (2) (in Theorem 1) ℙ(Yₙ₊₁∈Ĉₙ(Xₙ₊₁))")
    assert "https://" not in equations.text  # the links go beside the text
    assert equations.links == (Link("Eq. (1)", f"{URL}#S2.E1"), Link("Eq. (2)", f"{URL}#S2.E2"))
    assert section(explanation, "Notation").splitlines()[0] == "• α: the miscoverage level (α ∈ (0,1))"
    assert section(explanation, "What the paper states").startswith("• Theorem 1: If the data are exchangeable")
    assert explanation.grounding == "full_text" and explanation.badge == "from the paper's full text (v2)"
    assert all(len(s.text) <= SECTION_MAX for s in explanation.sections)


def test_notation_alone_is_a_contribution_of_the_full_text() -> None:
    page = FullText("1", 2, URL, (), (), passages=(Passage("paragraph", "", "Let Θ denote the parameter space."),))
    explanation = offline_explanation(PAPER, full_text=page)
    assert section(explanation, "Notation") == "• Θ: the parameter space"
    assert explanation.grounding == "full_text" and "full text" in explanation.badge
    # Without key equations the abstract's formulas are still worth showing? No: the full text spoke.
    assert explanation.badge in explanation.note


@pytest.mark.parametrize(
    "page",
    [
        FullText("1", 2, URL, ("1 Introduction",), ()),  # no numbered equation, nothing else
        FullText("1", 2, URL, (), (), passages=(Passage("paragraph", "1 Intro", "We study a problem."),)),
        FullText("1", 2, URL, (), (equation("1", "x=1"),)),  # only a trivial equation
    ],
)
def test_no_full_text_badge_when_the_full_text_gave_nothing_shown(page: FullText) -> None:
    explanation = offline_explanation(PAPER, full_text=page)
    assert explanation.grounding == "abstract" and explanation.equations == ()
    assert explanation.badge == NOTHING_USED_BADGE and "full text (v" not in explanation.note
    assert "Formulas in the abstract" in [s.title for s in explanation.sections]


def test_the_recorded_arxiv_page_without_equations_gets_no_full_text_badge() -> None:
    page = parse_full_text((DATA / "html" / "2501.11120v1.html").read_bytes(), "2501.11120", 1, URL)
    explanation = offline_explanation(PAPER, full_text=page)
    if explanation.grounding == "full_text":  # once passages are read, its definitions may count
        assert section(explanation, "Notation") or section(explanation, "What the paper states")
    else:
        assert explanation.badge == NOTHING_USED_BADGE


def test_a_hostile_anchor_gets_no_link_and_hostile_text_stays_inert() -> None:
    hostile = "@everyone <@U123> <!channel> [x](https://evil.example/y) where κ is the https://evil.example/z level."
    page = FullText(
        "1", 2, URL, (),
        (equation("1", r"a^{2}+b^{2}=c^{2}", intro=hostile, after=hostile, anchor="S1.E1|<https://evil.example>"),),
        passages=(Passage("theorem", "", hostile, "Theorem 1 @here"),),
    )  # fmt: skip
    explanation = offline_explanation(PAPER, full_text=page)
    assert all(link.url.startswith(URL) for s in explanation.sections for link in s.links if "Eq." in link.label)
    assert not any("evil" in link.url for s in explanation.sections for link in s.links)
    shown = render_explanation_text(explanation)
    for live in ("@everyone", "@here", "<@U123>", "<!channel>", "https://evil.example"):
        assert live not in shown, live
