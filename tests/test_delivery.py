"""Exactly-once delivery through the outbox: crashes at each step, reconciling with a platform that
can tell, transient failures retried then marked failed, a removed channel paused, quiet days, stale
feeds, the status report and the admin report."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from bot.cards import DigestMessage
from bot.delivery import Outcome, RateLimitedPost, deliver_digest, resume_unfinished
from bot.errors import ChannelUnavailable, StaleFeed
from bot.models import ChannelRef, Subscription
from bot.outbox import Outbox
from bot.scheduler import DigestScheduler
from bot.status import status_report
from bot.store import Store, outbox_key
from tests.support import FEED_MORNING, FakeArxiv, make_config, make_engine

CHANNEL = ChannelRef("test", "w", "c1")
DAY = date(2024, 3, 26)


class Platform:
    """A fake platform that keeps what it received and, like Slack metadata or Discord nonces, can
    answer whether a message with a key is already there."""

    platform = "test"

    def __init__(self, *, keyed: bool = True, fail: list[Exception] | None = None) -> None:
        self.messages: list[tuple[ChannelRef, DigestMessage, str]] = []
        self.keyed = keyed
        self.fail = fail or []

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.post_digest_keyed(channel, digest, "")

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.messages.append((channel, digest, key))

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        return any(k == key for c, _, k in self.messages if c == channel)


def _engine(store: Store | None = None):  # type: ignore[no-untyped-def]
    engine = make_engine(FakeArxiv(), store=store)
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat.ML"))
    return engine


async def test_posted_once_and_never_again() -> None:
    engine = _engine()
    platform = Platform()
    subs = engine.store.channel_subscriptions(CHANNEL)
    assert await deliver_digest(engine, platform, CHANNEL, subs) == Outcome.POSTED
    assert await deliver_digest(engine, platform, CHANNEL, subs) == Outcome.ALREADY_POSTED
    assert len(platform.messages) == 1
    [(_, digest, key)] = platform.messages
    assert key == outbox_key(CHANNEL, DAY, ("stat.ML",)) and len(digest.cards) == 10
    row = Outbox(engine.store).get(key)
    assert row is not None and row.state == "sent" and row.attempts == 1


async def test_crash_after_the_platform_accepted_but_before_sent_was_written() -> None:
    engine = _engine()
    platform = Platform()
    subs = engine.store.channel_subscriptions(CHANNEL)
    selection = await engine.plan_digest(CHANNEL, subs)
    outbox = Outbox(engine.store)
    row = outbox.plan(CHANNEL, DAY, ("stat.ML",), [p.id for p in selection.papers])
    outbox.sending(row.key)
    # The platform got the message, then the process died before recording it.
    await platform.post_digest_keyed(CHANNEL, engine.digest_message(selection), row.key)
    assert await resume_unfinished(engine, {"test": platform}) == 1
    assert len(platform.messages) == 1  # reconciled, not re-sent
    assert outbox.get(row.key).state == "sent"  # type: ignore[union-attr]
    assert engine.store.delivered_ids(CHANNEL, [p.id for p in selection.papers]) == {p.id for p in selection.papers}


async def test_crash_before_the_platform_call_sends_on_restart_the_same_papers() -> None:
    engine = _engine()
    platform = Platform()
    selection = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    outbox = Outbox(engine.store)
    row = outbox.plan(CHANNEL, DAY, ("stat.ML",), [p.id for p in selection.papers[:3]])
    outbox.sending(row.key)
    assert await resume_unfinished(engine, {"test": platform}) == 1
    [(_, digest, _)] = platform.messages
    assert [c.paper_id for c in digest.cards] == list(row.paper_ids)  # the digest as planned
    assert await deliver_digest(engine, platform, CHANNEL, engine.store.channel_subscriptions(CHANNEL)) == (
        Outcome.ALREADY_POSTED
    )


async def test_transient_failures_are_retried_then_marked_failed_with_the_reason() -> None:
    engine = _engine()
    flaky = Platform(fail=[ConnectionError("reset by peer")])
    subs = engine.store.channel_subscriptions(CHANNEL)
    assert await deliver_digest(engine, flaky, CHANNEL, subs, backoff_s=0.01) == Outcome.POSTED
    assert len(flaky.messages) == 1

    other = ChannelRef("test", "w", "c2")
    engine.store.subscribe(Subscription(id=0, channel=other, category="stat.ML"))
    down = Platform(fail=[RuntimeError("HTTP 503")] * 3)
    outcome = await deliver_digest(engine, down, other, engine.store.channel_subscriptions(other), backoff_s=0.01)
    assert outcome == Outcome.FAILED
    row = Outbox(engine.store).get(outbox_key(other, DAY, ("stat.ML",)))
    assert row is not None and row.state == "failed" and "HTTP 503" in (row.error or "")
    assert "failed: test:w/c2 (2024-03-26): RuntimeError: HTTP 503" in status_report(engine)


async def test_a_removed_channel_pauses_only_itself() -> None:
    engine = _engine()
    other = ChannelRef("test", "w", "c2")
    engine.store.subscribe(Subscription(id=0, channel=other, category="stat.ML"))
    platform = Platform(fail=[ChannelUnavailable("channel_not_found: invite the bot again")])
    first = await deliver_digest(engine, platform, CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    second = await deliver_digest(engine, platform, other, engine.store.channel_subscriptions(other))
    assert (first, second) == (Outcome.PAUSED, Outcome.POSTED)
    assert engine.store.channel_subscriptions(CHANNEL)[0].paused_reason == "channel_not_found: invite the bot again"
    assert engine.store.channel_subscriptions(other)[0].paused_reason is None
    assert "Paused subscriptions:" in status_report(engine)


async def test_a_stale_feed_is_retried_and_reported_never_posted() -> None:
    wednesday = datetime(2024, 3, 27, 9, 0, tzinfo=UTC)  # the feed should be dated the 27th
    engine = make_engine(FakeArxiv(), now=lambda: wednesday)  # but arXiv still serves the 26th
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat.ML"))
    platform = Platform()
    with pytest.raises(StaleFeed, match="still shows the announcement of 2024-03-26"):
        await deliver_digest(engine, platform, CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    assert platform.messages == []
    assert "last try failed" in status_report(engine)


async def test_quiet_days_say_one_line_only_when_asked() -> None:
    saturday = datetime(2024, 3, 30, 14, 0, tzinfo=UTC)  # no announcement on Friday evening
    store = Store(":memory:")
    store.migrate()
    engine = make_engine(FakeArxiv(), store=store, now=lambda: saturday)
    loud, silent = ChannelRef("test", "w", "loud"), ChannelRef("test", "w", "silent")
    store.subscribe(
        Subscription(id=0, channel=loud, category="stat.ML", say_when_quiet=True, time="09:00", timezone="UTC")
    )
    store.subscribe(Subscription(id=0, channel=silent, category="stat.ML", time="09:00", timezone="UTC"))
    platform = Platform()
    scheduler = DigestScheduler(engine, {"test": platform}, now=lambda: saturday)
    await scheduler.run_slot(("09:00", "UTC"))
    await scheduler.run_slot(("09:00", "UTC"))  # a second run the same day says nothing more
    notes = [(c, d) for c, d, _ in platform.messages if d.is_note]
    assert [c for c, _ in notes] == [loud]
    assert "No arXiv announcement for Saturday 30 Mar" in notes[0][1].note


async def test_the_admin_channel_gets_a_report_when_something_failed() -> None:
    engine = make_engine(FakeArxiv(status={"/rss/": 503}), config=make_config(admin={"channel": "console:admins"}))
    here = ChannelRef("console", "", "lab")
    engine.store.subscribe(Subscription(id=0, channel=here, category="stat.ML", time="09:00", timezone="UTC"))
    platform = Platform()
    scheduler = DigestScheduler(engine, {"console": platform}, now=lambda: FEED_MORNING, retry_delay_s=3600)
    scheduler.start()
    await scheduler.run_slot(("09:00", "UTC"))
    await scheduler.run_slot(("09:00", "UTC"))  # the retry meets the same problem: nothing new to say
    [(where, report, _)] = [m for m in platform.messages if m[1].is_note]
    assert where == ChannelRef("console", "", "admins")
    assert "problems with the 09:00 UTC digests" in report.note and "console:lab: postponed" in report.note
    # Another channel fails too: the report has changed, so it is posted.
    engine.store.subscribe(
        Subscription(id=0, channel=ChannelRef("console", "", "lab2"), category="stat.ML", time="09:00", timezone="UTC")
    )
    await scheduler.run_slot(("09:00", "UTC"))
    scheduler.shutdown()
    reports = [m[1].note for m in platform.messages if m[1].is_note]
    assert len(reports) == 2 and "console:lab2: postponed" in reports[1]


async def test_fan_out_runs_channels_in_parallel_and_one_slow_channel_does_not_block() -> None:
    engine = make_engine(FakeArxiv())
    for n in range(6):
        engine.store.subscribe(
            Subscription(
                id=0, channel=ChannelRef("test", "w", f"c{n}"), category="stat.ML", time="09:00", timezone="UTC"
            )
        )

    class Slow(Platform):
        in_flight = 0
        most = 0

        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            Slow.in_flight += 1
            Slow.most = max(Slow.most, Slow.in_flight)
            await asyncio.sleep(1.0 if channel.channel == "c0" else 0.05)
            Slow.in_flight -= 1
            await super().post_digest_keyed(channel, digest, key)

    platform = Slow()
    scheduler = DigestScheduler(engine, {"test": platform}, now=lambda: FEED_MORNING)
    run = asyncio.ensure_future(scheduler.run_slot(("09:00", "UTC")))
    await asyncio.sleep(0.5)
    # While c0 is still stuck, the other five channels are already done.
    assert sorted(c.channel for c, _, _ in platform.messages) == ["c1", "c2", "c3", "c4", "c5"]
    await run
    assert len(platform.messages) == 6 and Slow.most > 1


async def test_a_failing_source_is_asked_once_per_fan_out_not_once_per_channel() -> None:
    fake = FakeArxiv(status={"/rss/": 503})
    engine = make_engine(fake)
    for n in range(5):
        engine.store.subscribe(
            Subscription(
                id=0, channel=ChannelRef("test", "w", f"c{n}"), category="stat.ML", time="09:00", timezone="UTC"
            )
        )
    scheduler = DigestScheduler(engine, {"test": Platform()}, now=lambda: FEED_MORNING, retry_delay_s=3600)
    scheduler.start()
    await scheduler.run_slot(("09:00", "UTC"))
    scheduler.shutdown()
    assert fake.count("/rss/") == 2  # one fetch with its one retry, for five channels
    assert "last try failed" in status_report(engine)


async def test_a_requested_digest_goes_through_the_outbox_and_is_never_posted_twice() -> None:
    """`/paper digest` is a "requested" outbox row: a second request while it is being posted, and the
    scheduled digest of the same announcement, do not post the same papers beside it."""
    from bot.cards import Reply
    from bot.commands import Invocation, dispatch
    from bot.delivery import BEING_POSTED, send_reply

    engine = _engine()
    release = asyncio.Event()

    class Slow(Platform):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            await release.wait()
            await super().post_digest_keyed(channel, digest, key)

    platform = Slow()
    answers: list[Reply] = []

    async def answer(reply: Reply) -> None:
        answers.append(reply)

    first = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    posting = asyncio.ensure_future(send_reply(engine, first, answer, poster=platform))
    await asyncio.sleep(0.05)
    second = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    await send_reply(engine, second, answer, poster=platform)
    assert [a.text for a in answers] == [BEING_POSTED]
    subs = engine.store.channel_subscriptions(CHANNEL)
    assert await deliver_digest(engine, platform, CHANNEL, subs) == Outcome.IN_PROGRESS
    release.set()
    await posting
    assert len(platform.messages) == 1 and platform.messages[0][2].endswith(":requested")
    assert await deliver_digest(engine, platform, CHANNEL, subs) == Outcome.ALREADY_POSTED
    assert len(platform.messages) == 1


async def test_a_requested_digest_that_cannot_be_posted_says_what_to_do_without_internals() -> None:
    from bot.cards import Reply
    from bot.commands import Invocation, dispatch
    from bot.delivery import NOT_POSTED, send_reply

    engine = _engine()
    answers: list[Reply] = []

    async def answer(reply: Reply) -> None:
        answers.append(reply)

    down = Platform(fail=[RuntimeError("HTTP 503 from 10.0.0.7")] * 3)
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    await send_reply(engine, reply, answer, poster=down, backoff_s=0.01)
    [said] = answers
    assert said.is_error and said.text == NOT_POSTED and "10.0.0.7" not in said.text
    # The request failed: asking again tries again, and posts.
    again = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    await send_reply(engine, again, answer, poster=down, backoff_s=0.01)
    assert len(down.messages) == 1 and len(answers) == 1


async def test_quiet_days_are_arxivs_only() -> None:
    """A channel following only Hugging Face gets no "no arXiv announcement" line on a Saturday."""
    from tests.fakes.huggingface_server import FakeHuggingFaceServer

    saturday = datetime(2024, 3, 30, 14, 0, tzinfo=UTC)
    with FakeHuggingFaceServer() as hf:
        sections: dict[str, dict[str, object]] = {"sources.huggingface": {"api_url": hf.api_url}}
        engine = make_engine(FakeArxiv(), config=make_config(**sections), now=lambda: saturday)
        here = ChannelRef("test", "w", "hf-only")
        engine.store.subscribe(
            Subscription(id=0, channel=here, category="hf", say_when_quiet=True, time="09:00", timezone="UTC")
        )
        platform = Platform()
        await DigestScheduler(engine, {"test": platform}, now=lambda: saturday).run_slot(("09:00", "UTC"))
        assert not [m for m in platform.messages if m[1].is_note]
        await engine.aclose()


async def test_a_rate_limit_is_a_schedule_never_counted_toward_giving_up() -> None:
    """Five 429s in a row with three attempts allowed: the digest waits each out and is posted."""
    engine = _engine()
    platform = Platform(fail=[RateLimitedPost(0.0) for _ in range(5)])
    subs = engine.store.channel_subscriptions(CHANNEL)
    assert await deliver_digest(engine, platform, CHANNEL, subs, attempts=3, backoff_s=0) == Outcome.POSTED
    assert len(platform.messages) == 1 and not platform.fail


async def test_by_default_every_channel_due_is_delivered_at_once() -> None:
    """No worker count below the channels due: all 300 are in flight together (pacing is the adapter's)."""
    engine = make_engine(FakeArxiv())
    channels = [ChannelRef("test", "w", f"c{n}") for n in range(300)]
    for channel in channels:
        engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
    all_in = asyncio.Event()
    in_flight: set[ChannelRef] = set()

    class Gathering(Platform):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            in_flight.add(channel)
            if len(in_flight) == len(channels):
                all_in.set()
            await asyncio.wait_for(all_in.wait(), 30)  # a bound below 300 would never let them all in
            await super().post_digest_keyed(channel, digest, key)

    platform = Gathering()
    scheduler = DigestScheduler(engine, {"test": platform}, now=engine.now)
    await scheduler.run_slot(scheduler.default_slot)
    assert len(platform.messages) == len(channels)


async def test_a_fan_out_posts_its_first_digests_while_the_other_channels_are_still_being_planned() -> None:
    """Planning is the loop's own work: a few channels at a time, so the first posts' requests progress
    (here: one turn of the loop) before all 300 channels are planned, not after."""
    engine = make_engine(FakeArxiv())
    channels = [ChannelRef("test", "w", f"c{n}") for n in range(300)]
    for channel in channels:
        engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
    started: list[ChannelRef] = []
    started_before_the_first_was_done: list[int] = []

    class Yielding(Platform):
        async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
            started.append(channel)
            await asyncio.sleep(0)  # a request on its way: the loop's turn
            if not started_before_the_first_was_done:
                started_before_the_first_was_done.append(len(started))
            await super().post_digest_keyed(channel, digest, key)

    platform = Yielding()
    deliveries = [deliver_digest(engine, platform, c, engine.store.channel_subscriptions(c)) for c in channels]
    outcomes = await asyncio.gather(*deliveries)
    assert outcomes == [Outcome.POSTED] * len(channels)
    assert started_before_the_first_was_done[0] < 50
