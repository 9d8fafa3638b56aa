"""Discord's limits as a schedule: the bot-wide request budget, the fake Discord that enforces Discord's
limits, and a fan-out to many channels through the real discord.py client in which a 429 never loses a
digest. Time is a fake clock where it can be; the end-to-end fan-out uses limits a hundred times
smaller in time (windows of 50 ms) so that every limit is met for real and the test stays fast."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from adapters.discord import DiscordAdapter, configure_endpoints
from adapters.discord_limiter import TokenBucket, global_retry_after
from bot.config import Config, validate
from bot.delivery import Outcome, deliver_digest
from bot.models import ChannelRef, Subscription
from tests.fakes.discord_limits import DiscordLimits
from tests.fakes.discord_server import GUILD_ID, TOKEN, FakeDiscord
from tests.support import make_config, make_engine

# Discord's limits in a twentieth of the time (5 per 0.25 s per channel) and a fifth of the rate
# (10 per 0.05 s = 200 requests a second for the bot): met for real, quickly.
SMALL = DiscordLimits(channel_messages=5, channel_window_s=0.25, global_requests=10, global_window_s=0.05)
CHANNELS = 30
CARDS = 4


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # first, those already granted note the time they were granted at
        self.now += seconds


@pytest.fixture(autouse=True)
def default_endpoints() -> Iterator[None]:
    yield
    configure_endpoints(make_config())


# --- the request budget ----------------------------------------------------------------------------


async def test_the_bucket_never_lets_more_than_the_limit_into_any_window() -> None:
    clock = FakeClock()
    bucket = TokenBucket.for_limit(50, clock=clock, sleep=clock.sleep)
    granted: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        granted.append(clock.now)

    await asyncio.gather(*(one() for _ in range(500)))
    assert len(granted) == 500
    # Sliding one-second windows starting at every grant: never more than 48, two below Discord's global
    # limit (the headroom for requests that reach Discord late).
    assert max(sum(1 for t in granted if start <= t < start + 1.0) for start in granted) <= 48
    assert granted[-1] <= 500 / 48 + 0.05  # paced at that, not below it


async def test_after_a_stall_the_bucket_catches_up_as_far_as_its_window_allows_and_no_further() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 5, window=(10, 1.0), clock=clock, sleep=clock.sleep)
    for _ in range(5):  # a steady pace: one every 0.1 s, the saved tokens spent
        await bucket.acquire()
    clock.now += 0.6  # the loop was busy: tokens saved up, five of them
    granted: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        granted.append(clock.now)

    await asyncio.gather(*(one() for _ in range(20)))
    assert granted[:5] == [0.6] * 5  # the window (ten a second) had room for the five saved tokens at once
    everything = [0.0] * 5 + granted
    assert max(sum(1 for t in everything if start <= t < start + 1.0) for start in everything) <= 10


async def test_waiters_go_by_priority_then_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 1, clock=clock, sleep=clock.sleep)
    await bucket.acquire()  # the only saved token: everyone below waits
    order: list[str] = []

    async def one(name: str, priority: int) -> None:
        await bucket.acquire(priority)
        order.append(name)

    await asyncio.gather(
        one("card a1", 1), one("card a2", 2), one("header b", 0), one("card b1", 1), one("header c", 0)
    )
    assert order == ["header b", "header c", "card a1", "card b1", "card a2"]


async def test_a_global_429_stops_every_sender_for_its_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 5, clock=clock, sleep=clock.sleep)
    bucket.pause(2.0)
    await bucket.acquire()
    assert clock.now >= 2.0 and bucket.global_429s == 1


def test_only_a_global_429_pauses_everyone() -> None:
    def headers(**values: str) -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))

    assert global_retry_after(429, headers(X_RateLimit_Global="true", Retry_After="1.5")) == 1.5
    assert global_retry_after(429, headers(X_RateLimit_Scope="global", Retry_After="2")) == 2.0
    assert global_retry_after(429, headers(X_RateLimit_Scope="user", Retry_After="2")) is None
    assert global_retry_after(200, headers(X_RateLimit_Global="true")) is None


# --- the fake enforces Discord's limits ------------------------------------------------------------


async def test_the_fake_enforces_the_channel_and_the_global_limit() -> None:
    clock = FakeClock()
    async with FakeDiscord(limits=DiscordLimits(), clock=clock) as fake, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bot {TOKEN}"}

        async def post(channel: int) -> aiohttp.ClientResponse:
            async with http.post(
                f"{fake.api_url}/channels/{channel}/messages", json={"content": "x"}, headers=auth
            ) as r:
                await r.read()
                return r

        answers = [await post(1) for _ in range(6)]
        assert [a.status for a in answers] == [200] * 5 + [429]
        assert answers[0].headers["X-RateLimit-Remaining"] == "4" and answers[0].headers["X-RateLimit-Bucket"]
        assert answers[5].headers["X-RateLimit-Scope"] == "user" and "X-RateLimit-Global" not in answers[5].headers
        statuses = [(await post(100 + n)).status for n in range(50)]  # 5 + 45 = 50 requests in this second
        assert statuses == [200] * 45 + [429] * 5
        last = await post(999)
        assert last.status == 429 and last.headers["X-RateLimit-Global"] == "true" and last.headers["Via"]
        clock.now += 1.0  # a second later the bot may send again
        assert (await post(999)).status == 200
        assert fake.rate_limits is not None and fake.rate_limits.global_429s == 6


# --- a fan-out through discord.py ------------------------------------------------------------------


def _config(fake: FakeDiscord) -> Config:
    values = validate(
        {"discord": {"api_url": fake.api_url, "gateway_url": fake.gateway_url}, "digest": {"limit": CARDS}}
    )
    return Config(values=values, source="test", env={"DISCORD_TOKEN": TOKEN})


async def _fan_out(limiter: TokenBucket) -> tuple[FakeDiscord, list[Outcome], list[Any]]:
    """Every channel's digest at once, as the scheduler delivers a slot (no concurrency bound)."""
    async with FakeDiscord(limits=SMALL) as fake:
        engine = make_engine(config=_config(fake))
        channels = [ChannelRef("discord", str(GUILD_ID), str(7000 + n)) for n in range(CHANNELS)]
        for channel in channels:
            engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
        adapter = DiscordAdapter(engine, ready_timeout=10, guild_ready_timeout=0.05, limiter=limiter)
        await adapter.start()
        try:
            outcomes = await asyncio.gather(
                *(deliver_digest(engine, adapter, c, engine.store.channel_subscriptions(c)) for c in channels)
            )
        finally:
            await adapter.stop()
        posts = [c for c in fake.calls_to("POST", "/channels/") if c.path.endswith("/messages")]
        return fake, list(outcomes), posts


