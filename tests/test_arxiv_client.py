"""The real ArxivClient (real httpx) against the fake arXiv server: politeness, retries, typed errors."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pytest

from bot import PROJECT_URL
from bot.calendar import EASTERN
from bot.errors import BadIdError, NotFoundError, SourceError, SourceUnreachable, SuspiciousEmptyFeed
from bot.sources.arxiv import ArxivClient
from bot.sources.polite import default_http
from tests.fakes import HANG, FakeArxivServer, empty_feed, one_item_feed

T = TypeVar("T")

TUESDAY = datetime(2026, 3, 10, 9, 0, tzinfo=EASTERN)  # Monday evening's announcement is due
SATURDAY = datetime(2026, 3, 14, 9, 0, tzinfo=EASTERN)  # no announcement on Friday evening

# Spacing is measured where it is made: when the client sends each request, by the clock it spaces by
# (``sent_gaps``). Arrival times at the server would add the network's and the server thread's delays,
# which a loaded machine makes long enough to squeeze one gap below the spacing the client kept. What is
# left is the event loop's delay in resuming the request after its turn was granted.
JITTER_S = 0.03

# Small numbers keep the suite fast; the logic is the same as with arXiv's 3 s.
FAST: dict[str, Any] = {
    "min_interval_s": 0.0,
    "timeout_s": 2.0,
    "retries": 3,
    "backoff_s": 0.01,
    "empty_retries": 2,
    "now": lambda: TUESDAY,
}


def with_client(
    server: FakeArxivServer,
    use: Callable[[ArxivClient], Awaitable[T]],
    *,
    sent: list[tuple[str, float]] | None = None,
    **options: Any,
) -> T:
    """Run ``use`` with a client that owns its httpx client (the production set-up), then close it. With
    ``sent``, the httpx client is the production one plus a hook noting (path, time.monotonic()) as each
    request leaves: the times the client's spacing is made of."""

    async def note(request: httpx.Request) -> None:
        assert sent is not None
        sent.append((request.url.path, time.monotonic()))

    async def main() -> T:
        if sent is None:
            async with ArxivClient(server.rss_url, server.api_url, **{**FAST, **options}) as client:
                return await use(client)
        timeout = float({**FAST, **options}["timeout_s"])
        async with default_http(timeout) as http:
            http.event_hooks = {"request": [note], "response": []}
            async with ArxivClient(server.rss_url, server.api_url, http=http, **{**FAST, **options}) as client:
                return await use(client)

    return asyncio.run(main())


def sent_gaps(sent: list[tuple[str, float]], prefix: str) -> list[float]:
    """The gaps between requests to paths starting with ``prefix``, as the client sent them."""
    times = [at for path, at in sent if path.startswith(prefix)]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def quick_feeds(server: FakeArxivServer, *cats: str) -> None:
    """Serve a one-item feed for ``cats``: timing tests need requests, not 123 items to parse each time."""
    for cat in cats:
        server.set_feed(cat, one_item_feed())


# ---------------------------------------------------------------- requests as arXiv sees them


def test_user_agent_and_combined_categories_url(arxiv_server: FakeArxivServer) -> None:
    feed = with_client(arxiv_server, lambda c: c.fetch_feed(["cs.LG", "math.OC"]))
    (call,) = arxiv_server.calls("/rss")
    assert call.path == "/rss/cs.LG+math.OC"
    assert "paperbot" in call.headers["user-agent"] and PROJECT_URL in call.headers["user-agent"]
    assert feed.categories == ("cs.LG", "math.OC")
    assert len(feed.items) == 123
    assert {item.listed_in for item in feed.items} >= {("cs.LG",), ("cs.LG", "math.OC")}


def test_trailing_slash_in_rss_url(arxiv_server: FakeArxivServer) -> None:
    async def use(client: ArxivClient) -> None:
        await client.fetch_feed(["stat"])

    async def main() -> None:
        async with ArxivClient(arxiv_server.rss_url + "/", arxiv_server.api_url, **FAST) as client:
            await use(client)

    asyncio.run(main())
    assert arxiv_server.calls("/rss")[0].path == "/rss/stat"


