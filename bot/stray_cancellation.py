"""A cancellation that is not ours: shared work someone else cancelled, answered as "took too long".

``asyncio.CancelledError`` means two different things to a command. Raised because *this* task is being
cancelled (the bot shutting down, a closed connection), it must go on up: swallowing it would keep a
stopping bot alive. Raised out of work the command only waited on (a lookup or a full text shared with
other people, cancelled by its owner), it is a failure like any other, and the person who asked must
hear about it instead of getting nothing at all. ``asyncio.Task.cancelling()`` tells the two apart.
"""

from __future__ import annotations

import asyncio
import logging

from bot.cards import Reply

__all__ = ["TOOK_TOO_LONG", "being_cancelled", "took_too_long"]

TOOK_TOO_LONG = (
    "Sorry, that took too long: the work it needed was stopped before it finished. Please try again in a minute."
)


def being_cancelled() -> bool:
    """Whether the running task itself is being cancelled (then the CancelledError must propagate)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def took_too_long(logger: logging.Logger, message: str, *args: object) -> Reply:
    """The private answer to a command whose shared work was cancelled under it; one log line."""
    logger.warning(message + ": work it waited on was cancelled", *args)
    return Reply(text=TOOK_TOO_LONG, ephemeral=True, is_error=True)
