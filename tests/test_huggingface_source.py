"""HuggingFaceSource with real httpx (through PoliteHttp) against the fake Hugging Face API and its
recorded answers: the calendar of lists that grow during the day, paging, ranking, floors, typed errors
for every bad answer, links people paste and the feed names."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import PROJECT_URL
from bot.errors import (
    BadIdError,
    ConfigError,
    FeedFormatError,
    NotFoundError,
    SourceError,
    SourceUnreachable,
    UnknownCategoryError,
    UsageError,
)
from bot.sources.base import Batch, FeedName, PaperRef, Source
from bot.sources.huggingface import (
    FEED,
    MAX_BODY_BYTES,
    HuggingFaceSource,
    above_floor,
    parse_daily_page,
    parse_hf_ref,
    parse_min_upvotes,
    settled_day,
    with_min_upvotes,
)
from tests.fakes.huggingface_server import (
    RECORDED_DAY,
    FakeHuggingFaceServer,
    many_daily_papers,
    recorded_daily_papers,
    recorded_paper_object,
)

T = TypeVar("T")

DAY = date(2024, 10, 25)  # the recorded list
SETTLED = datetime(2024, 10, 26, 6, 0, tzinfo=UTC)  # the first moment the list of DAY is due
RECORDED_UPVOTES = [64, 41, 37, 35, 28, 27, 17, 14, 12, 11, 11, 11, 10, 9, 9, 8, 7, 7, 6, 6, 5, 5, 5, 4, 3, 3, 2, 2, 2]

FAST: dict[str, Any] = {"min_interval_s": 0.0, "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01}


@pytest.fixture
def hf() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        yield server


def with_source(server: FakeHuggingFaceServer, use: Callable[[HuggingFaceSource], Awaitable[T]], **options: Any) -> T:
    """Run ``use`` with a source that owns its httpx client (the production set-up), then close it."""
    settings: dict[str, Any] = {**FAST, "now": lambda: SETTLED, **options}

    async def main() -> T:
        async with HuggingFaceSource(server.api_url, **settings) as source:
            return await use(source)

    return asyncio.run(main())


def fetch_day(server: FakeHuggingFaceServer, day: date = DAY, **options: Any) -> Batch:
    return with_source(server, lambda s: s.fetch_batch(FEED, day), **options)


def day_of(day: date) -> str:
    return day.isoformat()


# ---------------------------------------------------------------- the recorded day


def test_recorded_day_becomes_ranked_papers_with_hugging_face_fields(hf: FakeHuggingFaceServer) -> None:
    batch = fetch_day(hf)
    assert (batch.feed, batch.day) == ("hf", DAY)
    assert len(batch.papers) == 29
    assert [p.upvotes for p in batch.papers] == RECORDED_UPVOTES
    first = batch.papers[0]
    assert first.id == "2410.17243" and first.version == 1
    assert first.title == "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    assert first.authors[:2] == ("Zesen Cheng", "Hang Zhang") and len(first.authors) == 9
    assert first.abstract.startswith("Contrastive loss is a powerful approach") and "\n" not in first.abstract
    assert (first.upvotes, first.num_comments) == (64, 3)
    assert (first.github_url, first.project_url) == (None, None)  # the 2024 answer has neither
    assert first.source == "huggingface" and first.announced == DAY
    assert first.categories == () and first.primary_category == ""
    assert first.url == "https://arxiv.org/abs/2410.17243"  # the canonical key is the arXiv id
    (call,) = hf.calls("/api/daily_papers")
    assert call.query == {"date": [RECORDED_DAY], "limit": ["100"], "p": ["0"]}
    assert "paperbot" in call.headers["user-agent"] and PROJECT_URL in call.headers["user-agent"]


def test_every_paper_is_clean_json_ready_text(hf: FakeHuggingFaceServer) -> None:
    for paper in fetch_day(hf).papers:
        json.dumps(paper.to_json()).encode("utf-8")
        assert paper.title and "  " not in paper.title and "\n" not in paper.title
        assert paper.to_json()["source"] == "huggingface"


def test_ties_keep_hugging_faces_order_and_a_shuffled_list_is_ranked(hf: FakeHuggingFaceServer) -> None:
    items = recorded_daily_papers()
    hf.set_day(RECORDED_DAY, list(reversed(items)))
    papers = fetch_day(hf).papers
    assert [p.upvotes for p in papers] == RECORDED_UPVOTES
    # Three papers have 11 upvotes; reversed upstream, so reversed among themselves (a stable sort).
    elevens = [p.id for p in papers if p.upvotes == 11]
    assert elevens == ["2410.18451", "2410.18977", "2410.18538"]


def test_a_day_without_papers_is_an_empty_batch(hf: FakeHuggingFaceServer) -> None:
    batch = fetch_day(hf, date(2024, 10, 26), now=lambda: SETTLED + timedelta(days=1))
    assert batch.papers == () and batch.day == date(2024, 10, 26)


# ---------------------------------------------------------------- paging


def test_pages_until_a_short_page(hf: FakeHuggingFaceServer) -> None:
    papers = fetch_day(hf, page_size=10).papers
    assert len(papers) == 29 and len({p.id for p in papers}) == 29
    assert [call.query["p"] for call in hf.calls("/api/daily_papers")] == [["0"], ["1"], ["2"]]
    assert {call.query["limit"][0] for call in hf.calls("/api/daily_papers")} == {"10"}


def test_a_full_last_page_is_confirmed_by_an_empty_one(hf: FakeHuggingFaceServer) -> None:
    assert len(fetch_day(hf, page_size=29).papers) == 29
    assert hf.count("/api/daily_papers") == 2


def test_a_service_that_ignores_paging_is_read_once_more_then_trusted() -> None:
    with FakeHuggingFaceServer(ignore_paging=True) as hf:
        papers = fetch_day(hf, page_size=10).papers
        assert len(papers) == 29
        assert hf.count("/api/daily_papers") == 2  # the second page was all repeats: nothing more to ask


def test_paging_is_bounded_and_never_returns_part_of_the_day(hf: FakeHuggingFaceServer) -> None:
    hf.set_day(RECORDED_DAY, many_daily_papers(60))
    with pytest.raises(FeedFormatError, match="pages") as err:
        fetch_day(hf, page_size=10, max_pages=3)
    assert hf.count("/api/daily_papers") == 3
    assert "Hugging Face" in str(err.value)
    assert len(fetch_day(hf, page_size=10, max_pages=7).papers) == 60


def test_a_bad_later_page_fails_the_whole_day(hf: FakeHuggingFaceServer) -> None:
    hf.script("/api/daily_papers", (200, json.dumps(recorded_daily_papers()[:10])), (200, '[{"paper": {'))
    with pytest.raises(FeedFormatError, match="invalid JSON"):
        fetch_day(hf, page_size=10)


# ---------------------------------------------------------------- floors


def test_configured_floor_keeps_papers_at_or_above_it(hf: FakeHuggingFaceServer) -> None:
    papers = fetch_day(hf, min_upvotes=10).papers
    assert [p.upvotes for p in papers] == [u for u in RECORDED_UPVOTES if u >= 10]
    assert len(papers) == 13


def test_subscription_floor_on_a_shared_batch(hf: FakeHuggingFaceServer) -> None:
    batch = fetch_day(hf)
    assert [p.upvotes for p in with_min_upvotes(batch, parse_min_upvotes("min:30")).papers] == [64, 41, 37, 35]
    assert with_min_upvotes(batch, 0) == batch
    assert above_floor(batch.papers, 1000) == ()


@pytest.mark.parametrize(("text", "floor"), [("min:10", 10), ("MIN:0", 0), (" min: 7 ", 7), ("min:1000000", 10**6)])
def test_parse_min_upvotes(text: str, floor: int) -> None:
    assert parse_min_upvotes(text) == floor


@pytest.mark.parametrize("text", ["min:", "min:-1", "min:1.5", "min:ten", "10", "max:10", "min:١٠", "min:10000000"])
def test_parse_min_upvotes_rejects_with_what_to_type(text: str) -> None:
    with pytest.raises(UsageError, match="min:10"):
        parse_min_upvotes(text)


@pytest.mark.parametrize(
    ("options", "key"),
    [({"min_upvotes": -1}, "min_upvotes"), ({"min_upvotes": True}, "min_upvotes"), ({"settle_hour_utc": 24}, "settle")],
)
def test_bad_settings_fail_at_start_naming_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        HuggingFaceSource(**options)


# ---------------------------------------------------------------- calendar: lists grow during the day


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2024, 10, 26, 5, 59, tzinfo=UTC), date(2024, 10, 24)),
        (datetime(2024, 10, 26, 6, 0, tzinfo=UTC), date(2024, 10, 25)),
        (datetime(2024, 10, 26, 23, 59, tzinfo=UTC), date(2024, 10, 25)),
        (datetime(2024, 10, 25, 0, 0, tzinfo=UTC), date(2024, 10, 23)),
        # 07:30 in UTC+2 is 05:30 UTC: not yet settled
        (datetime(2024, 10, 26, 7, 30, tzinfo=timezone(timedelta(hours=2))), date(2024, 10, 24)),
        (datetime(2025, 1, 1, 6, 0, tzinfo=UTC), date(2024, 12, 31)),
    ],
)
def test_batch_day_is_the_latest_settled_day(now: datetime, due: date) -> None:
    assert HuggingFaceSource().batch_day(now) == due


def test_settle_hour_is_configurable() -> None:
    source = HuggingFaceSource(settle_hour_utc=0)
    assert source.batch_day(datetime(2024, 10, 26, 0, 0, tzinfo=UTC)) == date(2024, 10, 25)
    assert source.batch_day(datetime(2024, 10, 25, 23, 59, tzinfo=UTC)) == date(2024, 10, 24)


def test_batch_day_needs_an_aware_clock() -> None:
    with pytest.raises(ValueError, match="aware"):
        HuggingFaceSource().batch_day(datetime(2024, 10, 26, 7, 0))


@given(
    now=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
    hour=st.integers(0, 23),
)
def test_batch_day_is_never_today_and_always_settled(now: datetime, hour: int) -> None:
    due = settled_day(now, hour)
    assert due < now.date()
    settles = datetime(due.year, due.month, due.day, hour, tzinfo=UTC) + timedelta(days=1)
    assert settles <= now < settles + timedelta(days=1)  # settled, and the next day is not yet


def test_an_early_refresh_holding_one_paper_is_not_the_days_batch(hf: FakeHuggingFaceServer) -> None:
    """The list of 2024-10-25 at 09:00 UTC that day holds one paper; the day's batch comes the next morning."""
    items = recorded_daily_papers()
    hf.set_day(RECORDED_DAY, items[:1])
    clock = {"now": datetime(2024, 10, 25, 9, 0, tzinfo=UTC)}

    async def use(source: HuggingFaceSource) -> tuple[list[date | None], Batch]:
        seen = [source.batch_day(clock["now"])]
        with pytest.raises(SourceError, match="still filling"):
            await source.fetch_batch(FEED, DAY)  # asked anyway: refused, nothing fetched
        assert hf.count() == 0
        hf.set_day(RECORDED_DAY, items[:12])
        clock["now"] = datetime(2024, 10, 26, 5, 0, tzinfo=UTC)  # next morning, before it settles
        seen.append(source.batch_day(clock["now"]))
        hf.set_day(RECORDED_DAY, items)
        clock["now"] = datetime(2024, 10, 26, 6, 30, tzinfo=UTC)
        seen.append(source.batch_day(clock["now"]))
        return seen, await source.fetch_batch(FEED, DAY)

    seen, batch = with_source(hf, use, now=lambda: clock["now"])
    assert seen == [date(2024, 10, 24), date(2024, 10, 24), DAY]
    assert len(batch.papers) == 29