def _stored_per_channel(fake: FakeDiscord) -> Counter[str]:
    return Counter(m["channel_id"] for m in fake.messages.values())


def _duplicates(fake: FakeDiscord) -> int:
    seen = Counter((m["channel_id"], m["content"], repr(m["embeds"])) for m in fake.messages.values())
    return sum(n - 1 for n in seen.values())


async def test_many_channels_are_all_delivered_paced_below_the_global_limit_headers_first() -> None:
    fake, outcomes, posts = await _fan_out(TokenBucket.for_limit(SMALL.global_requests, SMALL.global_window_s))
    assert outcomes == [Outcome.POSTED] * CHANNELS
    assert set(_stored_per_channel(fake).values()) == {1 + CARDS} and len(_stored_per_channel(fake)) == CHANNELS
    assert _duplicates(fake) == 0
    headers = [p for p in posts if _content(p).startswith("**arXiv digest")]
    assert len({h.path for h in headers}) == CHANNELS
    # Every channel's header went out before any channel's card was sent.
    first_card = next(i for i, p in enumerate(posts) if not _content(p))
    assert {p.path for p in posts[:first_card]} == {h.path for h in headers}


def _content(call: Any) -> str:
    return str((call.json or {}).get("content") or "")


async def test_a_burst_past_the_global_limit_is_rescheduled_never_failed() -> None:
    """A budget four times what the fake allows: Discord answers global 429s, discord.py gives up on a
    part after five in a row, and the part goes again, never counted toward failing the digest."""
    limiter = TokenBucket(4 * SMALL.global_requests / SMALL.global_window_s, 4 * SMALL.global_requests)
    fake, outcomes, _ = await _fan_out(limiter)
    assert fake.rate_limits is not None and fake.rate_limits.global_429s > 0
    assert limiter.global_429s > 0  # the budget heard of them and stopped everyone
    assert outcomes == [Outcome.POSTED] * CHANNELS
    assert set(_stored_per_channel(fake).values()) == {1 + CARDS} and len(_stored_per_channel(fake)) == CHANNELS
    assert _duplicates(fake) == 0
