"""Polite HTTP for every paper source: spacing, retries with backoff, Retry-After, an honest User-Agent.

One ``PoliteHttp`` per upstream service, shared by everything that talks to it, because the spacing
only holds among requests of the same instance: one request in flight at a time, each starting at least
``min_interval_s`` after the previous one started (arXiv's terms of use ask for 3 s; other services are
given their own pace). When several wait, a person's request goes before scheduled work's
(:mod:`bot.polite_turns`). Throttling (429), server errors (5xx) and network trouble are retried with
exponential backoff, never sooner than the service's Retry-After; after the last try the caller gets
``SourceUnreachable`` naming the service, and any other answer is returned for the caller to judge.

Redirects are followed hop by hop under the first URL's rules: every hop stays on the same origin (scheme
http(s), host and port), so a page can move within its service but never send us to another host (a
preprint's JATS link to ``http://127.0.0.1:<port>/…``, a full text to a host nobody allowed) or to a
``file:`` URL. httpx runs its request hooks for every hop; the rule travels with the request.
"""

from __future__ import annotations

import logging

import httpx

from bot import USER_AGENT
from bot.errors import SourceError, SourceUnreachable
from bot.polite_turns import Turns
from bot.retry_timing import retry_after_seconds

__all__ = [
    "MAX_DELAY_S",
    "RETRY_STATUSES",
    "PoliteHttp",
    "RedirectRefused",
    "ResponseTooLarge",
    "default_http",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_DELAY_S = 60.0  # no single wait longer than this: a longer Retry-After ends the request at once
MAX_AWAY_S = 3600.0  # the longest a Retry-After keeps every request to the service away
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ResponseTooLarge(SourceError):
    """An answer longer than the caller's ``max_bytes``: stopped while it streamed in, never held whole."""


class RedirectRefused(SourceError):
    """A redirect to another origin (or scheme) than the request's first URL: not followed."""


_HOP_RULE = "paperbot.first_origin"  # the request extension carrying the first URL's origin


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower().rstrip("."), url.port)


async def _check_hop(request: httpx.Request) -> None:
    """Every hop of a source request stays on the first URL's origin (an upgrade to https allowed)."""
    first = request.extensions.get(_HOP_RULE)
    if first is None:
        return  # not a source request (another caller of an injected client)
    scheme, host, port = _origin(request.url)
    first_scheme, first_host, first_port = first
    upgraded = first_scheme == "http" and scheme == "https" and port in (None, 443) and first_port in (None, 80)
    if host != first_host or not ((scheme == first_scheme and port == first_port) or upgraded):
        shown = f"{scheme}://{host}" + (f":{port}" if port else "")
        raise RedirectRefused(f"a redirect to {shown[:80]}, another host than the one asked, was not followed")


def _with_hop_check(client: httpx.AsyncClient) -> httpx.AsyncClient:
    hooks = client.event_hooks
    if _check_hop not in hooks.get("request", []):
        client.event_hooks = {**hooks, "request": [*hooks.get("request", []), _check_hop]}
    return client


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
        self._turns = Turns(min_interval_s)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = default_http(self._timeout_s)
        return _with_hop_check(self._http)

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()  # kept (closed): a request after closing fails as httpx says

    async def get(
        self, url: str, params: dict[str, str] | None, what: str, *, max_bytes: int | None = None
    ) -> httpx.Response:
        """GET with retries on throttling, server errors and network trouble; other answers are returned.

        ``what`` names the request for messages ("the feed of cs.LG", "paper 2403.15527"). With
        ``max_bytes``, a successful answer whose body (as sent, or declared) is longer raises
        ResponseTooLarge as soon as that is known: a huge page costs neither its download nor its memory.
        """
        problem = ""
        for attempt in range(self._retries + 1):
            retry_after: float | None = None
            try:
                response = await self._spaced_get(url, params, max_bytes, what)
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
                retry_after = retry_after_seconds(response.headers)
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

    async def _spaced_get(
        self, url: str, params: dict[str, str] | None, max_bytes: int | None, what: str
    ) -> httpx.Response:
        # The turn is held for the whole request, so only one is ever in flight; the spacing counts
        # from the start of the previous request, as arXiv's terms of use do.
        await self._turns.take()
        try:
            first = {_HOP_RULE: _origin(httpx.URL(url))}
            if max_bytes is None:
                return await self.http.get(url, params=params, timeout=self._timeout_s, extensions=first)
            return await self._bounded_get(url, params, max_bytes, what)
        finally:
            self._turns.give_back()

    async def _bounded_get(self, url: str, params: dict[str, str] | None, max_bytes: int, what: str) -> httpx.Response:
        """The answer read in chunks, given up past ``max_bytes`` (decoded size: a compressed bomb too)."""
        first = {_HOP_RULE: _origin(httpx.URL(url))}
        request = self.http.build_request("GET", url, params=params, timeout=self._timeout_s, extensions=first)
        response = await self.http.send(request, stream=True)
        try:
            if response.status_code in RETRY_STATUSES or not response.is_success:
                await response.aread()  # small error pages: read whole, as the unbounded path does
                return response
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(f"{what} is larger than {max_bytes:,} bytes ({int(declared):,} declared)")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise ResponseTooLarge(f"{what} is larger than {max_bytes:,} bytes")
        finally:
            await response.aclose()
        # The body is decoded already: a Content-Encoding kept here would have it decoded twice.
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
        return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=request)

    def defer_next_request(self, delay_s: float) -> None:
        """No request to this service before ``delay_s`` from now (after a 429, nobody should ask sooner)."""
        self._turns.defer(delay_s)

    @property
    def queued(self) -> int:
        """Requests waiting for their turn (not the one in flight)."""
        return self._turns.waiting

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._backoff_s * 2.0**attempt, MAX_DELAY_S)
        return max(backoff, min(retry_after or 0.0, MAX_DELAY_S))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"
