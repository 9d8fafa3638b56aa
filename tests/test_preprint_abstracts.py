"""Preprints as people read them: run-in headings of structured abstracts set apart whatever the heading
words, withdrawn preprints never posted as new and marked when looked up, and an unknown subject answered
with the subjects that exist. Through the engine and the real bioRxiv client against the local fake API,
on items shaped like the recorded ``details`` answer (tests/data/biorxiv, whose items carry ``type``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.models import ChannelRef, Subscription
from bot.sources.preprint_abstracts import is_withdrawal, separate_headings
from tests.fakes.biorxiv_server import FakePreprintServer, item, recorded_items
from tests.support import make_config, make_engine

CHANNEL = ChannelRef("test", "w", "preprints")
DAY = "2024-03-25"  # the day bioRxiv's batch is due on the engine's clock (2024-03-26 09:00 UTC)

RUN_IN = (
    "IntroductionChronic kidney disease affects one adult in ten.MethodsWe followed 2,000 patients for "
    "five years.ResultsThe decline of eGFR was slower with treatment.ConclusionsTreatment works."
)


def recorded(n: int, **fields: Any) -> dict[str, Any]:
    """The recorded item ``n`` (tests/data/biorxiv/details-2025-01-01-abridged.json) on DAY, changed."""
    found = copy.deepcopy(recorded_items()[n])
    found.update(date=DAY, **fields)
    return found


@pytest.fixture
def api() -> Iterator[FakePreprintServer]:
    with FakePreprintServer(page_sizes=(100,)) as server:
        yield server


def engine_for(api: FakePreprintServer) -> Engine:
    config = make_config(**{"sources.biorxiv": {"api_url": api.base_url, "content_url": api.base_url}})
    return make_engine(config=config)


async def day_papers(engine: Engine, feed: str = "biorxiv") -> dict[str, Any]:
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category=feed))
    selection = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    return {paper.id: paper for paper in selection.papers}


async def test_run_in_headings_of_a_days_abstracts_are_set_apart(api: FakePreprintServer) -> None:
    api.add("biorxiv", [recorded(0, abstract=RUN_IN), recorded(1)])
    engine = engine_for(api)
    papers = await day_papers(engine)
    abstract = papers["10.1101/2024.12.31.630767"].abstract
    assert abstract == (
        "Introduction: Chronic kidney disease affects one adult in ten. Methods: We followed 2,000 patients for "
        "five years. Results: The decline of eGFR was slower with treatment. Conclusions: Treatment works."
    )
    assert papers["10.1101/2024.12.31.629756"].abstract == "Non-genetic transcription evolution..."  # untouched
    await engine.aclose()


_WORD = st.from_regex(r"[A-Z][a-z]{3,11}", fullmatch=True)
_SENTENCE = st.from_regex(r"[A-Z][a-z]{2,8}( [a-z]{2,9}){2,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(sections=st.lists(st.tuples(_WORD, _SENTENCE), min_size=2, max_size=6), colon=st.booleans())
def test_any_heading_words_of_a_structured_abstract_are_set_apart(sections: list[tuple[str, str]], colon: bool) -> None:
    """A class, not a list: invented heading words, glued or with a colon and no space, become "H: text"."""
    glue = ":" if colon else ""
    text = ".".join(f"{heading}{glue}{sentence}" for heading, sentence in sections) + "."
    assert separate_headings(text) == ". ".join(f"{heading}: {sentence}" for heading, sentence in sections) + "."


@pytest.mark.parametrize(
    "text",
    [
        "AlphaFold predicts structures. We used GitHub and PubMed.",
        "The McDonald criteria apply. MacArthur scales were used.",
        "We compute $f: X \\to Y$ and $\\frac{a}{b}$. Results follow: the bound is tight.",
        "Background noise was low. Ratio 3:1 of cases.",
    ],
)
def test_sentences_without_the_structure_are_left_alone(text: str) -> None:
    assert separate_headings(text) == text


def test_a_single_heading_word_is_set_apart_and_a_colon_heading_gets_its_space() -> None:
    assert separate_headings("BackgroundCOVID-19 changed care.") == "Background: COVID-19 changed care."
    assert separate_headings("We did it.Methods:We used mice.") == "We did it. Methods: We used mice."


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "withdrawn"},
        {"title": "WITHDRAWN: Persistent DNA methylation paper"},
        {"abstract": "This manuscript has been withdrawn by the authors due to an error in figure 2."},
        {"abstract": "The authors have withdrawn this preprint. Please do not cite it."},
    ],
    ids=["type", "title", "notice", "authors-withdrew"],
)
async def test_a_withdrawn_preprint_is_not_posted_as_new_and_is_marked_when_looked_up(
    api: FakePreprintServer, fields: dict[str, str]
) -> None:
    withdrawn = recorded(0, **fields)
    api.add("biorxiv", [withdrawn, recorded(1), item(7, DAY, "neuroscience")])
    engine = engine_for(api)
    papers = await day_papers(engine)
    assert "10.1101/2024.12.31.630767" not in papers
    assert "10.1101/2024.12.31.629756" in papers and len(papers) == 2
    paper, _ = await engine.lookup("10.1101/2024.12.31.630767")
    assert paper.title.startswith("Withdrawn: ") and "WITHDRAWN" not in paper.title
    await engine.aclose()


async def test_a_preprint_withdrawn_the_day_it_was_posted_is_left_out(api: FakePreprintServer) -> None:
    """Version 1 and its withdrawal (version 2) in one day's list: neither is news."""
    api.add("biorxiv", [recorded(0), recorded(0, version="2", type="withdrawn"), recorded(1)])
    engine = engine_for(api)
    papers = await day_papers(engine)
    assert list(papers) == ["10.1101/2024.12.31.629756"]
    await engine.aclose()


def test_withdrawal_notices_and_studies_of_withdrawal_are_told_apart() -> None:
    assert is_withdrawal("new results", "Withdrawn - duplicate", "")
    assert not is_withdrawal(
        "new results", "Opioid withdrawal in mice", "Drugs withdrawn from the market were studied."
    )
    assert not is_withdrawal("new results", "A study", "Patients withdrawn from the trial were followed.")


@pytest.mark.parametrize(
    ("typed", "suggested", "listed"),
    [
        ("biorxiv:neuroscence", "biorxiv:neuroscience", "animal_behavior_and_cognition"),
        ("medrxiv:cardiology", "medrxiv:cardiovascular_medicine", "rehabilitation_medicine_and_physical_therapy"),
        ("biorxiv:xyzzy", None, "zoology"),
    ],
)
async def test_an_unknown_subject_is_answered_with_did_you_mean_and_the_subjects(
    typed: str, suggested: str | None, listed: str
) -> None:
    engine = make_engine()
    reply = await dispatch(engine, Invocation(channel=CHANNEL), f"subscribe {typed}")
    assert reply.is_error
    if suggested:
        assert f"Did you mean {suggested}" in reply.text
    assert listed in reply.text and "subjects:" in reply.text
    assert "http" not in reply.text and ".org" not in reply.text  # no web site to go and read
    assert len(reply.text) < 2000  # fits a Discord message
    await engine.aclose()


def test_the_recorded_answer_carries_the_type_that_marks_a_withdrawal() -> None:
    assert {i["type"] for i in recorded_items()} == {"new results"}
    assert not any(is_withdrawal(i["type"], i["title"], i["abstract"]) for i in recorded_items())
