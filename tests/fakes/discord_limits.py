"""Discord's rate limits, as the fake Discord (``tests.fakes.discord_server``) enforces them.

- Per channel: ``channel_messages`` messages per ``channel_window_s`` (Discord: 5 per 5 s), a bucket
  whose window opens with its first message. Every answer to a message post carries the bucket's
  headers (``X-RateLimit-Bucket``, ``-Limit``, ``-Remaining``, ``-Reset``, ``-Reset-After``), which is
  what discord.py paces each route by; beyond it a 429 with ``X-RateLimit-Scope: user``.
- Per bot: ``global_requests`` requests per ``global_window_s`` over every route (Discord: 50 per
  second), counted in a sliding window, the strictest reading; beyond it a 429 with
  ``X-RateLimit-Global: true``, ``X-RateLimit-Scope: global`` and ``"global": true``. Interaction
  callbacks and follow-ups do not count (Discord's rule).

Every 429 carries ``Retry-After``, ``retry_after`` and ``Via`` as Discord's do. ``clock`` is injectable.
Small windows (say 10 requests per 0.05 s) keep a test fast while every limit is really met.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DISCORD_LIMITS", "DiscordLimits", "RateLimitAnswer", "RateLimiting"]

UNLIMITED_ROUTES = ("/interactions/", "/webhooks/")


@dataclass(frozen=True)
class DiscordLimits:
    channel_messages: int = 5
    channel_window_s: float = 5.0
    global_requests: int = 50
    global_window_s: float = 1.0


DISCORD_LIMITS = DiscordLimits()


@dataclass(frozen=True)
class RateLimitAnswer:
    """What the limits say about one request: a 429 (``status``), or headers to add to the answer."""

    status: int
    body: dict[str, object]
    headers: dict[str, str]


@dataclass
class _Bucket:
    opened: float = 0.0
    used: int = 0


@dataclass
class RateLimiting:
    limits: DiscordLimits
    clock: Callable[[], float] = time.monotonic
    global_429s: int = 0
    channel_429s: int = 0
    _recent: deque[float] = field(default_factory=deque)
    _channels: dict[int, _Bucket] = field(default_factory=dict)

    def check(self, method: str, path: str) -> RateLimitAnswer | None:
        """A 429 for a request beyond a limit; else the channel bucket's headers for a message post
        (counted), None for anything else (counted toward the global limit unless exempt)."""
        if path.startswith(UNLIMITED_ROUTES):
            return None
        now = self.clock()
        window = self.limits.global_window_s
        while self._recent and self._recent[0] <= now - window:
            self._recent.popleft()
        if len(self._recent) >= self.limits.global_requests:
            self.global_429s += 1
            retry = self._recent[0] + window - now
            return _too_many(retry, scope="global", headers={"X-RateLimit-Global": "true"})
        parts = path.strip("/").split("/")
        message_post = method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages"
        if not message_post:
            self._recent.append(now)
            return None
        bucket = self._channels.setdefault(int(parts[1]), _Bucket(opened=now))
        if now >= bucket.opened + self.limits.channel_window_s:
            bucket.opened, bucket.used = now, 0
        reset_after = bucket.opened + self.limits.channel_window_s - now
        if bucket.used >= self.limits.channel_messages:
            self.channel_429s += 1
            return _too_many(reset_after, scope="user", headers=self._bucket_headers(bucket, reset_after))
        self._recent.append(now)
        bucket.used += 1
        return RateLimitAnswer(200, {}, self._bucket_headers(bucket, reset_after))

    def _bucket_headers(self, bucket: _Bucket, reset_after: float) -> dict[str, str]:
        return {
            "X-RateLimit-Bucket": "fake-channel-messages",
            "X-RateLimit-Limit": str(self.limits.channel_messages),
            "X-RateLimit-Remaining": str(max(0, self.limits.channel_messages - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }


def _too_many(retry_after: float, *, scope: str, headers: dict[str, str]) -> RateLimitAnswer:
    retry_after = max(retry_after, 0.001)
    return RateLimitAnswer(
        429,
        {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": scope == "global"},
        {**headers, "Retry-After": f"{retry_after:.3f}", "X-RateLimit-Scope": scope, "Via": "1.1 google"},
    )
