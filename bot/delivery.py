"""Posting every message the bot sends on its own exactly once, whoever triggers it, through the outbox:
a channel's digest once per announcement, a quiet-day note once per day, an admin report once per content.

A channel with the briefing on gets its digest opened by the day's briefing (bot.briefing): the briefing
row is planned in the same transaction as the digest row, holds its text, and is sent first: whoever sends
a digest row sends its unfinished briefing before it (a restart included), and the cards go once the
briefing is sent or has failed for good. In the thread layout the briefing is no message of its own: the
digest row itself holds its text (one row, so a crash anywhere leaves the briefing and the header together)
and the header message opens with it (``DigestMessage.opening``); such a digest is drawn in the thread
layout it was planned for, whatever the channel chooses before a restart finishes it."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date
from enum import Enum
from typing import Protocol, runtime_checkable

from bot.briefing import briefing_note
from bot.cards import DigestMessage, Layout, Reply
from bot.digest import DigestSelection, radar_reasons
from bot.engine import Engine
from bot.errors import ChannelUnavailable, SourceError
from bot.layouts import layout_of
from bot.models import ChannelRef, Paper, Subscription
from bot.outbox import DIGEST_KINDS, NOTE_KINDS, Kind, Outbox, OutboxRow, briefing_key, key_for
from bot.posting_gate import posting_gate

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
    IN_PROGRESS = "being posted by /paper digest"
    NOTHING_NEW = "nothing new"
    PAUSED = "paused"
    FAILED = "failed"
    HANDED_BACK = "handed back at shutdown"


class TransientPostError(Exception):
    """A platform failure worth retrying (5xx, a dropped connection). Adapters may raise it; any other
    unexpected exception from a post is treated the same way."""


class RateLimitedPost(TransientPostError):
    """The platform asked the bot to slow down (a 429): a schedule, not a failure. The post goes again
    after ``retry_after`` seconds and never counts toward giving up; only the shutdown stops it."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.2f} s")
        self.retry_after = max(0.0, retry_after)


async def deliver_digest(
    engine: Engine,
    poster: DigestPoster,
    channel: ChannelRef,
    subscriptions: Sequence[Subscription],
    *,
    attempts: int = 3,
    backoff_s: float = 2.0,
) -> Outcome:
    """Plan, post and record one channel's digest. SourceError propagates (the caller retries later).

    A source that fails does not hold back the channel's other sources: their digest is posted, and then
    the failure is raised so that the caller retries; the retry posts the held-back feeds' papers (the
    channel's deliveries keep every paper to one post)."""
    async with _planning_turn():
        selection = await engine.plan_digest(channel, subscriptions, partial=True)
    outcome = await _deliver_selection(engine, poster, channel, selection, attempts=attempts, backoff_s=backoff_s)
    if selection.held_back:
        log.info("digest for %s: %s; %s held back", channel, outcome.value, ", ".join(selection.held_back))
        raise SourceError(f"{', '.join(selection.held_back)} held back: {selection.held_reason}")
    return outcome


# A slot's fan-out starts every channel at once. Planning a digest is mostly the event loop's own work
# (reading the store): unbounded, every channel's was done before the first post went out, while the
# platform's pacing sat idle. A few at a time, it is done between the posts instead.
_PLANNED_AT_ONCE = 8
_planning: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _planning_turn() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _planning:
        _planning[loop] = asyncio.Semaphore(_PLANNED_AT_ONCE)
    return _planning[loop]


async def _deliver_selection(
    engine: Engine,
    poster: DigestPoster,
    channel: ChannelRef,
    selection: DigestSelection,
    *,
    attempts: int,
    backoff_s: float,
) -> Outcome:
    if selection.announced is None:
        return Outcome.NOTHING_NEW
    outbox = Outbox(engine.store)
    row = outbox.get(key_for(channel, selection.announced, selection.categories))
    if row is not None and row.state == "sent":
        return Outcome.ALREADY_POSTED
    if row is not None and row.state == "failed" and row.attempts >= attempts:
        return Outcome.FAILED
    if outbox.in_flight(channel, selection.announced, selection.categories) is not None:
        return Outcome.IN_PROGRESS
    fresh = False
    if row is None:
        if not selection.papers:
            # Everything in this announcement already reached the channel: remember the day as done.
            engine.mark_posted(selection)
            return Outcome.NOTHING_NEW
        note = await _briefing_text(engine, selection)
        # Sending at once unless a briefing of its own goes first (send_row tells by the row's state).
        row, fresh = _plan_digest(outbox, selection, Kind.DIGEST, note)
    return await send_row(engine, poster, row, selection=selection, attempts=attempts, backoff_s=backoff_s, fresh=fresh)


