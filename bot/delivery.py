"""Posting a channel's digest exactly once per announcement, whoever triggers it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Protocol

from bot.cards import DigestMessage, Reply
from bot.engine import Engine
from bot.errors import ChannelUnavailable
from bot.models import ChannelRef, Subscription

log = logging.getLogger(__name__)

PostDigest = Callable[[ChannelRef, DigestMessage], Awaitable[None]]


class DigestPoster(Protocol):
    """The part of an adapter (adapters/base.py) the engine needs: posting a digest."""

    platform: str

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None: ...


class Outcome(Enum):
    POSTED = "posted"
    ALREADY_POSTED = "already posted"
    NOTHING_NEW = "nothing new"
    PAUSED = "paused"


async def deliver_digest(
    engine: Engine, post: PostDigest, channel: ChannelRef, subscriptions: Sequence[Subscription]
) -> Outcome:
    """Plan, post and record one channel's digest. SourceError propagates (the caller retries later)."""
    selection = await engine.plan_digest(channel, subscriptions)
    if selection.announced is None:
        return Outcome.NOTHING_NEW
    if engine.already_posted(selection):
        return Outcome.ALREADY_POSTED
    if not selection.papers:
        # Everything in this announcement already reached the channel: remember the day as done.
        engine.mark_posted(selection)
        return Outcome.NOTHING_NEW
    try:
        await post(channel, engine.digest_message(selection))
    except ChannelUnavailable as err:
        log.warning("pausing %s: %s", channel, err)
        engine.store.pause(channel, str(err))
        return Outcome.PAUSED
    engine.mark_posted(selection)
    log.info("posted %d papers to %s (announcement %s)", len(selection.papers), channel, selection.announced)
    return Outcome.POSTED


async def send_reply(engine: Engine, reply: Reply, send: Callable[[Reply], Awaitable[None]]) -> None:
    """Send a command's reply; a digest in it counts as delivered only once it was sent."""
    await send(reply)
    if reply.selection is not None:
        engine.mark_posted(reply.selection)