# ---------------------------------------------------------------- bad answers: typed, nothing partial


def entry_without(field: str) -> dict[str, Any]:
    entry = recorded_daily_papers()[0]
    del entry["paper"][field]
    return entry


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ('{"papers": []}', FeedFormatError, "JSON object instead of a list"),
        ('"2410.17243"', FeedFormatError, "JSON string instead of a list"),
        ("null", FeedFormatError, "JSON null instead of a list"),
        ('[1, "x", null, []]', FeedFormatError, "none of its 4 entries"),
        (json.dumps([{"title": "no paper object"}, {"paper": "2410.17243"}]), FeedFormatError, "none of its 2"),
        (json.dumps([entry_without("id")] * 3), FeedFormatError, "none of its 3"),
        (json.dumps([{"paper": {"id": "2410.99999x", "title": "T"}}]), FeedFormatError, "none of its 1"),
        ('{"error": "Invalid date <@U123> @everyone"}', SourceError, "answered with an error"),
        (json.dumps(recorded_daily_papers())[:5000], FeedFormatError, "invalid JSON"),
        ("<!DOCTYPE html><html><body>Service Unavailable</body></html>", FeedFormatError, "a web page"),
        ("", FeedFormatError, "empty"),
        ("[" * 100_000 + "]" * 100_000, FeedFormatError, "nested too deeply"),
        (b'[{"paper": {"id": "2410.17243", "title": "\xff\xfe"}}]', FeedFormatError, "invalid JSON"),
        ('[{"paper": {"id": "2410.17243", "title": "T", "upvotes": 1' + "0" * 5000 + "}}]", FeedFormatError, "JSON"),
    ],
)
def test_bad_answers_are_typed_errors(
    hf: FakeHuggingFaceServer, body: str | bytes, error: type[SourceError], words: str
) -> None:
    hf.set_day_body(RECORDED_DAY, body)
    with pytest.raises(error, match=words) as err:
        fetch_day(hf)
    message = str(err.value)
    assert message.startswith("Hugging Face") and "2024-10-25" in message
    assert "@everyone" not in message and "<@" not in message  # the service's own words stay in the log