async def deliver_note(
    engine: Engine,
    poster: DigestPoster,
    channel: ChannelRef,
    kind: Kind,
    day: date,
    note: str,
    *,
    categories: Sequence[str] = (),
    discriminator: str = "",
    attempts: int = 3,
    backoff_s: float = 2.0,
) -> Outcome:
    """Post a one-message note (a quiet day, an admin report) through the outbox: once per key, and
    after a crash the restart posts the note itself, never an empty digest."""
    outbox = Outbox(engine.store)
    row, created = outbox.create(
        channel, day, categories, [], kind, sending=True, note=note, discriminator=discriminator
    )
    if not created:
        if row.state == "sent":
            return Outcome.ALREADY_POSTED
        if row.state == "failed" and row.attempts >= attempts:
            return Outcome.FAILED
    return await send_row(engine, poster, row, attempts=attempts, backoff_s=backoff_s, fresh=created)


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
    """Send one outbox row, of any kind: reconcile a row left "sending" by a crash, then post with
    retries. ``fresh``: the row was just planned as sending by this call, nothing can be out there yet."""
    outbox = Outbox(engine.store)
    gate = posting_gate(engine)
    fresh = fresh and row.state == "sending"  # a planned row is marked sending before its post, always
    # Left "sending" by a crash: it may be out there; only the platform can tell (below).
    left_sending = row.state == "sending" and not fresh
    briefing = _unfinished_briefing(outbox, row) if row.kind in DIGEST_KINDS else None
    if briefing is not None:  # the briefing opens the digest: sent (or failed for good) before the cards
        opened = await send_row(engine, poster, briefing, attempts=attempts, backoff_s=backoff_s)
        if opened == Outcome.PAUSED:  # the channel is gone: the cards would meet the same answer
            outbox.failed(row.key, (outbox.get(briefing.key) or briefing).error or "the channel is not available")
            return Outcome.PAUSED
        if opened == Outcome.HANDED_BACK:  # the cards wait for their briefing, at the next start
            return _hand_back(outbox, row, maybe_posted=left_sending)
    keyed = poster if isinstance(poster, KeyedPoster) else None
    if gate.is_closed():
        return _hand_back(outbox, row, maybe_posted=left_sending)
    if left_sending and keyed is not None:
        found = await keyed.already_posted(row.channel, row.key)
        if found:
            log.info("%s: %s %s was posted before a restart; recording it", row.channel, row.kind, row.key)
            outbox.sent(row)
            return Outcome.ALREADY_POSTED
        left_sending = found is None  # the platform says it is not there: nothing to reconcile any more
    message = message_for(engine, row, selection)
    attempt = 0  # failures so far; a rate limit is not one
    tried = False
    while attempt < attempts:
        if gate.is_closed():  # shutting down: this post does not start; the row waits for the next start
            return _hand_back(outbox, row, maybe_posted=left_sending and not tried)
        if tried or not fresh:
            outbox.sending(row.key)
        tried = True
        try:
            with gate.posting():  # in flight: the shutdown lets it finish (briefly) before cancelling
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
        except RateLimitedPost as err:  # the platform's schedule: wait it out, the attempts stay as they are
            log.info("%s: rate limited; posting again in %.2f s", row.channel, err.retry_after)
            await asyncio.sleep(err.retry_after)
            continue
        except Exception as err:  # transient or unknown: retry with backoff, then give up with the reason
            reason = _reason(err)
            log.warning("%s: posting failed (attempt %d/%d): %s", row.channel, attempt + 1, attempts, reason)
            if attempt + 1 == attempts:
                outbox.failed(row.key, reason)
                return Outcome.FAILED
            outbox.retry_later(row.key, reason)
            await asyncio.sleep(backoff_s * 2**attempt * (0.5 + random.random()))
            attempt += 1
            continue
        outbox.sent(row)
        if row.kind in DIGEST_KINDS:
            log.info("posted %d papers to %s (announcement %s)", len(row.paper_ids), row.channel, row.announced)
        else:
            log.info("posted the %s note to %s", row.kind, row.channel)
        return Outcome.POSTED
    return Outcome.FAILED  # pragma: no cover - the loop always returns


def _hand_back(outbox: Outbox, row: OutboxRow, *, maybe_posted: bool) -> Outcome:
    """A row whose post does not start because the bot is stopping: "planned" again, for the next start
    to send; unless a crash left it "sending" and the platform was not asked, which the next start does."""
    if not maybe_posted:
        outbox.hand_back(row.key)
    log.info("%s: %s %s handed back at shutdown", row.channel, row.kind, row.key)
    return Outcome.HANDED_BACK


