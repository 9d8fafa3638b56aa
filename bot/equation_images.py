"""A paper's display equations drawn as PNG images, for the chats that show no math (Slack, Discord).

Drawn with matplotlib's mathtext (a TeX subset, no TeX installation): dark ink on an opaque white card
with padding. Why opaque: a transparent image with dark ink vanishes in a dark theme and one with light
ink in a light theme; a white card reads in both (as the formula images of GitHub or Wikipedia do).

Only equations Unicode draws badly become images (fractions, sums, products, integrals and limits with
bounds, roots, binomials, stacked operators); the rest, and all inline math, stay Unicode.

Bounded, because the TeX is paper text and a crafted one could hang or flood the renderer:
- refused before mathtext sees it (:func:`refusal`): TeX over ``MAX_TEX_CHARS``, braces nested deeper
  than ``MAX_NESTING``, more than ``MAX_BIG_OPERATORS`` sums/integrals/…, ``MAX_FRACTIONS`` fractions or
  roots, any macro that defines, loads or loops (``\\def``, ``\\newcommand``, ``\\input``, ``\\csname`` …)
  and environments (mathtext has none). What passes was measured to render in tens of milliseconds
  (``bench/bench_equations.py``): time grows with length, and the length is capped.
- drawn in a worker process (bot.isolated), never in the bot's: mathtext and Agg are native code, and a
  formula that still makes them ask for gigabytes or crash costs that worker (capped memory, killed past
  ``timeout_s``, then replaced), never the bot. One worker, warmed up with matplotlib before its first
  formula, so ``timeout_s`` times the drawing alone; mathtext's parser is one shared object that is not
  safe to use from two threads at once, and a process of its own is also what is correct there.
- an image larger than ``MAX_WIDTH_PX`` × ``MAX_HEIGHT_PX`` is dropped: it would not read in a chat.
A refused, failed, crashed or overrunning formula falls back to its Unicode form, logged once per formula
(one line), never drawn again by this process, never an error.

Images are cached on disk by a hash of the TeX and the render settings, the oldest evicted past a size
cap; a cached image is found with one ``stat``, well under a millisecond.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.cards import EquationImage, ExplanationEquation
from bot.equation_source import mathtext_run, normalise
from bot.fulltext import FullText, PaperEquation, key_equations
from bot.isolated import WorkerError, WorkerPool, shared_pool
from bot.untrusted import bounded, inert_text

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SETTINGS",
    "EquationImageCache",
    "EquationRenderer",
    "RenderSettings",
    "by_importance",
    "drawing_pool",
    "equation_image",
    "image_filename",
    "importance_ranks",
    "mathtext_source",
    "needs_image",
    "refusal",
    "render_png",
]

MAX_TEX_CHARS = 320  # after normalising; real display equations are 30-250 characters
MAX_NESTING = 12  # braces inside braces; mathtext recurses per level and hits Python's limit near 60
MAX_BIG_OPERATORS = 8
MAX_FRACTIONS = 12  # \frac, \sqrt and \binom together
MAX_WIDTH_PX = 3_000
MAX_HEIGHT_PX = 800
TIMEOUT_S = 2.0  # the drawing alone: the worker has imported matplotlib before its first formula
ALT_TEXT_CHARS = 1_000  # Slack's alt text and Discord's attachment description both take this much
CACHE_BYTES = 50 * 1024 * 1024
_REMEMBERED = 10_000  # formulas whose failure was logged (each logged once, not retried)
_RENDER_VERSION = "2"  # part of the cache key: a change in how images are drawn draws them again


@dataclass(frozen=True, slots=True)
class RenderSettings:
    font_size_pt: float = 18.0
    dpi: int = 120
    padding_px: int = 14
    ink: int = 0x14  # grey level of the text: near black
    fontset: str = "cm"  # Computer Modern, as the paper was typeset

    @property
    def key(self) -> str:
        return f"{_RENDER_VERSION}|{self.font_size_pt}|{self.dpi}|{self.padding_px}|{self.ink}|{self.fontset}"


DEFAULT_SETTINGS = RenderSettings()

# --- which equations, and whether they are safe to draw --------------------------------------------

_IMAGE_WORTHY = re.compile(
    r"\\(?:[dtc]?frac|over\b|binom|[dt]binom|sqrt|sum|prod|coprod|[io]*int|iint|iiint|oint|big(?:cup|cap|oplus|otimes"
    r"|odot|vee|wedge|sqcup|uplus)|lim(?:sup|inf)?\s*_|(?:max|min|sup|inf|arg\s*\\?max|arg\s*\\?min)\s*_|operatorname\*?\s*\{[^{}]{0,40}\}\s*_|underset"
    r"|overset|stackrel|underbrace|overbrace|begin\s*\{\s*(?:[pbvBV]?matrix|array|[dr]?cases|smallmatrix|aligned|alignedat"
    r"|align\*?|alignat\*?|split|gathered|gather\*?|eqnarray\*?))"
)
_FORBIDDEN = re.compile(
    r"\\(?:e|g|x)?def(?![a-zA-Z])|\\(?:re)?newcommand|\\providecommand|\\newenvironment|\\DeclareMathOperator"
    r"|\\let(?![a-zA-Z])|\\futurelet|\\(?:input|include|includeonly|openin|openout|read|write|immediate|special)"
    r"(?![a-zA-Z])|\\(?:csname|endcsname|expandafter|noexpand|catcode|makeatletter|loop|repeat|usepackage)"
    r"(?![a-zA-Z])|(?<!\\)#"
)
_BIG_OPERATOR = re.compile(r"\\(?:sum|prod|coprod|[io]*int|iint|iiint|oint|big[a-z]+)(?![a-zA-Z])")
_FRACTION = re.compile(r"\\(?:[dtc]?frac|sqrt|[dt]?binom)(?![a-zA-Z])")


def needs_image(tex: str) -> bool:
    """Whether Unicode draws this display equation badly: fractions, bounded sums/integrals, roots…"""
    return _IMAGE_WORTHY.search(tex) is not None


def mathtext_source(tex: str) -> str:
    """The TeX as one run in the dialect mathtext reads (bot.equation_source), environments flattened;
    bounded before any pattern runs. What is drawn is laid out by bot.equation_layout."""
    return mathtext_run(tex[: MAX_TEX_CHARS * 4])


def refusal(tex: str) -> str | None:
    """Why this TeX is not handed to mathtext (too long, too deep, a macro that defines or loads …), or
    None when it may be. ``tex`` is the original; the checks run on what mathtext would get."""
    if len(tex) > MAX_TEX_CHARS * 4:
        return "too long"
    if _FORBIDDEN.search(tex):
        return "a macro mathtext does not take"
    # Measured before the struts of \big… and the layout grow it: what the paper wrote, normalised.
    source = " ".join(normalise(tex).split())
    if not source:
        return "empty"
    if len(source) > MAX_TEX_CHARS:
        return "too long"
    if "$" in source:
        return "a dollar sign"  # would end mathtext's math mode early
    depth = deepest = 0
    for char in re.sub(r"\\[{}\\]", "", source):  # \{ and \} are set braces, not groups
        if char == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "unbalanced braces"
    if depth:
        return "unbalanced braces"
    if deepest > MAX_NESTING:
        return "nested too deep"
    if len(_BIG_OPERATOR.findall(source)) > MAX_BIG_OPERATORS:
        return "too many sums or integrals"
    if len(_FRACTION.findall(source)) > MAX_FRACTIONS:
        return "too many fractions or roots"
    from bot.equation_layout import LayoutError, parse  # numpy: only where a formula is checked or drawn

    try:
        parse(tex)
    except LayoutError as err:
        return str(err)
    return None


# --- drawing -------------------------------------------------------------------------------------------

_matplotlib_ready = threading.Lock()


def render_png(tex: str, settings: RenderSettings = DEFAULT_SETTINGS) -> bytes:
    """The PNG of one formula. Raises ValueError when refused or when mathtext cannot draw it.

    CPU-bound and not thread-safe (mathtext shares one parser): call it from the renderer's worker."""
    reason = refusal(tex)
    if reason is not None:
        raise ValueError(reason)
    with _matplotlib_ready:
        import matplotlib

        matplotlib.use("Agg")  # never a GUI backend: the bot runs headless
        from matplotlib.font_manager import FontProperties
        from matplotlib.mathtext import MathTextParser
        from PIL import Image
    import numpy as np

    from bot.equation_layout import Drawer, LayoutError, parse

    prop = FontProperties(size=settings.font_size_pt, math_fontfamily=settings.fontset)
    pad = settings.padding_px
    drawer = Drawer(
        (MathTextParser("agg"), MathTextParser("path")),
        prop,
        settings.dpi,
        MAX_WIDTH_PX - 2 * pad,
        MAX_HEIGHT_PX - 2 * pad,
    )
    try:
        drawn = drawer.draw(parse(tex))
    except LayoutError:
        raise
    except (ValueError, RecursionError, KeyError, IndexError, TypeError, RuntimeError) as err:
        # mathtext reports a parse error as ValueError; the others are its internals tripping on odd input.
        raise ValueError(f"mathtext: {type(err).__name__}") from None
    coverage = drawn.ink.astype(np.uint16)  # 0 = background, 255 = ink
    height, width = coverage.shape
    if not height or not width:
        raise ValueError("empty")
    grey = 255 - (coverage * (255 - settings.ink) + 127) // 255
    card = np.full((height + 2 * pad, width + 2 * pad), 255, dtype=np.uint8)
    card[pad : pad + height, pad : pad + width] = grey.astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(card).save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- the cache on disk ---------------------------------------------------------------------------------


