"""arXiv feeds read in worker processes (bot.sources.arxiv_workers): exactly what the thread reads, each
distinct item still read once across feeds, and a worker that dies costs one fetch with a clear reason."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import FeedFormatError
from bot.isolated import WorkerPool
from bot.sources import arxiv_workers
from bot.sources.arxiv import ArxivClient, parse_rss
from bot.sources.arxiv_items import ItemCache
from bot.sources.arxiv_workers import MIN_PART, parse_rss_in_workers, read_part, start_workers
from tests.fakes import FakeArxivServer, big_feed
from tests.support import FEED_MORNING, STAT_FEED
from tests.support_arxiv_feeds import arxiv_feed
from tests.support_isolated import segfault

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("rss-*.xml"))
_ITEM = re.compile(rb"<item>.*?</item>", re.S)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(name="test-feeds", size=2, warm_up=arxiv_workers._import_parser)
    yield workers
    workers.close()


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
async def test_a_recorded_feed_reads_in_workers_as_in_the_thread(path: Path, pool: WorkerPool) -> None:
    data = path.read_bytes()
    assert await parse_rss_in_workers(data, ["stat"], ItemCache(), pool) == parse_rss(data, ["stat"])


async def test_a_big_feed_is_read_in_parts_by_both_workers_as_the_thread_reads_it_whole(pool: WorkerPool) -> None:
    data = big_feed(4 * MIN_PART)
    assert arxiv_workers._parts([b"%d" % n for n in range(4 * MIN_PART)], pool.size) == [
        [b"%d" % n for n in range(start, start + 2 * MIN_PART)] for start in (0, 2 * MIN_PART)
    ]
    assert await parse_rss_in_workers(data, ["stat"], ItemCache(), pool) == parse_rss(data, ["stat"])


async def test_a_paper_read_for_one_feed_is_not_read_again_for_the_next(pool: WorkerPool) -> None:
    one, two = arxiv_feed("stat.ML+stat.ME"), arxiv_feed("stat.ME+stat.AP")
    cache = ItemCache()
    await parse_rss_in_workers(one, ["stat.ML", "stat.ME"], cache, pool)
    after_one = len(cache)
    read = await parse_rss_in_workers(two, ["stat.ME", "stat.AP"], cache, pool)
    ids = {i.paper.id for i in parse_rss(one, ["stat.ML", "stat.ME"]).items}
    assert len(cache) - after_one == len([i for i in read.items if i.paper.id not in ids])  # only the new ones
    assert read == parse_rss(two, ["stat.ME", "stat.AP"])  # each with this feed's own announce type


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ((b"</rss>", b""), "the feed is cut off"),
        ((b'<rss version="2.0"', b'<rss version="0.0" x="'), None),
        ((b"<title>", b"<title><![CDATA[", 1), None),
    ],
    ids=["cut off", "garbled root", "not cut into items"],
)
async def test_a_bad_document_fails_in_workers_as_in_the_thread(
    change: tuple[bytes, ...], problem: str | None, pool: WorkerPool
) -> None:
    data = STAT_FEED.replace(*change)  # type: ignore[arg-type]
    try:
        expected: object = parse_rss(data, ["stat"])
    except FeedFormatError as err:
        expected = str(err)
    try:
        got: object = await parse_rss_in_workers(data, ["stat"], ItemCache(), pool)
    except FeedFormatError as err:
        got = str(err)
    assert got == expected
    if problem:
        assert problem in str(got)


async def test_the_warnings_of_a_worker_are_logged_by_the_bot(
    pool: WorkerPool, caplog: pytest.LogCaptureFixture
) -> None:
    data = STAT_FEED.replace(b"oai:arXiv.org:2403.15527v1</guid>", b"oai:arXiv.org:nonsense</guid>", 1)
    data = re.sub(rb"arXiv:2403\.15527v1 Announce", b"arXiv:nonsense Announce", data, count=1)
    data = re.sub(rb"/abs/2403\.15527(v1)?<", b"/abs/nonsense<", data, count=1)
    expected = parse_rss(data, ["stat"])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.sources.arxiv"):
        read = await parse_rss_in_workers(data, ["stat"], ItemCache(), pool)
    assert read == expected
    assert len(read.items) == len(_ITEM.findall(STAT_FEED)) - 1
    assert [r.getMessage() for r in caplog.records if r.name == "bot.sources.arxiv"] == [
        "skipping an RSS item without a readable arXiv id (guid 'oai:arXiv.org:nonsense')"
    ]


async def test_a_worker_that_dies_costs_that_fetch_only_with_the_reason(pool: WorkerPool) -> None:
    with pytest.raises(FeedFormatError) as failed:
        await arxiv_workers._run(pool, ("cs.LG", "cs.AI"), segfault)  # what a crash in expat would do
    assert str(failed.value) == (
        "arXiv sent a feed we could not read for cs.LG, cs.AI "
        "(reading it in a worker failed: worker killed by SIGSEGV); nothing was changed"
    )
    assert await parse_rss_in_workers(STAT_FEED, ["stat"], ItemCache(), pool) == parse_rss(STAT_FEED, ["stat"])


async def test_a_part_is_read_as_the_document_head_items_and_tail() -> None:
    """The job itself, in this process: nothing but what it is given."""
    items = _ITEM.findall(STAT_FEED)
    head, tail = STAT_FEED[: STAT_FEED.index(items[0])], STAT_FEED[STAT_FEED.rindex(items[-1]) + len(items[-1]) :]
    read = read_part(head, tuple(items[:3]), tail, True)
    assert [p.id for p in read.papers if p] == [i.paper.id for i in parse_rss(STAT_FEED, ["stat"]).items[:3]]
    assert read_part(head, tuple(items[:3]), tail, True).published is not None
    assert read_part(head, (items[0] + items[1],), tail, True).miscut


async def test_the_client_reads_its_feeds_in_the_pool_it_is_given(pool: WorkerPool) -> None:
    await start_workers(pool)
    started = set(pool.pids)
    assert len(started) == pool.size
    with FakeArxivServer() as server:
        server.set_feed("stat", STAT_FEED)
        async with ArxivClient(server.rss_url, server.api_url, min_interval_s=0, now=lambda: FEED_MORNING) as plain:
            expected = await plain.fetch_feed(["stat"])
        async with ArxivClient(server.rss_url, server.api_url, min_interval_s=0, now=lambda: FEED_MORNING) as client:
            client.read_feeds_in(pool)
            assert await client.fetch_feed(["stat"]) == expected
    assert set(pool.pids) == started  # the workers started at the start did the reading


async def test_a_web_page_instead_of_the_feed_is_told_as_the_thread_tells_it(pool: WorkerPool) -> None:
    page = b"<!DOCTYPE html><html><body>Too many requests</body></html>"
    with pytest.raises(FeedFormatError) as thread:
        parse_rss(page, ["stat"])
    with pytest.raises(FeedFormatError) as workers:
        await parse_rss_in_workers(page, ["stat"], ItemCache(), pool)
    assert str(workers.value) == str(thread.value)
    assert "a web page instead of the feed" in str(workers.value)
