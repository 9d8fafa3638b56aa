"""What mathtext cannot lay out, laid out here: LaTeX's environments and braces over or under a formula.

mathtext draws one line of math; ``cases``, the matrices, ``array``, ``aligned``/``align*``/``split``/
``gathered`` and ``\\underbrace``/``\\overbrace`` it lacks. So the TeX is read into runs (drawn by
mathtext, bot.equation_source), environments (rows of cells, each cell drawn on its own) and braces, and
the pieces are placed as TeX places them: cells in a grid (columns aligned as the environment says,
``aligned`` in right/left pairs), the grid centred on the math axis, its parentheses, brackets, bars or
brace drawn at its height; a brace under or over its body with the label in script size.

Bounded as the rest: at most ``MAX_CELLS`` cells and ``MAX_DEPTH`` nested environments, and every bitmap is
measured before it is allocated: past ``max_width`` × ``max_height`` pixels the draw stops with a
``LayoutError`` (a ValueError), so the caller shows the Unicode form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.equation_glyphs import AXIS_EM, Raster, blank, curly, delimiter
from bot.equation_source import group_end, mathtext_run

__all__ = ["ENVIRONMENTS", "Brace", "Drawer", "Environment", "LayoutError", "Run", "parse"]

MAX_CELLS = 96
MAX_DEPTH = 3
SCRIPT_SCALE = 0.7


class LayoutError(ValueError):
    """The TeX cannot be laid out (an unknown environment, too many cells, too large to draw)."""


@dataclass(frozen=True, slots=True)
class Run:
    tex: str  # TeX without environments, drawn by mathtext


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    rows: tuple[tuple[tuple[Node, ...], ...], ...]  # rows of cells, each cell a sequence of nodes
    align: str  # per column: "l", "c" or "r" (the last repeats); "rl" for aligned pairs
    left: str = ""  # the delimiters drawn at the grid's height: ( [ { | ‖ or ""
    right: str = ""


@dataclass(frozen=True, slots=True)
class Brace:
    body: tuple[Node, ...]
    label: tuple[Node, ...]
    under: bool


Node = Run | Environment | Brace

# name -> (column alignment, left delimiter, right delimiter, cells in display style)
ENVIRONMENTS: dict[str, tuple[str, str, str, bool]] = {
    "matrix": ("c", "", "", False),
    "smallmatrix": ("c", "", "", False),
    "pmatrix": ("c", "(", ")", False),
    "bmatrix": ("c", "[", "]", False),
    "Bmatrix": ("c", "{", "}", False),
    "vmatrix": ("c", "|", "|", False),
    "Vmatrix": ("c", "‖", "‖", False),
    "cases": ("l", "{", "", False),
    "dcases": ("l", "{", "", True),
    "rcases": ("l", "", "}", False),
    "array": ("c", "", "", False),
    "aligned": ("rl", "", "", True),
    "alignedat": ("rl", "", "", True),
    "align": ("rl", "", "", True),
    "align*": ("rl", "", "", True),
    "alignat": ("rl", "", "", True),
    "alignat*": ("rl", "", "", True),
    "flalign": ("rl", "", "", True),
    "flalign*": ("rl", "", "", True),
    "split": ("rl", "", "", True),
    "eqnarray": ("rcl", "", "", True),
    "eqnarray*": ("rcl", "", "", True),
    "gathered": ("c", "", "", True),
    "gather": ("c", "", "", True),
    "gather*": ("c", "", "", True),
    "multline": ("c", "", "", True),
    "multline*": ("c", "", "", True),
}
_DISPLAY = {name for name, (_, _, _, display) in ENVIRONMENTS.items() if display}

_COMMENT = re.compile(r"(?<!\\)%[^\n]*\n?")
_BEGIN = re.compile(r"\\begin\s*\{\s*([A-Za-z]+\*?)\s*\}")
_END = re.compile(r"\\end\s*\{\s*([A-Za-z]+\*?)\s*\}")
_ROW_BREAK = re.compile(r"\\\\(?:\s*\[[^\[\]]{0,20}\])?")
_LEFT_BEFORE = re.compile(r"\\left\s*(\\\{|\\lbrace|\\\||\\Vert|\\lVert|\\vert|\\lvert|[(\[|.])\s*$")
_RIGHT_AFTER = re.compile(r"^\s*\\right\s*(\\\}|\\rbrace|\\\||\\Vert|\\rVert|\\vert|\\rvert|[)\]|.])")
_DELIMITER_NAMES = {
    r"\{": "{",
    r"\lbrace": "{",
    r"\}": "}",
    r"\rbrace": "}",
    r"\|": "‖",
    r"\Vert": "‖",
    r"\lVert": "‖",
    r"\rVert": "‖",
    r"\vert": "|",
    r"\lvert": "|",
    r"\rvert": "|",
    ".": "",
}


def parse(tex: str) -> tuple[Node, ...]:
    """The TeX as runs, environments and braces. Raises LayoutError on what cannot be laid out."""
    cells = [0]
    # LaTeXML breaks long TeX with "%" and a newline, even inside \end{…}: comments go before anything else.
    return _parse(_COMMENT.sub("", tex), 0, cells)


def _parse(tex: str, depth: int, cells: list[int]) -> tuple[Node, ...]:
    if depth > MAX_DEPTH:
        raise LayoutError("environments nested too deep")
    nodes: list[Node] = []
    level = start = index = 0
    while index < len(tex):
        char = tex[index]
        if char == "\\":
            begin = _BEGIN.match(tex, index)
            if begin or tex.startswith((r"\underbrace", r"\overbrace"), index):
                if level:
                    if begin:
                        raise LayoutError("an environment inside a group")
                    index += 2
                    continue  # a brace inside a group: bot.equation_source keeps its label (\underset)
                nodes.append(Run(tex[start:index]))
                found: tuple[Node, int] = (
                    _environment(tex, begin, depth, cells) if begin else _brace(tex, index, depth, cells)
                )
                nodes.append(found[0])
                index = found[1]
                start = index
                continue
            if _END.match(tex, index):
                raise LayoutError("an \\end without its \\begin")
            index += 2
            continue
        level += {"{": 1, "}": -1}.get(char, 0)
        index += 1
    nodes.append(Run(tex[start:]))
    return _with_delimiters(tuple(node for node in nodes if not isinstance(node, Run) or node.tex.strip()))


def _with_delimiters(nodes: tuple[Node, ...]) -> tuple[Node, ...]:
    r"""``\left( \begin{matrix}…\end{matrix} \right)``: the pair becomes the environment's delimiters."""
    out = list(nodes)
    for index, node in enumerate(out):
        if not isinstance(node, Environment) or index == 0 or index + 1 >= len(out):
            continue
        before, after = out[index - 1], out[index + 1]
        if not isinstance(before, Run) or not isinstance(after, Run):
            continue
        left, right = _LEFT_BEFORE.search(before.tex), _RIGHT_AFTER.search(after.tex)
        if left and right:
            out[index - 1] = Run(before.tex[: left.start()])
            out[index + 1] = Run(after.tex[right.end() :])
            out[index] = Environment(
                node.name,
                node.rows,
                node.align,
                _DELIMITER_NAMES.get(left[1], left[1]),
                _DELIMITER_NAMES.get(right[1], right[1]),
            )
    return tuple(node for node in out if not isinstance(node, Run) or node.tex.strip())


