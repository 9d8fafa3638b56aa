"""Equations drawn as TeX draws them: display fractions at body size, sized delimiters, environments laid
out cell by cell, braces with their labels, bounded spacing and bitmaps, and images for the most important
equations first."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.cards import ExplanationEquation
from bot.equation_images import (
    MAX_HEIGHT_PX,
    MAX_WIDTH_PX,
    EquationImageCache,
    EquationRenderer,
    by_importance,
    mathtext_source,
    refusal,
    render_png,
)
from bot.equation_layout import Environment, parse
from bot.fulltext import FullText, PaperEquation

DATA = Path(__file__).parent / "data"
REAL_PAGES = sorted([*DATA.glob("latexml/*.html"), *DATA.glob("html/*.html")])


def _ink(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 128


def _segments(occupied: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (first, last) index pairs."""
    found, start = [], None
    for index, value in enumerate([*occupied.tolist(), False]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            found.append((start, index - 1))
            start = None
    return found


def _rows(ink: np.ndarray) -> int:
    rows = np.nonzero(ink.any(axis=1))[0]
    return int(rows[-1] - rows[0] + 1)


def test_a_display_fraction_has_its_numerator_at_body_size() -> None:
    ink = _ink(render_png(r"x\frac{x}{x}"))
    (body_first, body_last), (frac_first, frac_last) = _segments(ink.any(axis=0))[:2]
    body = _rows(ink[:, body_first : body_last + 1])
    fraction = ink[:, frac_first : frac_last + 1]
    bar = int(np.argmax(fraction.mean(axis=1)))  # the row the rule fills
    numerator = _rows(fraction[: bar - 1])
    assert numerator / body > 0.9  # in text style (mathtext's \frac) it was ~0.7


def test_fractions_inside_fractions_and_scripts_stay_smaller() -> None:
    source = mathtext_source(r"\frac{\frac{a}{b}}{c}+e^{\frac{x}{2}}")
    assert source.count(r"\dfrac") == 1 and source.count(r"\frac") == 2


def test_big_delimiters_keep_their_size() -> None:
    plain = _rows(_ink(render_png(r"(x)")))
    sizes = [_rows(_ink(render_png(rf"\{size}l(x\{size}r)"))) for size in ("big", "Big", "bigg", "Bigg")]
    assert plain < sizes[0] < sizes[1] < sizes[2] < sizes[3]
    assert sizes[1] > 1.5 * plain


@pytest.mark.parametrize(
    "tex",
    [
        r"f(x)=\begin{cases}x^{2}&x\geq 0\\-x&x<0\end{cases}",
        r"A=\begin{pmatrix}a&b\\c&d\end{pmatrix}",
        r"\begin{bmatrix}1\\2\\3\end{bmatrix}",
        r"\begin{matrix}a&b\\c&d\end{matrix}",
        r"\det\begin{vmatrix}a&b\\c&d\end{vmatrix}=ad-bc",
        r"\begin{aligned}f(x)&=\sum_{i=1}^{n}\frac{x_i}{n}\\&\leq\frac{1}{2}\|x\|^{2}\end{aligned}",
        r"\begin{align*}a&=b\\c&=d\end{align*}",
        r"\begin{split}a&=b+c\\&=d\end{split}",
        r"\begin{gathered}a=b\\c=d\end{gathered}",
        r"\left(\begin{array}{cc}1&0\\0&1\end{array}\right)",
        r"\begin{array}[]{rcl}x&=&y\\z&=&w\end{array}",
    ],
)
def test_environments_are_drawn_with_their_rows(tex: str) -> None:
    assert refusal(tex) is None
    one_line = _rows(_ink(render_png("x")))
    assert _rows(_ink(render_png(tex))) > 1.8 * one_line  # rows stacked, not "&"-garbage on one line


def test_a_matrix_has_its_parentheses_at_its_height_and_cells_in_columns() -> None:
    nodes = parse(r"\begin{pmatrix}a&b\\c&d\end{pmatrix}")
    assert nodes == (
        Environment("pmatrix", (((_run("a"),), (_run("b"),)), ((_run("c"),), (_run("d"),))), "c", "(", ")"),
    )
    ink = _ink(render_png(r"\begin{pmatrix}a&b\\c&d\end{pmatrix}"))
    columns = _segments(ink.any(axis=0))
    assert len(columns) == 4  # ( | a c | b d | )
    assert _rows(ink[:, columns[0][0] : columns[0][1] + 1]) >= _rows(ink[:, columns[1][0] : columns[1][1] + 1])


def _run(tex: str) -> object:
    from bot.equation_layout import Run

    return Run(tex)


def test_latexml_line_breaks_inside_end_do_not_break_the_environment() -> None:
    assert refusal("\\begin{bmatrix}a&b\\end{%\nbmatrix}") is None


def test_braces_are_drawn_with_their_label_or_kept_as_a_label_never_a_word() -> None:
    body = _rows(_ink(render_png(r"a+b+c")))
    drawn = _rows(_ink(render_png(r"\underbrace{a+b+c}_{\text{three}}")))
    assert drawn > 1.8 * body
    nested = mathtext_source(r"x_{\underbrace{a}_{b}}+\overbrace{c}^{d}")
    assert "brace" not in nested and r"\underset" in nested and r"\overset" in nested
    assert render_png(r"x_{\underbrace{a}_{b}}").startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "tex",
    [
        r"\frac{a}{b}\hspace{1000000}x",
        r"\frac{a}{b}\hspace{1000000cm}x",
        r"\frac{a}{b}\kern1000000em x",
        r"\frac{a}{b}\mkern9999999mu x",
        r"\frac{a}{b}\mskip 9999999mu plus 1fil x",
        r"\frac{a}{b}\rule{100000cm}{100000cm}x",
    ],
)
def test_spaces_are_clamped_before_anything_is_allocated(tex: str) -> None:
    width = Image.open(io.BytesIO(render_png(tex))).width
    assert width < 400  # 4 em at most: a short formula stays short


