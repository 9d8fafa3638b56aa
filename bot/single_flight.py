"""The same expensive request asked twice at once is made once: the second asker waits for the first's
answer (or its failure) instead of paying for another LLM call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from typing import TypeVar

__all__ = ["once"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


async def once(running: MutableMapping[K, asyncio.Future[T]], key: K, work: Callable[[], Awaitable[T]]) -> T:
    """``work()``'s result, shared by every caller asking for ``key`` while it runs. ``running`` holds the
    requests in flight (one dict per kind of request). Shielded: a waiter cancelled (a person who gave
    up) does not cancel the work the others wait for."""
    found = running.get(key)
    if found is not None:
        return await asyncio.shield(found)
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    running[key] = future
    try:
        result = await work()
        future.set_result(result)
        return result
    except BaseException as err:
        future.set_exception(err)
        future.exception()  # marked retrieved: nobody else may be waiting
        raise
    finally:
        del running[key]
