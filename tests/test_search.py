"""Search end to end: stored papers first, then arXiv's export API and Hugging Face's paper search (the fake
servers on 127.0.0.1, real httpx), merged by paper identity and stored; an upstream failure or a hung
service costs only its own results; `/paper search` and `paperbot search`."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.commands import Invocation, execute
from bot.engine import Engine
from bot.errors import FeedFormatError, SourceError, UsageError
from bot.models import ChannelRef
from bot.search import search
from bot.search_commands import SEARCH_COMMAND, read_search_request
from bot.sources.arxiv import ArxivClient, parse_rss, search_expression
from bot.sources.huggingface import parse_search_page
from bot.store import Store
from tests.fakes import HANG, FakeArxivServer
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.support import FEED_MORNING, STAT_FEED, make_config

ROOT = Path(__file__).parent.parent
CHANNEL = ChannelRef("test", "w", "c")
TESTING_IDS = [  # the recorded arXiv search page for "testing", in arXiv's order
    "2202.12139", "2405.13786", "2005.14124", "2204.08348", "2302.03287",
    "1202.4527", "2503.05378", "1205.1866", "2502.07719", "1812.11470",
]  # fmt: skip


@pytest.fixture
def hf() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        yield server


def make_engine(arxiv: FakeArxivServer, hf: FakeHuggingFaceServer, *, deadline_s: float = 5.0) -> Engine:
    store = Store(":memory:")
    store.migrate()
    store.save_feed(parse_rss(STAT_FEED, ["stat"]))
    client = ArxivClient(arxiv.rss_url, arxiv.api_url, min_interval_s=0, retries=0, timeout_s=10)
    config = make_config(**{"sources.huggingface": {"api_url": hf.api_url}})
    return Engine(config, store, client, now=lambda: FEED_MORNING, interactive_deadline_s=deadline_s)


def hf_entry(arxiv_id: str, title: str, *, upvotes: int = 7, wrapped: bool = True) -> dict[str, Any]:
    entry = copy.deepcopy(recorded_daily_papers()[0])
    entry["paper"].update(id=arxiv_id, title=title, summary=f"{title}. A study of software testing.", upvotes=upvotes)
    entry["title"] = title
    return entry if wrapped else entry["paper"]


def run(engine: Engine, query: str, **options: Any) -> Any:
    async def main() -> Any:
        try:
            return await search(engine, query, **options)
        finally:
            await engine.aclose()

    return asyncio.run(main())


# --- merging ---------------------------------------------------------------------------------------


def test_upstream_results_are_merged_by_identity_stored_and_found_locally_next_time(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer
) -> None:
    # Hugging Face knows one paper arXiv also returns (with its upvotes) and one arXiv did not return.
    hf.set_search(
        "testing",
        [hf_entry("2202.12139", "Testing deep learning models"), hf_entry("2501.09999", "Testing robots", upvotes=40)],
    )
    engine = make_engine(arxiv_server, hf)

    async def twice() -> tuple[Any, Any]:
        try:
            first = await search(engine, "testing", limit=50)
            second = await search(engine, "testing", limit=50)
            return first, second
        finally:
            await engine.aclose()

    first, second = asyncio.run(twice())
    found = [p.id for p in first.papers]
    assert len(found) == len(set(found))  # one paper, once
    assert set(TESTING_IDS) | {"2501.09999"} <= set(found)
    shared = next(p for p in first.papers if p.id == "2202.12139")
    # arXiv's record (categories, its title) with what Hugging Face adds (upvotes).
    assert shared.source == "arxiv" and shared.categories and shared.upvotes == 7
    assert first.asked == ("arXiv", "Hugging Face") and first.notes == ()
    scores = [hit.score for hit in first.hits]
    assert scores == sorted(scores, reverse=True)
    # Asked once: the second search is answered from the store, identically.
    assert arxiv_server.count("/api/query") == 1 and hf.count("/api/papers/search") == 1
    assert second.asked == () and [p.id for p in second.papers] == found
    query = arxiv_server.calls("/api/query")[0].query
    assert query["search_query"] == ["all:testing"] and query["sortBy"] == ["relevance"]


def test_local_results_come_first_and_pages_continue(arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer) -> None:
    engine = make_engine(arxiv_server, hf)

    async def pages() -> list[Any]:
        try:
            return [await search(engine, "conformal prediction", limit=2, page=n) for n in (1, 2, 3)]
        finally:
            await engine.aclose()

    one, two, three = asyncio.run(pages())
    assert {p.id for p in one.papers} <= {"2403.03868", "2403.15527", "2403.16871"}
    assert one.has_more and two.has_more
    seen = [p.id for r in (one, two, three) for p in r.papers]
    assert len(seen) == len(set(seen))
    assert arxiv_server.count("/api/query") == 1  # later pages do not ask again


# --- failures and the deadline ---------------------------------------------------------------------


def test_an_upstream_failure_still_answers_with_stored_papers_and_a_note(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer
) -> None:
    arxiv_server.script("/api/query", (503,))
    hf.script("/api/papers/search", (200, "<html>down</html>"))
    result = run(make_engine(arxiv_server, hf), "conformal prediction")
    assert result.papers and result.papers[0].id in {"2403.03868", "2403.15527"}
    assert len(result.notes) == 2
    assert "arXiv search failed" in result.notes[0] and "Hugging Face search failed" in result.notes[1]


def test_a_hung_service_is_cut_at_the_deadline(hf: FakeHuggingFaceServer) -> None:
    with FakeArxivServer(hang_s=20) as slow:
        slow.script("/api/query", HANG)
        engine = make_engine(slow, hf, deadline_s=1.0)
        result = run(engine, "conformal prediction")
        asked = slow.count("/api/query")
    assert result.papers  # the stored ones
    # Cut by the deadline (its wording), while the one silent request was still open: no retry, no 20 s wait.
    assert result.notes == ("arXiv did not answer within 1 s: its results are not included.",)
    assert asked == 1
    assert result.asked == ("arXiv", "Hugging Face")


def test_only_the_service_that_failed_is_asked_again_next_time(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer
) -> None:
    arxiv_server.script("/api/query", (503,))
    engine = make_engine(arxiv_server, hf)

    async def twice() -> tuple[Any, Any]:
        try:
            return await search(engine, "testing"), await search(engine, "testing", limit=50)
        finally:
            await engine.aclose()

    first, second = asyncio.run(twice())
    assert first.asked == ("arXiv", "Hugging Face") and len(first.notes) == 1
    assert second.asked == ("arXiv",) and second.notes == ()
    assert arxiv_server.count("/api/query") == 2 and hf.count("/api/papers/search") == 1
    assert set(TESTING_IDS) <= {p.id for p in second.papers}  # what arXiv answered the second time


@pytest.mark.parametrize(
    ("feed", "arxiv_asked", "hf_asked"),
    [("stat.ML", True, False), ("hf", False, True), ("biorxiv", False, False), (None, True, True)],
)
def test_a_feed_asks_only_its_own_source(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer, feed: str | None, arxiv_asked: bool, hf_asked: bool
) -> None:
    run(make_engine(arxiv_server, hf), "testing", feed=feed)
    assert arxiv_server.count("/api/query") == int(arxiv_asked)
    assert hf.count("/api/papers/search") == int(hf_asked)
    if feed == "stat.ML":
        assert arxiv_server.calls("/api/query")[0].query["search_query"] == ["all:testing AND cat:stat.ML"]


def test_bad_input_is_a_usage_error_before_any_request(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer
) -> None:
    for query, options in [("the of", {}), ('"*"', {}), ("x" * 10_000, {}), ("testing", {"page": 99})]:
        with pytest.raises(UsageError):
            run(make_engine(arxiv_server, hf), query, **options)
    assert arxiv_server.count() == 0 and hf.count() == 0


# --- what each service sends -----------------------------------------------------------------------


def test_hugging_face_search_pages_of_either_shape() -> None:
    wrapped = hf_entry("2501.00001", "Wrapped entry")
    bare = hf_entry("2501.00002", "Bare paper object", wrapped=False)
    junk: list[Any] = [None, 3, "x", {"paper": {"id": "not an id"}}, {"id": "2501.00003"}]  # the last has no title
    papers = parse_search_page(json.dumps([wrapped, bare, *junk, wrapped]).encode(), "q")
    assert [p.id for p in papers] == ["2501.00001", "2501.00002"]
    assert all(p.source == "huggingface" and p.upvotes == 7 for p in papers)
    assert parse_search_page(b"[]", "q") == ()
    with pytest.raises(SourceError):
        parse_search_page(b'{"error": "rate limited"}', "q")
    with pytest.raises(FeedFormatError):
        parse_search_page(b'{"papers": []}', "q")
    with pytest.raises(FeedFormatError):
        parse_search_page(b"<html>", "q")


@pytest.mark.parametrize(
    ("text", "category", "expression"),
    [
        ("testing", None, "all:testing"),
        ('"score matching" diffusion', "stat.ML", 'all:"score matching" AND all:diffusion AND cat:stat.ML'),
        ("a) OR cat:cs.CV (b", None, "all:a AND all:OR AND all:cat AND all:cs AND all:CV AND all:b"),
        ("conformal", "stat", "all:conformal AND cat:stat.*"),
        ("😀 ^ *", None, ""),
        ("testing", "cs.LG) OR (all:x", "all:testing"),
    ],
)
def test_only_letters_and_digits_reach_arxiv(text: str, category: str | None, expression: str) -> None:
    assert search_expression(text, category) == expression


# --- /paper search ---------------------------------------------------------------------------------


def command(engine: Engine, text: str) -> Any:
    async def main() -> Any:
        try:
            return await execute(engine, SEARCH_COMMAND, Invocation(CHANNEL, args={"words": text}))
        finally:
            await engine.aclose()

    return asyncio.run(main())


def test_the_command_answers_with_compact_cards_and_the_command_for_more(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer
) -> None:
    reply = command(make_engine(arxiv_server, hf), "testing")
    assert len(reply.cards) == 5 and not reply.is_error and reply.ephemeral
    assert all(len(card.teaser) <= 161 for card in reply.cards)
    assert reply.text.startswith("Papers matching testing: 1–5, best first.")
    assert reply.text.splitlines()[-1] == "More: /paper search testing page:2"


def test_the_command_reads_its_options_anywhere(arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer) -> None:
    engine = make_engine(arxiv_server, hf)
    request = read_search_request(engine, "conformal IN:stat.me prediction since:2024-03-01 page:2")
    assert (request.words, request.feed, request.since, request.page) == (
        "conformal prediction",
        "stat.ME",
        date(2024, 3, 1),
        2,
    )
    assert request.command(3) == "/paper search conformal prediction in:stat.ME since:2024-03-01 page:3"
    reply = command(engine, "conformal prediction in:stat.ME")
    assert reply.cards and "in stat.ME" in reply.text.splitlines()[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conformal since:2024-13-01", "since:YYYY-MM-DD"),
        ("conformal since:yesterday", "since:YYYY-MM-DD"),
        ("conformal page:0", "page:N"),
        ("conformal page:２", "page:N"),
        ("conformal page:1 page:2", "Give page: once"),
        ("conformal in:cs.LGG", "cs.LG"),
        ("in:stat.ML", "Give some words"),
        ("the of", "common words"),
        ('"* - ^ ( )', "letters or digits"),
    ],
)
def test_the_command_refuses_with_what_to_type(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer, text: str, message: str
) -> None:
    reply = command(make_engine(arxiv_server, hf), text)
    assert reply.is_error and message in reply.text and "Traceback" not in reply.text


def test_nothing_found_says_where_it_looked(arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer) -> None:
    reply = command(make_engine(arxiv_server, hf), "wombat")
    assert not reply.cards
    assert reply.text == (
        "No paper matches wombat in the stored papers and arXiv and Hugging Face. Try other or fewer words."
    )


# --- paperbot search -------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "p.db"}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\n'
        "timeout_s = 2\nretries = 1\n"
        f'[sources.huggingface]\napi_url = "{hf.api_url}"\n'
    )
    return path


def paperbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY"))}
    env.pop("PAPERBOT_CONFIG", None)
    argv = [sys.executable, "-m", "bot", "--config", str(config), "search", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_cli_json_best_first_with_scores(config: Path, arxiv_server: FakeArxivServer) -> None:
    result = paperbot(config, "testing", "--limit", "3", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "testing" and len(data["papers"]) == 3
    assert {"id", "title", "authors", "source", "url", "score"} <= set(data["papers"][0])
    scores = [p["score"] for p in data["papers"]]
    assert scores == sorted(scores, reverse=True) and all(isinstance(s, float) for s in scores)
    assert {p["id"] for p in data["papers"]} <= set(TESTING_IDS)
    # Stored: found again without asking arXiv.
    again = json.loads(paperbot(config, "testing", "--limit", "3", "--json").stdout)
    assert again["papers"] == data["papers"] and arxiv_server.count("/api/query") == 1


def test_cli_empty_result_is_exit_0_and_text_output(config: Path) -> None:
    result = paperbot(config, "wombat", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["papers"] == []
    text = paperbot(config, "testing", "--limit", "2")
    assert text.returncode == 0 and text.stdout.startswith("Papers matching testing, best first:")
    assert "1. " in text.stdout and "2. " in text.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("the", "of"),
        ('"*"',),
        ("x" * 10_000,),
        ("testing", "--limit", "0"),
        ("testing", "--since", "2024-13-01"),
        ("testing", "--in", "cs.LGG"),
        ("😀",),
    ],
)
def test_cli_bad_queries_exit_2_with_one_line(
    config: Path, arxiv_server: FakeArxivServer, args: tuple[str, ...]
) -> None:
    result = paperbot(config, *args)
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert arxiv_server.count() == 0


def test_the_typed_command_reaches_the_search_through_the_registry(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Registered as the registry lists it; the words after `search` arrive as one argument.
    from bot import commands

    monkeypatch.setitem(commands.REGISTRY, "search", SEARCH_COMMAND)
    engine = make_engine(arxiv_server, hf)

    async def main() -> Any:
        try:
            return await commands.dispatch(engine, Invocation(CHANNEL), '/paper search "conformal prediction" in:stat')
        finally:
            await engine.aclose()

    reply = asyncio.run(main())
    assert not reply.is_error and reply.cards
    assert reply.text.startswith('Papers matching "conformal prediction" in stat:')
    assert len(SEARCH_COMMAND.summary) <= 100  # Discord's limit for a sub-command description


# --- phrases, however they are quoted ----------------------------------------------------------------

WORDS_APART = {"2306.14693", "2403.16336"}  # "conformal" and "prediction" in them, not side by side


@pytest.mark.parametrize(
    "typed",
    [
        '"conformal prediction"',
        "“conformal prediction”",
        "‘conformal prediction’",
        "'conformal prediction'",
        "«conformal prediction»",
    ],
)
def test_a_quoted_phrase_matches_as_a_phrase_however_it_is_quoted(
    arxiv_server: FakeArxivServer, hf: FakeHuggingFaceServer, typed: str
) -> None:
    result = run(make_engine(arxiv_server, hf), typed, limit=50)
    assert result.query == '"conformal prediction"'
    found = {p.id for p in result.papers}
    assert found and not found & WORDS_APART
    assert all("conformal prediction" in f"{p.title} {p.abstract}".lower().replace("\n", " ") for p in result.papers)
    # The remote searches are asked for the phrase too.
    assert arxiv_server.calls("/api/query")[0].query["search_query"] == ['all:"conformal prediction"']
    assert hf.calls("/api/papers/search")[0].query["q"] == ['"conformal prediction"']


def test_the_cli_searches_a_typographically_quoted_phrase_as_a_phrase(
    config: Path, arxiv_server: FakeArxivServer
) -> None:
    result = paperbot(config, "“graph neural”")
    assert result.returncode == 0, result.stderr
    assert 'matches "graph neural"' in result.stdout or 'matching "graph neural"' in result.stdout
    assert arxiv_server.calls("/api/query")[0].query["search_query"] == ['all:"graph neural"']
