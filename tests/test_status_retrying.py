"""`/paper status` while a stale or failed feed is being retried says so, instead of "0 pending" as if
nothing were coming: the digest waits for the feed, and the line says which feed and how often it is tried."""

from __future__ import annotations

from datetime import timedelta

from bot.commands import Invocation, dispatch
from bot.models import ChannelRef, Subscription
from bot.status import status_report
from tests.support import FEED_MORNING, make_engine

CHANNEL = ChannelRef("test", "w", "c")


async def test_a_feed_being_retried_is_named_and_the_digest_said_to_wait_for_it() -> None:
    engine = make_engine()
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat"))
    await engine.refresh(["stat"])  # a good fetch of the recorded feed
    engine.store.record_fetch_error(
        ["stat"], "arXiv's feed for stat still shows the announcement of 2024-03-25", at=FEED_MORNING
    )
    report = status_report(engine, CHANNEL)
    assert "retried every 10 min, its digests wait for it" in report
    assert "0 pending; waiting for stat (retrying)" in report
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "status")
    assert "waiting for stat (retrying)" in reply.text
    await engine.aclose()


async def test_an_old_failure_is_history_not_a_retry() -> None:
    engine = make_engine()
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat"))
    engine.store.record_fetch_error(["stat"], "arXiv is not answering", at=FEED_MORNING - timedelta(days=2))
    report = status_report(engine, CHANNEL)
    assert "last try failed" in report and "retrying" not in report
    await engine.aclose()
