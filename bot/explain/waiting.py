"""How long a person waits for an LLM, and what they hear meanwhile.

A provider call is bounded by ``[llm] timeout_s`` (60 s by default, retries included): after "Asking
<model>…", a stalled provider meant a minute of silence in the terminal and in chat. A person asking (an
explanation, a thread question, `paperbot ask`) now waits at most ``LLM_WAIT_S``; every ``STILL_WAITING_S``
they are told "Still waiting for <model> (10 s of at most 30 s)…", and at the end they get the offline
answer with a note saying so. The call itself is shared work (bot.single_flight): it goes on, and what it
brings is cached for the next asker. Preparing ahead of posting waits as long as the provider allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.explain.sanitize import safe_llm_text
from bot.progress import Progress, tell

__all__ = ["LLM_WAIT_S", "STILL_WAITING_S", "Wait", "too_slow_note", "wait_for_llm"]

# Slack's "… follows in a few seconds", then at most the lookup and full-text deadlines (10 s each) and
# this: well under a minute in the worst case, and long enough for a normal structured answer (2,000
# tokens at 100 tokens a second).
LLM_WAIT_S = 30.0
STILL_WAITING_S = 10.0

T = TypeVar("T")


class Wait:
    """How long a person waits (``limit_s``) and how often they hear that they still do (``every_s``)."""

    def __init__(self, limit_s: float = LLM_WAIT_S, every_s: float = STILL_WAITING_S) -> None:
        self.limit_s = limit_s
        self.every_s = every_s


def too_slow_note(model: str, wait: Wait, what: str) -> str:
    """The note on the offline answer given when the model was too slow (``what``: "explanation"…)."""
    shown = safe_llm_text(model, 100)
    return (
        f"{shown} has not answered within {wait.limit_s:g} s, so this is the offline {what}; its answer is kept "
        f"if it comes, so asking again in a minute or two may bring it."
    )


async def wait_for_llm(work: Awaitable[T], *, model: str, wait: Wait, progress: Progress | None) -> T | None:
    """``work``'s result, or None when it has not come within ``wait.limit_s`` (``work`` is then cancelled:
    give it a shielded wait, as ``single_flight.once`` is, to let the call go on). ``progress`` hears
    "Still waiting…" every ``wait.every_s``."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + wait.limit_s
    shown = safe_llm_text(model, 100)
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return None
            done, _ = await asyncio.wait({task}, timeout=min(wait.every_s, left))
            if done:
                return task.result()
            waited = loop.time() - started
            if waited < wait.limit_s:
                await tell(progress, f"Still waiting for {shown} ({waited:.0f} s of at most {wait.limit_s:g} s)…")
    finally:
        if not task.done():
            task.cancel()
