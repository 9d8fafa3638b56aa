"""A minimal adapter for the fake chat platform: posts a digest as several messages with nonces derived
from the outbox key, paces each channel by honouring Retry-After, and answers already_posted from the
channel's history. It is what the real adapters do (Discord: nonces; Slack: metadata + history),
reduced to the part the delivery guarantees depend on. aiohttp, like the Slack and Discord SDKs."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.cards import DigestMessage, render_card_text
from bot.models import ChannelRef

CARDS_PER_MESSAGE = 5


class KeyedHttpPoster:
    platform = "chat"

    def __init__(self, base_url: str, *, connections: int = 100, per_channel_gap_s: float = 1.05) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.gap_s = per_channel_gap_s
        self._session: aiohttp.ClientSession | None = None
        self._last: dict[str, float] = {}

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
        parts = [digest.cards[i : i + CARDS_PER_MESSAGE] for i in range(0, len(digest.cards), CARDS_PER_MESSAGE)]
        parts = parts or [()]
        for index, cards in enumerate(parts):
            text = "\n\n".join(render_card_text(c) for c in cards) or digest.note or digest.header
            nonce = f"{key}#{index}/{len(parts)}" if key else None
            await self._post(channel, {"nonce": nonce, "text": text})

    async def _post(self, channel: ChannelRef, body: dict[str, Any]) -> None:
        url = f"{self.base_url}/channels/{channel.channel}/messages"
        # Pace each channel ourselves (as the Slack adapter does) rather than collect 429s.
        loop = asyncio.get_running_loop()
        wait = self._last.get(channel.channel, -1e9) + self.gap_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last[channel.channel] = loop.time()
        while True:
            async with self.session.post(url, json=body) as response:
                if response.status == 429:
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                response.raise_for_status()
                return

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