def message_for(engine: Engine, row: OutboxRow, selection: DigestSelection | None = None) -> DigestMessage:
    """The message a row posts, drawn from what the row holds (the same after a restart)."""
    if row.kind in NOTE_KINDS:
        # A quiet-day note and a briefing belong to a day's feeds; an admin report to no announcement.
        announced = row.announced if row.kind in (Kind.QUIET, Kind.BRIEFING) else None
        briefing = row.kind == Kind.BRIEFING
        return DigestMessage(row.categories, announced, cards=(), note=row.note, briefing=briefing)
    if row.kind not in DIGEST_KINDS:
        raise ValueError(f"outbox row {row.key} has an unknown kind {row.kind!r}")
    message = engine.digest_message(_selection_for(engine, row, selection))
    return _opened(message, row)


def _opened(message: DigestMessage, row: OutboxRow) -> DigestMessage:
    """A digest row holding the day's briefing was planned for the thread layout: its header opens with
    the briefing, and it stays in that layout (a restart finishes it as its first part was posted)."""
    return replace(message, opening=row.note, layout=Layout.THREAD) if row.note else message


def _selection_for(engine: Engine, row: OutboxRow, selection: DigestSelection | None) -> DigestSelection:
    """The digest exactly as planned: the papers stored on the row, in their order, with the radar's why."""
    if selection is not None and tuple(p.id for p in selection.papers) == row.paper_ids:
        return selection
    by_id: dict[str, Paper] = {}
    for category in row.categories:
        # Each feed's own day: a digest of several sources is dated by the newest of them, while a
        # Hugging Face or bioRxiv list is usually of the day before arXiv's announcement.
        day = engine.store.latest_listing_day(category, row.announced)
        if day is not None:
            for paper in engine.store.listed_papers(category, day):
                by_id.setdefault(paper.id, paper)
    papers: list[Paper] = []
    for pid in row.paper_ids:
        found = by_id.get(pid) or engine.store.get_paper(pid)
        if found is None:  # never silently: a planned paper that is gone changes what the channel gets
            log.warning("%s: planned paper %s of %s is no longer stored; it is left out", row.channel, pid, row.key)
            continue
        papers.append(found)
    # The order is the row's; the radar's why lines are drawn again from the channel's radar.
    why = radar_reasons(engine.store, row.channel, row.categories, papers, list(by_id.values()))
    return DigestSelection(row.channel, row.categories, row.announced, tuple(papers), row.more_count, why=why)


async def _briefing_text(engine: Engine, selection: DigestSelection) -> str:
    """The briefing opening this digest, "" for none; a failure to make one never holds the cards back."""
    try:
        return await briefing_note(engine, selection)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the briefing for %s could not be made; the digest goes without it", selection.channel)
        return ""


def _plan_digest(outbox: Outbox, selection: DigestSelection, kind: Kind, note: str) -> tuple[OutboxRow, bool]:
    """The digest row (and, with ``note``, its briefing row) planned in one transaction: a crash leaves
    both or neither. Without a briefing of its own the digest row is created sending (its post follows at
    once); in the thread layout the briefing is the digest row's own (``_folds``), no row of its own."""
    assert selection.announced is not None
    papers = [p.id for p in selection.papers]
    folded = _folds(outbox, selection.channel, note)
    with outbox.db.atomic():
        row, created = outbox.create(
            selection.channel,
            selection.announced,
            selection.categories,
            papers,
            kind,
            sending=not note or folded,
            note=note if folded else "",
            more_count=selection.more_count,
        )
        if note and created and not folded:
            _plan_briefing(outbox, row, note)
    return row, created


def _folds(outbox: Outbox, channel: ChannelRef, note: str) -> bool:
    """Whether the briefing opens the digest's header message instead of going first on its own: the
    thread layout's header is the one message the channel gets (the cards are in its thread)."""
    return bool(note) and layout_of(outbox.store, channel) == Layout.THREAD


def _plan_briefing(outbox: Outbox, digest: OutboxRow, note: str) -> None:
    key = briefing_key(digest.channel, digest.announced, digest.categories, digest.kind)
    if outbox.get(key) is not None:  # a digest asked for again after a failure: this try's words
        outbox.replan(key, [], note=note, opens=digest.key)
        return
    discriminator = "" if digest.kind == Kind.DIGEST else digest.kind
    outbox.create(
        digest.channel,
        digest.announced,
        digest.categories,
        [],
        Kind.BRIEFING,
        note=note,
        discriminator=discriminator,
        opens=digest.key,
    )


def _unfinished_briefing(outbox: Outbox, digest: OutboxRow) -> OutboxRow | None:
    row = outbox.get(briefing_key(digest.channel, digest.announced, digest.categories, digest.kind))
    return row if row is not None and row.state in ("planned", "sending") else None


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


