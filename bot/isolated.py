"""Native code on untrusted input, run in a small pool of worker processes that may crash or be killed.

Why processes: mathtext, Agg and lexbor are C/C++ fed with paper text. A crafted formula can make them ask
for gigabytes or crash with SIGSEGV, and a crafted page can make a parser run for tens of seconds; in a
thread the first kills the bot and the second cannot be stopped. In a worker process:
- memory is capped (``RLIMIT_AS``): an allocation past it is a MemoryError (or a crash), not swapping;
- CPU time is capped per job (``RLIMIT_CPU``, re-armed before each job), a backstop to the caller's
  ``timeout_s``, after which the worker is killed;
- a worker that crashed, ran out of memory or was killed is replaced; only the job it was on fails.

Workers come from the ``forkserver`` start method: forked from a clean server process, never from the bot,
so they inherit neither the event loop nor the sockets nor the database. They start on first use, warm
up (``warm_up``: e.g. import matplotlib) before any job's clock runs, and say when they are ready.
Jobs are picklable top-level functions with picklable arguments and results. As with any multiprocessing
start method but fork, a script that runs the bot must start it under ``if __name__ == "__main__":``
(the ``paperbot`` command and ``python -m bot`` do).

Errors (all ``WorkerError``, each logged once, as one line, by the pool)::

    WorkerError
     ├── WorkerCrashed       the worker died (a signal such as SIGSEGV, or an exit) during the job
     ├── WorkerTimedOut      the job ran past ``timeout_s`` (or its CPU limit): the worker was killed
     └── WorkerOutOfMemory   the job hit the memory limit (MemoryError in the worker)

An exception the job itself raises (e.g. ValueError) is raised as is, and the worker stays.
Waiting never blocks the event loop: the pipe's file descriptor is watched by the loop itself.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, TypeVarTuple, cast

log = logging.getLogger(__name__)

__all__ = [
    "Limits",
    "WorkerCrashed",
    "WorkerError",
    "WorkerOutOfMemory",
    "WorkerPool",
    "WorkerTimedOut",
    "close_shared_pools",
    "default_pool",
    "shared_pool",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MEMORY_BYTES = 1024 * 1024 * 1024  # address space; a worker with matplotlib loaded uses ~200 MB of it
CPU_S = 30  # per job; callers' timeouts are shorter, this only stops a worker nobody is waiting for
START_TIMEOUT_S = 60.0  # python, the imports and the warm-up on a busy machine
MAX_JOBS = 500  # a worker is replaced after this many jobs: caches in the libraries only grow
_STOP_GRACE_S = 0.5


class WorkerError(Exception):
    """Isolated work that did not finish; ``reason`` says why in a few words (no input in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerCrashed(WorkerError):
    """The worker process died during the job (SIGSEGV, an abort, an exit)."""


class WorkerTimedOut(WorkerError):
    """The job outran its time; the worker was killed and will be replaced."""


class WorkerOutOfMemory(WorkerError):
    """The job hit the worker's memory limit."""


@dataclass(frozen=True, slots=True)
class Limits:
    memory_bytes: int = MEMORY_BYTES
    cpu_s: int = CPU_S


# --- the worker process ----------------------------------------------------------------------------------


def _serve(conn: Connection, limits: Limits, warm_up: Callable[[], object] | None) -> None:
    """A worker's life: limits, warm-up, "ready", then jobs until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the bot, which stops us
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash on hostile input is expected: no core files
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    memory = limits.memory_bytes if hard == resource.RLIM_INFINITY else min(limits.memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    if warm_up is not None:
        warm_up()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return  # the bot is gone
        if job is None:
            return
        function, args = job
        _arm_cpu_limit(limits.cpu_s)
        try:
            reply: tuple[str, object] = ("ok", function(*args))
        except MemoryError:
            conn.send(("out of memory", None))
            return  # whatever was half-built is suspect: a fresh worker takes over
        except Exception as err:
            reply = ("raised", err)
        try:
            conn.send(reply)
        except Exception as err:  # an unpicklable result or exception
            conn.send(
                ("raised", TypeError(f"isolated work returned what cannot cross processes: {type(err).__name__}"))
            )


def _arm_cpu_limit(seconds: int) -> None:
    """RLIMIT_CPU counts the process's whole life, so each job gets ``seconds`` more than used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# --- the pool --------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)  # compared (and hashed) by identity: a set of busy workers
class _Worker:
    process: BaseProcess
    conn: Connection
    jobs: int = 0


async def _readable(conn: Connection, timeout_s: float) -> None:
    """Until ``conn`` has data or its other end closed (TimeoutError past ``timeout_s``), loop kept free."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout_s)
    finally:
        loop.remove_reader(fd)


def _ended(process: BaseProcess) -> str:
    """How a worker that closed its pipe ended, in words, waiting a moment for its exit status."""
    process.join(_STOP_GRACE_S)
    code = process.exitcode
    if code is None:
        process.kill()
        process.join()
        return "stopped answering"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class WorkerPool:
    """At most ``size`` worker processes, started on first use; see the module docstring."""

    def __init__(
        self,
        *,
        name: str = "isolated",
        size: int = 1,
        limits: Limits = Limits(),
        warm_up: Callable[[], object] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
        max_jobs: int = MAX_JOBS,
    ) -> None:
        self.name = name
        self.size = max(1, size)
        self.limits = limits
        self.warm_up = warm_up
        self.start_timeout_s = start_timeout_s
        self.max_jobs = max_jobs
        self.closed = False
        self._context = multiprocessing.get_context("forkserver")
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    @property
    def pids(self) -> list[int]:
        """The process ids of the live workers (for tests and ``status``)."""
        return [w.process.pid for w in [*self._idle, *self._busy] if w.process.pid is not None]

    async def run(self, function: Callable[[*Ts], T], *args: *Ts, timeout_s: float, label: str = "") -> T:
        """``function(*args)`` in a worker, its result or its exception; a WorkerError when the worker
        crashed, ran out of memory or outran ``timeout_s`` (it is then killed). ``label`` names the job in
        the one log line a failure gets (say what the input was, bounded: it is untrusted)."""
        what = label or getattr(function, "__qualname__", "work")
        async with self._semaphore():
            if self.closed:
                raise WorkerCrashed("the pool is closed")
            worker = self._idle.pop() if self._idle else await self._start()
            self._busy.add(worker)
            try:
                kind, value = await self._job(worker, function, args, timeout_s, what)
            except BaseException:
                # Crashed, timed out or cancelled: the worker may still be on the job, or its answer still in
                # the pipe where the next job would read it. Never reused.
                self._busy.discard(worker)
                await asyncio.to_thread(self._stop, worker, politely=False)
                raise
            self._busy.discard(worker)
            worker.jobs += 1
            if self.closed or worker.jobs >= self.max_jobs:
                await asyncio.to_thread(self._stop, worker, politely=True)
            else:
                self._idle.append(worker)
        if kind == "raised":
            assert isinstance(value, BaseException)
            raise value  # the job's own exception: the worker is fine and stays
        return cast(T, value)

    async def _job(
        self, worker: _Worker, function: Callable[..., object], args: tuple[Any, ...], timeout_s: float, what: str
    ) -> tuple[str, object]:
        """The worker's answer: ("ok", result) or ("raised", the job's exception); a WorkerError else."""
        try:
            await asyncio.to_thread(worker.conn.send, (function, args))  # a large page must not hold the loop
            await _readable(worker.conn, timeout_s)
            kind, value = worker.conn.recv()
        except TimeoutError:
            log.warning(
                "%s took over %g s in worker %s of %s: killed, replaced", what, timeout_s, worker.process.pid, self.name
            )
            raise WorkerTimedOut(f"took over {timeout_s:g} s") from None
        except (EOFError, OSError):
            ended = await asyncio.to_thread(_ended, worker.process)
            error: WorkerError = WorkerCrashed(f"worker {ended}")
            if ended == f"killed by {signal.SIGXCPU.name}":
                error = WorkerTimedOut(f"over the CPU limit of {self.limits.cpu_s} s")
            log.warning("%s: worker %s of %s %s, replaced", what, worker.process.pid, self.name, ended)
            raise error from None
        if kind == "out of memory":
            log.warning("%s: out of memory in worker %s of %s, replaced", what, worker.process.pid, self.name)
            raise WorkerOutOfMemory(f"over the memory limit of {self.limits.memory_bytes // 2**20} MB")
        return kind, value

    def _semaphore(self) -> asyncio.Semaphore:
        """The gate for the running loop: a new loop (``asyncio.run`` again) gets a new gate."""
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Semaphore(self.size))
        return self._gate[1]

    async def _start(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve, args=(child, self.limits, self.warm_up), name=f"paperbot-{self.name}", daemon=True
        )
        try:
            await asyncio.to_thread(process.start)  # the first start also starts the fork server
        except OSError as err:  # no more processes or file descriptors: this job goes without
            parent.close()
            log.warning("a worker of %s could not be started (%s)", self.name, err)
            raise WorkerCrashed("the worker could not be started") from None
        finally:
            child.close()
        worker = _Worker(process, parent)
        try:
            await _readable(parent, self.start_timeout_s)
            kind, _ = parent.recv()
        except TimeoutError:
            await asyncio.to_thread(self._stop, worker, politely=False)
            log.warning("a worker of %s did not start within %g s", self.name, self.start_timeout_s)
            raise WorkerTimedOut("the worker did not start") from None
        except (EOFError, OSError):
            ended = await asyncio.to_thread(_ended, process)
            parent.close()
            log.warning("a worker of %s %s while starting", self.name, ended)
            raise WorkerCrashed(f"the worker {ended} while starting") from None
        except BaseException:
            await asyncio.to_thread(self._stop, worker, politely=False)
            raise
        assert kind == "ready"
        return worker

    @staticmethod
    def _stop(worker: _Worker, *, politely: bool) -> None:
        """Ask an idle worker to leave (``politely``), else kill it; wait for it either way."""
        if politely:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.process.join(_STOP_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()

    def close(self) -> None:
        """Stop every worker (a job under way fails as WorkerCrashed). Safe to call twice; quick."""
        self.closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            self._stop(worker, politely=True)
        for worker in list(self._busy):
            if worker.process.is_alive():
                worker.process.kill()


# --- pools shared by the whole process -------------------------------------------------------------------

_shared: dict[str, WorkerPool] = {}


def shared_pool(
    name: str, *, size: int = 1, limits: Limits = Limits(), warm_up: Callable[[], object] | None = None
) -> WorkerPool:
    """The process's pool called ``name``, created on first use (again after ``close_shared_pools``) and
    closed at exit. The settings apply when it is created."""
    pool = _shared.get(name)
    if pool is None or pool.closed:
        pool = _shared[name] = WorkerPool(name=name, size=size, limits=limits, warm_up=warm_up)
    return pool


def default_pool() -> WorkerPool:
    """The pool for untrusted parsing (pages, XML): two workers, so one slow page does not hold the other."""
    return shared_pool("untrusted", size=2)


def close_shared_pools() -> None:
    """Stop every shared pool's workers: the runner calls this at shutdown; it also runs at exit."""
    for pool in list(_shared.values()):
        pool.close()


atexit.register(close_shared_pools)
