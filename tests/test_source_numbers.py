"""Numbers from a source are range-checked where they enter: an upvote count of 10^30 (a valid JSON integer)
or a version of 10^20 never reaches the store, and a feed that cannot be stored is that feed's failure, never
another feed's. Real source clients against the local fakes, through the engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from bot.bounds import MAX_COUNT, count, whole_number
from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.models import ChannelRef, Subscription
from bot.sources.preprint_details import parse_details
from tests.fakes.biorxiv_server import item
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.support import make_config, make_engine

CHANNEL = ChannelRef("test", "w", "c")
HF_DAY = "2024-03-25"  # settled by the engine's clock (Tuesday 2024-03-26 09:00 UTC)


@pytest.fixture
def hostile_hf() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        entries = copy.deepcopy(recorded_daily_papers()[:3])
        entries[0]["paper"]["upvotes"] = 10**30
        entries[1]["numComments"] = 10**25
        entries[2]["paper"]["upvotes"] = -(10**30)
        server.set_day(HF_DAY, entries)
        yield server


def _engine(hf: FakeHuggingFaceServer) -> Engine:
    return make_engine(config=make_config(**{"sources.huggingface": {"api_url": hf.api_url}}))


async def test_a_count_of_ten_to_the_thirty_is_clamped_and_the_digest_is_posted(
    hostile_hf: FakeHuggingFaceServer,
) -> None:
    engine = _engine(hostile_hf)
    for feed in ("hf", "stat.ML"):
        engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category=feed))
    selection = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    sources = {p.source for p in selection.papers}
    assert {"huggingface", "arxiv"} <= sources, sources
    upvotes = [p.upvotes for p in selection.papers if p.source == "huggingface"]
    assert MAX_COUNT in upvotes and all(u is None or 0 <= u <= MAX_COUNT for u in upvotes)
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "digest")
    assert not reply.is_error and reply.digest is not None and reply.digest.cards
    await engine.aclose()


async def test_a_feed_the_store_refuses_is_that_feeds_error_and_the_others_still_come(
    hostile_hf: FakeHuggingFaceServer,
) -> None:
    engine = _engine(hostile_hf)

    def refuse(feed: object, fetched_at: object = None) -> None:  # the store's own error, as SQLite raises it
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    save_feed = engine.store.save_feed

    def save_or_refuse(feed: object, fetched_at: object = None) -> None:
        if "hf" in getattr(feed, "categories", ()):
            refuse(feed, fetched_at)
        save_feed(feed, fetched_at=fetched_at)  # type: ignore[arg-type]

    engine.store.save_feed = save_or_refuse  # type: ignore[method-assign]
    result = await engine.refresh(["hf", "stat.ML"])
    assert "stat.ML" in result.fetched and "hf" in result.failed
    assert "could not be stored" in str(result.failed["hf"])
    last = engine.store.last_fetch("hf", ok_only=False)
    assert last is not None and last.error
    await engine.aclose()


def test_preprint_versions_and_totals_out_of_range_are_dropped() -> None:
    good, huge, junk = item(1, "2024-03-25", "neuroscience"), item(2, "2024-03-25", "neuroscience"), item(
        3, "2024-03-25", "neuroscience"
    )
    huge["version"] = 10**20
    junk["version"] = "9" * 40
    body = {"messages": [{"status": "ok", "total": 10**30, "count": 3, "cursor": 0}], "collection": [good, huge, junk]}
    page = parse_details(json.dumps(body).encode(), "biorxiv", "test")
    assert [p.version for p in page.papers] == [1] and page.total is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("57", 57), (True, None), (1.5, None), (float("nan"), None), (10**30, None), ("1" * 30, None), (-1, None)],
)
def test_whole_numbers_are_plain_ints_in_range(value: object, expected: int | None) -> None:
    assert whole_number(value, "test", 0, 1000) == expected


def test_counts_are_clamped_not_lost() -> None:
    assert count(10**30, "upvotes") == MAX_COUNT and count(-3, "upvotes") is None and count(False, "x") is None
