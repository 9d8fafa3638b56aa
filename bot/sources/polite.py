"""Polite HTTP for every paper source: spacing, retries with backoff, Retry-After, an honest User-Agent.

One ``PoliteHttp`` per upstream service, shared by everything that talks to it, because the spacing
only holds among requests of the same instance: one request in flight at a time, each starting at least
``min_interval_s`` after the previous one started (arXiv's terms of use ask for 3 s; other services are
given their own pace). Throttling (429), server errors (5xx) and network trouble are retried with
exponential backoff, never sooner than the service's Retry-After; after the last try the caller gets
``SourceUnreachable`` naming the service, and any other answer is returned for the caller to judge.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx

from bot import USER_AGENT
from bot.errors import SourceError, SourceUnreachable

__all__ = ["MAX_DELAY_S", "RETRY_STATUSES", "PoliteHttp", "default_http", "retry_after_seconds"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_DELAY_S = 60.0  # no single wait longer than this: a longer Retry-After ends the request at once
MAX_AWAY_S = 3600.0  # the longest a Retry-After keeps every request to the service away


def retry_after_seconds(response: httpx.Response) -> float | None:
    """A numeric Retry-After in seconds; the HTTP-date form (and garbage) falls back to our own backoff."""
    try:
        seconds = float(response.headers.get("Retry-After", "").strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def default_http(timeout_s: float, *, max_connections: int = 1) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        timeout=timeout_s,
        follow_redirects=True,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


class PoliteHttp:
    """GETs to one service, one at a time and spaced, retried on throttling and failures."""

    def __init__(
        self,
        service: str,
        *,
        http: httpx.AsyncClient | None = None,
        min_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 2.0,
    ) -> None:
        self.service = service  # "arXiv", "Hugging Face": how messages name it
        self._owns_http = http is None
        # Made on first use: a source that is registered but never asked costs no client to close.
        self._http: httpx.AsyncClient | None = http
        self._min_interval_s = min_interval_s
        self._timeout_s = timeout_s
        self._retries = max(0, retries)
        self._backoff_s = backoff_s
        self._lock = asyncio.Lock()
        self._next_start = -math.inf  # monotonic time before which no request may start

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = default_http(self._timeout_s)
        return self._http

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()  # kept (closed): a request after closing fails as httpx says

    async def get(self, url: str, params: dict[str, str] | None, what: str) -> httpx.Response:
        """GET with retries on throttling, server errors and network trouble; other answers are returned.

        ``what`` names the request for messages ("the feed of cs.LG", "paper 2403.15527").
        """
        problem = ""
        for attempt in range(self._retries + 1):
            retry_after: float | None = None
            try:
                response = await self._spaced_get(url, params)
            except httpx.TimeoutException:
                problem = "no answer in time"
            except httpx.TransportError:
                problem = "connection failed"
            except httpx.HTTPError as exc:  # redirect loops, undecodable bodies: retrying will not help
                log.warning("%s request for %s failed: %r", self.service, what, exc)
                message = f"{self.service} sent an answer we could not use for {what}; try again later"
                raise SourceError(message) from None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response)
                if retry_after is not None and retry_after > MAX_DELAY_S:
                    # Asked to stay away longer than anyone should wait: say so at once, and keep away.
                    self.defer_next_request(min(retry_after, MAX_AWAY_S))
                    raise SourceUnreachable(
                        f"{self.service} asks us to wait {_duration(retry_after)} before asking again "
                        f"(for {what}); try again later"
                    )
            # Info, not warning: a retry is routine; the caller logs the final failure it receives.
            log.info("%s: %s for %s (attempt %d of %d)", self.service, problem, what, attempt + 1, self._retries + 1)
            if attempt < self._retries:
                self.defer_next_request(self.delay(attempt, retry_after))
        raise SourceUnreachable(f"{self.service} is not answering ({problem}) for {what}; try again later")

    async def _spaced_get(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        # The lock is held for the whole request, so only one is ever in flight; the spacing counts
        # from the start of the previous request, as arXiv's terms of use do.
        async with self._lock:
            while (wait := self._next_start - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            self._next_start = time.monotonic() + self._min_interval_s
            return await self.http.get(url, params=params, timeout=self._timeout_s)

    def defer_next_request(self, delay_s: float) -> None:
        """No request to this service before ``delay_s`` from now (after a 429, nobody should ask sooner)."""
        self._next_start = max(self._next_start, time.monotonic() + delay_s)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._backoff_s * 2.0**attempt, MAX_DELAY_S)
        return max(backoff, min(retry_after or 0.0, MAX_DELAY_S))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"