class EquationImageCache:
    """PNG files named by a hash of the TeX and the settings, at most ``max_bytes`` together (oldest out)."""

    def __init__(self, folder: Path, *, max_bytes: int = CACHE_BYTES, settings: RenderSettings = DEFAULT_SETTINGS):
        self.folder = folder
        self.max_bytes = max_bytes
        self.settings = settings

    def key(self, tex: str) -> str:
        return hashlib.sha256(f"{self.settings.key}\n{tex}".encode()).hexdigest()[:32]

    def path(self, tex: str) -> Path:
        return self.folder / f"{self.key(tex)}.png"

    def get(self, tex: str) -> Path | None:
        path = self.path(tex)
        return path if path.is_file() else None

    def put(self, tex: str, png: bytes) -> Path | None:
        """Write the image (atomically) and trim the folder; None when the disk refuses."""
        path = self.path(tex)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
            temporary.write_bytes(png)
            os.replace(temporary, path)
            self._trim()
        except OSError as err:  # a full or read-only disk costs the image, never the explanation
            log.info("equation image not cached (%s)", err)
            return None
        return path

    def _trim(self) -> None:
        files = []
        for entry in os.scandir(self.folder):
            if entry.name.endswith(".png"):
                stat = entry.stat()
                files.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in files)
        for _, size, name in sorted(files):
            if total <= self.max_bytes:
                break
            Path(name).unlink(missing_ok=True)
            total -= size


