"""The concept glossary and its matcher (bot/explain/glossary.py, bot/data/glossary.json)."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import bot.explain.glossary as glossary_module
from bot.explain.glossary import Concept, all_concepts, find_concepts, name_key
from bot.models import Feed
from bot.sources.arxiv import parse_rss
from tests.support_work import grows_linearly

DATA = Path(__file__).parent / "data"
REFERENCE_HOSTS = ("en.wikipedia.org", "encyclopediaofmath.org", "ncatlab.org")


def terms(text: str, limit: int = 6) -> list[str]:
    return [c.term for c in find_concepts(text, limit)]


@pytest.fixture(scope="module")
def stat_feed() -> Feed:
    return parse_rss((DATA / "rss-stat-2024-03-26.xml").read_bytes(), ["stat"])


# ---------------------------------------------------------------- the shipped data


def test_the_file_ships_as_package_data_with_exactly_the_documented_fields() -> None:
    raw = json.loads(resources.files("bot").joinpath("data/glossary.json").read_text(encoding="utf-8"))
    assert isinstance(raw, list)
    for entry in raw:
        assert sorted(entry) == ["aliases", "definition", "field", "term", "url"], entry
        assert isinstance(entry["aliases"], list)


def test_at_least_150_concepts_across_the_fields() -> None:
    concepts = all_concepts()
    assert len(concepts) >= 150
    fields = Counter(c.field for c in concepts)
    for field in ("machine learning", "statistics", "optimisation", "probability", "analysis", "linear algebra",
                  "physics", "information theory"):  # fmt: skip
        assert fields[field] >= 5, (field, fields)


def test_all_concepts_is_read_once() -> None:
    assert all_concepts() is all_concepts()


@pytest.mark.parametrize("concept", all_concepts(), ids=lambda c: c.term)
def test_every_entry_is_complete_plain_and_bounded(concept: Concept) -> None:
    for text in (concept.term, concept.field, concept.definition, concept.url, *concept.aliases):
        assert isinstance(text, str) and text == text.strip() and text, concept
    assert len(concept.definition) <= 160, (len(concept.definition), concept.definition)
    for text in (concept.term, concept.definition):
        # plain Unicode: no TeX left for a chat platform to show raw
        assert not re.search(r"[$\\{}]|\\[a-zA-Z]", text), text
    assert concept.definition[-1] in ".)", concept.definition  # a full line, not a fragment
    parts = urlsplit(concept.url)
    assert concept.url.startswith("https://") and parts.hostname in REFERENCE_HOSTS, concept.url
    assert " " not in concept.url


def test_no_name_belongs_to_two_concepts() -> None:
    """Case-insensitively, and in the looser sense of the matcher (dashes, accents, possessives)."""
    for normalise in (str.casefold, name_key):
        owners: dict[str, str] = {}
        for concept in all_concepts():
            for name in {normalise(n) for n in concept.names}:
                assert owners.setdefault(name, concept.term) == concept.term, (name, owners[name], concept.term)


@pytest.mark.parametrize("concept", all_concepts(), ids=lambda c: c.term)
def test_every_name_finds_its_own_concept(concept: Concept) -> None:
    """No name is shadowed by another concept's longer or overlapping name."""
    for name in concept.names:
        assert find_concepts(f"In this paper, {name}, as usual.", 1) == (concept,), name


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plurals, regular and not
        ("the Hessians of the loss", ["Hessian matrix"]),
        ("two Gaussian processes", ["Gaussian process"]),
        ("Bernstein inequalities", ["Bernstein inequality"]),
        ("kernel matrices", ["Gram matrix"]),
        ("mixed Nash equilibria", ["Nash equilibrium"]),
        ("sensitivity analyses", ["Sensitivity analysis"]),
        ("GPs", ["Gaussian process"]),
        # hyphen, dash and space variants
        ("Lipschitz-continuous maps", ["Lipschitz continuity"]),
        ("the Fokker-Planck equation", ["Fokker–Planck equation"]),
        ("the Fokker–Planck equation", ["Fokker–Planck equation"]),
        ("the Fokker Planck equation", ["Fokker–Planck equation"]),
        ("a KL-divergence penalty", ["Kullback–Leibler divergence"]),
        ("the Kullback-Leibler divergence", ["Kullback–Leibler divergence"]),
        ("Kullback–Leibler", ["Kullback–Leibler divergence"]),
        ("nonparametric regression", ["Nonparametric statistics"]),
        ("Γ-converge towards", ["Gamma-convergence"]),
        ("Gamma convergence", ["Gamma-convergence"]),
        # case
        ("WASSERSTEIN DISTANCE", ["Wasserstein distance"]),
        ("markov chain monte carlo", ["Markov chain Monte Carlo"]),
        # accents, apostrophes, possessives, British spelling
        ("a Matern kernel", ["Matérn covariance function"]),
        ("Schrodinger equation", ["Schrödinger equation"]),
        ("Ito's lemma", ["Itô calculus"]),
        ("by Bayes rule", ["Bayes' theorem"]),
        ("Bayes’ theorem", ["Bayes' theorem"]),
        ("Hotelling T² test", ["Hotelling's T-squared distribution"]),
        ("empirical risk minimisation", ["Empirical risk minimization"]),
        # the longest name at a position wins
        ("stochastic gradient descent", ["Stochastic gradient descent"]),
        ("a reproducing kernel Hilbert space", ["Reproducing kernel Hilbert space"]),
        ("PAC-Bayes bounds", ["PAC-Bayes"]),
        ("Hamiltonian Monte Carlo", ["Hamiltonian Monte Carlo"]),
        ("ℓ₁-regularization", ["Lasso"]),
    ],
)
def test_find_concepts(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "an elbow joint",  # ELBO only as a word
        "negentropy",  # a decision: a name inside a longer word is not a mention, "entropy" here included
        "untransformed data",
        "GPS receivers",  # acronyms match in capitals: GPS is not "GPs"
        "we ate lunch; the dag was cold; an ode",  # ATE, DAG, ODE are acronyms only in capitals
        "kernelized",
        "hypotheses",  # "hypothesis testing" needs both words
        "",
    ],
)
def test_no_concept_in(text: str) -> None:
    assert terms(text) == []


