"""Work done once for everyone who asks for it at the same time, as urgent as its most urgent asker.

A paper's record, its full text or a feed asked for by twenty people at once is one request to its
source (``bot.single_flight.once``: its own task, each asker waiting with their own deadline, finished
work kept). The request is made for whoever asked first; when a person joins work begun for the
scheduler, it becomes a person's request at once, so a polite service's queue serves it before queued
scheduled work (``bot.polite_turns``): nobody waits longer for work already under way than if
they had asked for it themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from bot.polite_turns import Urgency, acting_for, current_urgency
from bot.single_flight import once

__all__ = ["Flights"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Flights(Generic[K, T]):
    """The work of one kind under way, by key (a paper's source and id, a paper version, a feed)."""

    def __init__(self) -> None:
        self.running: dict[K, asyncio.Future[T]] = {}
        self._urgency: dict[K, Urgency] = {}

    async def once(self, key: K, work: Callable[[], Awaitable[T]]) -> T:
        """``work()``'s result, shared with everyone asking for ``key`` while it runs."""
        asker = current_urgency()
        shared = self._urgency.get(key) if key in self.running else None
        if shared is None:
            shared = self._urgency[key] = Urgency(asker.for_a_person)
        else:
            shared.join(asker)

        async def run() -> T:
            with acting_for(shared):
                return await work()

        try:
            return await once(self.running, key, run)
        finally:
            if key not in self.running:
                self._urgency.pop(key, None)
