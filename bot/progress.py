"""Telling a person what a slow command is doing ("Fetching 2403.15527 from arXiv…") where the platform has
no other way to say it at once (the terminal): a callback, plain or async, that may be absent."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

__all__ = ["Progress", "tell"]

Progress = Callable[[str], Awaitable[None] | None]


async def tell(progress: Progress | None, message: str) -> None:
    if progress is None:
        return
    result = progress(message)
    if inspect.isawaitable(result):
        await result