# --- the renderer the explainer uses -------------------------------------------------------------------


def warm_up_drawing() -> None:
    """A drawing worker's start: matplotlib's import and fonts (~0.5-1.5 s), before any formula's clock."""
    render_png("x")


def drawing_pool() -> WorkerPool:
    """The process's one drawing worker (bot.isolated), started on first use, closed at exit."""
    return shared_pool("mathtext", size=1, warm_up=warm_up_drawing)


_refused: dict[str, str] = {}  # cache key -> why: logged once, never drawn again by this process


class EquationRenderer:
    """Images for an explanation's equations: cached, else drawn by ``draw`` in a worker process of
    ``pool`` (the drawing pool by default) within ``timeout_s``."""

    def __init__(
        self,
        cache: EquationImageCache,
        *,
        timeout_s: float = TIMEOUT_S,
        pool: WorkerPool | None = None,
        draw: Callable[[str, RenderSettings], bytes] = render_png,
    ) -> None:
        self.cache = cache
        self.timeout_s = timeout_s
        self._pool = pool
        self.draw = draw

    @property
    def pool(self) -> WorkerPool:
        return self._pool or drawing_pool()  # looked up per draw: a closed shared pool is made anew

    async def image(self, tex: str) -> Path | None:
        """The PNG of ``tex``, or None: the caller shows its Unicode form instead."""
        cached = self.cache.get(tex)
        if cached is not None:
            return cached
        key = self.cache.key(tex)
        if key in _refused:
            return None
        reason = refusal(tex)
        if reason is not None:
            return self._fall_back(key, tex, reason)
        try:
            png = await self.pool.run(
                self.draw, tex, self.cache.settings, timeout_s=self.timeout_s, label=f"drawing {tex[:80]!r}"
            )
        except WorkerError as err:  # crashed, out of memory or overran: the pool logged it, in one line
            return self._fall_back(key, tex, err.reason, logged=True)
        except ValueError as err:
            return self._fall_back(key, tex, str(err))
        except Exception as err:  # a drawing library's surprise must not cost the explanation
            return self._fall_back(key, tex, f"unexpected {type(err).__name__}")
        return await asyncio.to_thread(self.cache.put, tex, png)

    async def images(
        self, equations: Sequence[ExplanationEquation], limit: int, *, full_text: FullText | None = None
    ) -> tuple[EquationImage, ...]:
        """Images of the ``limit`` most important equations that Unicode draws badly (by the importance
        ``key_equations`` ranks ``full_text``'s equations by; the given order without it), in the given
        order; the others stay Unicode.

        At most ``limit`` are attempted, so a page of 2,000 formulas costs ``limit`` renders at most."""
        found: list[EquationImage] = []
        for equation in _to_draw(equations, limit, full_text):
            path = await self.image(equation.tex)
            if path is not None:
                found.append(equation_image(equation, path))
        return tuple(found)

    def drawn_images(
        self, equations: Sequence[ExplanationEquation], limit: int, *, full_text: FullText | None = None
    ) -> tuple[EquationImage, ...] | None:
        """What ``images`` answers when every image it would show is in the cache already (found with a
        ``stat`` each, nothing imported to draw), else None: some would be drawn, or refused."""
        found: list[EquationImage] = []
        for equation in _to_draw(equations, limit, full_text):
            path = self.cache.get(equation.tex)
            if path is None:
                return None
            found.append(equation_image(equation, path))
        return tuple(found)

    @staticmethod
    def _fall_back(key: str, tex: str, reason: str, *, logged: bool = False) -> None:
        if key not in _refused:
            if len(_refused) >= _REMEMBERED:
                _refused.clear()
            _refused[key] = reason
            if not logged:
                log.info("equation drawn as Unicode, not as an image (%s): %.80r", reason, tex)
        return None