def test_a_drawing_over_the_pixel_budget_is_refused_before_its_bitmap_exists() -> None:
    tall = r"\begin{matrix}" + r"\\".join([r"\Bigg("] * 12) + r"\end{matrix}"  # short TeX, 12 tall rows
    assert refusal(tall) is None
    with pytest.raises(ValueError, match="too large"):
        render_png(tall)
    assert MAX_WIDTH_PX * MAX_HEIGHT_PX < 5_000_000


def test_unknown_environments_and_deep_nesting_are_refused() -> None:
    assert refusal(r"\begin{tikzpicture}x\end{tikzpicture}") is not None
    nested = r"\begin{matrix}" * 5 + "x" + r"\end{matrix}" * 5
    assert "deep" in (refusal(nested) or "")
    assert "group" in (refusal(r"\frac{\begin{matrix}a\end{matrix}}{b}") or "")


@pytest.mark.parametrize("page", REAL_PAGES, ids=lambda p: p.name)
def test_real_pages_environments_are_drawn_or_refused_cleanly(page: Path) -> None:
    formulas = {html.unescape(t) for t in re.findall(r'alttext="([^"]*)"', page.read_text(encoding="utf-8"))}
    drawn = failed = 0
    for tex in formulas:
        try:
            render_png(tex)
            drawn += 1
        except ValueError:
            failed += 1
    assert drawn >= 0.9 * (drawn + failed)


# --- the most important equations first --------------------------------------------------------------


def _paper(references: list[int], statements: dict[int, str] | None = None) -> FullText:
    equations = tuple(
        PaperEquation(
            label=str(n),
            anchor=f"S2.E{n}",
            tex=rf"\mathcal{{L}}_{{{n}}}(\theta)=\frac{{1}}{{N}}\sum_{{i=1}}^{{N}}x_{{i}}^{{{n}}}",
            section="Method",
            appendix=False,
            intro="",
            references=count,
            statement=(statements or {}).get(n, ""),
        )
        for n, count in enumerate(references, start=1)
    )
    return FullText("2501.00001", 1, "https://arxiv.org/html/2501.00001v1", ("Method",), equations)


def _shown(paper: FullText) -> list[ExplanationEquation]:
    return [ExplanationEquation(e.label, e.tex, e.label, paper.link(e)) for e in paper.equations]


def test_equations_are_ranked_by_the_importance_key_equations_uses() -> None:
    paper = _paper([0, 0, 0, 9, 4])
    assert [e.label for e in by_importance(_shown(paper), paper)] == ["4", "5", "1", "2", "3"]
    assert [e.label for e in by_importance(_shown(paper), None)] == ["1", "2", "3", "4", "5"]


async def test_images_go_to_the_most_important_equations_not_the_first(tmp_path: Path) -> None:
    paper = _paper([0, 0, 0, 9, 4])
    renderer = EquationRenderer(EquationImageCache(tmp_path))
    images = await renderer.images(_shown(paper), 2, full_text=paper)
    assert [i.label for i in images] == ["Eq. (4)", "Eq. (5)"]  # the paper's order among the chosen
    first = await renderer.images(_shown(paper), 2)
    assert [i.label for i in first] == ["Eq. (1)", "Eq. (2)"]
