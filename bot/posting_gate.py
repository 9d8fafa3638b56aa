"""Stopping the bot's own posts at shutdown without losing or repeating one.

A post cut off half-way leaves its outbox row "sending": the restart must then ask the platform whether
the message is out there (and a platform that cannot tell gets it twice). So at SIGTERM the runner
closes the gate: no post starts any more (a row that had not started is handed back, "planned", and the
next start sends it), the posts in flight get a short grace to finish and be recorded sent, and only
then is what is left cancelled. Nothing here is global: one gate per engine.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine import Engine

HANDED_BACK = "handed back at shutdown: sent at the next start"


class PostingGate:
    def __init__(self) -> None:
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # The tasks that post (a slot's fan-out, the resumption at start): awaited after they are
        # cancelled, so that what they record on the way out reaches the store before it closes.
        self.tasks: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()

    def close(self) -> None:
        """No post starts from now on."""
        self._closed = True

    def is_closed(self) -> bool:
        # A method, not an attribute: it changes while a caller awaits between two reads.
        return self._closed

    @contextmanager
    def posting(self) -> Iterator[None]:
        """Around one platform call: counted as in flight until it returns or fails."""
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def drained(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until no post is in flight; whether none is."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def settled(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) for the posting tasks to end, once they were cancelled."""
        current = asyncio.current_task()
        pending = [t for t in self.tasks if t is not current and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)


_gates: weakref.WeakKeyDictionary[Engine, PostingGate] = weakref.WeakKeyDictionary()


def posting_gate(engine: Engine) -> PostingGate:
    """The engine's gate (made on first use)."""
    gate = _gates.get(engine)
    if gate is None:
        gate = _gates[engine] = PostingGate()
    return gate


__all__ = ["HANDED_BACK", "PostingGate", "posting_gate"]
