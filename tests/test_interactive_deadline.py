"""A person waiting on arXiv gets an answer within the interactive deadline; the scheduler keeps its
longer retries. The real ArxivClient (production retry settings) against the fake arXiv server, or a
closed port; the deadline is shortened to keep the suite fast. That the deadline (not the client's own
timeout or retries) ended a wait shows in what the person is told ("did not answer within <deadline> s",
which only the deadline says) and in how many requests arXiv saw, never in a wall-clock threshold."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Iterator

import pytest

from bot.engine import INTERACTIVE_DEADLINE_S, Engine
from bot.errors import SourceError, SourceUnreachable
from bot.models import ChannelRef, Subscription
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import HANG, FakeArxivServer
from tests.support import FEED_MORNING, make_config

DEADLINE_S = 1.0
CHANNEL = ChannelRef("test", "w", "c")


@pytest.fixture
def slow_arxiv() -> Iterator[FakeArxivServer]:
    # A hung request stays silent longer than any deadline here.
    with FakeArxivServer(hang_s=20) as server:
        yield server


def engine_for(rss_url: str, api_url: str, *, deadline_s: float = DEADLINE_S, **client: float) -> Engine:
    """An engine whose client has the production settings (3 s spacing, 30 s timeout, 4 retries with
    2 s backoff) unless ``client`` overrides them."""
    store = Store(":memory:")
    store.migrate()
    arxiv = ArxivClient(rss_url, api_url, now=lambda: FEED_MORNING, **client)  # type: ignore[arg-type]
    return Engine(make_config(), store, arxiv, now=lambda: FEED_MORNING, interactive_deadline_s=deadline_s)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed: connections are refused


async def test_explain_gives_up_within_the_deadline_when_arxiv_hangs(slow_arxiv: FakeArxivServer) -> None:
    slow_arxiv.script("/api/query", HANG)
    engine = engine_for(slow_arxiv.rss_url, slow_arxiv.api_url)
    with pytest.raises(SourceUnreachable) as caught:
        await engine.explain("2403.15527")
    # The deadline's words: the client's own 30 s timeout would say "not answering (no answer in time)".
    assert str(caught.value) == "arXiv did not answer within 1 s; try again in a few minutes."
    assert slow_arxiv.count("/api/query") == 1  # the one silent request, not yet timed out by the client
    assert isinstance(caught.value, SourceError)  # adapters and the CLI already turn these into one line
    await engine.aclose()


async def test_explain_gives_up_within_the_deadline_when_arxiv_refuses_connections() -> None:
    # Refused at once, so the client would retry with backoff (2, 4, 8, 16 s): the 31 s a user waited.
    base = f"http://127.0.0.1:{closed_port()}"
    engine = engine_for(f"{base}/rss", f"{base}/api/query")
    with pytest.raises(SourceUnreachable) as caught:
        await engine.explain("arXiv:2403.15527v1")
    # The deadline's words, not the client's "not answering (connection failed)" after all its retries.
    assert str(caught.value) == "arXiv did not answer within 1 s; try again in a few minutes."
    await engine.aclose()


async def test_a_preview_gives_up_within_the_deadline_and_records_no_failure(slow_arxiv: FakeArxivServer) -> None:
    slow_arxiv.script("/rss", HANG)
    engine = engine_for(slow_arxiv.rss_url, slow_arxiv.api_url)
    with pytest.raises(SourceUnreachable, match=r"^arXiv did not answer within 1 s; try again"):
        await engine.preview(["stat"])  # the deadline's words, not the client's 30 s timeout's
    assert slow_arxiv.count("/rss") == 1
    # The person's patience ran out, not arXiv's answer: the scheduler is not told to hold back.
    assert engine.store.last_fetch("stat", ok_only=False) is None
    await engine.aclose()


async def test_the_scheduled_digest_keeps_its_retries_and_paper_digest_does_not(
    arxiv_server: FakeArxivServer,
) -> None:
    subs = [Subscription(id=0, channel=CHANNEL, category="stat")]
    # Two 503s, then the feed: the client's backoff (0.4 s, then 0.8 s) outlasts a 0.3 s deadline.
    options = {"min_interval_s": 0.0, "backoff_s": 0.4}
    arxiv_server.script("/rss", (503,), (503,))
    scheduled = engine_for(arxiv_server.rss_url, arxiv_server.api_url, deadline_s=0.3, **options)
    selection = await scheduled.plan_digest(CHANNEL, subs)  # the scheduler's call: not interactive
    assert selection.papers and arxiv_server.count("/rss") == 3  # both retries waited out, past 0.3 s
    await scheduled.aclose()

    arxiv_server.script("/rss", (503,), (503,))
    before = arxiv_server.count("/rss")
    command = engine_for(arxiv_server.rss_url, arxiv_server.api_url, deadline_s=0.3, **options)
    with pytest.raises(SourceUnreachable, match=r"^arXiv did not answer within 0\.3 s"):
        await command.plan_digest(CHANNEL, subs, interactive=True)  # what /paper digest passes
    # Told at the deadline, before the client's second backoff (0.8 s) could even begin: the person did
    # not wait out the retries the scheduler keeps.
    assert arxiv_server.count("/rss") - before < 3
    await command.aclose()


async def test_a_lookup_past_its_askers_deadline_is_finished_spaced_and_kept(slow_arxiv: FakeArxivServer) -> None:
    # The person is told at the deadline; the lookup itself goes on (its retry spaced as every request),
    # and what it brings back is stored: the next explain of the paper asks arXiv nothing.
    slow_arxiv.script("/api/query", HANG)
    engine = engine_for(
        slow_arxiv.rss_url,
        slow_arxiv.api_url,
        deadline_s=0.6,
        min_interval_s=0.8,
        timeout_s=1.0,
        retries=1,
        backoff_s=0,
    )
    with pytest.raises(SourceUnreachable):
        await engine.explain("1605.08386")
    await asyncio.wait_for(asyncio.gather(*list(engine._lookups.running.values())), timeout=15)
    paper, _ = await engine.explain("1605.08386")
    assert paper.title == "Heat-bath random walks with Markov bases"
    first, second = (call.at for call in slow_arxiv.calls("/api/query"))
    assert second - first >= 0.8 - 0.03  # one request every min_interval_s, cut short or not
    await engine.aclose()


async def test_progress_is_told_before_each_fetch_and_only_then(arxiv_server: FakeArxivServer) -> None:
    engine = engine_for(arxiv_server.rss_url, arxiv_server.api_url, min_interval_s=0.0)
    told: list[str] = []
    await engine.explain("1605.08386v1", progress=told.append)
    await engine.explain("1605.08386", progress=told.append)  # stored now: nothing fetched
    assert told == ["Fetching 1605.08386 from arXiv…"]

    async def post(message: str) -> None:  # a chat adapter's "fetching…" message is a coroutine
        told.append(message)

    await engine.preview(["stat"], progress=post)
    await engine.preview(["stat"], progress=post)  # fetched since arXiv's last rebuild: reused
    assert told[1:] == ["Fetching arXiv's feed of stat…"]
    await engine.aclose()


def test_the_interactive_deadline_is_about_ten_seconds_and_only_for_people() -> None:
    assert INTERACTIVE_DEADLINE_S == 10.0
    assert inspect.signature(Engine).parameters["interactive_deadline_s"].default == 10.0
    for name in ("lookup", "explain", "preview"):
        assert inspect.signature(getattr(Engine, name)).parameters["interactive"].default is True, name
    for name in ("refresh", "plan_digest"):  # the scheduler's calls
        assert inspect.signature(getattr(Engine, name)).parameters["interactive"].default is False, name


async def test_paper_digest_and_explain_commands_are_bounded_and_tell_progress(
    arxiv_server: FakeArxivServer,
) -> None:
    """Through the registry, as every adapter calls it: `/paper digest` gets the interactive deadline (not
    the schedule's retries) and both commands tell the invocation's progress before fetching."""
    from bot.commands import Invocation, dispatch

    options = {"min_interval_s": 0.0, "backoff_s": 0.4}
    engine = engine_for(arxiv_server.rss_url, arxiv_server.api_url, deadline_s=0.3, **options)
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat"))
    told: list[str] = []
    inv = Invocation(channel=CHANNEL, progress=told.append)
    arxiv_server.script("/rss", (503,), (503,))
    reply = await dispatch(engine, inv, "digest")
    # Only the deadline says "within 0.3 s"; the schedule's retries would have ended in the feed itself.
    assert "did not answer within 0.3 s" in reply.text and reply.ephemeral
    assert arxiv_server.count("/rss") < 3  # answered before the retries were waited out
    assert told == ["Fetching arXiv's feed of stat…"]
    # The person was told at the deadline; the fetch itself goes on (its retries spaced) and is kept.
    await asyncio.gather(*list(engine._feeds.running.values()))
    assert engine.store.last_fetch("stat") is not None

    told.clear()
    reply = await dispatch(engine, inv, "explain 1605.08386")
    assert told == ["Fetching 1605.08386 from arXiv…"]
    assert reply.explanation is not None

    told.clear()
    engine.store.db.execute("DELETE FROM papers")  # not stored: /paper ask fetches it, and says so first
    reply = await dispatch(engine, inv, "ask arXiv:1605.08386v1 what is a Markov basis?")
    assert told == ["Fetching 1605.08386 from arXiv…"]
    assert not reply.is_error and reply.text
    await engine.aclose()
