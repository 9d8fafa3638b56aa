"""The same expensive request asked twice at once is made once: the second asker waits for the first's
answer (or its failure) instead of paying for another fetch or LLM call.

The work runs in a task of its own, not in the first asker's: every asker (the first included) waits on it
through ``asyncio.shield``, with its own deadline. A person who gives up, or whose command hits its
deadline, stops waiting; the work goes on for the others and, when nobody is left, still finishes, so
what it stores on the way (a parsed full text, a cached explanation) is kept for the next asker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from typing import TypeVar

__all__ = ["once"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


async def once(running: MutableMapping[K, asyncio.Future[T]], key: K, work: Callable[[], Awaitable[T]]) -> T:
    """``work()``'s result, shared by every caller asking for ``key`` while it runs. ``running`` holds the
    requests in flight (one dict per kind of request) and keeps each task alive until it is done."""
    found = running.get(key)
    if found is None:
        found = asyncio.ensure_future(_run(work))
        running[key] = found
        found.add_done_callback(lambda done: _finished(running, key, done))
    return await asyncio.shield(found)


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _finished(running: MutableMapping[K, asyncio.Future[T]], key: K, done: asyncio.Future[T]) -> None:
    if running.get(key) is done:
        del running[key]
    if not done.cancelled() and done.exception() is not None:
        # Retrieved here, so a failure nobody waited for any more is a log line, not an asyncio warning.
        log.debug("shared work for %r failed: %r", key, done.exception())