def _environment(tex: str, begin: re.Match[str], depth: int, cells: list[int]) -> tuple[Environment, int]:
    name = begin[1]
    if name not in ENVIRONMENTS:
        raise LayoutError(f"the environment {name[:20]}")
    align, left, right, _ = ENVIRONMENTS[name]
    index = begin.end()
    while index < len(tex) and tex[index].isspace():
        index += 1
    if index < len(tex) and tex[index] == "[":  # [t], [b]: vertical placement, irrelevant alone
        closing = tex.find("]", index)
        index = closing + 1 if 0 < closing < index + 10 else index
    if name in ("array", "alignedat", "alignat", "alignat*") and tex[index : index + 1] == "{":
        argument_end = group_end(tex, index)
        if name == "array":
            spec = re.sub(r"[@!>]\{[^{}]*\}|[pmbw]\{[^{}]*\}|[^lcr]", "", tex[index + 1 : argument_end - 1])
            align = spec or "c"
        index = argument_end
    body_end, end = _matching_end(tex, index, name)
    rows = tuple(
        tuple(_parse(cell, depth + 1, _counted(cells)) for cell in _split(row, "&"))
        for row in _split(tex[index:body_end], "\\\\")
    )
    while rows and all(not cell for cell in rows[-1]):  # a final \\ opens no row
        rows = rows[:-1]
    return Environment(name, rows, align, left, right), end


def _counted(cells: list[int]) -> list[int]:
    cells[0] += 1
    if cells[0] > MAX_CELLS:
        raise LayoutError("too many cells")
    return cells


def _matching_end(tex: str, index: int, name: str) -> tuple[int, int]:
    """Where the body of the environment opened before ``index`` ends, and the index past its ``\\end``."""
    depth = 1
    for found in re.finditer(r"\\begin\s*\{[^{}]{0,20}\}|\\end\s*\{\s*([^{}]{0,20}?)\s*\}", tex[index:]):
        if found[0].startswith(r"\begin"):
            depth += 1
            continue
        depth -= 1
        if depth == 0:
            if found[1] != name:
                raise LayoutError("mismatched \\begin and \\end")
            return index + found.start(), index + found.end()
    raise LayoutError("an environment without its \\end")


