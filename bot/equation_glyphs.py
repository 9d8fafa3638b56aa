"""Delimiters and braces drawn at any size, for what bot.equation_layout lays out.

mathtext grows a delimiter by scaling one glyph, whose strokes thicken with it; TeX builds tall ones from
pieces of constant stroke. These are drawn with constant strokes as TeX's are (a parenthesis thick in the
middle and thin at the ends, a brace with curled ends and a point), four times larger and scaled down so
the edges are smooth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["AXIS_EM", "Raster", "blank", "curly", "delimiter"]

AXIS_EM = 0.25  # the math axis (where a fraction bar sits) above the baseline, in Computer Modern

Check = Callable[[float, float], None]  # raises before a bitmap of that width and height is allocated


@dataclass(frozen=True, slots=True)
class Raster:
    ink: NDArray[np.uint8]  # coverage: 0 background, 255 ink
    baseline: int  # rows above the baseline

    @property
    def width(self) -> int:
        return int(self.ink.shape[1])

    @property
    def height(self) -> int:
        return int(self.ink.shape[0])


def blank(width: int = 0, height: int = 0, baseline: int = 0) -> Raster:
    return Raster(np.zeros((height, width), dtype=np.uint8), baseline)


# --- delimiters and braces, drawn at any height ----------------------------------------------------------

_SUPERSAMPLE = 4  # drawn 4x larger and scaled down: smooth edges without an anti-aliasing rasteriser


def delimiter(kind: str, height: int, em: float, check: Check) -> Raster:
    """A delimiter ``height`` pixels tall, centred on the math axis (its baseline set accordingly)."""
    baseline = min(height, round(height / 2 + AXIS_EM * em))
    if not kind:
        return blank(round(0.1 * em), height, baseline)
    mirrored = kind in ")]}"
    shape = {"(": _paren, ")": _paren, "[": _bracket, "]": _bracket, "{": curly, "}": curly}.get(kind)
    if shape is not None:
        ink = shape(height, round((0.5 if kind in "{}" else 0.4) * em), em, check)
    else:
        ink = _bars(2 if kind == "‖" else 1, height, em)
    return Raster(np.ascontiguousarray(np.fliplr(ink) if mirrored else ink), baseline)


def _canvas(height: int, width: int, check: Check) -> tuple[Any, Any]:
    check(width, height)
    from PIL import Image, ImageDraw

    image = Image.new("L", (max(1, width) * _SUPERSAMPLE, max(1, height) * _SUPERSAMPLE), 0)
    return image, ImageDraw.Draw(image)


def _shrunk(image: Any, height: int, width: int) -> NDArray[np.uint8]:
    from PIL import Image

    return np.asarray(image.resize((max(1, width), max(1, height)), Image.Resampling.BOX), dtype=np.uint8)


def _paren(height: int, width: int, em: float, check: Check) -> NDArray[np.uint8]:
    """A left parenthesis: thick in the middle, thin at the ends, bulging more as it grows."""
    image, draw = _canvas(height, width, check)
    s, h = _SUPERSAMPLE, height * _SUPERSAMPLE
    bulge = min(max(0.12 * height, 0.12 * em), 0.28 * em) * s
    thick, thin = 0.08 * em * s, 0.025 * em * s
    x0 = (width * s - bulge - thick) / 2
    ys = np.linspace(0, h, 48)
    t = (ys - h / 2) / (h / 2)
    outer = x0 + bulge * t**2
    inner = outer + thick * (1 - t**2) + thin * t**2
    points = [(float(x), float(y)) for x, y in zip(outer, ys, strict=True)]
    points += [(float(x), float(y)) for x, y in zip(inner[::-1], ys[::-1], strict=True)]
    draw.polygon(points, fill=255)
    return _shrunk(image, height, width)


def _bracket(height: int, width: int, em: float, check: Check) -> NDArray[np.uint8]:
    image, draw = _canvas(height, width, check)
    s = _SUPERSAMPLE
    thick, left = max(1.0, 0.06 * em) * s, 0.15 * em * s
    foot = left + 0.3 * em * s
    draw.rectangle([left, 0, left + thick, height * s], fill=255)
    draw.rectangle([left, 0, foot, thick * 0.8], fill=255)
    draw.rectangle([left, height * s - thick * 0.8, foot, height * s], fill=255)
    return _shrunk(image, height, width)


def _bars(count: int, height: int, em: float) -> NDArray[np.uint8]:
    thick, gap = max(1, round(0.05 * em)), round(0.12 * em)
    width = round(0.1 * em) * 2 + count * thick + (count - 1) * gap
    ink = np.zeros((height, width), dtype=np.uint8)
    for index in range(count):
        x = round(0.1 * em) + index * (thick + gap)
        ink[:, x : x + thick] = 255
    return ink


def curly(height: int, width: int, em: float, check: Check) -> NDArray[np.uint8]:
    """A left curly brace: ends curling right, a point on the left at mid-height."""
    image, draw = _canvas(height, width, check)
    s = _SUPERSAMPLE
    thick = max(1.0, 0.065 * em) * s
    w, h = width * s, height * s
    middle, stem = h / 2, w / 2
    curl = min(stem, h / 6)

    def cubic(
        p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]
    ) -> list[tuple[float, float]]:
        ts = np.linspace(0, 1, 16)
        return [
            (
                float((1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t**2 * p2[0] + t**3 * p3[0]),
                float((1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * p1[1] + 3 * (1 - t) * t**2 * p2[1] + t**3 * p3[1]),
            )
            for t in ts
        ]

    end, tip = w - thick / 2, thick / 2
    top = cubic((end, thick / 2), (stem, thick / 2), (stem, thick / 2), (stem, curl))
    top += cubic((stem, middle - curl), (stem, middle), (stem, middle), (tip, middle))
    bottom = [(x, h - y) for x, y in reversed(top)]
    draw.line(top + bottom, fill=255, width=max(1, math.ceil(thick)), joint="curve")
    return _shrunk(image, height, width)
