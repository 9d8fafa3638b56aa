"""The offline explanation (bot/explain/offline.py), on every recorded paper and on made-up edge cases."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import bot.explain.glossary as glossary_module
from bot.cards import Explanation, Link
from bot.errors import BadIdError
from bot.explain.abstract_formulas import abstract_formulas, is_number
from bot.explain.offline import DEFAULT_NOTE, SECTION_MAX, math_in_a_sentence_offline, offline_explanation
from bot.explain.prompt import ONE_LINER_MAX
from bot.models import Paper
from bot.sources.arxiv import parse_api, parse_rss
from bot.text import clean_text
from tests.support_work import grows_linearly

DATA = Path(__file__).parent / "data"
FORMULAS, CONCEPTS, ABSTRACT = "Formulas in the abstract", "Concepts it mentions", "Abstract"
TEX_LEFTOVERS = re.compile(r"\$|\\[A-Za-z]")  # set braces ({1,2}) are mathematics, not TeX


def _api_papers() -> list[Paper]:
    papers: list[Paper] = []
    for path in sorted((DATA / "api").iterdir()):
        body = path.read_bytes()
        if path.suffix == ".json":
            body = json.loads(body)["body"].encode("utf-8")
        try:
            papers.extend(parse_api(body))
        except BadIdError:  # the recorded HTTP 400 answer has no papers
            continue
    return papers


def _feed_papers(name: str, category: str) -> list[Paper]:
    return [item.paper for item in parse_rss((DATA / name).read_bytes(), [category]).items]


STAT_PAPERS = _feed_papers("rss-stat-2024-03-26.xml", "stat")
(SPEC_PAPER,) = _feed_papers("rss-spec-example-math.OC.xml", "math.OC")
API_PAPERS = _api_papers()
ALL_PAPERS = [*STAT_PAPERS, SPEC_PAPER, *API_PAPERS]


def paper(abstract_tex: str = "", abstract: str | None = None, title: str = "A title") -> Paper:
    return Paper(
        id="2401.00001",
        version=1,
        title=title,
        authors=("A. Author",),
        categories=("math.ST",),
        primary_category="math.ST",
        abstract=clean_text(abstract_tex) if abstract is None else abstract,
        abstract_tex=abstract_tex,
    )


def section(explanation: Explanation, title: str) -> str:
    return next((s.text for s in explanation.sections if s.title == title), "")


def formulas(abstract_tex: str) -> list[str]:
    text = section(offline_explanation(paper(abstract_tex)), FORMULAS)
    return [line.removeprefix("• ") for line in text.splitlines()]


# ---------------------------------------------------------------- every recorded paper


def test_the_recordings_are_all_here() -> None:
    assert len(STAT_PAPERS) == 123 and len(API_PAPERS) >= 10


@pytest.mark.parametrize("p", ALL_PAPERS, ids=lambda p: p.id)
def test_every_recorded_paper(p: Paper) -> None:
    explanation = offline_explanation(p)
    assert explanation.source == "offline" and explanation.cached is False
    assert explanation.note == DEFAULT_NOTE
    titles = [s.title for s in explanation.sections]
    assert titles == [t for t in (FORMULAS, CONCEPTS, ABSTRACT) if t in titles], titles
    assert ABSTRACT in titles  # every recorded paper has an abstract
    for s in explanation.sections:
        assert s.text.strip() and len(s.text) <= SECTION_MAX, (s.title, len(s.text))
        assert f"{s.title}:\n{s.text}" in explanation.text
        assert not re.search(r"\\[A-Za-z]", s.text), (s.title, s.text)  # no TeX, not even in the abstract
        # braces only where the (cleaned) abstract has set braces: none is TeX grouping left behind
        assert s.text.count("{") <= p.abstract.count("{"), (s.title, s.text)
        if s.title != ABSTRACT:  # the abstract quotes the paper, links and all; the bot's links go in s.links
            assert "https://" not in s.text, s.text
    for title in (FORMULAS, CONCEPTS):
        text = section(explanation, title)
        assert not TEX_LEFTOVERS.search(text), text
        assert all(line.startswith("• ") for line in text.splitlines()), text
    assert len(section(explanation, FORMULAS).splitlines()) <= 6
    assert explanation.text.startswith(explanation.sections[0].title + ":\n")
    assert "\n\n\n" not in explanation.text


@pytest.mark.parametrize("p", ALL_PAPERS, ids=lambda p: p.id)
def test_every_recorded_paper_gets_a_bounded_one_liner_or_none(p: Paper) -> None:
    line = math_in_a_sentence_offline(p)
    concepts = section(offline_explanation(p), CONCEPTS)
    if line is None:
        assert not concepts
    else:
        assert line.startswith("Concepts: ") and len(line) <= ONE_LINER_MAX
        first = line.removeprefix("Concepts: ").split(", ")[0]
        assert concepts.startswith(f"• {first}: ")


def test_the_glossary_matcher_is_built_once_for_many_papers() -> None:
    # What makes it cheap per paper (its time, target < 5 ms a paper: bench/bench_text_speed.py).
    offline_explanation(STAT_PAPERS[0])
    built = glossary_module._matcher.cache_info().misses
    for p in STAT_PAPERS:
        offline_explanation(p)
    assert glossary_module._matcher.cache_info().misses == built


def test_it_is_deterministic() -> None:
    assert [offline_explanation(p) for p in STAT_PAPERS[:20]] == [offline_explanation(p) for p in STAT_PAPERS[:20]]


# ---------------------------------------------------------------- what it finds


def test_the_spec_example() -> None:
    explanation = offline_explanation(SPEC_PAPER)
    found = section(explanation, FORMULAS).splitlines()
    # The main result ("We prove that …") comes first, in its own words, cut with "…" where it is long.
    assert found[0].startswith("• …that the minimal energy function H(m) is always concave")
    assert "∑ᵢ mᵢδ_(xᵢ) as ∑ᵢ H(mᵢ)" in found[0]
    assert found[1] == (
        "• We consider first order local minimization problems of the form min ∫_(ℝᴺ)f(u,∇u) "
        "under a mass constraint ∫_(ℝᴺ)u=m."
    )
    assert "• ε" not in found and "• α" not in found  # no symbol alone
    concepts = next(s for s in explanation.sections if s.title == CONCEPTS)
    assert "• Gamma-convergence: " in concepts.text
    assert "https://" not in concepts.text  # the glossary's links go beside the text, drawn as links
    assert Link("Gamma-convergence", "https://en.wikipedia.org/wiki/%CE%93-convergence") in concepts.links
    assert [link.label for link in concepts.links] == [line.split(":")[0][2:] for line in concepts.text.splitlines()]
    assert "Gamma-convergence" in (math_in_a_sentence_offline(SPEC_PAPER) or "")
    assert section(explanation, ABSTRACT) == SPEC_PAPER.abstract


def test_most_math_heavy_abstracts_name_a_glossary_concept() -> None:
    math_heavy = [p for p in STAT_PAPERS if "$" in p.abstract_tex]
    assert len(math_heavy) >= 20
    missed = [p.id for p in math_heavy if not section(offline_explanation(p), CONCEPTS)]
    fraction = 1 - len(missed) / len(math_heavy)
    assert fraction >= 0.7, f"{fraction:.0%} of {len(math_heavy)} math-heavy abstracts; none in {missed}"


def test_a_paper_without_math_or_concepts_still_gets_its_abstract() -> None:
    abstract = "We describe the history of the city library and the people who kept its collections."
    p = paper(abstract)
    explanation = offline_explanation(p)
    assert [s.title for s in explanation.sections] == [ABSTRACT]
    assert explanation.text == f"Abstract:\n{abstract}"
    assert math_in_a_sentence_offline(p) is None


def test_a_paper_with_nothing_at_all() -> None:
    explanation = offline_explanation(paper("", title="Untitled"))
    assert explanation.sections == () and explanation.text


def test_the_note_is_passed_through() -> None:
    note = "The LLM did not answer in time; this is the offline explanation."
    assert offline_explanation(SPEC_PAPER, note=note).note == note
    assert offline_explanation(SPEC_PAPER, note="").note == DEFAULT_NOTE


def test_a_long_abstract_is_cut_at_a_sentence_or_word() -> None:
    sentence = "We study the convergence of stochastic gradient descent under heavy-tailed noise in high dimension. "
    p = paper(sentence * 20)
    text = section(offline_explanation(p), ABSTRACT)
    assert len(text) <= SECTION_MAX and p.abstract.startswith(text.removesuffix(" …"))
    assert text.endswith("dimension. …")  # the cut is marked


def test_an_abstract_that_fits_is_shown_whole() -> None:
    fits = [p for p in ALL_PAPERS if len(p.abstract) <= SECTION_MAX]
    assert len(fits) >= 20
    assert all(section(offline_explanation(p), ABSTRACT) == p.abstract.strip() for p in fits)


def test_every_cut_abstract_says_so() -> None:
    long = [p for p in ALL_PAPERS if len(p.abstract) > SECTION_MAX]
    assert len(long) >= 20
    for p in long:
        text = section(offline_explanation(p), ABSTRACT)
        assert text.endswith("…") and len(text) <= SECTION_MAX, text[-40:]


def test_concepts_are_whole_lines_within_the_bound() -> None:
    p = paper(
        "Wasserstein distance, Sinkhorn algorithm, KL divergence, Fokker-Planck equation, Langevin dynamics, "
        "Hessian, spectral norm."
    )
    concepts = next(s for s in offline_explanation(p).sections if s.title == CONCEPTS)
    lines = concepts.text.splitlines()
    assert 3 <= len(lines) <= 6 and len(concepts.links) == len(lines)
    assert lines[0].startswith("• Wasserstein distance: Distance between probability distributions")
    assert concepts.links[0] == Link("Wasserstein distance", "https://en.wikipedia.org/wiki/Wasserstein_metric")


# ---------------------------------------------------------------- formulas


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        (r"costs $\mathcal{O}(n^{3})$ time", ["𝒪(n³)"]),
        (r"display $$\sum_i x_i^2$$ and \[\|x\|_2\] and \(\alpha+\beta\)", ["∑ᵢ xᵢ²", "‖x‖₂", "α+β"]),
        (r"twice: $x^2$ then $x^2$ again", ["x²"]),  # distinct formulas only
        (r"only symbols: $\alpha$ and $n$", ["α", "n"]),  # better than nothing
        (r"$\alpha$, $n$, $0.5$ and $n \geq 2$", ["n ≥ 2"]),  # trivial ones skipped when there is more
        (r"$\hat{x}$ is one symbol, $\hat{x}_1$ is not", ["x̂₁"]),
        ("it costs $5 and $10 a month", []),  # money, not math
        (r"a \$5 fee and $x_1$", ["x₁"]),
        ("no math at all", []),
        (r"an unclosed $x^2", []),
        # numbers, percentages and speed-ups are not formulas, nor is a word in math mode
        (r"a $1.13\times$ speed-up, $>98\%$ accuracy, $10^{6}$ samples, $\sim 30$ runs, $5$ and $e.g.$", []),
        (r"a $1.13\times$ speed-up for $n \geq 2$", ["n ≥ 2"]),
    ],
)
def test_formulas_found(tex: str, expected: list[str]) -> None:
    assert [f for line in abstract_formulas(paper(tex)) for f in line.formulas] == expected


def test_each_formula_is_shown_in_its_sentence() -> None:
    tex = (
        r"We study a vector $M \in \mathbb{R}^{d}$ of rank $r$. Our estimator is simple. "
        r"We prove that it attains the rate $n^{-1/2}$ as $n \to \infty$, which is minimax optimal."
    )
    lines = formulas(tex)
    assert lines == [
        "We prove that it attains the rate n^(-1/2) as n → ∞, which is minimax optimal.",
        "We study a vector M ∈ ℝᵈ of rank r.",
    ]


def test_the_main_result_comes_first_whatever_its_place() -> None:
    setup = " ".join(rf"Let $x_{{{i}}} \in \mathbb{{R}}^{{{i}}}$ be a point." for i in range(10))
    tex = setup + r" We prove that the error converges at rate $\mathcal{O}(1/\sqrt{T})$."
    (first, *_rest) = abstract_formulas(paper(tex))
    assert first.formulas == ("𝒪(1/√T)",) and first.context.startswith("We prove that")


def test_a_long_sentence_is_cut_around_its_formula_with_marks() -> None:
    words = " ".join(f"word{i}" for i in range(60))
    tex = rf"{words} we show that $\|x_t - x^\star\| \leq C/t$ holds {words}."
    (line,) = formulas(tex)
    assert line.startswith("…") and line.endswith("…") and "‖xₜ - x^⋆‖ ≤ C/t" in line
    assert len(line) <= 220


def test_at_most_six_lines_of_formulas_in_context() -> None:
    tex = " ".join(rf"Point {i} is $x_{{{i}}} = y_{{{i}}}$." for i in range(20))
    lines = formulas(tex)
    assert len(lines) <= 6 and lines[0] == "Point 0 is x₀ = y₀."  # equals keep the abstract's order


def test_a_huge_formula_is_cut_at_a_word() -> None:
    tex = "$" + " + ".join(rf"\alpha_{{{i}}}" for i in range(400)) + "$"
    (line,) = formulas(tex)
    assert len(line) + 2 <= SECTION_MAX and line.endswith("…") and "\\" not in line


def test_most_recorded_formulas_are_shown_with_context() -> None:
    """The benchmark's figure: a formula shown in at least some of its sentence's words, not alone."""
    shown = [line for p in ALL_PAPERS for line in abstract_formulas(p, limit=50)]
    in_words = [line for line in shown if line.in_context and len(line.context) > max(map(len, line.formulas)) + 10]
    assert len(shown) >= 40 and len(in_words) / len(shown) >= 0.9


def test_numbers_in_recorded_abstracts_are_not_formulas() -> None:
    for line in (line for p in ALL_PAPERS for line in abstract_formulas(p, limit=50)):
        assert not any(is_number(f) for f in line.formulas), line


@pytest.mark.parametrize("junk", ["\\[x ", "\\(x ", "$$x ", "$ a $ ", "$5 and ", "{$x^"])
def test_malformed_tex_costs_linear_time(junk: str) -> None:
    """Unclosed delimiters must not make every opener scan to the end of the text again."""
    tex = junk * 10_000
    explanation = offline_explanation(paper(tex, abstract=clean_text(tex[:2000])))
    # Counted, not timed (bench/bench_text_speed.py times it): ten times the junk, about ten times the calls.
    assert grows_linearly(lambda n: offline_explanation(paper(junk * n, abstract=clean_text((junk * n)[:2000]))), 500)
    assert all(len(s.text) <= SECTION_MAX for s in explanation.sections)


def test_formulas_in_an_abstract_without_tex_source() -> None:
    """API papers may lack abstract_tex: the section is just absent."""
    p = replace(SPEC_PAPER, abstract_tex="")
    explanation = offline_explanation(p)
    assert FORMULAS not in [s.title for s in explanation.sections]
    assert CONCEPTS in [s.title for s in explanation.sections]