def test_a_huge_answer_is_refused(hf: FakeHuggingFaceServer) -> None:
    filler = json.dumps([{"paper": {"id": "2410.17243", "title": "x" * 1000}}] * (MAX_BODY_BYTES // 1000 + 10))
    hf.set_day_body(RECORDED_DAY, filler)
    with pytest.raises(FeedFormatError, match="larger than 8 MB"):
        fetch_day(hf)


def test_error_status_is_a_source_error(hf: FakeHuggingFaceServer) -> None:
    hf.set_day_body(RECORDED_DAY, '{"error": "Invalid date"}', status=400)
    with pytest.raises(SourceError, match="HTTP 400"):
        fetch_day(hf)


def test_single_bad_entries_are_skipped_and_logged_once(
    hf: FakeHuggingFaceServer, caplog: pytest.LogCaptureFixture
) -> None:
    items: list[Any] = recorded_daily_papers()[:3]
    broken = recorded_daily_papers()[3:]
    for entry in broken:
        entry["paper"]["id"] = "not an id"
    hf.set_day(RECORDED_DAY, [None, *items, "x", *broken, {"paper": {"id": "2410.11111"}}])
    with caplog.at_level(logging.WARNING, logger="bot.sources.huggingface"):
        papers = fetch_day(hf).papers
    assert [p.id for p in papers] == ["2410.17243", "2410.16251", "2410.18533"]
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert "skipped 29 of 32 entries" in record.getMessage()


def test_lone_surrogates_and_controls_are_scrubbed(hf: FakeHuggingFaceServer) -> None:
    body = (
        '[{"paper": {"id": "2410.17243", "title": "Lone \\ud800 surrogate\\u202e",'
        ' "summary": "An \\udfff abstract\\u001b[31m", "authors": [{"name": "A\\ud83d"}], "upvotes": 3}}]'
    )
    hf.set_day_body(RECORDED_DAY, body)
    (paper,) = fetch_day(hf).papers
    for text in (paper.title, paper.abstract, paper.abstract_tex, *paper.authors):
        text.encode("utf-8")  # would raise on a lone surrogate
        assert "\u202e" not in text and "\x1b" not in text
    assert paper.title.startswith("Lone") and paper.title.endswith("surrogate")


def test_odd_field_values_become_unknown_not_errors(hf: FakeHuggingFaceServer) -> None:
    entry = recorded_daily_papers()[0]
    entry["paper"].update(upvotes=True, authors="Zesen Cheng", summary=None)
    entry["numComments"] = -3
    other = recorded_daily_papers()[1]
    other["paper"].update(upvotes=2.5, title=None)  # falls back to the entry's own title
    other["title"] = "The entry's $\\alpha$ title"
    hf.set_day(RECORDED_DAY, [entry, other])
    first, second = fetch_day(hf).papers
    assert (first.upvotes, first.num_comments, first.authors, first.abstract) == (None, None, (), "")
    assert second.upvotes is None and second.title == "The entry's α title"


# ---------------------------------------------------------------- politeness


def test_429_with_retry_after_then_success(hf: FakeHuggingFaceServer) -> None:
    hf.script("/api/daily_papers", (429, "", {"Retry-After": "0"}), (503,))
    assert len(fetch_day(hf).papers) == 29
    assert hf.count("/api/daily_papers") == 3


def test_a_storm_of_429s_is_unreachable(hf: FakeHuggingFaceServer) -> None:
    hf.script("/api/daily_papers", *[(429, "", {"Retry-After": "0"})] * 5)
    with pytest.raises(SourceUnreachable, match="Hugging Face is not answering"):
        fetch_day(hf)
    assert hf.count("/api/daily_papers") == 3  # retries=2


# ---------------------------------------------------------------- one paper


def test_fetch_paper_reads_the_newer_paper_object(hf: FakeHuggingFaceServer) -> None:
    paper = with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "2509.04664")))
    assert (paper.id, paper.title, paper.upvotes) == ("2509.04664", "Why Language Models Hallucinate", 26)
    assert paper.authors == ("Adam Tauman Kalai", "Ofir Nachum", "Santosh S. Vempala", "Edwin Zhang")
    assert paper.source == "huggingface" and paper.announced is None
    assert paper.abstract.startswith("Like students facing hard exam questions")


