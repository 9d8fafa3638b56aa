"""Pacing every REST request of the bot below Discord's global limit, bot-wide.

Discord allows a bot about 50 requests a second over all its routes (the "global" limit; Discord raises
it for large bots) and, per route, what ``X-RateLimit-Bucket`` / ``-Remaining`` / ``-Reset-After``
announce (a channel takes 5 messages per 5 s). discord.py already keeps the per-route buckets from those
headers and waits them out; what it lacks is the global one: it sends as fast as its callers ask, learns
of the global limit from a 429, and after five 429s in a row gives up with an ``HTTPException``. A fan-out
to a thousand channels then hammers the limit and loses digests.

So every request discord.py makes through its HTTP session first takes a token from one ``RequestLimiter``
shared by the whole process: the hook is an ``aiohttp.TraceConfig`` (``Client(http_trace=…)``), whose
request-start callback aiohttp awaits before it sends anything, so discord.py's own retries are paced as
well. Its request-end callback sees every answer: a global 429 (``X-RateLimit-Global``, or
``X-RateLimit-Scope: global``) stops every sender until its ``Retry-After`` has passed. Interaction
callbacks and follow-ups (``/interactions/``, ``/webhooks/``) are not bound by the global limit, Discord
says, and must answer within seconds: they bypass the queue, as does the gateway.

Waiters are served by priority, then in arrival order: a digest part's priority is its index, so every
channel's header goes out before any channel's cards, then every channel's first card, and so on.

Seam for running several processes (the scale-out issue): the global limit is per bot across processes;
``RequestLimiter`` is the Protocol a shared implementation (a Redis or PostgreSQL token bucket, or a
rate-limit proxy such as nirn-proxy behind ``[discord] api_url``) would fill. ``TokenBucket`` is per process.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Protocol

import aiohttp
from multidict import CIMultiDictProxy

log = logging.getLogger(__name__)

__all__ = [
    "DISCORD_GLOBAL_LIMIT",
    "RequestLimiter",
    "TokenBucket",
    "global_retry_after",
    "limiter_trace",
    "request_priority",
]

DISCORD_GLOBAL_LIMIT = 50  # requests per second per bot, unless Discord raised it for this bot
# Paths under the API base that do not count toward the global limit (Discord's documentation).
UNLIMITED_ROUTES = ("/interactions/", "/webhooks/")

_priority: contextvars.ContextVar[int] = contextvars.ContextVar("discord_request_priority", default=0)


class RequestLimiter(Protocol):
    """The bot's global request budget. One per bot; a cross-process one fills the same two methods."""

    async def acquire(self, priority: int = 0) -> None:
        """Wait for the right to send one request; lower ``priority`` first, then first come."""
        ...

    def pause(self, seconds: float) -> None:
        """Discord answered a global 429: nobody sends for ``seconds``."""
        ...


class TokenBucket:
    """A token bucket (``rate`` tokens a second, at most ``burst`` saved up) served by priority; with
    ``window`` = (n, seconds), also never more than n grants in any window of that many seconds.

    ``clock`` and ``sleep`` are injectable so tests advance time without waiting."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        window: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1 or (window is not None and (window[0] < 1 or window[1] <= 0)):
            raise ValueError("a token bucket needs a positive rate, a burst of at least 1 and a proper window")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._window_s = window[1] if window else 0.0
        self._granted: deque[float] = deque(maxlen=window[0] if window else 1)  # the last n grants' times
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self.global_429s = 0  # how often Discord said the bot went over anyway (reported by the bench)

    @classmethod
    def for_limit(
        cls,
        limit: int = DISCORD_GLOBAL_LIMIT,
        per_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> TokenBucket:
        """Paced at ``limit - 2`` requests per ``per_s`` seconds, evenly, and never more in any window of
        ``per_s``: the headroom is for requests granted just before the loop stalls (a full garbage
        collection, other processes on the cores), which reach Discord late, counted in a later window than
        their grant (one of headroom: 3 to 8 times as many global 429s in a fan-out). A small burst (about a
        sixteenth) catches up after such a stall, as far as the window allows."""
        burst = max(1, limit // 16)
        pace = max(1, limit - 2)
        return cls(pace / per_s, burst, window=(pace, per_s), clock=clock, sleep=sleep)

    async def acquire(self, priority: int = 0) -> None:
        if not self._waiters and self._take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), waiter))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve(), name="discord-request-pacing")
        await waiter

    def pause(self, seconds: float) -> None:
        self.global_429s += 1
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    def _take(self) -> bool:
        now = self._clock()
        self._refill(now)
        # A whole token, give or take rounding: refilling by (1 - tokens) / rate may land a hair short.
        if now < self._paused_until or self._tokens < 1 - 1e-9 or self._window_wait(now) > 0:
            return False
        self._tokens = max(0.0, self._tokens - 1)
        if self._window_s:
            self._granted.append(now)
        return True

    def _window_wait(self, now: float) -> float:
        """How long until the window has room for one more grant (0 when it has)."""
        if not self._window_s or len(self._granted) < (self._granted.maxlen or 1):
            return 0.0
        return self._granted[0] + self._window_s - now

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def _serve(self) -> None:
        """Hand out tokens to the waiters, best priority first, sleeping only as long as pacing needs."""
        while self._waiters:
            if self._waiters[0][2].done():  # its request was cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            if self._take():
                heapq.heappop(self._waiters)[2].set_result(None)
                continue
            now = self._clock()
            wait = max(self._paused_until - now, (1 - self._tokens) / self.rate, self._window_wait(now))
            await self._sleep(max(wait, 1e-6))


@contextmanager
def request_priority(priority: int) -> Iterator[None]:
    """Requests made inside (in this task) wait with this priority: a digest part's index."""
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


def global_retry_after(status: int, headers: CIMultiDictProxy[str]) -> float | None:
    """Seconds to stop everything for, when an answer is a global 429; None otherwise."""
    if status != 429:
        return None
    scope = headers.get("X-RateLimit-Scope", "").lower()
    if headers.get("X-RateLimit-Global", "").lower() != "true" and scope != "global":
        return None
    try:
        return max(0.0, float(headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def limiter_trace(limiter: RequestLimiter, api_base: Callable[[], str]) -> aiohttp.TraceConfig:
    """The aiohttp hook that puts every REST request under ``api_base()`` (read at each request: the
    endpoint is configured after the client is made) through ``limiter``, and reports global 429s."""
    trace = aiohttp.TraceConfig()

    def limited(url: str) -> bool:
        base = api_base().rstrip("/")
        if not url.startswith(base + "/"):
            return False  # the gateway, the CDN
        return not url[len(base) :].startswith(UNLIMITED_ROUTES)

    async def on_start(
        session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        del session, context
        if limited(str(params.url)):
            await limiter.acquire(_priority.get())

    async def on_end(
        session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        del session, context
        retry_after = global_retry_after(params.response.status, params.response.headers)
        if retry_after is not None:
            log.info("Discord: global rate limit reached; every request waits %.2f s", retry_after)
            limiter.pause(retry_after)

    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    return trace
