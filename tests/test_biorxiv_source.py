"""bioRxiv/medRxiv as a Source: feed names, calendar, cursor paging against a fake API, refs, bad answers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadIdError, FeedFormatError, NotFoundError, SourceError, SourceUnreachable, UnknownCategoryError
from bot.sources.base import FeedName, PaperRef, Source
from bot.sources.biorxiv import (
    PreprintSource,
    ServiceMessageError,
    parse_preprint_ref,
    preprint_sources,
    subject_key,
)
from bot.sources.preprint_details import MAX_BODY_BYTES, parse_api_date, parse_details
from tests.fakes.biorxiv_server import FakePreprintServer, item, recorded_answer, recorded_items

FAST: dict[str, Any] = {"min_interval_s": 0.0, "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01}
NEW_YEAR = date(2025, 1, 1)  # the recorded day
MONTH_END = date(2026, 6, 30)

BIORXIV = PreprintSource("biorxiv")  # no request is made by the pure methods
MEDRXIV = PreprintSource("medrxiv")


@pytest.fixture
def api() -> Iterator[FakePreprintServer]:
    with FakePreprintServer(page_sizes=(3,)) as server:
        yield server


@pytest.fixture
async def biorxiv(api: FakePreprintServer) -> AsyncIterator[PreprintSource]:
    source = PreprintSource("biorxiv", api.base_url, **FAST)
    yield source
    await source.aclose()


def feed(name: str) -> FeedName:
    resolved = (BIORXIV if name.casefold().startswith("biorxiv") else MEDRXIV).resolve_feed(name)
    assert resolved is not None
    return resolved


def month_end_day(api: FakePreprintServer) -> list[dict[str, Any]]:
    """Ten items of 2026-6-30 (unpadded, as the API may write it): revisions and several subjects mixed
    in, with one item each side of the day to show the interval is respected."""
    items = [
        item(1, "2026-6-30", "cancer biology"),
        item(2, "2026-6-30", "neuroscience"),
        item(3, "2026-6-30", "cancer biology", version="2"),  # a revision: not news
        item(4, "2026-6-30", "Cancer Biology", published="10.1038/S41586-026-0001-X"),
        item(5, "2026-6-30", "ecology", version=3),
        item(6, "2026-6-30", "bioinformatics"),
        item(7, "2026-6-30", "cancer biology"),
        item(8, "2026-6-30", "neuroscience"),
        item(9, "2026-6-30", "zoology"),
        item(10, "2026-6-30", "cancer biology"),
    ]
    api.add("biorxiv", [item(90, "2026-6-29", "cancer biology"), *items, item(91, "2026-7-1", "cancer biology")])
    return items


# ---------------------------------------------------------------- the protocol and feed names


def test_both_servers_are_sources() -> None:
    biorxiv, medrxiv = preprint_sources()
    assert isinstance(biorxiv, Source) and isinstance(medrxiv, Source)
    assert (biorxiv.name, biorxiv.display_name) == ("biorxiv", "bioRxiv")
    assert (medrxiv.name, medrxiv.display_name) == ("medrxiv", "medRxiv")
    assert biorxiv.shared_web is medrxiv.shared_web  # one API host: one pace for both


@pytest.mark.parametrize(
    ("text", "name", "label"),
    [
        ("biorxiv", "biorxiv", "bioRxiv: all subjects"),
        ("bioRxiv", "biorxiv", "bioRxiv: all subjects"),
        (" BIORXIV:all ", "biorxiv", "bioRxiv: all subjects"),
        ("biorxiv:cancer_biology", "biorxiv:cancer_biology", "bioRxiv: Cancer Biology"),
        ("bioRxiv:Cancer Biology", "biorxiv:cancer_biology", "bioRxiv: Cancer Biology"),
        ("biorxiv: cancer-biology", "biorxiv:cancer_biology", "bioRxiv: Cancer Biology"),
        ("biorxiv:ANIMAL BEHAVIOR & COGNITION", "biorxiv:animal_behavior_and_cognition", None),
        ("medRxiv:HIV/AIDS", "medrxiv:hiv_aids", "medRxiv: HIV/AIDS"),
        ("medrxiv:Infectious Diseases (except HIV/AIDS)", "medrxiv:infectious_diseases", None),
        ("medrxiv:epidemiology", "medrxiv:epidemiology", "medRxiv: Epidemiology"),
    ],
)
def test_feed_names_in_any_spelling_resolve_to_one_canonical_name(text: str, name: str, label: str | None) -> None:
    source = MEDRXIV if name.startswith("medrxiv") else BIORXIV
    resolved = source.resolve_feed(text)
    assert resolved is not None and resolved.name == name and resolved.source == source.name
    if label is not None:
        assert resolved.label == label


@pytest.mark.parametrize("text", ["cs.LG", "hf", "math", "medrxiv:oncology", "medrxiv", "q-bio.NC", "bio", ""])
def test_other_sources_feeds_are_not_claimed(text: str) -> None:
    assert BIORXIV.resolve_feed(text) is None


@pytest.mark.parametrize(
    ("source", "text", "suggested"),
    [
        (BIORXIV, "biorxiv:bioinfomatics", "biorxiv:bioinformatics"),
        (BIORXIV, "biorxiv:cancer", "biorxiv:cancer_biology"),
        (BIORXIV, "biorxiv:neurosciences", "biorxiv:neuroscience"),
        (BIORXIV, "biorxiv:oncology", "medrxiv:oncology"),  # a medRxiv subject: say where it lives
        (MEDRXIV, "medrxiv:neuroscience", "biorxiv:neuroscience"),
        (MEDRXIV, "medrxiv:cardiology", "medrxiv:cardiovascular_medicine"),
        (BIORXIV, "biorxive:neuroscience", "biorxiv:neuroscience"),  # a misspelt server
        (MEDRXIV, "medarxiv", "medrxiv"),
    ],
)
def test_a_misspelt_subject_says_what_to_type_instead(source: PreprintSource, text: str, suggested: str) -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        source.resolve_feed(text)
    assert caught.value.suggestions[0] == suggested
    assert f"Did you mean {suggested}" in str(caught.value)


def test_an_unknown_subject_without_a_near_one_names_the_all_subjects_feed() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        BIORXIV.resolve_feed("biorxiv:" + "x<@U123>" * 20)
    message = str(caught.value)
    assert "<" not in message and "or biorxiv for every subject" in message and len(message) < 800
    assert "neuroscience, paleontology" in message  # the subjects that exist, not a web site to go and read


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_after_the_prefix_is_a_feed_or_a_typed_error(rest: str) -> None:
    try:
        resolved = BIORXIV.resolve_feed("biorxiv:" + rest)
    except UnknownCategoryError as err:
        assert all(s.startswith(("biorxiv", "medrxiv")) for s in err.suggestions)
    else:
        assert resolved is not None and resolved.name.startswith("biorxiv")


def test_every_shipped_subject_resolves_under_its_label_and_its_key() -> None:
    for source in (BIORXIV, MEDRXIV):
        feeds = [f for f in source.complete_feeds(source.name + ":", limit=100) if f.name != source.name]
        assert len(feeds) == (27 if source is BIORXIV else 51)
        for found in feeds:
            subject_label = found.label.split(": ", 1)[1]
            assert source.resolve_feed(found.name) == found
            assert source.resolve_feed(f"{source.display_name}:{subject_label}") == found


def test_autocomplete_offers_the_server_then_its_subjects() -> None:
    assert [f.name for f in BIORXIV.complete_feeds("")][:2] == ["biorxiv", "biorxiv:animal_behavior_and_cognition"]
    assert BIORXIV.complete_feeds("bio")[0].name == "biorxiv"
    assert [f.name for f in BIORXIV.complete_feeds("bioRxiv:Ca")] == ["biorxiv:cancer_biology"]
    assert [f.name for f in BIORXIV.complete_feeds("neuro")] == ["biorxiv:neuroscience"]
    assert [f.name for f in MEDRXIV.complete_feeds("medrxiv:health")][:2] == [
        "medrxiv:health_economics",
        "medrxiv:health_informatics",
    ]
    assert "medrxiv:occupational_and_environmental_health" in [f.name for f in MEDRXIV.complete_feeds("medrxiv:health")]
    assert BIORXIV.complete_feeds("medrxiv:") == ()
    assert len(MEDRXIV.complete_feeds("", limit=5)) == 5


def test_subject_keys_ignore_case_spaces_and_punctuation() -> None:
    assert subject_key(" Pharmacology and Toxicology ") == "pharmacology_and_toxicology"
    assert subject_key("Allergy & Immunology") == "allergy_and_immunology"
    assert subject_key("HIV/AIDS") == subject_key("hiv aids") == "hiv_aids"


# ---------------------------------------------------------------- calendar


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 7, 1, 0, 30, tzinfo=UTC), date(2026, 6, 30)),  # across a month end
        (datetime(2026, 7, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), date(2026, 6, 29)),  # still 30 June UTC
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2028, 3, 1, 9, 0, tzinfo=UTC), date(2028, 2, 29)),
        (datetime(2026, 3, 15, 9, 0, tzinfo=UTC), date(2026, 3, 14)),  # a Sunday: Saturday's posts are due
        (datetime(2026, 7, 1, 0, 30), date(2026, 6, 30)),  # naive: taken as UTC
    ],
)
def test_the_batch_due_is_yesterdays_in_utc(now: datetime, expected: date) -> None:
    assert BIORXIV.batch_day(now) == expected == MEDRXIV.batch_day(now)


def test_a_settle_hour_holds_yesterday_back_until_it_has_passed() -> None:
    source = PreprintSource("biorxiv", settle_hour_utc=6)
    assert source.batch_day(datetime(2026, 7, 1, 5, 59, tzinfo=UTC)) == date(2026, 6, 29)
    assert source.batch_day(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)) == date(2026, 6, 30)


def test_api_dates_are_read_as_dates() -> None:
    assert parse_api_date("2026-6-30") == date(2026, 6, 30)
    assert parse_api_date("2025-01-01") == date(2025, 1, 1)
    assert parse_api_date("2026-2-30") is None and parse_api_date("30/06/2026") is None
    assert parse_api_date("2026-6-9") < parse_api_date("2026-6-10")  # type: ignore[operator]  # as text: "9" > "1"


# ---------------------------------------------------------------- a day, paged


async def test_the_recorded_day_is_read_into_papers(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    api.add("biorxiv", recorded_items())
    batch = await biorxiv.fetch_batch(feed("biorxiv"), NEW_YEAR)
    assert (batch.feed, batch.day) == ("biorxiv", NEW_YEAR)
    first, second = batch.papers
    assert first.id == first.doi == "10.1101/2024.12.31.630767"
    assert (first.version, first.source, first.announce_type, first.announced) == (1, "biorxiv", "new", NEW_YEAR)
    assert first.title == "Persistent DNA methylation paper"
    assert first.authors == ("Gomez Cuautle, D. D.", "Rossi, A. R.")
    assert (first.categories, first.primary_category) == (("neuroscience",), "neuroscience")
    assert first.abstract.startswith("Epilepsy is a debilitating")
    assert first.published_doi is None  # "NA"
    assert second.published_doi == "10.1182/bloodadvances.2025016511"
    assert second.url == "https://www.biorxiv.org/content/10.1101/2024.12.31.629756v1"
    assert api.cursors("/details/biorxiv/2025-01-01/2025-01-01/") == [0]
    assert "paperbot/" in api.calls()[0].headers["user-agent"]


async def test_a_day_is_paged_by_what_each_page_holds(biorxiv: PreprintSource) -> None:
    with FakePreprintServer(page_sizes=(3, 2, 4)) as api:  # no size the client could assume
        items = month_end_day(api)
        source = PreprintSource("biorxiv", api.base_url, **FAST)
        try:
            batch = await source.fetch_batch(feed("biorxiv"), MONTH_END)
        finally:
            await source.aclose()
    # Every first version of the day, in the API's order; revisions (v2, v3) skipped.
    firsts = [i for i in items if str(i["version"]) == "1"]
    assert [p.id for p in batch.papers] == [i["doi"] for i in firsts]
    assert all(p.version == 1 and p.announced == MONTH_END for p in batch.papers)
    assert api.cursors("/details/biorxiv/2026-06-30/2026-06-30/") == [0, 3, 5, 9]  # 3, 2, 4 items, then 1


async def test_a_subject_feed_keeps_its_subject(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    month_end_day(api)
    batch = await biorxiv.fetch_batch(feed("bioRxiv:Cancer Biology"), MONTH_END)
    assert batch.feed == "biorxiv:cancer_biology"
    assert [p.title for p in batch.papers] == [f"Synthetic preprint {n} on {c}" for n, c in [
        (1, "cancer biology"), (4, "Cancer Biology"), (7, "cancer biology"), (10, "cancer biology")
    ]]  # fmt: skip
    assert batch.papers[1].published_doi == "10.1038/s41586-026-0001-x"


async def test_feeds_of_one_day_share_one_paging_pass(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    month_end_day(api)
    for name in ("biorxiv", "biorxiv:cancer_biology", "biorxiv:neuroscience", "biorxiv:zoology"):
        await biorxiv.fetch_batch(feed(name), MONTH_END)
    assert api.count("/details/biorxiv/2026-06-30") == 4  # 10 items, pages of 3: once, not four times


async def test_the_total_may_be_a_number_too(biorxiv: PreprintSource) -> None:
    with FakePreprintServer(total_as_string=False) as api:
        items = month_end_day(api)
        source = PreprintSource("biorxiv", api.base_url, **FAST)
        batch = await source.fetch_batch(feed("biorxiv"), MONTH_END)
        await source.aclose()
    assert len(batch.papers) == sum(1 for i in items if str(i["version"]) == "1")


async def test_an_overstated_total_ends_at_no_posts_found() -> None:
    # The real API's total has been seen to exceed what it serves; past the end it says "no posts found".
    with FakePreprintServer(total_extra=31) as api:
        month_end_day(api)
        source = PreprintSource("biorxiv", api.base_url, **FAST)
        batch = await source.fetch_batch(feed("biorxiv"), MONTH_END)
        await source.aclose()
    assert len(batch.papers) == 8
    assert api.cursors("/details/biorxiv/2026-06-30/") == [0, 3, 6, 9, 10]


async def test_a_day_with_nothing_posted_is_an_empty_batch(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    batch = await biorxiv.fetch_batch(feed("biorxiv:zoology"), date(2025, 12, 25))
    assert batch.papers == () and api.count() == 1


async def test_a_day_not_over_in_utc_is_refused_without_a_request(api: FakePreprintServer) -> None:
    clock = [datetime(2026, 6, 30, 23, 59, tzinfo=UTC)]
    biorxiv, medrxiv = preprint_sources(api.base_url, **FAST, now=lambda: clock[0])
    month_end_day(api)
    with pytest.raises(SourceError, match="still filling"):
        await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)
    assert api.count() == 0
    clock[0] = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)  # the day is over in UTC: its list is complete
    assert len((await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)).papers) == 8
    await biorxiv.aclose()
    await medrxiv.aclose()


async def test_throttling_is_waited_out(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    month_end_day(api)
    api.script("/details/biorxiv/2026-06-30/2026-06-30/3", (429, "", {"Retry-After": "0"}), (503,))
    batch = await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)
    assert len(batch.papers) == 8
    assert api.cursors("/details/biorxiv/2026-06-30/") == [0, 3, 3, 3, 6, 9]


async def test_a_storm_of_errors_is_reported_and_nothing_is_kept(
    api: FakePreprintServer, biorxiv: PreprintSource
) -> None:
    month_end_day(api)
    api.script("/details/biorxiv/2026-06-30/2026-06-30/6", (503,), (503,), (503,))
    with pytest.raises(SourceUnreachable, match="not answering"):
        await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)
    # Nothing was cached from the failed pass: the next try reads the whole day again.
    assert len((await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)).papers) == 8
    assert api.cursors("/details/biorxiv/2026-06-30/")[-4:] == [0, 3, 6, 9]


def page(count: int | str, total: int | str, items: Any, cursor: int = 0) -> dict[str, Any]:
    message = {"status": "ok", "cursor": cursor, "count": count, "total": total}
    return {"messages": [message], "collection": items}


ITEM = item(1, "2026-6-30", "ecology")
BAD_PAGES: dict[str, tuple[bytes | dict[str, Any], type[SourceError], str]] = {
    "count disagrees": (page(5, "10", [ITEM] * 3, 3), FeedFormatError, "count 5"),
    "wrong cursor": (page(3, "10", [ITEM] * 3, 0), FeedFormatError, "cursor 3"),
    "empty before total": (page(0, "10", [], 3), FeedFormatError, "empty page"),
    "no total": ({"messages": [{"status": "ok", "count": 0}], "collection": []}, FeedFormatError, "total"),
    "absurd total": (page(3, "99999999", [ITEM] * 3, 3), FeedFormatError, "total"),
    "error status": ({"messages": [{"status": "error: bad interval"}]}, ServiceMessageError, "error: bad interval"),
    "not json": (b"<html>busy</html>", FeedFormatError, "not JSON"),
    "a list": (b"[]", FeedFormatError, "not a JSON object"),
    "no messages": (b'{"collection": []}', FeedFormatError, "no messages"),
    "empty messages": (b'{"messages": [], "collection": []}', FeedFormatError, "no messages"),
    "collection not a list": (page(1, "1", "x", 3), FeedFormatError, "collection"),
    "invalid utf-8": (b'{"messages": [{"status": "\xff"}]}', FeedFormatError, "not JSON"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, FeedFormatError, "nested too deeply"),
    "huge": (b'{"x": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}', FeedFormatError, "larger than"),
    "truncated": (json.dumps(page(3, "10", [ITEM] * 3, 3)).encode()[:-40], FeedFormatError, "not JSON"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_PAGES)
async def test_a_bad_second_page_costs_the_whole_day_with_a_typed_error(
    api: FakePreprintServer, biorxiv: PreprintSource, case: str
) -> None:
    body, error, words = BAD_PAGES[case]
    month_end_day(api)
    api.script("/details/biorxiv/2026-06-30/2026-06-30/3", (200, body))
    with pytest.raises(error) as caught:
        await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)
    assert words in str(caught.value) and "bioRxiv" in str(caught.value)


async def test_pages_are_bounded() -> None:
    with FakePreprintServer(page_sizes=(1,)) as api:
        month_end_day(api)
        source = PreprintSource("biorxiv", api.base_url, **FAST, max_pages=4)
        with pytest.raises(FeedFormatError, match="more than 4 pages"):
            await source.fetch_batch(feed("biorxiv"), MONTH_END)
        await source.aclose()
    assert api.count() == 4


async def test_http_errors_are_typed(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    api.script("/details/biorxiv/2026-06-30", (400, "bad request"))
    with pytest.raises(SourceError, match="HTTP 400"):
        await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)


def test_hostile_text_in_items_is_made_safe() -> None:
    hostile = item(1, "2026-6-30", "neuro\u202escience")
    hostile["title"] = "A \ud800 lone surrogate and \x1b[31mred\x1b[0m text"
    hostile["authors"] = "Smith, J.;; ; Doe, \u200bA.;"
    body = json.dumps(page(1, "1", [hostile, "not an item", {"doi": "no doi", "version": "1"}]))
    parsed = parse_details(body.encode(), "biorxiv", "a test")
    (paper,) = parsed.papers
    assert parsed.received == 3
    paper.title.encode("utf-8")  # no lone surrogate left: storable and sendable
    assert "\x1b" not in paper.title and paper.primary_category == "neuroscience"
    assert paper.authors == ("Smith, J.", "Doe, A.")


# ---------------------------------------------------------------- references


REFS = {
    "10.1101/2024.12.31.630767": ("biorxiv", None, False),
    "10.1101/2024.12.31.630767v2": ("biorxiv", 2, False),
    "doi:10.1101/2024.12.31.630767": ("biorxiv", None, False),
    "DOI: 10.1101/2024.12.31.630767": ("biorxiv", None, False),
    "https://doi.org/10.1101/2024.12.31.630767": ("biorxiv", None, False),
    "http://dx.doi.org/10.1101/2024.12.31.630767": ("biorxiv", None, False),
    "doi.org/10.1101/2024.12.31.630767/": ("biorxiv", None, False),
    "https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1": ("biorxiv", 1, True),
    "https://www.biorxiv.org/content/10.1101/2024.12.31.630767v3.full": ("biorxiv", 3, True),
    "https://biorxiv.org/content/10.1101/2024.12.31.630767v1.full.pdf": ("biorxiv", 1, True),
    "https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1.abstract?versioned=true#sec-1": ("biorxiv", 1, True),
    "<https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1|a paper>": ("biorxiv", 1, True),
    "https://www.biorxiv.org/content/early/2025/01/01/2024.12.31.630767": ("biorxiv", None, True),
    "https://www.medrxiv.org/content/10.1101/2024.12.31.630767v2.full-text": ("medrxiv", 2, True),
    "www.medrxiv.org/content/10.1101/2024.12.31.630767": ("medrxiv", None, True),
}


@pytest.mark.parametrize("text", REFS)
def test_dois_and_links_are_understood(text: str) -> None:
    server, version, from_link = REFS[text]
    expected = PaperRef(server, "10.1101/2024.12.31.630767", version)
    assert parse_preprint_ref(text) == expected
    claimed = [s.parse_ref(text) for s in (BIORXIV, MEDRXIV)]
    # A link is claimed by its host's source; a bare DOI by bioRxiv only (fetch_paper tries both servers).
    owner = server if from_link else "biorxiv"
    assert claimed == [expected if s.name == owner else None for s in (BIORXIV, MEDRXIV)]


def test_old_six_digit_dois_are_understood() -> None:
    assert parse_preprint_ref("10.1101/006569v1") == PaperRef("biorxiv", "10.1101/006569", 1)


@pytest.mark.parametrize(
    "text",
    [
        "2401.12345",
        "https://arxiv.org/abs/2401.12345",
        "https://huggingface.co/papers/2401.12345",
        "10.1101/abc",
        "10.1038/nature12373",
        "10.1101/2024.12.31",
        "https://www.biorxiv.org/about",
        "https://evil.example/content/10.1101/2024.12.31.630767v1",
        "https://www.biorxiv.org.evil.example/content/10.1101/2024.12.31.630767v1",
        "",
        "10.1101/2024.12.31.630767 and more",
    ],
)
def test_anything_else_is_not_a_preprint_ref(text: str) -> None:
    assert parse_preprint_ref(text) is None
    assert BIORXIV.parse_ref(text) is None and MEDRXIV.parse_ref(text) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parsing_refs_never_raises(text: str) -> None:
    ref = parse_preprint_ref(text)
    assert ref is None or ref.key.startswith("10.1101/")


async def test_a_paper_is_fetched_at_its_latest_version(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    doi = "10.1101/2026.06.30.123456"
    api.add("biorxiv", [item(1, "2026-6-30", "ecology", doi=doi), item(1, "2026-7-14", "ecology", version=2, doi=doi)])
    paper = await biorxiv.fetch_paper(PaperRef("biorxiv", doi, 1))
    assert (paper.id, paper.version, paper.source, paper.announced) == (doi, 2, "biorxiv", MONTH_END)
    assert api.count() == 1


async def test_a_bare_doi_of_a_medrxiv_paper_is_found_on_medrxiv(
    api: FakePreprintServer, biorxiv: PreprintSource
) -> None:
    doi = "10.1101/2026.06.30.654321"
    api.add("medrxiv", [item(2, "2026-6-30", "epidemiology", doi=doi, server="medRxiv")])
    ref = biorxiv.parse_ref(f"doi:{doi}")
    assert ref is not None
    paper = await biorxiv.fetch_paper(ref)
    assert (paper.source, paper.url) == ("medrxiv", f"https://www.medrxiv.org/content/{doi}v1")
    assert [c.path for c in api.calls()] == [f"/details/biorxiv/{doi}", f"/details/medrxiv/{doi}"]


async def test_an_unknown_doi_is_not_found(api: FakePreprintServer, biorxiv: PreprintSource) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        await biorxiv.fetch_paper(PaperRef("biorxiv", "10.1101/2026.06.30.000001"))
    with pytest.raises(BadIdError):
        await biorxiv.fetch_paper(PaperRef("biorxiv", "not a doi"))
    assert api.count() == 2  # both servers asked for the well-formed DOI, nobody for the other


# ---------------------------------------------------------------- politeness


async def test_both_servers_keep_one_pace_and_close_once(api: FakePreprintServer) -> None:
    month_end_day(api)
    api.add("medrxiv", [item(5, "2026-6-30", "epidemiology", server="medRxiv")])
    biorxiv, medrxiv = preprint_sources(api.base_url, **{**FAST, "min_interval_s": 0.05})
    started = time.monotonic()
    await biorxiv.fetch_batch(feed("biorxiv"), MONTH_END)
    await medrxiv.fetch_batch(feed("medrxiv"), MONTH_END)
    assert time.monotonic() - started >= 4 * 0.05  # five requests, spaced by one clock
    await biorxiv.aclose()
    await biorxiv.aclose()  # twice is harmless and does not close medRxiv's side
    assert len((await medrxiv.fetch_batch(feed("medrxiv"), date(2026, 7, 1))).papers) == 0
    await medrxiv.aclose()
    assert medrxiv.shared_web.web.http.is_closed


def test_the_recorded_file_is_what_the_fake_serves() -> None:
    recorded = recorded_answer()
    assert recorded["messages"][0]["total"] == "57" and len(recorded["collection"]) == 2
