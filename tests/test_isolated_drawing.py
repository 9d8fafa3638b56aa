"""Equation drawing in its worker process: a formula that crashes mathtext, exhausts the worker's memory
or never ends costs one image (the Unicode form, one log line), and the next formula is drawn; the
hostile formulas of issue 18 are drawn bounded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.equation_images as equation_images
from bot.equation_images import EquationImageCache, EquationRenderer, render_png, warm_up_drawing
from bot.isolated import Limits, WorkerCrashed, WorkerOutOfMemory, WorkerPool
from tests.support_isolated import alive, draw_or_crash, draw_unclamped

BACKSTOP_S = 60.0
HOSTILE = r"\frac{a}{b}\hspace{1000000}x"
TWICE_HOSTILE = r"\frac{a}{b}\hspace{1000000}x\hspace{1000000}y"


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """One drawing worker for the module, with matplotlib loaded before its first formula."""
    shared = WorkerPool(name="test-drawing", limits=Limits(memory_bytes=768 * 2**20), warm_up=warm_up_drawing)
    yield shared
    shared.close()


@pytest.fixture(autouse=True)
def _fresh_failures() -> Iterator[None]:
    equation_images._refused.clear()
    yield
    equation_images._refused.clear()


def _renderer(folder: Path, pool: WorkerPool) -> EquationRenderer:
    return EquationRenderer(EquationImageCache(folder), timeout_s=BACKSTOP_S, pool=pool, draw=draw_or_crash)


async def test_a_formula_that_crashes_mathtext_costs_one_image_in_one_log_line(
    tmp_path: Path, pool: WorkerPool, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = _renderer(tmp_path, pool)
    assert await renderer.image(r"\frac{1}{2}") is not None
    (worker,) = pool.pids
    with caplog.at_level(logging.INFO):
        assert await renderer.image(r"\frac{1}{\crash}") is None
        assert await renderer.image(r"\frac{1}{\crash}") is None  # remembered: not a second crash
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]
    assert len(logged) == 1 and "killed by SIGSEGV" in logged[0] and r"\\frac{1}{\\crash}" in logged[0]
    assert not alive(worker)
    path = await renderer.image(r"\frac{3}{4}")  # a fresh worker draws the next one
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")


async def test_mathtext_unclamped_on_the_hostile_formula_costs_only_its_worker(pool: WorkerPool) -> None:
    """The real failure of issue 18: mathtext handed ``\\hspace{1000000}`` asks for gigabytes. In the
    worker it meets the memory limit (or crashes); the pool recovers and the next drawing works."""
    for tex in (HOSTILE, TWICE_HOSTILE):
        with pytest.raises((WorkerOutOfMemory, WorkerCrashed)):
            await pool.run(draw_unclamped, tex, timeout_s=BACKSTOP_S)
        png = await pool.run(render_png, r"\frac{a}{b}", timeout_s=BACKSTOP_S)
        assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("tex", [HOSTILE, TWICE_HOSTILE])
async def test_the_hostile_formulas_are_drawn_with_their_spaces_clamped(
    tmp_path: Path, pool: WorkerPool, tex: str
) -> None:
    path = await _renderer(tmp_path, pool).image(tex)
    assert path is not None and path.stat().st_size < 100_000