def test_fetch_paper_keeps_safe_code_and_project_links(hf: FakeHuggingFaceServer) -> None:
    paper = recorded_paper_object()
    paper.update(githubRepo="https://github.com/openai/hallucination", projectPage="https://example.org/p")
    paper["numComments"] = 4
    hf.set_paper("2509.04664", paper)
    got = with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "2509.04664v2")))
    assert got.github_url == "https://github.com/openai/hallucination"
    assert got.project_url == "https://example.org/p"
    assert got.num_comments == 4
    assert hf.calls("/api/papers")[0].path == "/api/papers/2509.04664"


@pytest.mark.parametrize(
    ("github", "project"),
    [
        ("http://github.com/a/b", "http://example.org"),
        ("https://gitlab.com/a/b", "javascript:alert(1)"),
        ("https://github.com/", "https://user@evil.example/"),
        ("https://github.com.evil.example/a/b", "https://exa mple.org"),
        ("https://github.com/a/b\u202e", "https://example.org/\u200b"),
        ("https://github.com@evil.example/a/b", "https://éxample.org"),
        (["https://github.com/a/b"], 42),
        ("github.com/a/b", "//example.org"),
    ],
)
def test_unsafe_or_odd_links_are_dropped(hf: FakeHuggingFaceServer, github: Any, project: Any) -> None:
    paper = recorded_paper_object()
    paper.update(githubRepo=github, projectPage=project)
    hf.set_paper("2509.04664", paper)
    got = with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "2509.04664")))
    assert (got.github_url, got.project_url) == (None, None)


