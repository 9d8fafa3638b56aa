"""The protocol every adapter satisfies. The scheduler and the runner know adapters only through it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.cards import DigestMessage
from bot.models import ChannelRef


@runtime_checkable
class Adapter(Protocol):
    platform: str

    async def start(self) -> None:
        """Connect and begin listening; returns once running (listening goes on in tasks)."""

    async def stop(self) -> None:
        """Disconnect; safe to call twice."""

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        """Post one message of the bot's own: a digest, or a note (``digest.is_note``: a quiet day, an
        admin report). Raises ChannelUnavailable when the channel is gone for good."""