def test_defaults_follow_arxiv_terms_of_use() -> None:
    defaults = inspect.signature(ArxivClient).parameters
    assert defaults["min_interval_s"].default == 3.0
    assert defaults["rss_url"].default == "https://rss.arxiv.org/rss"
    assert defaults["api_url"].default == "https://export.arxiv.org/api/query"


# ---------------------------------------------------------------- retries


def test_429_then_success(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat")
    arxiv_server.script("/rss", (429, "slow down", {"Retry-After": "0"}))
    feed = with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]))
    assert len(feed.items) == 1
    assert arxiv_server.count("/rss") == 2


def test_retry_after_is_honoured(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat")
    arxiv_server.script("/rss", (429, "", {"Retry-After": "0.2"}))
    sent: list[tuple[str, float]] = []
    with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]), sent=sent)
    (gap,) = sent_gaps(sent, "/rss")
    assert gap >= 0.2 - JITTER_S  # far above the 0.01 s backoff


def test_503_until_the_end_is_a_clear_source_error(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/rss", *[(503, "<html>Service Unavailable</html>")] * 4)
    sent: list[tuple[str, float]] = []
    with pytest.raises(SourceError) as caught:
        with_client(arxiv_server, lambda c: c.fetch_feed(["cs.LG"]), backoff_s=0.02, sent=sent)
    assert str(caught.value) == "arXiv is not answering (HTTP 503) for cs.LG; try again later"
    assert type(caught.value) is SourceUnreachable  # a SourceError: retried later like any other
    assert arxiv_server.count("/rss") == 4  # 1 + 3 retries
    # Exponential backoff between attempts: 0.02, 0.04, 0.08 s (the first gap is within the jitter).
    later_gaps = sent_gaps(sent, "/rss")[1:]
    assert later_gaps[0] >= 0.04 - 0.01 and later_gaps[1] >= 0.08 - 0.01


def test_hang_times_out_then_retry_succeeds(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat")
    arxiv_server.script("/rss", HANG)
    started = time.monotonic()
    feed = with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]), timeout_s=0.2)
    assert len(feed.items) == 1
    assert arxiv_server.count("/rss") == 2
    assert time.monotonic() - started >= 0.2


def test_hangs_until_the_end(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/rss", HANG, HANG)
    with pytest.raises(SourceError, match=r"^arXiv is not answering \(no answer in time\) for stat; try again"):
        with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]), timeout_s=0.1, retries=1)


def test_connection_refused_is_a_source_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        base = f"http://127.0.0.1:{port}"
        async with ArxivClient(f"{base}/rss", f"{base}/api/query", **{**FAST, "retries": 1}) as client:
            await client.fetch_feed(["stat"])

    with pytest.raises(SourceError, match=r"^arXiv is not answering \(connection failed\) for stat"):
        asyncio.run(main())


