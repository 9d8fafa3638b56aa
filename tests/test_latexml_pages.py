"""The full-text reader on pages LaTeXML made (tests/support_latexml.py): labels, TeX, the sentence before
and after each equation, the statement it sits in, the passages and their kinds, the key equations."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.fulltext import MAX_PASSAGE_CHARS, PASSAGE_KINDS, PaperEquation, key_equations
from tests.support_latexml import LATEXML_PAGES, latexml_full_text, latexml_page


def _equation(name: str, label: str) -> PaperEquation:
    return next(e for e in latexml_full_text(name).equations if e.label == label)


def test_every_display_layout_is_read_with_its_label_and_tex() -> None:
    page = latexml_full_text("structures")
    assert [e.label for e in page.equations] == [
        "1", "2", "3", "4", "5", "6", "7a", "7b", "10", "13", "⋆", "14", "15", "16",
    ]  # fmt: skip
    assert _equation("structures", "4").tex.startswith("g(q)=\\begin{cases}")  # cases
    assert "\\begin{pmatrix}" in _equation("structures", "10").tex  # eqnarray row with a matrix
    assert "\\begin{bmatrix}" in _equation("structures", "13").tex
    assert _equation("structures", "7a").anchor == "S3.E7.1"  # subequations
    tagged = _equation("structures", "⋆")  # \tag{$\star$}: the star is the label, not part of the formula
    assert tagged.anchor == "S3.Ex1" and tagged.tex == "\\sum_{t=1}^{T}(q_{t+1}-q_{t})=q_{T+1}-q_{1}"
    assert page.sections[-1] == "Appendix A Proofs" and page.equations[-1].appendix


def test_the_sentence_before_is_found_whatever_the_layout() -> None:
    intro = "The threshold is updated by online gradient descent on the pinball loss:"
    assert _equation("structures", "1").intro == intro
    # The equation opens its own paragraph: the sentence leading to it ends the previous one.
    assert _equation("structures", "3").intro == "We minimise the pinball loss of the threshold:"
    # Every row of an align group shares the group's sentence; eqnarray too.
    assert _equation("structures", "6").intro == "The two bounds we combine are"
    assert _equation("structures", "13").intro == "An old layout with eqnarray:"
    # A group in its own paragraph after a paragraph that ends in another display's "Here …": no intro.
    assert _equation("structures", "7a").intro == ""


def test_the_sentences_after_give_the_where_clause_or_the_next_paragraphs_first_sentence() -> None:
    assert _equation("structures", "1").after == (
        "where α is the miscoverage level and η>0 is the step size. The set is then read off the threshold."
    )
    assert _equation("structures", "15").after == "where B bounds the scores."
    assert _equation("structures", "4").after == "which is bounded by one."
    # The paragraph ends with the display: the next paragraph's first sentence is what a reader sees next.
    assert _equation("structures", "2").after == "We minimise the pinball loss of the threshold:"
    # A statement closed by its display, followed by a paragraph that only leads to another display: nothing.
    assert _equation("structures", "14").after == ""


def test_an_equation_inside_a_statement_names_it() -> None:
    assert _equation("structures", "14").statement == "Lemma 1"
    assert _equation("structures", "15").statement == "Theorem 2"
    assert _equation("structures", "1").statement == ""


def test_passages_are_the_body_in_order_with_statements_contributions_and_conclusion() -> None:
    passages = latexml_full_text("structures").passages
    assert [(p.kind, p.label) for p in passages if p.kind != "paragraph"] == [
        ("contributions", ""),
        ("definition", "Definition 1"),
        ("assumption", "Assumption 1"),
        ("lemma", "Lemma 1"),
        ("theorem", "Theorem 2"),
        ("conclusion", ""),
    ]
    contributions = passages[0]
    assert contributions.section == "1 Introduction"
    assert "• an online update of the threshold that tracks drift;" in contributions.text
    theorem = next(p for p in passages if p.kind == "theorem")
    assert theorem.text.startswith("Under Assumption 1, for every T ≥ 1,")
    assert theorem.text.endswith("where B bounds the scores.")
    assert "(15)" not in theorem.text  # the equation number is not prose
    assert any(p.text.startswith("Remark 1. The bound does not depend") for p in passages)
    texts = " ".join(p.text for p in passages)
    assert "We build prediction sets" not in texts  # the abstract is not a passage
    assert all(p.kind in PASSAGE_KINDS for p in passages)


def test_key_equations_favour_statements_and_the_most_referred() -> None:
    chosen = [e.label for e in key_equations(latexml_full_text("structures"))]
    assert "15" in chosen and "14" in chosen and "1" in chosen
    assert "16" not in chosen  # the appendix


@pytest.mark.parametrize("name", sorted(LATEXML_PAGES))
def test_every_page_is_small_and_read_into_bounded_passages(name: str) -> None:
    assert len(latexml_page(name)) < 300_000
    page = latexml_full_text(name)
    assert page.equations and page.passages
    assert all(0 < len(p.text) <= MAX_PASSAGE_CHARS for p in page.passages)
    assert all("alttext" not in p.text and "<math" not in p.text for p in page.passages)


def test_a_real_control_paper_gives_theorem_equations_their_statement_and_where_clauses() -> None:
    page = latexml_full_text("robust-sls")
    affine = _equation("robust-sls", "3.3")
    assert affine.statement == "Theorem 3.1" and affine.intro == "The affine subspace defined by"
    assert affine.after == "parameterizes all system responses"
    assert _equation("robust-sls", "4.1").after.startswith("where 𝐀₀=blkdiag(Â,Â,…) and 𝐁₀=blkdiag(B̂,B̂,…)")
    kinds = Counter(p.kind for p in page.passages)
    assert kinds["theorem"] >= 4 and kinds["conclusion"] >= 1
    assert {p.label for p in page.passages if p.kind == "theorem"} >= {"Theorem 3.1", "Proposition 3.3"}
    assert "3.3" in [e.label for e in key_equations(page)]


def test_a_real_paper_with_its_own_macros_reads_assumptions_and_corollaries() -> None:
    page = latexml_full_text("decentralized-online")  # \newtheorem{Assumption}{\bf{Assumption}}, \Ocal …
    assumption = next(p for p in page.passages if p.kind == "assumption")
    assert assumption.label == "Assumption 1" and assumption.section.startswith("4 Decentralized Online Gradient")
    assert _equation("decentralized-online", "3").statement == "Corollary 1"
    static_regret = _equation("decentralized-online", "1")
    assert static_regret.intro.endswith("the static regret which is defined as")
    assert static_regret.after.startswith("where x*=arg minₓ")
    assert page.passages[-1].kind == "conclusion"


def test_a_real_linear_algebra_paper_reads_its_contributions_and_numbered_statements() -> None:
    page = latexml_full_text("lu-existence")
    contributions = [p for p in page.passages if p.kind == "contributions"]
    assert contributions[0].text.startswith("The contributions of this paper are threefold.")
    assert "• A Nullity-Based Characterization:" in contributions[1].text  # "which include:" and its list
    labels = [p.label for p in page.passages if p.kind in ("theorem", "lemma", "definition")]
    assert labels[:3] == ["Theorem 1.1", "Corollary 1.2", "Definition 1.3"]
    nullity = _equation("lu-existence", "1")
    assert nullity.statement == "Property 2.1" and nullity.intro == "For all k=1,…,n:"
    assert [p.kind for p in page.passages[-3:]] == ["conclusion"] * 3


def test_unresolved_citation_keys_are_not_read_as_words_of_the_sentence() -> None:
    # LaTeXML prints a citation it cannot resolve as its bare BibTeX key; the LU paper has two after
    # "for any matrix A". The sentence reads on without them, its punctuation closed up.
    page = latexml_full_text("lu-existence")
    text = " ".join(p.text for p in page.passages)
    assert "higham_gaussian_2011" not in text and "lu_numerical_2021" not in text
    assert "is guaranteed to exist for any matrix A." in text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (  # every key unresolved: the citation goes, the gap before the period closes
            '<p>exists for any matrix <cite class="ltx_cite"><span class="ltx_ref ltx_missing_citation">'
            'k_2011</span>; <span class="ltx_ref ltx_missing_citation">k_2021</span></cite>.</p>',
            "exists for any matrix.",
        ),
        (  # one resolved and one not: the resolved one stays, the separator of the other goes
            '<p>as shown <cite class="ltx_cite">(<a class="ltx_ref" href="#bib.bib3">Higham, 2011</a>; '
            '<span class="ltx_ref ltx_missing_citation">lu_2021</span>)</cite>.</p>',
            "as shown (Higham, 2011).",
        ),
        ('<p>as shown <cite class="ltx_cite">[<a class="ltx_ref" href="#bib.bib3">3</a>]</cite>.</p>', "as shown [3]."),
        (  # a formula after the gap keeps its TeX read as Unicode
            '<p>see <cite class="ltx_cite"><span class="ltx_ref ltx_missing_citation">k1</span></cite>, then '
            '<math alttext="x_{t+1}" display="inline"></math>.</p>',
            "see, then xₜ₊₁.",
        ),
    ],
)
def test_a_citation_is_prose_only_when_it_resolves(html: str, expected: str) -> None:
    from selectolax.lexbor import LexborHTMLParser

    from bot.latexml_text import prose

    paragraph = LexborHTMLParser(html).css_first("p")
    assert paragraph is not None and prose(paragraph) == expected
