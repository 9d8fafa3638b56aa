"""Posting a digest's parts on Discord in the channel's layout (``adapters.discord_layouts``), and
recording each in ``bot.posted_messages`` so that a reaction, a button or a reply finds its paper.

- Every part carries a nonce (its index in the digest); discord.py sends it with ``enforce_nonce``, so a
  part resent after a crash comes back from Discord as the message it already made, recorded in place.
- Every request waits for the bot-wide budget (``adapters.discord_limiter``) with the part's index as its
  priority: in a fan-out every channel's header goes out first.
- A 429 is a schedule, never a failure: discord.py waits each one out and gives up after five in a row;
  the request then simply goes again.
- ``thread``: the header is posted, then a thread is started from it (``POST
  /channels/{channel}/messages/{message}/threads``). A thread started from a message has that message's
  id, so after a crash the second start, refused with code 160004 ("a thread has already been created for
  this message"), tells the thread's id. Where no thread can be held (a direct message, a voice or
  stage channel's chat, a thread itself, missing permissions, any other refusal of Discord's), the digest
  falls back to the cards layout (the header is edited to say so) and the log says why.
- ``compact``: each message carries its 👍/👎 buttons as components. They are sent from a view that is
  stopped before sending, so discord.py keeps nothing per message: presses arrive as interactions and
  are handled by ``adapters.discord_buttons``, however old the message and whatever restarts came between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

import discord

from adapters.discord_commands import NO_MENTIONS
from adapters.discord_embeds import DiscordMessage, PaperButton, render_digest
from adapters.discord_layouts import render_layout
from adapters.discord_limiter import request_priority
from bot import posted_messages
from bot.cards import DigestMessage
from bot.errors import ChannelUnavailable
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.store import Store

__all__ = ["THREAD_ALREADY_CREATED", "post_parts", "send_part", "unavailable_reason"]

log = logging.getLogger("adapters.discord")

THREAD_ALREADY_CREATED = 160004  # Discord's code: a thread has already been created for this message
_ARCHIVE_AFTER_MIN: Literal[1440] = 1440  # a day: the digest's thread stays in the channel list until the next one

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a part goes and under which channel it is recorded (a thread is a channel of its own)."""

    ref: ChannelRef
    target: discord.abc.Messageable
    thread_of: str | None = None  # the header a thread was started from


async def post_parts(
    client: discord.Client,
    store: Store,
    channel: ChannelRef,
    target: discord.abc.Messageable,
    digest: DigestMessage,
    nonce_of: Callable[[int], str],
    *,
    outbox_key: str | None,
) -> None:
    """Send each part of ``digest`` in its layout, in order, and record it."""
    messages = render_layout(digest)
    if any(m.in_thread for m in messages):
        reason = _no_threads_here(client, channel)
        if reason is not None:
            log.info("%s: the thread layout falls back to cards: %s", channel, reason)
            messages = render_digest(digest)
    here = _Where(channel, target)
    thread: _Where | None = None
    header: discord.Message | None = None
    index = 0
    while index < len(messages):
        message, where = messages[index], here
        if message.in_thread:
            if thread is None and header is not None:
                thread = await _open_thread(client, channel, header, messages[0].thread_name or "Papers")
            if thread is None:
                messages = await _fall_back(channel, header, digest)
                continue  # the same part, now a card in the channel
            where = thread
        try:
            with request_priority(index):
                sent = await send_part(where.target, message, nonce_of(index), where.ref)
        except ChannelUnavailable as err:
            if not message.in_thread:
                raise
            log.info("%s: the digest's thread refused a card (%s)", channel, err)
            messages = await _fall_back(channel, header, digest)
            continue
        header = sent if index == 0 else header
        posted_messages.record(
            store,
            where.ref,
            str(sent.id),
            _kind(digest, message),
            paper_id=message.paper_id,
            thread_id=where.thread_of,
            outbox_key=outbox_key,
            papers=message.papers,
        )
        index += 1


def _kind(digest: DigestMessage, message: DiscordMessage) -> MessageKind:
    if digest.is_note:
        return MessageKind.BRIEFING if digest.briefing else MessageKind.NOTE
    if message.paper_id:
        return MessageKind.CARD
    return MessageKind.DIGEST if message.papers else MessageKind.HEADER


def _no_threads_here(client: discord.Client, channel: ChannelRef) -> str | None:
    """Why this channel cannot hold the digest's thread, when that is known before posting; else None."""
    if not channel.workspace:
        return "a direct message cannot hold threads"
    cached = client.get_channel(int(channel.channel))
    if cached is None or isinstance(cached, discord.TextChannel):
        return None
    return f"a {getattr(cached, 'type', 'non-text')} channel cannot hold threads"


