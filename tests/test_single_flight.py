"""The same expensive request asked twice at once is made once."""

from __future__ import annotations

import asyncio

import pytest

from bot.single_flight import once


async def test_concurrent_askers_share_one_call_and_its_failure() -> None:
    running: dict[str, asyncio.Future[int]] = {}
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    first = asyncio.ensure_future(once(running, "k", work))
    second = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    gate.set()
    assert await first == 42 and await second == 42 and calls == 1 and running == {}

    async def broken() -> int:
        await asyncio.sleep(0)
        raise RuntimeError("provider down")

    both = [asyncio.ensure_future(once(running, "k", broken)) for _ in range(2)]
    for task in both:
        with pytest.raises(RuntimeError, match="provider down"):
            await task
    assert running == {}


async def test_a_waiter_giving_up_does_not_cancel_the_work_of_the_others() -> None:
    running: dict[str, asyncio.Future[str]] = {}
    gate = asyncio.Event()

    async def work() -> str:
        await gate.wait()
        return "done"

    first = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    impatient = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    assert await first == "done"
