"""Waiting on what a test can observe, never on the clock: ``until`` returns as soon as a condition holds
(e.g. a fake has seen the requests it should), and its backstop only turns a hang into a failure."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import time
from collections.abc import Callable, Sequence

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


def read_until(process: subprocess.Popen[bytes], needles: Sequence[bytes], *, backstop_s: float = BACKSTOP_S) -> bytes:
    """What ``process`` wrote to its stdout pipe up to the moment every one of ``needles`` is in it (or the
    pipe closed): it wakes as output arrives, and the backstop only turns a hang into a failure."""
    assert process.stdout is not None
    seen = b""
    give_up = time.monotonic() + backstop_s
    while not all(needle in seen for needle in needles) and time.monotonic() < give_up:
        ready, _, _ = select.select([process.stdout], [], [], give_up - time.monotonic())
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen
