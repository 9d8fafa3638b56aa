"""How-to-ask hints, at most once an hour per person and channel, on every platform.

A mention of the bot outside a paper's thread answers with a one-line hint. Mentioning the bot fifty times
must not make it post fifty hints (on Discord they are public; on Slack each is still a message someone
gets), so every adapter asks this one limiter before it hints. Memory is bounded: the least recently hinted
people are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["HINTS_REMEMBERED", "HINT_EVERY_S", "HintLimiter"]

HINT_EVERY_S = 3600.0
HINTS_REMEMBERED = 10_000


class HintLimiter:
    """Whether a person may be given a hint in a channel now; remembers that they were."""

    def __init__(
        self,
        *,
        every_s: float = HINT_EVERY_S,
        remembered: int = HINTS_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_s = every_s
        self.remembered = remembered
        self._clock = clock
        self._last: OrderedDict[tuple[Hashable, Hashable], float] = OrderedDict()

    def allow(self, channel: Hashable, person: Hashable) -> bool:
        """True (and remembered) when ``person`` was not hinted in ``channel`` within ``every_s``."""
        key = (channel, person)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.remembered:
            self._last.popitem(last=False)
        return True