def test_fetch_paper_not_found_and_bad_ids(hf: FakeHuggingFaceServer) -> None:
    with pytest.raises(NotFoundError, match="not found on Hugging Face"):
        with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "2401.00001")))
    with pytest.raises(BadIdError):
        with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "not-an-id")))
    assert hf.count("/api/papers") == 1  # the bad id never reached the service


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"error": "Paper not found"}', "answered with an error"),
        ('[{"id": "2509.04664"}]', "JSON list instead of a paper"),
        ('{"id": "2509.04664"}', "no title"),
        ('{"id": "2410.17243", "title": "Another paper"}', "describes paper 2410.17243"),
        ("{", "invalid JSON"),
    ],
)
def test_fetch_paper_bad_answers(hf: FakeHuggingFaceServer, body: str, words: str) -> None:
    hf.set_paper("2509.04664", body)
    with pytest.raises(SourceError, match=words):
        with_source(hf, lambda s: s.fetch_paper(PaperRef("huggingface", "2509.04664")))


# ---------------------------------------------------------------- links people paste


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("https://huggingface.co/papers/2410.17243", PaperRef("huggingface", "2410.17243")),
        ("https://www.huggingface.co/papers/2410.17243/", PaperRef("huggingface", "2410.17243")),
        ("http://huggingface.co/papers/2410.17243?utm=x#community", PaperRef("huggingface", "2410.17243")),
        ("huggingface.co/papers/2410.17243", PaperRef("huggingface", "2410.17243")),
        ("HTTPS://HuggingFace.co/papers/2509.04664v2", PaperRef("huggingface", "2509.04664", 2)),
        ("https://hf.co/papers/2410.17243", PaperRef("huggingface", "2410.17243")),
        (
            "<https://huggingface.co/papers/2410.17243|Breaking the Memory Barrier>",
            PaperRef("huggingface", "2410.17243"),
        ),
        ("  https://huggingface.co/papers/0704.0001  ", PaperRef("huggingface", "0704.0001")),
    ],
)
def test_parse_ref_reads_paper_links(text: str, ref: PaperRef) -> None:
    assert parse_hf_ref(text) == ref
    assert HuggingFaceSource().parse_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "2410.17243",
        "arXiv:2410.17243",
        "https://arxiv.org/abs/2410.17243",
        "https://huggingface.co/papers",
        "https://huggingface.co/papers?date=2024-10-25",
        "https://huggingface.co/papers/date/2024-10-25",
        "https://huggingface.co/papers/2410.17243/discussion",
        "https://huggingface.co/papers/2413.17243",  # month 13
        "https://huggingface.co/papers/1412.12345",  # 5 digits before 2015
        "https://huggingface.co.evil.example/papers/2410.17243",
        "https://evil.example/huggingface.co/papers/2410.17243",
        "ftp://huggingface.co/papers/2410.17243",
        "https://[huggingface.co/papers/2410.17243",
        "https://huggingface.co/papers/" + "1" * 500,
        "",
    ],
)
def test_parse_ref_leaves_everything_else(text: str) -> None:
    assert parse_hf_ref(text) is None