async def _open_thread(
    client: discord.Client, channel: ChannelRef, header: discord.Message, name: str
) -> _Where | None:
    """The thread started from ``header`` (made now, or found made by a run that crashed after making
    it); None when Discord refuses one here (logged: the digest falls back to cards)."""
    try:
        with request_priority(1):
            data = await _until_taken(
                channel,
                lambda: client.http.start_thread_with_message(
                    header.channel.id, header.id, name=name, auto_archive_duration=_ARCHIVE_AFTER_MIN
                ),
            )
        thread_id = int(data["id"])
    except discord.HTTPException as err:
        if err.code == THREAD_ALREADY_CREATED:
            thread_id = header.id  # a thread started from a message has the message's id
        elif err.status >= 500:
            raise  # Discord's trouble, not the channel's: the outbox tries the digest again
        else:
            log.info("%s: no thread for the digest (%s); it falls back to cards", channel, _refusal(err))
            return None
    ref = ChannelRef(channel.platform, channel.workspace, str(thread_id))
    guild_id = int(channel.workspace) if channel.workspace else None
    return _Where(ref, client.get_partial_messageable(thread_id, guild_id=guild_id), thread_of=str(header.id))


async def _fall_back(
    channel: ChannelRef, header: discord.Message | None, digest: DigestMessage
) -> list[DiscordMessage]:
    """The digest's cards layout, its header message edited to match, for the rest of the parts."""
    log.info("%s: the rest of the digest is posted as cards, in the channel", channel)
    messages = render_digest(digest)  # the cards layout, whatever the digest's own
    if header is not None:
        first = messages[0]
        try:
            await header.edit(content=first.content, embeds=list(first.embeds), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:  # the header keeps its thread wording; the cards still go out
            log.info("%s: the digest's header was not edited (HTTP %s)", channel, err.status)
    return messages


def _refusal(err: discord.HTTPException) -> str:
    known = {
        50001: "Missing Access",
        50013: "Missing Permissions: the bot needs Create Public Threads and Send Messages in Threads",
        50024: "this channel's type cannot hold threads",
        10008: "the header message is gone",
    }
    return known.get(err.code, f"HTTP {err.status}, Discord error code {err.code}")


@lru_cache(maxsize=256)
def _view(buttons: tuple[PaperButton, ...]) -> discord.ui.View | None:
    """The buttons as components, built once for every channel that shows the same papers: a stopped view
    is only read (``to_components``), and each one built is a web of objects that only the cyclic garbage
    collector frees; a thousand of them in a fan-out made its full collections stall the loop for
    half a second at a time."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(
            discord.ui.Button(
                label=button.label, custom_id=button.custom_id, row=button.row, style=discord.ButtonStyle.secondary
            )
        )
    view.stop()  # nothing kept per message: presses are read from the interaction (adapters.discord_buttons)
    return view


async def send_part(
    target: discord.abc.Messageable, message: DiscordMessage, nonce: str, channel: ChannelRef
) -> discord.Message:
    """One part, sent until Discord takes it (a 429 waits, see ``_until_taken``). Only a refusal
    (missing access, unknown channel) ends it, as ChannelUnavailable."""
    view = _view(message.buttons)

    def send() -> Awaitable[discord.Message]:
        if view is None:
            return target.send(
                content=message.content, embeds=list(message.embeds), nonce=nonce, allowed_mentions=NO_MENTIONS
            )
        return target.send(
            content=message.content,
            embeds=list(message.embeds),
            nonce=nonce,
            allowed_mentions=NO_MENTIONS,
            view=view,
        )

    try:
        return await _until_taken(channel, send)
    except (discord.Forbidden, discord.NotFound) as err:
        raise ChannelUnavailable(unavailable_reason(err, channel)) from err


async def _until_taken(channel: ChannelRef, request: Callable[[], Awaitable[T]]) -> T:
    """A request made again while Discord answers 429: a schedule, not a failure. discord.py waits out
    each 429 itself and gives up after five in a row; the request then goes again (a message with the
    same nonce, so Discord keeps one copy), never counted toward the digest's attempts."""
    while True:
        try:
            return await request()
        except discord.RateLimited as err:  # only with a max_ratelimit_timeout: a long wait, waited here
            log.info("%s: rate limited for %.1f s; the request waits", channel, err.retry_after)
            await asyncio.sleep(err.retry_after)
        except discord.HTTPException as err:
            if err.status != 429:
                raise
            wait = _retry_after(err)
            log.info("%s: still rate limited after discord.py's retries; sending again in %.2f s", channel, wait)
            await asyncio.sleep(wait)


def _retry_after(err: discord.HTTPException) -> float:
    try:
        return min(60.0, max(0.0, float(err.response.headers.get("Retry-After", "1"))))
    except (AttributeError, ValueError):
        return 1.0


def unavailable_reason(err: discord.HTTPException, channel: ChannelRef) -> str:
    known = {
        50001: "Missing Access: the bot cannot see the channel (removed from the server, or the channel is private)",
        10003: "Unknown Channel: the channel was deleted",
        50013: "Missing Permissions: the bot needs View Channel, Send Messages and Embed Links there",
    }
    what = known.get(err.code, f"HTTP {err.status}, Discord error code {err.code}")
    return f"Discord channel {channel.channel}: {what}. Fix it, then /paper subscribe again to resume."