async def send_reply(
    engine: Engine,
    reply: Reply,
    send: Callable[[Reply], Awaitable[None]],
    *,
    poster: DigestPoster | None = None,
    backoff_s: float = 2.0,
) -> None:
    """Send a command's reply. A digest in it (`/paper digest`) goes through the outbox as a
    "requested" row: it counts as delivered only once sent, a second request while it is being posted
    is told so instead of posting it twice, and a crash mid-way is finished by the restart.

    With ``poster`` (the adapter itself) the digest is posted to the channel like a scheduled one, with
    the row's key and its retries, so a restart can tell whether it is already there; without, ``send``
    draws the whole reply and only the outbox bookkeeping is added."""
    selection = reply.selection
    if selection is None or selection.announced is None:
        await send(reply)
        return
    outbox = Outbox(engine.store)
    papers = [p.id for p in selection.papers]
    before = outbox.get(key_for(selection.channel, selection.announced, selection.categories, Kind.REQUESTED))
    # Asked for the briefing only when this request will post: a second click must not cost an LLM call.
    posting = before is None or before.state not in ("planned", "sending", "sent")
    note = await _briefing_text(engine, selection) if posting else ""
    row, created = _plan_digest(outbox, selection, Kind.REQUESTED, note)
    if not created and row.state in ("planned", "sending"):
        await send(Reply(text=BEING_POSTED, ephemeral=True))
        return
    if not created and row.state == "sent":  # posted by a request a moment ago
        await send(Reply(text=ALREADY_POSTED, ephemeral=True))
        return
    if not created:  # a request that failed before: this one is a fresh try, with today's papers
        folded = _folds(outbox, selection.channel, note)
        with outbox.db.atomic():
            row = outbox.replan(row.key, papers, more_count=selection.more_count, note=note if folded else "")
            if note and not folded:
                _plan_briefing(outbox, row, note)
    if poster is not None:
        outcome = await send_row(engine, poster, row, selection=selection, fresh=created, backoff_s=backoff_s)
        if outcome == Outcome.PAUSED:  # the platform's reason is a typed, user-facing one
            paused = outbox.get(row.key)
            reason = paused.error if paused is not None and paused.error else "the channel is not available"
            await send(Reply(text=f"I cannot post here: {reason[:300]}", ephemeral=True, is_error=True))
        elif outcome == Outcome.FAILED:  # the cause is in the log and in /paper status
            await send(Reply(text=NOT_POSTED, ephemeral=True, is_error=True))
        elif outcome == Outcome.HANDED_BACK:
            await send(Reply(text=RESTARTING, ephemeral=True))
        elif reply.text:
            await send(Reply(text=reply.text, ephemeral=True))
        return
    briefing = _unfinished_briefing(outbox, row)
    if briefing is not None:  # drawn by ``send`` too, before the cards; its failure does not stop them
        try:
            await send(Reply(digest=message_for(engine, briefing)))
        except asyncio.CancelledError:
            raise
        except Exception as err:
            outbox.failed(briefing.key, _reason(err))
        else:
            outbox.mark_sent(briefing.key)
    if reply.digest is not None:
        reply = replace(reply, digest=_opened(reply.digest, row))
    try:
        await send(reply)
    except asyncio.CancelledError:
        raise  # shutting down mid-post: the row stays "sending" and the restart finishes it
    except Exception as err:
        outbox.failed(row.key, _reason(err))
        raise
    with engine.store.db.atomic():
        engine.mark_posted(selection)  # the papers drawn by ``send``: exactly the selection's
        outbox.mark_sent(row.key)


BEING_POSTED = "This channel's digest is being posted right now."
RESTARTING = "The bot is restarting: this channel's digest is posted as soon as it is back."
ALREADY_POSTED = "This channel's digest for the latest announcement was just posted here."
NOT_POSTED = (
    "The digest could not be posted just now. Try /paper digest again in a few minutes; /paper status shows why."
)


async def resume_unfinished(
    engine: Engine, posters: dict[str, DigestPoster], *, since: date | None = None, concurrency: int = 0
) -> int:
    """After a restart: finish every digest a crash left planned or sending (reconciling with the
    platform first), channels in parallel: all at once, or at most ``concurrency`` (``[delivery]
    concurrency``; 0 for no bound: the platform's pacing spaces the posts). Returns how many rows were
    handled."""

    async def one(row: OutboxRow, poster: DigestPoster) -> None:
        async with limit:
            try:
                await send_row(engine, poster, row)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("resuming digest %s failed", row.key)

    rows = Outbox(engine.store).unfinished()
    unfinished = {row.key for row in rows}
    todo = [
        (row, posters[row.channel.platform])
        for row in rows
        if row.channel.platform in posters
        and (since is None or row.announced >= since)
        # A briefing whose digest is unfinished is sent by the digest's send, first: never twice at once.
        and not (row.kind == Kind.BRIEFING and row.opens in unfinished)
    ]
    limit = asyncio.Semaphore(concurrency or max(1, len(todo)))
    await asyncio.gather(*(one(row, poster) for row, poster in todo))
    return len(todo)
