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


async def test_the_first_asker_cancelled_leaves_the_work_to_the_second() -> None:
    running: dict[str, asyncio.Future[str]] = {}
    gate = asyncio.Event()

    async def work() -> str:
        await gate.wait()
        return "page"

    first = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    first.cancel()  # the first asker hit its deadline: the fetch it started must go on for the second
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    assert await second == "page" and running == {}


async def test_a_deadline_of_one_waiter_is_not_the_deadline_of_the_work() -> None:
    running: dict[str, asyncio.Future[str]] = {}
    gate = asyncio.Event()
    kept: list[str] = []

    async def work() -> str:
        await gate.wait()
        kept.append("stored")  # what the work stores on the way (a parsed page) is kept
        return "page"

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as deadline:
            deadline.reschedule(asyncio.get_running_loop().time())  # due at once: expires at its first wait
            await once(running, "k", work)
    assert "k" in running  # still running with nobody waiting
    gate.set()
    assert await once(running, "k", work) == "page"
    assert kept == ["stored"] and running == {}


async def test_work_nobody_waits_for_any_more_still_finishes_quietly() -> None:
    running: dict[str, asyncio.Future[str]] = {}
    finished = asyncio.Event()

    async def work() -> str:
        await asyncio.sleep(0)
        finished.set()
        raise RuntimeError("source down")

    asker = asyncio.ensure_future(once(running, "k", work))
    await asyncio.sleep(0)
    asker.cancel()
    await finished.wait()
    await asyncio.sleep(0)
    assert running == {}