def _to_draw(
    equations: Sequence[ExplanationEquation], limit: int, full_text: FullText | None
) -> list[ExplanationEquation]:
    """The ``limit`` most important equations that Unicode draws badly, in the given order."""
    worthy = [e for e in equations if needs_image(e.tex)]
    chosen = {id(e) for e in by_importance(worthy, full_text)[: max(0, limit)]}
    return [e for e in worthy if id(e) in chosen]


def by_importance(equations: Sequence[ExplanationEquation], full_text: FullText | None) -> list[ExplanationEquation]:
    """The equations, most important first as ``key_equations`` ranks them (theorem statements, references
    …); those it does not rank after, each group in the given order. Without the full text, as given."""
    if full_text is None:
        return list(equations)
    ranks = importance_ranks(full_text, {e.url for e in equations})
    return sorted(equations, key=lambda e: ranks.get(e.url, len(full_text.equations) + 1))


def importance_ranks(full_text: FullText, links: set[str]) -> dict[str, int]:
    """For each equation linked to in ``links``: the smallest ``limit`` at which ``key_equations`` picks
    it, i.e. its rank by the very importance the prompt and the offline explanation use. ``key_equations``'
    picks grow with the limit (its best ``limit``), so a binary search finds it: log n calls per link."""
    total = len(full_text.equations)
    ranks: dict[str, int] = {}
    for equation in full_text.equations:
        link = full_text.link(equation)
        if link not in links or link in ranks:
            continue

        def picked(limit: int, wanted: PaperEquation = equation) -> bool:
            return any(chosen is wanted for chosen in key_equations(full_text, limit))

        if not picked(total):
            continue  # trivial: never a key equation
        low, high = 1, total
        while low < high:
            middle = (low + high) // 2
            if picked(middle):
                high = middle
            else:
                low = middle + 1
        ranks[link] = low
    return ranks


_LABEL = re.compile(r"\(([^()]{1,20})\)")


MAX_IMAGE_BYTES = 2 * 1024 * 1024  # a formula is a few kB; anything bigger is not one of ours


def read_image(path: Path) -> bytes:
    """An equation image's bytes for an upload, read at most to ``MAX_IMAGE_BYTES`` (OSError beyond)."""
    with path.open("rb") as file:
        data = file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise OSError("larger than an equation image can be")
    return data


def image_filename(label: str) -> str:
    """``eq-3.png`` for "Eq. (3)", ``eq-A-2.png`` for "Eq. (A.2)": a file name every platform keeps as is."""
    found = _LABEL.search(label)
    bare = found.group(1) if found else label
    safe = re.sub(r"[^A-Za-z0-9]+", "-", bare).strip("-")[:20] or "equation"
    return f"eq-{safe}.png"


def equation_image(equation: ExplanationEquation, path: Path) -> EquationImage:
    """The image of one equation with its label and alt text made inert: both come from the paper."""
    label = inert_text(bounded(" ".join(equation.label.split()), 20))
    return EquationImage(
        path=str(path),
        label=f"Eq. ({label})",
        tex=equation.tex,
        unicode=inert_text(bounded(" ".join(equation.unicode.split()), ALT_TEXT_CHARS)),
        url=equation.url,
    )
