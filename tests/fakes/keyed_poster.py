"""A minimal adapter for the fake chat platform: posts a digest as several messages with nonces derived
from the outbox key, paces each channel from the platform's answers, and answers already_posted from the
channel's history. It is what the real adapters do (Discord: nonces and rate-limit headers; Slack:
metadata + history, Retry-After), reduced to the part the delivery guarantees depend on. aiohttp, like
the Slack and Discord SDKs.

It stands in for a platform adapter in the fan-out benchmark, so it must cost what a good adapter costs
and no more: it waits exactly as long as the platform says (no guessed gap, no 429 it could have
foreseen), and it reads every response body, without which aiohttp closes the connection instead of
returning it to the pool (one TCP handshake per post)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.cards import DigestMessage, render_card_text
from bot.models import ChannelRef

CARDS_PER_MESSAGE = 5


class KeyedHttpPoster:
    """``per_channel_gap_s`` None (the default): pace each channel from the platform's rate-limit headers,
    as the real adapters do. A number: a fixed gap between a channel's posts instead, and 0 for none at
    all (a careless client that meets 429s, for the tests that need one)."""

    platform = "chat"

    def __init__(self, base_url: str, *, connections: int = 100, per_channel_gap_s: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.gap_s = per_channel_gap_s
        self.ratelimited = 0  # 429s met: zero when pacing from the answers
        self._session: aiohttp.ClientSession | None = None
        self._next_post: dict[str, float] = {}  # loop time before which a channel must not be posted to

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.post_digest_keyed(channel, digest, "")

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        for body in digest_bodies(digest, key):
            await self.post_message(channel.channel, body)

    async def post_message(self, channel: str, body: dict[str, Any]) -> dict[str, Any]:
        """Posts one message when the channel's window allows it; returns the platform's message."""
        url = f"{self.base_url}/channels/{channel}/messages"
        loop = asyncio.get_running_loop()
        while True:
            wait = self._next_post.get(channel, -1e9) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.gap_s is not None:
                self._next_post[channel] = loop.time() + self.gap_s
            async with self.session.post(url, json=body) as response:
                raw = await response.read()  # read to the end, or the connection is closed, not reused
                if self.gap_s is None:
                    self._next_post[channel] = loop.time() + _window_wait(response.headers)
                if response.status == 429:
                    self.ratelimited += 1
                    retry_after = float(response.headers.get("Retry-After", "1"))
                    self._next_post[channel] = max(self._next_post.get(channel, 0.0), loop.time() + retry_after)
                    continue
                response.raise_for_status()
                answer: dict[str, Any] = json.loads(raw)
                return answer

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        """True only when every part of the digest is in the channel. A digest cut in the middle by a
        crash is completed by sending it again: the parts already there are deduped by their nonces."""
        async with self.session.get(f"{self.base_url}/channels/{channel.channel}/messages") as response:
            response.raise_for_status()
            messages = await response.json()
        parts: set[int] = set()
        total = 0
        for message in messages:
            nonce = str(message.get("nonce") or "")
            if nonce.startswith(key + "#"):
                index, count = nonce.rsplit("#", 1)[1].split("/")
                parts.add(int(index))
                total = int(count)
        return total > 0 and parts == set(range(total))


def digest_bodies(digest: DigestMessage, key: str) -> list[dict[str, Any]]:
    """The messages a digest is drawn as, each with its nonce (none without an outbox key)."""
    parts = [digest.cards[i : i + CARDS_PER_MESSAGE] for i in range(0, len(digest.cards), CARDS_PER_MESSAGE)]
    parts = parts or [()]
    bodies: list[dict[str, Any]] = []
    for index, cards in enumerate(parts):
        text = "\n\n".join(render_card_text(c) for c in cards) or digest.note or digest.header
        bodies.append({"nonce": f"{key}#{index}/{len(parts)}" if key else None, "text": text})
    return bodies


def _window_wait(headers: Mapping[str, str]) -> float:
    """Seconds until the channel's window reopens, from Discord-style rate-limit headers (0 without them)."""
    if headers.get("X-RateLimit-Remaining", "1") != "0":
        return 0.0
    return float(headers.get("X-RateLimit-Reset-After", "0"))
