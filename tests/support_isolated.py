"""Picklable jobs for the worker-pool tests: a worker imports this module to run them, so it stays small."""

from __future__ import annotations

import os
import signal
import threading

from bot.equation_images import DEFAULT_SETTINGS, RenderSettings, render_png


def add(a: int, b: int) -> int:
    return a + b


def segfault() -> None:
    """What a C library tripping on hostile input does to its process."""
    os.kill(os.getpid(), signal.SIGSEGV)


def allocate(megabytes: int) -> int:
    """An allocation past the worker's address-space limit: a MemoryError in the worker."""
    return len(bytearray(megabytes * 1024 * 1024))


def spin() -> None:
    """A job that never ends on its own (a parser gone quadratic): it waits on an event nobody sets."""
    threading.Event().wait()


def burn() -> None:
    """A job that only burns CPU, for the CPU limit."""
    while True:
        pass


def refuse(text: str) -> None:
    raise ValueError(f"refused: {text}")


def unpicklable() -> object:
    return lambda: None


def pid() -> int:
    return os.getpid()


def draw_unclamped(tex: str) -> bytes:
    """mathtext handed the hostile TeX as is, without bot.equation_source's clamps: ``\\hspace{1000000}``
    asks Agg for a bitmap of gigabytes (the SIGSEGV of issue 18)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    image = MathTextParser("agg").parse(f"${tex}$", dpi=120, prop=FontProperties(size=18))
    return bytes(memoryview(image[-2] if isinstance(image, tuple) else image))  # type: ignore[arg-type]


def draw_or_crash(tex: str, settings: RenderSettings = DEFAULT_SETTINGS) -> bytes:
    r"""``render_png``, except that a formula with ``\crash`` crashes the worker as a native bug would, and
    one with ``\hang`` never ends."""
    if r"\crash" in tex:
        segfault()
    if r"\hang" in tex:
        spin()
    return render_png(tex, settings)


def alive(pid: int) -> bool:
    """Whether a process with this id still exists (a killed worker is reaped by the pool)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def lexbor_size(data: bytes) -> int:
    """lexbor's parse of a page and nothing else: the native parser a hostile page runs away in."""
    from selectolax.lexbor import LexborHTMLParser

    return len(LexborHTMLParser(data).html or "")