def _split(body: str, separator: str) -> list[str]:
    """``body`` cut at ``separator`` (``&`` or ``\\\\``) outside braces and nested environments."""
    parts: list[str] = []
    level = nested = start = index = 0
    while index < len(body):
        if body.startswith(separator, index) and not level and not nested:
            parts.append(body[start:index])
            index += len(separator)
            if separator == "\\\\":
                spacing = _ROW_BREAK.match(body, index - 2)
                index = spacing.end() if spacing else index
            start = index
            continue
        if body[index] == "\\":
            nested += 1 if _BEGIN.match(body, index) else -1 if _END.match(body, index) else 0
            index += 2
            continue
        level += {"{": 1, "}": -1}.get(body[index], 0)
        index += 1
    parts.append(body[start:])
    return parts


def _brace(tex: str, index: int, depth: int, cells: list[int]) -> tuple[Brace, int]:
    under = tex.startswith(r"\underbrace", index)
    body_start = _skip(tex, index + len(r"\underbrace" if under else r"\overbrace"))
    body_end = group_end(tex, body_start)
    body = _parse(_ungroup(tex[body_start:body_end]), depth + 1, cells)
    after = _skip(tex, body_end)
    label: tuple[Node, ...] = ()
    if after < len(tex) and tex[after] == ("_" if under else "^"):
        label_start = _skip(tex, after + 1)
        body_end = group_end(tex, label_start)
        label = _parse(_ungroup(tex[label_start:body_end]), depth + 1, cells)
    return Brace(body, label, under), body_end


def _skip(tex: str, index: int) -> int:
    while index < len(tex) and tex[index].isspace():
        index += 1
    return index


def _ungroup(text: str) -> str:
    return text[1:-1] if text.startswith("{") and text.endswith("}") else text


# --- drawing -------------------------------------------------------------------------------------------


