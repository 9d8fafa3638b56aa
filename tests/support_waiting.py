"""Waiting on what a test can observe, never on the clock: ``until`` returns as soon as a condition holds
(e.g. a fake has seen the requests it should), and its backstop only turns a hang into a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

BACKSTOP_S = 20.0  # far beyond what any condition here needs; only a broken promise reaches it


async def until(condition: Callable[[], bool], *, what: str, backstop_s: float = BACKSTOP_S) -> None:
    """Return once ``condition()`` holds; AssertionError naming ``what`` if it never does. The condition is
    read between turns of the event loop, so the code under test keeps running while the test waits."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + backstop_s
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)  # a turn for the loop and the fakes' threads; not a measured wait
