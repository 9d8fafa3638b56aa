"""One path for every incoming `/paper` command, whatever the platform.

An adapter only translates: its event becomes a ``Request`` (the command read once, who asked, where,
whether they may manage the channel), ``handle`` runs it, and the neutral ``Reply`` goes back through
the adapter's ``send``, which only draws it. Everything between is here, once:

    Request ─▶ the command read once (text parsed, or typed options checked) ─▶ may they manage? (asked
    only for commands that change the channel) ─▶ bot.commands runs it ─▶ bot.delivery.send_reply (a
    requested digest goes through the outbox) ─▶ send

A mistake a user can act on becomes a private answer saying what to type instead; shared work cancelled
under a command says it took too long (bot.stray_cancellation); anything unexpected is logged with its
traceback and a reference id, and the user sees only that id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.cards import Reply
from bot.commands import REGISTRY, Invocation, SubCommand, apology, execute, parse, parse_options, refusal
from bot.delivery import DigestPoster, send_reply
from bot.engine import Engine
from bot.errors import ChannelUnavailable, PaperbotError, UsageError
from bot.models import ChannelRef
from bot.progress import Progress
from bot.stray_cancellation import being_cancelled, took_too_long

__all__ = ["CanManage", "Request", "Send", "Understood", "answer", "handle", "read_options", "read_text"]

log = logging.getLogger(__name__)

Send = Callable[[Reply], Awaitable[None]]
# Whether the person may change what the channel receives: known at once (Discord's permissions, the
# terminal's owner) or asked only when a command needs it (Slack's users.info).
CanManage = bool | Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Understood:
    """A command read once: its sub-command and typed arguments, or the mistake that stops it."""

    command: SubCommand | None
    args: Mapping[str, str] = field(default_factory=dict)
    mistake: PaperbotError | None = None

    def __str__(self) -> str:  # what the log says was asked
        if self.command is None:
            return "(not understood)"
        return " ".join([self.command.name, *self.args.values()])[:100]


def read_text(text: str) -> Understood:
    """`/paper …` text as typed in Slack or the terminal; a mistake is kept for the answer."""
    try:
        command, args = parse(text)
    except PaperbotError as err:
        return Understood(None, mistake=err)
    return Understood(command, args)


def read_options(command: SubCommand | str, options: Mapping[str, str | None]) -> Understood:
    """A sub-command with arguments a platform already typed (Discord's options, a button's value):
    they go in as they are, never joined into text to be parsed again."""
    found = REGISTRY.get(command) if isinstance(command, str) else command
    if found is None:
        return Understood(None, mistake=UsageError(f"Unknown command {str(command)[:30]!r}. Try /paper help"))
    try:
        return Understood(found, parse_options(found, options))
    except PaperbotError as err:
        return Understood(found, mistake=err)


@dataclass(frozen=True, slots=True)
class Request:
    """One incoming command, as an adapter translated its platform's event."""

    understood: Understood
    channel: ChannelRef
    user: str = ""
    can_manage: CanManage = False
    # Told "Fetching … from arXiv…" before a slow fetch, where the platform has no other way to say it
    # at once (the terminal); Slack's acknowledgement and Discord's "thinking…" already do.
    progress: Progress | None = None


async def answer(engine: Engine, request: Request) -> Reply:
    """The neutral reply to a request. Never raises for anything a user can cause."""
    understood = request.understood
    if understood.mistake is not None or understood.command is None:
        return refusal(understood.mistake or UsageError("Try /paper help"))
    command = understood.command
    try:
        needed = command.manages_channel or command.asks_permission
        allowed = await _may_manage(request) if needed else False
    except asyncio.CancelledError:
        if being_cancelled():
            raise
        return took_too_long(log, "permission check for /paper %s in %s", command.name, request.channel)
    except Exception:
        return apology(log, "permission check for /paper %s in %s failed", command.name, request.channel)
    invocation = Invocation(
        channel=request.channel,
        user=request.user,
        can_manage=allowed,
        args=dict(understood.args),
        progress=request.progress,
    )
    return await execute(engine, command, invocation)


async def handle(engine: Engine, request: Request, send: Send, *, poster: DigestPoster | None = None) -> Reply:
    """Answer a request through ``send``, and return the reply it was (a requested digest is posted by
    ``poster``, the adapter itself, with its outbox key, like a scheduled one: a restart after a crash
    can then see it is already in the channel). Only a failure of ``send`` itself escapes."""
    reply = await answer(engine, request)
    try:
        await send_reply(engine, reply, send, poster=poster)
    except ChannelUnavailable as err:
        await send(Reply(text=f"I cannot post here: {err}", ephemeral=True, is_error=True))
    except Exception:
        await send(apology(log, "answering /paper %s in %s failed", request.understood, request.channel))
    return reply


async def _may_manage(request: Request) -> bool:
    may = request.can_manage
    return may if isinstance(may, bool) else await may()