def test_order_of_first_mention_without_duplicates_and_the_limit() -> None:
    text = (
        "We bound the Wasserstein distance with the Sinkhorn algorithm, then the KL divergence; "
        "the Wasserstein metric again, a Hessian, entropy and a Kalman filter."
    )
    expected = [
        "Wasserstein distance",
        "Sinkhorn algorithm",
        "Kullback–Leibler divergence",
        "Hessian matrix",
        "Entropy",
        "Kalman filter",
    ]
    assert terms(text, limit=10) == expected
    assert terms(text) == expected  # the default limit is 6
    assert terms(text, limit=2) == expected[:2]
    assert terms(text, limit=0) == []
    assert terms(text, limit=-1) == []


def test_entropy_is_found_as_a_word_but_not_inside_one() -> None:
    assert terms("negentropy and cross-entropy and entropy") == ["Cross-entropy", "Entropy"]


def test_matching_builds_the_matcher_once(stat_feed: Feed) -> None:
    """One compiled matcher for all names, built once: its speed (target < 2 ms an abstract) is printed
    by bench/bench_text_speed.py."""
    texts = [f"{item.paper.title} · {item.paper.abstract}" for item in stat_feed.items]
    find_concepts(texts[0])
    built = glossary_module._matcher.cache_info().misses
    for text in texts:
        find_concepts(text)
    assert glossary_module._matcher.cache_info().misses == built
    assert grows_linearly(lambda n: find_concepts(" ".join(texts[:n])), 5)


# ---------------------------------------------------------------- whole terms, longest match


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A name at the tail of a longer dashed term is not a mention of it: the longer term wins.
        ("the Dvoretzky–Kiefer–Wolfowitz inequality", ["Dvoretzky–Kiefer–Wolfowitz inequality"]),
        ("Proof of the Dvoretzky–Kiefer–Wolfowitz–Massart inequality", ["Dvoretzky–Kiefer–Wolfowitz inequality"]),
        ("the Dvoretzky-Kiefer-Wolfowitz bound", ["Dvoretzky–Kiefer–Wolfowitz inequality"]),
        ("the Kiefer–Wolfowitz algorithm", ["Stochastic approximation"]),
        ("doubly-robust estimation", []),
        ("off-manifold attacks", []),
        ("non-equivariant classifiers", []),
        # a one-letter head is a parameter of the concept, not another term
        ("a 1-Lipschitz map", ["Lipschitz continuity"]),
        ("the 2-Wasserstein distance", ["Wasserstein distance"]),
        # a compound after the name is still a mention of it
        ("copula-based predictive distributions", ["Copula", "Predictive distribution"]),
    ],
)
def test_a_name_matches_only_as_a_whole_term(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_the_recorded_dkw_abstract_is_not_stochastic_approximation(stat_feed: Feed) -> None:
    (paper,) = [item.paper for item in stat_feed.items if item.paper.id == "2403.16651"]
    found = terms(f"{paper.title} · {paper.abstract}", 10)
    assert "Dvoretzky–Kiefer–Wolfowitz inequality" in found and "Stochastic approximation" not in found
