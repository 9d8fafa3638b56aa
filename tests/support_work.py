"""Work counted, not timed: the suite runs in parallel on a shared machine, so a test that the work is
linear compares how many function calls (Python and C) a job makes on input n and 10n. Seconds are
printed by bench/bench_text_speed.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType


def calls_made(job: Callable[[], object]) -> int:
    """How many function calls ``job()`` makes, its callees' included."""
    made = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal made
        if event in ("call", "c_call"):
            made += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        job()
    finally:
        sys.setprofile(previous)
    return made


def grows_linearly(job: Callable[[int], object], n: int, *, slack: float = 1.5) -> bool:
    """Whether ``job(10 * n)`` makes at most ``10 * slack`` times the calls of ``job(n)``."""
    small = calls_made(lambda: job(n))
    large = calls_made(lambda: job(10 * n))
    return large <= 10 * slack * max(small, 1)
