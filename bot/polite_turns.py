"""Whose request a polite service sends next: a person's before scheduled work, the spacing kept.

A ``PoliteHttp`` sends one request at a time, each at least ``min_interval_s`` after the previous one
started. When several wait, the choice is made at the moment the next request may start (not when it
was queued): a request made for a person waiting on a command goes before any request of scheduled work
(a digest's feeds, explanations prepared ahead), and among equals the earliest asked goes first.

Who a request is for travels with the code that makes it, as an ``Urgency`` in a context variable
(``acting_for``): the engine marks a person's command and the scheduler's work, and a request nobody
marked counts as a person's (the worst an unmarked background request can do is go first, as every
request did before there were priorities). An ``Urgency`` is mutable on purpose: work shared by several
askers (a paper looked up once for everyone) starts for whoever asked first and becomes a person's
request the moment a person joins it, even while it waits for its turn.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["Turns", "Urgency", "acting_for", "current_urgency"]


@dataclass(slots=True)
class Urgency:
    """Whether a person is waiting on the request (True) or only scheduled work (False)."""

    for_a_person: bool = True

    def join(self, other: Urgency) -> None:
        """Someone else waits on the same work: it is as urgent as the most urgent of them."""
        self.for_a_person = self.for_a_person or other.for_a_person


_CURRENT: ContextVar[Urgency | None] = ContextVar("paperbot_request_urgency", default=None)


def current_urgency() -> Urgency:
    """Who the code running now works for (a person, unless marked otherwise)."""
    found = _CURRENT.get()
    return found if found is not None else Urgency()


@contextmanager
def acting_for(urgency: Urgency | bool) -> Iterator[Urgency]:
    """Requests made inside are for a person (True) or scheduled work (False), or share ``urgency``."""
    found = urgency if isinstance(urgency, Urgency) else Urgency(urgency)
    token = _CURRENT.set(found)
    try:
        yield found
    finally:
        _CURRENT.reset(token)


@dataclass(slots=True)
class _Waiter:
    urgency: Urgency
    order: int
    granted: asyncio.Future[None] = field(repr=False)

    def rank(self) -> tuple[int, int]:
        return (0 if self.urgency.for_a_person else 1, self.order)


class Turns:
    """One request in flight at a time, each starting ``min_interval_s`` after the previous start; the
    next one chosen when it may start (see the module docstring)."""

    def __init__(self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._waiting: list[_Waiter] = []
        self._busy = False
        self._next_start = -math.inf  # before this (clock time), no request may start
        self._timer: asyncio.TimerHandle | None = None
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        """Requests queued for their turn (not the one in flight)."""
        return sum(not w.granted.done() for w in self._waiting)

    def defer(self, delay_s: float) -> None:
        """No request before ``delay_s`` from now (a service asked us to stay away)."""
        self._next_start = max(self._next_start, self._clock() + delay_s)

    async def take(self) -> None:
        """Wait for this request's turn; ``give_back`` must follow once the request is done."""
        waiter = _Waiter(current_urgency(), next(self._order), asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        self._wake()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.give_back()  # granted just as its asker gave up: the next one goes
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def give_back(self) -> None:
        self._busy = False
        self._wake()

    def _wake(self) -> None:
        if self._busy or self._timer is not None or not self._waiting:
            return
        delay = self._next_start - self._clock()
        if delay > 0:
            self._timer = asyncio.get_running_loop().call_later(delay, self._grant)
        else:
            self._grant()

    def _grant(self) -> None:
        self._timer = None
        self._waiting = [w for w in self._waiting if not w.granted.done()]
        if self._busy or not self._waiting:
            return
        if self._next_start > self._clock():  # moved by a Retry-After while we waited
            self._wake()
            return
        chosen = min(self._waiting, key=_Waiter.rank)
        self._waiting.remove(chosen)
        self._busy = True
        self._next_start = self._clock() + self._min_interval_s
        chosen.granted.set_result(None)