# ---------------------------------------------------------------- feed names and the protocol


@pytest.mark.parametrize("text", ["hf", "HF", " huggingface ", "HuggingFace", "hf-daily", "HF-Daily"])
def test_feed_names_and_aliases(text: str) -> None:
    assert HuggingFaceSource().resolve_feed(text) == FeedName("huggingface", "hf", "Hugging Face Daily Papers")


@pytest.mark.parametrize("text", ["hf-daly", "hugging-face", "huggingfase", "hf:trending", "hugingface"])
def test_misspelt_feeds_suggest_hf(text: str) -> None:
    with pytest.raises(UnknownCategoryError, match='"hf"') as err:
        HuggingFaceSource().resolve_feed(text)
    assert err.value.suggestions == ("hf",)


@pytest.mark.parametrize("text", ["cs.LG", "hep-th", "biorxiv", "medrxiv:epidemiology", "", "math", "stat.ML"])
def test_other_feeds_are_not_hugging_faces(text: str) -> None:
    assert HuggingFaceSource().resolve_feed(text) is None


def test_complete_feeds() -> None:
    source = HuggingFaceSource()
    assert list(source.complete_feeds("")) == [FEED]
    assert list(source.complete_feeds("H")) == [FEED]
    assert list(source.complete_feeds("hugg")) == [FEED]
    assert list(source.complete_feeds("cs.")) == []
    assert list(source.complete_feeds("hf", limit=0)) == []


def test_fetch_batch_refuses_another_sources_feed() -> None:
    async def use() -> None:
        async with HuggingFaceSource(**FAST) as source:
            await source.fetch_batch(FeedName("arxiv", "cs.LG", "Machine Learning"), DAY)

    with pytest.raises(ValueError, match="not a Hugging Face feed"):
        asyncio.run(use())


def test_conforms_to_the_source_protocol() -> None:
    source = HuggingFaceSource()
    assert isinstance(source, Source)
    assert (source.name, source.display_name) == ("huggingface", "Hugging Face")


def test_parse_daily_page_is_pure_and_counts_entries() -> None:
    data = json.dumps(recorded_daily_papers()).encode("utf-8")
    page = parse_daily_page(data, DAY)
    assert page.entries == 29 and len(page.papers) == 29
    assert page.papers[0].id == "2410.17243"  # Hugging Face's order, before ranking