class Drawer:
    """Draws parsed nodes with mathtext's parsers (``agg`` to draw, ``path`` to measure first)."""

    def __init__(self, parsers: tuple[Any, Any], prop: Any, dpi: int, max_width: int, max_height: int) -> None:
        self.draw_parser, self.measure_parser = parsers
        self.prop, self.dpi = prop, dpi
        self.max_width, self.max_height = max_width, max_height
        self.em = float(prop.get_size_in_points()) * dpi / 72

    def draw(self, nodes: tuple[Node, ...], *, display: bool = True, scale: float = 1.0) -> Raster:
        parts = [self._node(node, display, scale) for node in nodes]
        # mathtext trims the space a relation or operator leaves before the environment that follows it.
        gaps = [
            0.0 if index == 0 or (isinstance(node, Run) and isinstance(nodes[index - 1], Run)) else 0.25 * scale
            for index, node in enumerate(nodes)
        ]
        return self._beside(parts, gaps)

    def _node(self, node: Node, display: bool, scale: float) -> Raster:
        if isinstance(node, Run):
            return self._run(node.tex, display, scale)
        if isinstance(node, Brace):
            return self._brace(node, display, scale)
        return self._environment(node, scale)

    def _check(self, width: float, height: float) -> None:
        if width > self.max_width or height > self.max_height:
            raise LayoutError("too large to read in a chat")

    def _run(self, tex: str, display: bool, scale: float) -> Raster:
        source = mathtext_run(tex, display=display)
        if not source:
            return blank()
        prop = self.prop.copy()
        prop.set_size(self.prop.get_size_in_points() * scale)
        measured = self.measure_parser.parse(f"${source}$", dpi=self.dpi, prop=prop)
        self._check(measured.width, measured.height)  # before a bitmap of that size exists
        parsed = self.draw_parser.parse(f"${source}$", dpi=self.dpi, prop=prop)
        ink = np.asarray(parsed.image, dtype=np.uint8)
        # The bitmap starts a pixel above the box's top (matplotlib's ``Output.to_raster``), and the box
        # rises ceil(height) pixels above the baseline; a lone "−" or "=" has no ink down to the baseline,
        # so the bitmap is extended to it.
        baseline = max(0, round(measured.height - measured.depth))
        if baseline > ink.shape[0]:
            ink = np.vstack([ink, np.zeros((baseline - ink.shape[0], ink.shape[1]), dtype=np.uint8)])
        return Raster(ink, baseline)

    def _beside(self, parts: list[Raster], gaps_em: list[float]) -> Raster:
        """Side by side on one baseline, ``gaps_em[i]`` before part ``i``."""
        gaps = [round(g * self.em) for g in gaps_em]
        above = max([p.baseline for p in parts], default=0)
        below = max([p.height - p.baseline for p in parts], default=0)
        width = sum(p.width for p in parts) + sum(gaps)
        self._check(width, above + below)
        out = blank(width, above + below, above)
        x = 0
        for part, gap in zip(parts, gaps, strict=True):
            x += gap
            _paint(out.ink, part.ink, above - part.baseline, x)
            x += part.width
        return out

    def _stacked(self, parts: list[Raster], gap_px: int, baseline_of: int) -> Raster:
        """One above the other, centred; the baseline is part ``baseline_of``'s."""
        width = max(p.width for p in parts)
        height = sum(p.height for p in parts) + gap_px * (len(parts) - 1)
        self._check(width, height)
        out = blank(width, height)
        y = baseline = 0
        for index, part in enumerate(parts):
            _paint(out.ink, part.ink, y, (width - part.width) // 2)
            if index == baseline_of:
                baseline = y + part.baseline
            y += part.height + gap_px
        return Raster(out.ink, baseline)

    def _brace(self, brace: Brace, display: bool, scale: float) -> Raster:
        body = self.draw(brace.body, display=display, scale=scale)
        em = self.em * scale
        shape = curly(body.width, max(3, round(0.45 * em)), em, self._check).T  # tip on the top row
        drawn = Raster(np.ascontiguousarray(np.flipud(shape) if brace.under else shape), 0)
        parts = [body, drawn]
        if brace.label:
            parts.append(self.draw(brace.label, display=False, scale=scale * SCRIPT_SCALE))
        if not brace.under:
            parts.reverse()
        return self._stacked(parts, round(0.12 * em), 0 if brace.under else len(parts) - 1)

    def _environment(self, environment: Environment, scale: float) -> Raster:
        em = self.em * scale
        display = environment.name in _DISPLAY
        pairs = environment.align == "rl"
        grid = [
            [
                self.draw(_relation_first(cell) if pairs and column % 2 else cell, display=display, scale=scale)
                for column, cell in enumerate(row)
            ]
            for row in environment.rows
        ] or [[blank()]]
        columns = max(len(row) for row in grid)
        widths = [max((row[c].width for row in grid if c < len(row)), default=0) for c in range(columns)]
        gaps = [0.0] + [_column_gap(environment.align, c) for c in range(1, columns)]
        lefts = np.cumsum([0, *[w + round(g * em) for w, g in zip(widths, gaps[1:], strict=False)]])
        ascents = [max([cell.baseline for cell in row] + [round(0.75 * em)]) for row in grid]
        descents = [max([cell.height - cell.baseline for cell in row] + [round(0.3 * em)]) for row in grid]
        row_gap = round((0.35 if display else 0.2) * em)
        width = int(lefts[-1]) + widths[-1]
        height = sum(ascents) + sum(descents) + row_gap * (len(grid) - 1)
        self._check(width, height)
        ink = np.zeros((height, width), dtype=np.uint8)
        top = 0
        for row, ascent, descent in zip(grid, ascents, descents, strict=True):
            for column, cell in enumerate(row):
                side = _alignment(environment.align, column)
                spare = widths[column] - cell.width
                x = int(lefts[column]) + (0 if side == "l" else spare if side == "r" else spare // 2)
                _paint(ink, cell.ink, top + ascent - cell.baseline, x)
            top += ascent + descent + row_gap
        body = Raster(ink, min(height, round(height / 2 + AXIS_EM * em)))
        if not environment.left and not environment.right:
            return body
        tall = height + round(0.2 * em)
        parts = [delimiter(environment.left, tall, em, self._check), body]
        parts.append(delimiter(environment.right, tall, em, self._check))
        return self._beside(parts, [0.0, 0.15, 0.15])


def _relation_first(cell: tuple[Node, ...]) -> tuple[Node, ...]:
    """The right half of an aligned pair starts after an empty group, so ``&= b`` keeps a relation's space."""
    if cell and isinstance(cell[0], Run):
        return (Run("{}" + cell[0].tex), *cell[1:])
    return cell


def _alignment(align: str, column: int) -> str:
    if align == "rl":
        return "r" if column % 2 == 0 else "l"
    return align[min(column, len(align) - 1)]


def _column_gap(align: str, column: int) -> float:
    """Space before ``column``, in em: none inside an aligned pair, 2 em between pairs, 1 em else."""
    if align == "rl":
        return 0.0 if column % 2 else 2.0
    return 0.3 if align == "rcl" else 1.0


def _paint(target: NDArray[np.uint8], ink: NDArray[np.uint8], y: int, x: int) -> None:
    height, width = ink.shape
    if height and width:
        region = target[y : y + height, x : x + width]
        np.maximum(region, ink[: region.shape[0], : region.shape[1]], out=region)