def test_other_4xx_on_the_feed_is_not_retried(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.set_feed("cs.XX", "<html><body>Not Found</body></html>", status=404)
    with pytest.raises(SourceError, match=r"HTTP 404 for the feed of cs\.XX"):
        with_client(arxiv_server, lambda c: c.fetch_feed(["cs.XX"]))
    assert arxiv_server.count("/rss") == 1


def test_html_error_page_with_200_is_a_format_error(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.set_feed("cs.LG", "<html><body>Rate exceeded.</body></html>")
    with pytest.raises(SourceError, match=r"could not read for cs\.LG"):
        with_client(arxiv_server, lambda c: c.fetch_feed(["cs.LG"]))


# ---------------------------------------------------------------- empty feeds


def test_empty_feed_on_an_announcement_day_is_suspicious(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.set_feed("cs.LG", empty_feed())
    with pytest.raises(SuspiciousEmptyFeed) as caught:
        with_client(arxiv_server, lambda c: c.fetch_feed(["cs.LG"]))
    assert str(caught.value) == (
        "arXiv sent an empty feed for cs.LG on an announcement day (often throttling); will try again later"
    )
    assert arxiv_server.count("/rss") == 3  # 1 + 2 empty retries


def test_empty_feed_then_full_one(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/rss", (200, empty_feed()))
    feed = with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]))
    assert len(feed.items) == 123
    assert arxiv_server.count("/rss") == 2


def test_empty_feed_on_saturday_is_just_empty(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.set_feed("cs.LG", empty_feed())
    feed = with_client(arxiv_server, lambda c: c.fetch_feed(["cs.LG"]), now=lambda: SATURDAY)
    assert feed.items == ()
    assert arxiv_server.count("/rss") == 1


# ---------------------------------------------------------------- politeness


def test_requests_are_spaced_by_min_interval(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat")

    async def three_in_a_row(client: ArxivClient) -> None:
        for _ in range(3):
            await client.fetch_feed(["stat"])

    sent: list[tuple[str, float]] = []
    with_client(arxiv_server, three_in_a_row, min_interval_s=0.3, sent=sent)
    assert len(sent_gaps(sent, "/rss")) == 2
    assert all(gap >= 0.3 - JITTER_S for gap in sent_gaps(sent, "/rss")), sent_gaps(sent, "/rss")


def test_the_first_request_does_not_wait_its_turn(arxiv_server: FakeArxivServer) -> None:
    # An hour's spacing: a first request that waited for a turn would not be sent within the backstop
    # (which only turns such a hang into a failure; no time is asserted).
    quick_feeds(arxiv_server, "stat")

    async def once(client: ArxivClient) -> None:
        await asyncio.wait_for(client.fetch_feed(["stat"]), timeout=60)

    with_client(arxiv_server, once, min_interval_s=3600)
    assert arxiv_server.count("/rss") == 1


def test_retries_keep_the_spacing(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat")
    arxiv_server.script("/rss", (503,), (503,))
    sent: list[tuple[str, float]] = []
    with_client(arxiv_server, lambda c: c.fetch_feed(["stat"]), min_interval_s=0.1, sent=sent)
    assert len(sent_gaps(sent, "/rss")) == 2
    assert all(gap >= 0.1 - JITTER_S for gap in sent_gaps(sent, "/rss"))


def test_one_request_in_flight_when_fetches_are_gathered(arxiv_server: FakeArxivServer) -> None:
    # An injected client allowing many connections: only the ArxivClient's lock can serialise.
    quick_feeds(arxiv_server, "stat", "cs.LG")
    arxiv_server.latency_s = 0.05

    async def main() -> None:
        wide = httpx.AsyncClient(limits=httpx.Limits(max_connections=10))
        async with wide, ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, http=wide, **FAST) as client:
            await asyncio.gather(
                client.fetch_feed(["stat"]), client.fetch_feed(["cs.LG"]), client.fetch_paper("1605.08386")
            )

    asyncio.run(main())
    assert arxiv_server.count() == 3
    assert arxiv_server.max_in_flight == 1


def test_gathered_fetches_are_spaced(arxiv_server: FakeArxivServer) -> None:
    quick_feeds(arxiv_server, "stat", "cs.LG", "math.OC")

    async def gathered(client: ArxivClient) -> None:
        await asyncio.gather(*(client.fetch_feed([cat]) for cat in ("stat", "cs.LG", "math.OC")))

    sent: list[tuple[str, float]] = []
    with_client(arxiv_server, gathered, min_interval_s=0.15, sent=sent)
    assert arxiv_server.max_in_flight == 1
    assert len(sent_gaps(sent, "/rss")) == 2
    assert all(gap >= 0.15 - JITTER_S for gap in sent_gaps(sent, "/rss"))


def test_injected_http_client_is_left_open(arxiv_server: FakeArxivServer) -> None:
    async def main() -> tuple[bool, bool]:
        http = httpx.AsyncClient()
        async with ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, http=http, **FAST) as client:
            await client.fetch_feed(["stat"])
        owned = ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, **FAST)
        await owned.aclose()
        closed = (http.is_closed, owned._http.is_closed)
        await http.aclose()
        return closed

    assert asyncio.run(main()) == (False, True)


# ---------------------------------------------------------------- export API


def test_fetch_single_paper(arxiv_server: FakeArxivServer) -> None:
    paper = with_client(arxiv_server, lambda c: c.fetch_paper("1605.08386"))
    assert (paper.id, paper.version, paper.title) == ("1605.08386", 1, "Heat-bath random walks with Markov bases")
    (call,) = arxiv_server.calls("/api")
    assert call.query["id_list"] == ["1605.08386"] and call.query["max_results"] == ["1"]
    assert "paperbot" in call.headers["user-agent"]


def test_fetch_paper_asks_without_version(arxiv_server: FakeArxivServer) -> None:
    paper = with_client(arxiv_server, lambda c: c.fetch_paper("arXiv:1605.08386v3"))
    assert paper.id == "1605.08386"
    assert arxiv_server.calls("/api")[0].query["id_list"] == ["1605.08386"]


def test_two_ids_one_unknown(arxiv_server: FakeArxivServer) -> None:
    papers = with_client(arxiv_server, lambda c: c.fetch_papers(["0808.05394", "1707.08567"]))
    assert [p.id for p in papers] == ["1707.08567"]
    assert len(papers[0].authors) > 10
    assert arxiv_server.calls("/api")[0].query["id_list"] == ["0808.05394,1707.08567"]


def test_unknown_id_is_not_found(arxiv_server: FakeArxivServer) -> None:
    with pytest.raises(NotFoundError) as caught:
        with_client(arxiv_server, lambda c: c.fetch_paper("2501.99999"))
    assert str(caught.value) == "Paper 2501.99999 not found on arXiv. Check the id, or it may not be announced yet."


def test_bad_id_answered_400_is_bad_id_error(arxiv_server: FakeArxivServer) -> None:
    with pytest.raises(BadIdError, match="incorrect id format for abc"):
        with_client(arxiv_server, lambda c: c.fetch_papers(["abc"]))
    assert arxiv_server.count("/api") == 1  # a 400 is not retried


def test_malformed_id_costs_no_request(arxiv_server: FakeArxivServer) -> None:
    with pytest.raises(BadIdError):
        with_client(arxiv_server, lambda c: c.fetch_paper("abc"))
    assert arxiv_server.count() == 0


def test_old_style_id(arxiv_server: FakeArxivServer) -> None:
    paper = with_client(arxiv_server, lambda c: c.fetch_paper("astro-ph/0601001"))
    assert (paper.id, paper.primary_category) == ("astro-ph/0601001", "astro-ph")
    assert arxiv_server.calls("/api")[0].query["id_list"] == ["astro-ph/0601001"]


def test_legacy_2016_answer(arxiv_server: FakeArxivServer) -> None:
    (paper,) = with_client(arxiv_server, lambda c: c.fetch_papers(["1111.2011v2"]))
    assert (paper.id, paper.version, paper.doi) == ("1111.2011", 2, "10.1103/PhysRevB.85.115117")
    latest = with_client(arxiv_server, lambda c: c.fetch_paper("1111.2011"))
    assert latest.version == 2


def test_large_id_lists_are_batched(arxiv_server: FakeArxivServer) -> None:
    ids = ["1605.08386", *(f"2501.{n:05d}" for n in range(1, 150))]
    papers = with_client(arxiv_server, lambda c: c.fetch_papers(ids))
    assert [p.id for p in papers] == ["1605.08386"]
    assert [call.query["max_results"] for call in arxiv_server.calls("/api")] == [["100"], ["50"]]


def test_api_503_then_success(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/api", (503,))
    paper = with_client(arxiv_server, lambda c: c.fetch_paper("1605.08386"))
    assert paper.id == "1605.08386"
    assert arxiv_server.count("/api") == 2


def test_api_failing_until_the_end(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/api", *[(500,)] * 2)
    with pytest.raises(SourceError, match=r"^arXiv is not answering \(HTTP 500\) for paper 1605\.08386"):
        with_client(arxiv_server, lambda c: c.fetch_paper("1605.08386"), retries=1)


def test_a_retry_after_longer_than_anyone_should_wait_ends_the_request_at_once(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/rss", (429, "", {"Retry-After": "99999"}))

    async def fetch_within_a_backstop(client: ArxivClient) -> object:
        # Only a guard against a hang: waiting as asked would take 28 hours, not a minute.
        return await asyncio.wait_for(client.fetch_feed(["cs.LG"]), timeout=60)

    with pytest.raises(SourceUnreachable) as caught:
        with_client(arxiv_server, fetch_within_a_backstop)
    assert str(caught.value) == "arXiv asks us to wait 28 hours before asking again (for cs.LG); try again later"
    assert arxiv_server.count("/rss") == 1
