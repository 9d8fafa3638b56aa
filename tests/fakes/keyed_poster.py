"""A minimal adapter for the fake chat platform: posts a digest as several messages with nonces derived
from the outbox key, paces each channel, honours Retry-After, and answers already_posted from the
channel's history. It is what the real adapters do (Discord: nonces; Slack: metadata + history),
reduced to the part the delivery guarantees depend on."""

from __future__ import annotations

import asyncio

import httpx

from bot.cards import DigestMessage, render_card_text
from bot.models import ChannelRef

CARDS_PER_MESSAGE = 5


class KeyedHttpPoster:
    platform = "chat"

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=100)
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        await self.post_digest_keyed(channel, digest, "")

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        parts = [digest.cards[i : i + CARDS_PER_MESSAGE] for i in range(0, len(digest.cards), CARDS_PER_MESSAGE)]
        parts = parts or [()]
        for index, cards in enumerate(parts):
            text = "\n\n".join(render_card_text(c) for c in cards) or digest.note or digest.header
            nonce = f"{key}#{index}/{len(parts)}" if key else None
            await self._post(channel, {"nonce": nonce, "text": text})

    async def _post(self, channel: ChannelRef, body: dict[str, object]) -> None:
        while True:
            response = await self.client.post(f"/channels/{channel.channel}/messages", json=body)
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        """True only when every part of the digest is in the channel. A digest cut in the middle by a
        crash is completed by sending it again: the parts already there are deduped by their nonces."""
        response = await self.client.get(f"/channels/{channel.channel}/messages")
        response.raise_for_status()
        parts: set[int] = set()
        total = 0
        for message in response.json():
            nonce = str(message.get("nonce") or "")
            if nonce.startswith(key + "#"):
                index, count = nonce.rsplit("#", 1)[1].split("/")
                parts.add(int(index))
                total = int(count)
        return total > 0 and parts == set(range(total))
