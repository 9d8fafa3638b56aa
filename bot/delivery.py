"""Posting a channel's digest exactly once per announcement, whoever triggers it, through the outbox."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from enum import Enum
from typing import Protocol, runtime_checkable

from bot.cards import DigestMessage, Reply
from bot.digest import DigestSelection
from bot.engine import Engine
from bot.errors import ChannelUnavailable
from bot.models import ChannelRef, Paper, Subscription
from bot.outbox import Outbox, OutboxRow
from bot.store import outbox_key

log = logging.getLogger(__name__)

PostDigest = Callable[[ChannelRef, DigestMessage], Awaitable[None]]


class DigestPoster(Protocol):
    """The part of an adapter (adapters/base.py) the engine needs: posting a digest."""

    platform: str

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None: ...


@runtime_checkable
class KeyedPoster(Protocol):
    """An adapter that can dedupe on the platform side: it posts with the outbox key (a Discord nonce,
    Slack message metadata) and can tell whether a message with that key is already in the channel."""

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None: ...

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None: ...


class Outcome(Enum):
    POSTED = "posted"
    ALREADY_POSTED = "already posted"
    NOTHING_NEW = "nothing new"
    PAUSED = "paused"
    FAILED = "failed"


class TransientPostError(Exception):
    """A platform failure worth retrying (5xx, a dropped connection). Adapters may raise it; any other
    unexpected exception from a post is treated the same way."""


async def deliver_digest(
    engine: Engine,
    poster: DigestPoster,
    channel: ChannelRef,
    subscriptions: Sequence[Subscription],
    *,
    attempts: int = 3,
    backoff_s: float = 2.0,
) -> Outcome:
    """Plan, post and record one channel's digest. SourceError propagates (the caller retries later)."""
    selection = await engine.plan_digest(channel, subscriptions)
    if selection.announced is None:
        return Outcome.NOTHING_NEW
    outbox = Outbox(engine.store)
    row = outbox.get(outbox_key(channel, selection.announced, selection.categories))
    if row is not None and row.state == "sent":
        return Outcome.ALREADY_POSTED
    if row is not None and row.state == "failed" and row.attempts >= attempts:
        return Outcome.FAILED
    fresh = row is None
    if row is None:
        if not selection.papers:
            # Everything in this announcement already reached the channel: remember the day as done.
            engine.mark_posted(selection)
            return Outcome.NOTHING_NEW
        papers = [p.id for p in selection.papers]
        row = outbox.plan(channel, selection.announced, selection.categories, papers, sending=True)
    return await send_row(engine, poster, row, selection=selection, attempts=attempts, backoff_s=backoff_s, fresh=fresh)


async def send_row(
    engine: Engine,
    poster: DigestPoster,
    row: OutboxRow,
    *,
    selection: DigestSelection | None = None,
    attempts: int = 3,
    backoff_s: float = 2.0,
    fresh: bool = False,
) -> Outcome:
    """Send one outbox row: reconcile a row left "sending" by a crash, then post with retries.
    ``fresh``: the row was just planned as sending by this call, nothing can be out there yet."""
    outbox = Outbox(engine.store)
    keyed = poster if isinstance(poster, KeyedPoster) else None
    left_sending = row.state == "sending" and not fresh
    if left_sending and keyed is not None and await keyed.already_posted(row.channel, row.key):
        log.info("%s: digest %s was posted before a restart; recording it", row.channel, row.key)
        outbox.sent(row)
        return Outcome.ALREADY_POSTED
    message = engine.digest_message(_selection_for(engine, row, selection))
    for attempt in range(attempts):
        if attempt > 0 or not fresh:
            outbox.sending(row.key)
        try:
            if keyed is not None:
                await keyed.post_digest_keyed(row.channel, message, row.key)
            else:
                await poster.post_digest(row.channel, message)
        except ChannelUnavailable as err:
            log.warning("pausing %s: %s", row.channel, err)
            outbox.failed(row.key, str(err))
            engine.store.pause(row.channel, str(err))
            return Outcome.PAUSED
        except asyncio.CancelledError:
            raise
        except Exception as err:  # transient or unknown: retry with backoff, then give up with the reason
            reason = _reason(err)
            log.warning("%s: posting failed (attempt %d/%d): %s", row.channel, attempt + 1, attempts, reason)
            if attempt + 1 == attempts:
                outbox.failed(row.key, reason)
                return Outcome.FAILED
            outbox.retry_later(row.key, reason)
            await asyncio.sleep(backoff_s * 2**attempt * (0.5 + random.random()))
            continue
        outbox.sent(row)
        log.info("posted %d papers to %s (announcement %s)", len(row.paper_ids), row.channel, row.announced)
        return Outcome.POSTED
    return Outcome.FAILED  # pragma: no cover - the loop always returns


def _selection_for(engine: Engine, row: OutboxRow, selection: DigestSelection | None) -> DigestSelection:
    """The digest exactly as planned: the papers stored on the row, in their order."""
    if selection is not None and tuple(p.id for p in selection.papers) == row.paper_ids:
        return selection
    by_id: dict[str, Paper] = {}
    for category in row.categories:
        for paper in engine.store.listed_papers(category, row.announced):
            by_id.setdefault(paper.id, paper)
    papers = tuple(by_id[pid] for pid in row.paper_ids if pid in by_id)
    more = selection.more_count if selection is not None else 0
    return DigestSelection(row.channel, row.categories, row.announced, papers, more)


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


async def send_reply(engine: Engine, reply: Reply, send: Callable[[Reply], Awaitable[None]]) -> None:
    """Send a command's reply; a digest in it counts as delivered only once it was sent."""
    await send(reply)
    if reply.selection is not None:
        engine.mark_posted(reply.selection)


async def resume_unfinished(
    engine: Engine, posters: dict[str, DigestPoster], *, since: date | None = None, concurrency: int = 50
) -> int:
    """After a restart: finish every digest a crash left planned or sending (reconciling with the
    platform first), channels in parallel. Returns how many rows were handled."""
    limit = asyncio.Semaphore(concurrency)

    async def one(row: OutboxRow, poster: DigestPoster) -> None:
        async with limit:
            try:
                await send_row(engine, poster, row)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("resuming digest %s failed", row.key)

    todo = [
        (row, posters[row.channel.platform])
        for row in Outbox(engine.store).unfinished()
        if row.channel.platform in posters and (since is None or row.announced >= since)
    ]
    await asyncio.gather(*(one(row, poster) for row, poster in todo))
    return len(todo)
