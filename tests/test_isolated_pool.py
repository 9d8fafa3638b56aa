"""The worker-process pool for native code on untrusted input: results and exceptions cross back, and a
crash, an allocation past the memory limit, a job past its time or CPU limit, or a cancelled caller costs
only that job's worker, which is replaced; the bot's process and event loop are never touched."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

import pytest

from bot.isolated import (
    Limits,
    WorkerCrashed,
    WorkerOutOfMemory,
    WorkerPool,
    WorkerTimedOut,
    close_shared_pools,
    shared_pool,
)
from tests.support_isolated import add, alive, allocate, burn, pid, refuse, segfault, spin, unpicklable

BACKSTOP_S = 60.0  # never reached when things work: outcomes are asserted, not times


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """One pool for the module (a worker starts in about a second); 256 MB and 2 s of CPU per job."""
    shared = WorkerPool(name="test", limits=Limits(memory_bytes=256 * 2**20, cpu_s=2))
    yield shared
    shared.close()


async def _worker(pool: WorkerPool) -> int:
    return await pool.run(pid, timeout_s=BACKSTOP_S)


async def test_a_job_runs_in_another_process_and_its_result_comes_back(pool: WorkerPool) -> None:
    assert await pool.run(add, 2, 3, timeout_s=BACKSTOP_S) == 5
    worker = await _worker(pool)
    assert worker != os.getpid() and pool.pids == [worker]


async def test_a_jobs_own_exception_is_raised_as_is_and_the_worker_stays(pool: WorkerPool) -> None:
    worker = await _worker(pool)
    with pytest.raises(ValueError, match="refused: x"):
        await pool.run(refuse, "x", timeout_s=BACKSTOP_S)
    with pytest.raises(TypeError, match="cannot cross processes"):
        await pool.run(unpicklable, timeout_s=BACKSTOP_S)
    assert await _worker(pool) == worker


async def test_a_segfault_fails_that_job_only_in_one_log_line(
    pool: WorkerPool, caplog: pytest.LogCaptureFixture
) -> None:
    worker = await _worker(pool)
    with caplog.at_level(logging.INFO, logger="bot.isolated"), pytest.raises(WorkerCrashed, match="SIGSEGV"):
        await pool.run(segfault, timeout_s=BACKSTOP_S, label="a hostile formula")
    assert [r.getMessage() for r in caplog.records if r.name == "bot.isolated"] == [
        f"a hostile formula: worker {worker} of test killed by SIGSEGV, replaced"
    ]
    assert not alive(worker)
    assert await pool.run(add, 1, 1, timeout_s=BACKSTOP_S) == 2  # a new worker took over
    assert await _worker(pool) != worker


async def test_an_allocation_past_the_memory_limit_costs_the_worker_not_the_bot(pool: WorkerPool) -> None:
    with pytest.raises(WorkerOutOfMemory, match="256 MB"):
        await pool.run(allocate, 1024, timeout_s=BACKSTOP_S)
    assert await pool.run(allocate, 16, timeout_s=BACKSTOP_S) == 16 * 2**20  # under the limit: fine


async def test_a_job_past_its_timeout_is_killed_and_replaced(pool: WorkerPool) -> None:
    worker = await _worker(pool)
    with pytest.raises(WorkerTimedOut, match=r"took over 0\.5 s"):
        await pool.run(spin, timeout_s=0.5)  # spins forever: the timeout is the only way out
    assert not alive(worker)
    assert await pool.run(add, 1, 2, timeout_s=BACKSTOP_S) == 3


async def test_the_cpu_limit_stops_a_job_even_when_its_caller_would_wait(pool: WorkerPool) -> None:
    with pytest.raises(WorkerTimedOut, match="CPU limit of 2 s"):
        await pool.run(burn, timeout_s=BACKSTOP_S)
    assert await pool.run(add, 1, 2, timeout_s=BACKSTOP_S) == 3


async def test_a_cancelled_caller_takes_its_worker_down_with_it(pool: WorkerPool) -> None:
    worker = await _worker(pool)
    job = asyncio.create_task(pool.run(spin, timeout_s=BACKSTOP_S))
    while not pool._busy:  # the job has reached the worker
        await asyncio.sleep(0)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert not alive(worker)  # else its late answer would be read by the next job
    assert await pool.run(add, 2, 2, timeout_s=BACKSTOP_S) == 4


async def test_the_event_loop_keeps_running_while_a_job_runs(pool: WorkerPool) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    await _worker(pool)
    task = asyncio.create_task(ticker())
    try:
        with pytest.raises(WorkerTimedOut):
            await pool.run(spin, timeout_s=0.3)
    finally:
        task.cancel()
    assert ticks > 0


async def test_shared_pools_close_at_shutdown_and_are_made_anew_on_next_use() -> None:
    first = shared_pool("test-shared")
    assert await first.run(add, 1, 2, timeout_s=BACKSTOP_S) == 3
    (worker,) = first.pids
    close_shared_pools()
    assert first.closed and not alive(worker) and first.pids == []
    with pytest.raises(WorkerCrashed, match="closed"):
        await first.run(add, 1, 2, timeout_s=BACKSTOP_S)
    again = shared_pool("test-shared")
    assert again is not first and await again.run(add, 2, 2, timeout_s=BACKSTOP_S) == 4
    again.close()
