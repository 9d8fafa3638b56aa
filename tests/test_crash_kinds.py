"""Every kind of message the bot posts on its own (the scheduled digest, a `/paper digest`, the quiet-day
note, the admin report, the briefing opening a digest) survives a crash at each step of the outbox: the
bot dies while the row is planned (a transient failure, waiting to retry), while it is sending before the
platform got the message, and while it is sending after the platform accepted it. The restart (a new
engine on the same database file, as `paperbot run` starts) leaves the platform with exactly what a run
without a crash posts: the same messages, each once, drawn the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import briefing
from bot.cards import DigestMessage, Reply
from bot.commands import Invocation, dispatch
from bot.delivery import send_reply
from bot.engine import Engine
from bot.models import ChannelRef, Subscription
from bot.outbox import Outbox
from bot.scheduler import DigestScheduler
from bot.store import Store
from tests.support import FEED_MORNING, FakeArxiv, make_config, make_engine

SLOT = ("09:00", "UTC")
SATURDAY = datetime(2024, 3, 30, 14, 0, tzinfo=UTC)  # no announcement on Friday evening: a quiet day
LAB = ChannelRef("console", "", "lab")
ADMINS = ChannelRef("console", "", "admins")


class Crash(BaseException):
    """The process dies here: nothing after it runs, no handler sees it (like SIGKILL)."""


class Platform:
    """Keeps what it received across the bot's restarts; like Discord's nonces or Slack's metadata, a
    message with a key already in the channel is not posted twice, and the bot can ask whether it is
    there. ``crash``: for the first post to a channel (after ``after`` posts to it), where the bot dies."""

    platform = "console"

    def __init__(self, crash: dict[ChannelRef, str] | None = None, after: dict[ChannelRef, int] | None = None) -> None:
        self.messages: list[tuple[ChannelRef, DigestMessage, str]] = []
        self.crash = dict(crash or {})
        self.after = dict(after or {})

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.post_digest_keyed(channel, digest, "")

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        if self.after.get(channel, 0) > 0:
            self.after[channel] -= 1
            point = None
        else:
            point = self.crash.pop(channel, None)
        if point == "planned":
            raise ConnectionError("connection reset by peer")  # transient: the row goes back to planned
        if point == "sending, not posted":
            raise Crash
        if not (key and await self.already_posted(channel, key)):
            self.messages.append((channel, digest, key))
        if point == "sending, posted":
            raise Crash

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        return any(c == channel and k == key for c, _, k in self.messages)

    def received(self) -> Counter[tuple[ChannelRef, DigestMessage]]:
        return Counter((channel, message) for channel, message, _ in self.messages)


@dataclass(frozen=True)
class Scenario:
    """One kind of message: how the bot comes to post it, at what time, in which channel."""

    target: ChannelRef
    now: datetime
    trigger: Callable[[Engine, Platform], Awaitable[None]]
    arxiv_status: int | None = None  # the feed answers this status (the admin report needs a failure)
    admin: bool = False
    say_when_quiet: bool = False
    briefing: bool = False  # the channel's digest opens with a briefing: the crash hits the briefing's post


async def _scheduled(engine: Engine, platform: Platform) -> None:
    await DigestScheduler(engine, {"console": platform}, now=engine.now).run_slot(SLOT)


async def _requested(engine: Engine, platform: Platform) -> None:
    """`/paper digest` in the channel, answered by an adapter that posts the digest itself."""
    reply = await dispatch(engine, Invocation(channel=LAB, user="u1"), "/paper digest")
    assert reply.selection is not None, reply.text

    async def answer(r: Reply) -> None:
        assert r.digest is None, "the digest goes through the poster, not the reply"

    await send_reply(engine, reply, answer, poster=platform)


SCENARIOS = {
    "digest": Scenario(LAB, FEED_MORNING, _scheduled),
    "requested": Scenario(LAB, FEED_MORNING, _requested),
    "quiet": Scenario(LAB, SATURDAY, _scheduled, say_when_quiet=True),
    "report": Scenario(ADMINS, FEED_MORNING, _scheduled, arxiv_status=503, admin=True),
    "briefing": Scenario(LAB, FEED_MORNING, _scheduled, briefing=True),
    "requested briefing": Scenario(LAB, FEED_MORNING, _requested, briefing=True),
}
CRASH_POINTS = ("planned", "sending, not posted", "sending, posted")


def _start(db: Path, scenario: Scenario) -> Engine:
    """One start of the bot on the database file."""
    store = Store(db)
    store.migrate()
    fake = FakeArxiv(status={"/rss/": scenario.arxiv_status} if scenario.arxiv_status else {})
    config = make_config(admin={"channel": "console:admins"}) if scenario.admin else make_config()
    engine = make_engine(fake, store=store, config=config, now=lambda: scenario.now)
    if not store.channel_subscriptions(LAB):
        store.subscribe(
            Subscription(
                id=0, channel=LAB, category="stat.ML", time=SLOT[0], timezone=SLOT[1],
                say_when_quiet=scenario.say_when_quiet,
            )
        )  # fmt: skip
    briefing.set_on(store, LAB, scenario.briefing)
    return engine


async def _reference(tmp_path: Path, scenario: Scenario) -> Counter[tuple[ChannelRef, DigestMessage]]:
    """What the platform gets from the same run without a crash."""
    platform = Platform()
    engine = _start(tmp_path / "reference.db", scenario)
    await scenario.trigger(engine, platform)
    await engine.aclose()
    return platform.received()


async def _run_until_it_dies(engine: Engine, platform: Platform, scenario: Scenario, point: str) -> None:
    run = asyncio.ensure_future(scenario.trigger(engine, platform))
    outbox = Outbox(engine.store)
    while not run.done():
        if point == "planned" and any(r.state == "planned" and r.error for r in outbox.unfinished()):
            run.cancel()  # it died while waiting to retry
        await asyncio.sleep(0.005)
    with contextlib.suppress(Crash, asyncio.CancelledError):
        await run
    assert platform.crash == {}, "the crash point was not reached"


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("kind", list(SCENARIOS))
async def test_a_crash_at_any_step_then_a_restart_posts_each_message_once(
    tmp_path: Path, kind: str, point: str
) -> None:
    scenario = SCENARIOS[kind]
    expected = await _reference(tmp_path, scenario)
    assert sum(1 for channel, _ in expected if channel == scenario.target) >= 1

    db = tmp_path / "bot.db"
    platform = Platform(crash={scenario.target: point})
    first = _start(db, scenario)
    await _run_until_it_dies(first, platform, scenario, point)
    first.store.close()  # the process is gone
    unfinished = Outbox(Store(db)).unfinished()
    crashed = "planned" if point == "planned" else "sending"
    if scenario.briefing:  # the briefing's post was hit; its digest, planned with it, waits its turn
        states = {r.kind: r.state for r in unfinished}
        assert states.pop("briefing") == crashed and list(states.values()) == ["planned"]
    else:
        assert [r.state for r in unfinished] == [crashed]

    restarted = _start(db, scenario)
    scheduler = DigestScheduler(restarted, {"console": platform}, now=restarted.now)
    await scheduler.catch_up()  # what `paperbot run` does first: finish what was left, then missed slots
    scheduler.shutdown()

    assert platform.received() == expected
    assert Outbox(restarted.store).unfinished() == []
    await restarted.aclose()


@pytest.mark.parametrize("point", ["sending, not posted", "sending, posted"])
async def test_a_crash_between_the_briefing_and_the_cards_posts_the_cards_once_and_the_briefing_never_again(
    tmp_path: Path, point: str
) -> None:
    scenario = SCENARIOS["briefing"]
    expected = await _reference(tmp_path, scenario)
    db = tmp_path / "bot.db"
    platform = Platform(crash={LAB: point}, after={LAB: 1})  # the briefing goes out; the bot dies at the cards
    first = _start(db, scenario)
    await _run_until_it_dies(first, platform, scenario, point)
    first.store.close()
    rows = {r.kind: r.state for r in Outbox(Store(db)).unfinished()}
    assert rows == {"digest": "sending"}  # the briefing was recorded sent before the cards were tried
    assert [m.is_note for _, m, _ in platform.messages] == [True] + ([False] if point == "sending, posted" else [])

    restarted = _start(db, scenario)
    scheduler = DigestScheduler(restarted, {"console": platform}, now=restarted.now)
    await scheduler.catch_up()
    scheduler.shutdown()

    assert platform.received() == expected
    assert [m.is_note for _, m, _ in platform.messages] == [True, False]
    assert Outbox(restarted.store).unfinished() == []
    await restarted.aclose()
