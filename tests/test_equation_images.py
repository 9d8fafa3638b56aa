"""Equations drawn as images: which ones, how they look, the bounds on hostile TeX, the fallback to
Unicode, the cache on disk, and the images carried by the LLM's and the offline explanation."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bot.equation_images as equation_images
from bot.cards import ExplanationEquation, Reply
from bot.equation_images import (
    MAX_BIG_OPERATORS,
    MAX_FRACTIONS,
    MAX_NESTING,
    MAX_TEX_CHARS,
    EquationImageCache,
    EquationRenderer,
    drawing_pool,
    image_filename,
    needs_image,
    refusal,
    render_png,
)
from bot.explain.service import Explainer
from bot.fulltext import parse_full_text
from bot.isolated import WorkerPool
from bot.store import Store
from bot.untrusted import WORD_JOINER
from tests.support import make_config
from tests.support_isolated import alive, draw_or_crash
from tests.test_fulltext import PAPER, RECORDED, SYNTHETIC

LOSS = r"\mathcal{L}(\theta)=\frac{1}{N}\sum_{i=1}^{N}\left\|\epsilon_{i}-\epsilon_{\theta}(x_{t},t)\right\|^{2}"


@pytest.fixture(autouse=True)
def _fresh_renderer_state() -> Iterator[None]:
    """Failures are remembered per process: each test starts clean."""
    equation_images._refused.clear()
    yield
    equation_images._refused.clear()


def _equation(tex: str, label: str = "3", unicode: str = "L(θ) = …") -> ExplanationEquation:
    return ExplanationEquation(
        label=label, tex=tex, unicode=unicode, url=f"https://arxiv.org/html/2501.00001v2#S3.E{label}"
    )


def _renderer(folder: Path, **kwargs: float) -> EquationRenderer:
    return EquationRenderer(EquationImageCache(folder), **kwargs)


# --- which equations become images ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex",
    [
        LOSS,
        r"\int_{0}^{\infty}e^{-x^{2}}\,dx",
        r"\prod_{t=1}^{T}p(x_{t}\mid x_{<t})",
        r"x=\sqrt{a^{2}+b^{2}}",
        r"\binom{n}{k}p^{k}",
        r"\lim_{n\to\infty}a_{n}",
        r"\operatorname*{arg\,max}_{\theta}J(\theta)",
        r"\begin{pmatrix}a&b\\c&d\end{pmatrix}",
    ],
)
def test_equations_unicode_draws_badly_become_images(tex: str) -> None:
    assert needs_image(tex)


@pytest.mark.parametrize("tex", [r"y=Wx+b", r"\|x\|_{2}\leq\epsilon", r"h_{t}=\sigma(W h_{t-1})", r"a \quad b"])
def test_equations_unicode_draws_well_stay_unicode(tex: str) -> None:
    assert not needs_image(tex)


# --- drawing ------------------------------------------------------------------------------------------------


def test_a_formula_is_dark_ink_on_an_opaque_white_card_with_padding() -> None:
    image = Image.open(io.BytesIO(render_png(LOSS)))
    assert image.format == "PNG" and image.mode == "L"  # no alpha: the same card in light and dark themes
    width, height = image.size
    assert 200 < width < 2000 and 40 < height < 300
    pixels = image.load()
    assert pixels is not None
    border = [pixels[x, y] for x in range(width) for y in (0, 1, height - 2, height - 1)]
    border += [pixels[x, y] for y in range(height) for x in (0, 1, width - 2, width - 1)]
    assert set(border) == {255}  # padding: the ink never touches the edge
    darkest = int(np.asarray(image).min())
    assert darkest < 60  # real ink, readable contrast on white


def test_latexml_spellings_mathtext_lacks_are_rewritten() -> None:
    # \displaystyle, \tfrac, \lVert, \bm, \mathbbm, \operatorname*, alignment, \label, \bigl: all from real papers.
    tex = (
        r"\displaystyle\tfrac{1}{2}\lVert\bm{x}\rVert^{2}&=\mathbbm{1}[x>0]\label{eq:x}\\&\leq\operatorname*{max}_{y}"
        r"\bigl(y\bigr)\Big[\bigcup_{i}A_{i}\Big]"
    )
    assert refusal(tex) is None
    assert render_png(tex).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("tex", "why"),
    [
        (r"\def\x{\x}\x", "macro"),
        (r"\def\a{\a\a}\a \frac{1}{2}", "macro"),
        (r"\newcommand{\loop}{\loop}\loop", "macro"),
        (r"\input{/etc/passwd}", "macro"),
        (r"\csname relax\endcsname", "macro"),
        (r"\begin{tikzpicture}a\end{tikzpicture}", "environment"),
        (r"\begin{pmatrix}a", "without its"),
        ("\\sum_{i}" * 20 + "x", "too many sums"),
        ("{" * 40 + "x" + "}" * 40, "nested too deep"),
        (r"\frac{1}{2}+" * 30, "too long"),
        ("x" * 10_000, "too long"),
        (r"\frac{a}{b}$\sum$", "dollar"),
        (r"\frac{a}{b", "unbalanced"),
    ],
)
def test_hostile_tex_is_refused_before_mathtext_sees_it(tex: str, why: str) -> None:
    reason = refusal(tex)
    assert reason is not None and why in reason
    with pytest.raises(ValueError):
        render_png(tex)


def test_the_slowest_shapes_let_through_sit_at_the_bounds_and_one_step_past_is_refused() -> None:
    """The bound that keeps the worker's timeout a backstop: the slowest shapes allowed through (the
    longest flat formula, the most sums, the deepest nesting, the most fractions) sit exactly at the limits,
    one step past each is refused before mathtext sees it, and the allowed ones draw (or are too wide, a
    ValueError). How long they take to draw is printed by bench/bench_equations.py (target ≤ 1 s each)."""
    flat = "a+" * MAX_TEX_CHARS
    at_and_past = [
        (flat[:MAX_TEX_CHARS], flat[: MAX_TEX_CHARS + 1]),
        ("\\sum_{i=1}^{n}" * MAX_BIG_OPERATORS + "x", "\\sum_{i=1}^{n}" * (MAX_BIG_OPERATORS + 1) + "x"),
        ("{" * MAX_NESTING + "x" + "}" * MAX_NESTING, "{" * (MAX_NESTING + 1) + "x" + "}" * (MAX_NESTING + 1)),
        ("\\frac{x}{y}+" * MAX_FRACTIONS + "1", "\\frac{x}{y}+" * (MAX_FRACTIONS + 1) + "1"),
    ]
    for allowed, past in at_and_past:
        assert refusal(allowed) is None, allowed
        assert refusal(past) is not None, past
        try:
            assert render_png(allowed).startswith(b"\x89PNG")
        except ValueError:
            pass  # too wide for a chat is a fine answer too: it was drawn and measured, not refused


def test_a_percent_sign_is_not_a_comment() -> None:
    assert render_png(r"\frac{10\%}{2}").startswith(b"\x89PNG")


def test_unknown_macros_fail_inside_mathtext_as_a_value_error() -> None:
    assert refusal(r"\frac{\weirdmacro{x}}{2}") is None
    with pytest.raises(ValueError, match="mathtext"):
        render_png(r"\frac{\weirdmacro{x}}{2}")


# --- the renderer: worker process, timeout, fallback, cache ---------------------------------------------------


def _counted_draws(monkeypatch: pytest.MonkeyPatch, pool: WorkerPool) -> list[str]:
    """The labels of the jobs ``pool`` runs from now on: one per formula handed to mathtext."""
    labels: list[str] = []
    run = pool.run

    async def counted(function: Callable[..., bytes], *args: object, timeout_s: float, label: str = "") -> bytes:
        labels.append(label)
        return await run(function, *args, timeout_s=timeout_s, label=label)

    monkeypatch.setattr(pool, "run", counted)
    return labels


async def test_rendered_once_then_served_from_disk_without_drawing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Served from disk, the formula never reaches the worker again; the time a cached image takes
    # (target ≤ 1 ms) is printed by bench/bench_equations.py.
    pool = drawing_pool()
    draws = _counted_draws(monkeypatch, pool)
    renderer = EquationRenderer(EquationImageCache(tmp_path / "images"), pool=pool)
    path = await renderer.image(LOSS)
    assert path is not None and path.parent == tmp_path / "images" and path.read_bytes().startswith(b"\x89PNG")
    for _ in range(50):
        assert await renderer.image(LOSS) == path
    assert len(draws) == 1


async def test_the_event_loop_keeps_running_while_a_formula_is_drawn(tmp_path: Path) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    render_png("x")  # warm: the draw itself is what runs in the worker
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        assert await _renderer(tmp_path).image("\\sum_{i=1}^{n}" * 8 + r"\frac{1}{x}") is not None
    finally:
        task.cancel()
    assert ticks >= 3


async def test_a_render_past_the_timeout_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    render_png("x")
    with caplog.at_level(logging.INFO, logger="bot.equation_images"):
        assert await _renderer(tmp_path, timeout_s=0.000_001).image(LOSS) is None
    assert any("took over" in r.getMessage() for r in caplog.records)


async def test_a_draw_past_the_timeout_is_killed_and_the_next_formula_is_drawn(tmp_path: Path) -> None:
    r"""A draw that would never end (simulated: ``\hang`` spins) costs its worker, killed at the timeout and
    replaced: the formula is Unicode, the next one an image, and the hung one is not tried again."""
    renderer = EquationRenderer(EquationImageCache(tmp_path), timeout_s=1.0, draw=draw_or_crash)
    assert await renderer.image(r"\frac{a}{c}") is not None
    (worker,) = drawing_pool().pids
    assert await renderer.image(r"\frac{a}{\hang}") is None
    assert not alive(worker)  # killed, not left running
    assert await _renderer(tmp_path, timeout_s=30.0).image(r"\frac{a}{b}") is not None
    assert await renderer.image(r"\frac{a}{\hang}") is None  # remembered: no second worker spent on it


async def test_a_formula_mathtext_cannot_draw_is_unicode_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = _renderer(tmp_path)
    with caplog.at_level(logging.INFO, logger="bot.equation_images"):
        for _ in range(3):
            assert await renderer.image(r"\frac{\weirdmacro{x}}{2}") is None
            assert await renderer.image(r"\def\x{\x}\x\frac{1}{2}") is None
    logged = [r for r in caplog.records if "drawn as Unicode" in r.getMessage()]
    assert len(logged) == 2
    assert all(r.levelno < logging.WARNING for r in logged)  # expected, not an error
    assert not list(tmp_path.glob("*.png"))


def test_the_cache_keeps_under_its_cap_by_dropping_the_oldest(tmp_path: Path) -> None:
    cache = EquationImageCache(tmp_path, max_bytes=10_000)
    for i in range(12):
        path = cache.put(f"x_{{{i}}}", b"\x89PNG" + bytes(1_996))
        assert path is not None
        stamp = 1_700_000_000 + i
        import os

        os.utime(path, (stamp, stamp))
    cache.put("last", b"\x89PNG" + bytes(1_996))
    sizes = [p.stat().st_size for p in tmp_path.glob("*.png")]
    assert sum(sizes) <= 10_000
    assert cache.get("last") is not None and cache.get("x_{0}") is None


def test_the_cache_key_holds_the_render_settings(tmp_path: Path) -> None:
    from bot.equation_images import RenderSettings

    small = EquationImageCache(tmp_path, settings=RenderSettings(font_size_pt=12))
    large = EquationImageCache(tmp_path, settings=RenderSettings(font_size_pt=24))
    assert small.key(LOSS) != large.key(LOSS) and small.key(LOSS) != small.key(LOSS + " ")


async def test_two_thousand_formulas_cost_at_most_the_limit_of_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted, not timed: only ``limit`` formulas reach the worker (their time: bench/bench_equations.py).
    pool = drawing_pool()
    draws = _counted_draws(monkeypatch, pool)
    renderer = EquationRenderer(EquationImageCache(tmp_path), pool=pool)
    many = [_equation(rf"\frac{{{i}}}{{n}}\sum_{{j}}x_{{j}}", label=str(i)) for i in range(2_000)]
    images = await renderer.images(many, 3)
    assert [i.label for i in images] == ["Eq. (0)", "Eq. (1)", "Eq. (2)"]
    assert len(list(tmp_path.glob("*.png"))) == 3
    assert len(draws) == 3


async def test_untrusted_labels_and_alt_texts_arrive_inert(tmp_path: Path) -> None:
    hostile = _equation(
        r"\frac{a}{b}", label="3) @everyone <!channel>", unicode="a/b <script>alert(1)</script> @here \u202eevil"
    )
    (image,) = await _renderer(tmp_path).images([hostile], 3)
    for text in (image.label, image.unicode):
        assert "@everyone" not in text and "@here" not in text and "<!channel>" not in text
        assert "\u202e" not in text
    assert f"@{WORD_JOINER}" in image.unicode
    assert re.fullmatch(r"eq-[A-Za-z0-9-]+\.png", image_filename(image.label))


def test_file_names_come_from_the_label() -> None:
    assert image_filename("Eq. (3)") == "eq-3.png"
    assert image_filename("Eq. (A.2)") == "eq-A-2.png"
    assert image_filename("Eq. (../../etc)") == "eq-etc.png"
    assert image_filename("Eq. ()") == "eq-Eq.png"


# --- the real page ------------------------------------------------------------------------------------------


def test_the_real_pages_formulas_render_or_fall_back_never_raise() -> None:
    """Every formula of the recorded arXiv page (LaTeXML 0.8.8; it has inline math only, no numbered display
    equations): each renders or is refused/fails with a ValueError, and mathtext draws most of them."""
    html = RECORDED.read_text(encoding="utf-8")
    formulas = sorted(set(re.findall(r'alttext="([^"]*)"', html)))
    import html as html_module

    formulas = [html_module.unescape(f) for f in formulas]
    rendered = fallback = 0
    for tex in formulas:
        try:
            render_png(tex)
            rendered += 1
        except ValueError:
            fallback += 1
    assert rendered + fallback == len(formulas) > 20
    assert rendered >= 0.9 * len(formulas), (rendered, fallback)


# --- explanations carry them ----------------------------------------------------------------------------------


async def test_the_offline_explanation_carries_images_of_the_equations_it_shows(tmp_path: Path) -> None:
    store = Store(":memory:")
    store.migrate()
    explainer = Explainer(make_config(), store, None, images_folder=tmp_path / "images")
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    explanation = await explainer.explain(PAPER, full_text=page)
    # Eq. (2) is a norm (Unicode serves it), Eq. (3) a root and Eq. (A.4) a bounded sum: those two are drawn.
    assert [i.label for i in explanation.images] == ["Eq. (3)", "Eq. (A.4)"]
    assert all(Path(i.path).is_file() and i.unicode and "\\" not in i.unicode for i in explanation.images)
    by_label = {e.label: e.image for e in explanation.equations}
    assert by_label["2"] is None and by_label["3"] == explanation.images[0].path
    assert Reply(explanation=explanation).images == explanation.images


async def test_images_follow_the_limit_and_can_be_turned_off(tmp_path: Path) -> None:
    store = Store(":memory:")
    store.migrate()
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    one = Explainer(make_config(images={"max_per_explanation": 1}), store, None, images_folder=tmp_path)
    assert len((await one.explain(PAPER, full_text=page)).images) == 1
    off = Explainer(make_config(images={"max_per_explanation": 0}), store, None, images_folder=tmp_path)
    assert (await off.explain(PAPER, full_text=page)).images == ()
    in_memory = Explainer(make_config(), store, None)  # a database in memory keeps no files either
    assert in_memory.images is None and (await in_memory.explain(PAPER, full_text=page)).images == ()
