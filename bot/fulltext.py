"""A paper's full text from arXiv's HTML version (LaTeXML): its sections and numbered display equations.

LaTeXML keeps every formula's TeX source in ``<math alttext="…">`` and gives numbered display equations
an anchor id (``S3.E2``, ``A1.E4``) and a label cell ``(3)``. From those this module reads, for each
numbered equation: its label, its TeX, the sentence that introduces it, the section it sits in, and how
often the text refers to it (``<a class="ltx_ref" href="#S3.E2">``).

Parsed with selectolax (lexbor, a complete HTML5 parser in C): a 3 MB page takes tens of milliseconds
and a malformed one parses as a browser would, never raises. Everything is bounded (formulas looked
at, TeX length, sentence length), and parsing runs in a worker thread so the event loop never waits.

Which equations to show (``key_equations``), the heuristic:
1. only numbered display equations (the authors numbered what they refer to), not trivial ones
   (TeX shorter than ``TRIVIAL_TEX_CHARS`` once spacing commands are dropped: ``x = 1``);
2. score = 2 × how often the text refers to it + 3 if its section reads as the method (method,
   approach, model, framework, formulation, preliminaries, …) − 3 if it reads as experiments,
   results, related work or an appendix;
3. the ``limit`` best (ties: the earlier one), shown in the paper's order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.text import clean_text

log = logging.getLogger(__name__)

__all__ = [
    "PASSAGE_KINDS",
    "FullText",
    "FullTextCache",
    "HtmlSource",
    "MemoryFullTextCache",
    "PaperEquation",
    "Passage",
    "TextCache",
    "fetch_full_text",
    "full_text_badge",
    "key_equations",
    "last_sentence",
    "parse_full_text",
]

MAX_EQUATIONS = 2_000  # numbered equations looked at per page; a real paper has tens
MAX_MATHS_PER_EQUATION = 24  # the rows and cells of one aligned group
MAX_TEX_CHARS = 1_500  # longer TeX is a table in disguise: shown nowhere, so not kept
MAX_SENTENCE_CHARS = 300
MAX_SECTIONS = 200
KEY_EQUATIONS = 5
TRIVIAL_TEX_CHARS = 8
CACHE_FILES = 500  # parsed pages kept on disk (a few kB each)
MISSING_RETRY_S = 24 * 3600.0  # a paper without an HTML version is asked again a day later
HTML_BADGE = "from the paper's full text (v{version})"
JATS_BADGE = "from the preprint's full text (JATS)"

_EQUATION_ID = re.compile(r"(?:^|\.)E\d+(?:\.\d+)*[a-z]?$")
_LABEL = re.compile(r"^\(\s*([^()\s]{1,12})\s*\)$")
_SPACING = re.compile(r"\\(?:displaystyle|textstyle|quad|qquad|[,;:!]|hfill|nonumber|notag)|\s+|&")
_LINE_CONTINUATION = re.compile(r"%\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(])")
_METHOD_WORDS = re.compile(
    r"method|approach|model|framework|formulation|algorithm|objective|loss|architecture|preliminar|"
    r"background|problem|setup|setting|theory|analysis|propos|our |definition|training",
    re.IGNORECASE,
)
_ASIDE_WORDS = re.compile(
    r"experiment|evaluation|result|ablation|related work|conclusion|discussion|implementation|appendix|"
    r"proof|additional|supplement",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PaperEquation:
    label: str  # "3", as printed without the parentheses
    anchor: str  # "S3.E2": the fragment of its link
    tex: str  # untrusted paper text
    section: str  # the title of the top-level section it sits in ("" before the first)
    appendix: bool
    intro: str  # the sentence before it, clean text ("" when none)
    references: int  # links to it from the text
    # The sentence(s) right after it, clean text ("where α is the miscoverage level…"; "" when none).
    after: str = ""
    # The statement it sits in when it is part of one ("Theorem 2", "Assumption 1"; "" when none).
    statement: str = ""


# What a passage of the full text is, most telling first: what a prompt sends before the rest.
PASSAGE_KINDS = ("contributions", "theorem", "assumption", "definition", "lemma", "conclusion", "paragraph")


@dataclass(frozen=True, slots=True)
class Passage:
    """One paragraph or statement of the full text, as clean text (formulas as Unicode), bounded."""

    kind: str  # one of PASSAGE_KINDS
    section: str  # the title of the section it sits in ("" before the first)
    text: str  # untrusted paper text, clean
    label: str = ""  # "Theorem 2", "Assumption 1" for a statement; "" for a paragraph


@dataclass(frozen=True, slots=True)
class FullText:
    paper_id: str
    version: int
    url: str  # the HTML version; an equation's link is url#anchor
    sections: tuple[str, ...]
    equations: tuple[PaperEquation, ...]  # numbered display equations in the paper's order
    # What it was read from: "html" (arXiv's LaTeXML page) or "jats" (a preprint server's JATS XML).
    origin: str = "html"
    # Its paragraphs and statements in the paper's order (abstract and references excluded).
    passages: tuple[Passage, ...] = ()

    @property
    def badge(self) -> str:
        """What an explanation built from it says it was built from."""
        return full_text_badge(self.origin, self.version)

    def link(self, equation: PaperEquation) -> str:
        return f"{self.url}#{equation.anchor}"


def full_text_badge(origin: str, version: int) -> str:
    return JATS_BADGE if origin == "jats" else HTML_BADGE.format(version=version)


class HtmlSource(Protocol):
    async def fetch_html(self, paper_id: str, version: int) -> bytes | None: ...


# ---------------------------------------------------------------------------------------------
# Fetching, with a cache on disk
# ---------------------------------------------------------------------------------------------


class TextCache(Protocol):
    """Where parsed full texts are kept: on disk next to the database, or in memory."""

    def get(self, paper_id: str, version: int) -> FullText | bool | None: ...

    def put(self, paper_id: str, version: int, full_text: FullText | None) -> None: ...


class MemoryFullTextCache:
    """The same as FullTextCache, in memory (a database in memory keeps nothing on disk either): the most
    recent ``max_files`` answers, so that the same paper asked for again, or by many at once, is one
    request to its source."""

    def __init__(self, *, max_files: int = CACHE_FILES, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_files = max_files
        self._clock = clock
        self._kept: OrderedDict[tuple[str, int], tuple[FullText | None, float]] = OrderedDict()

    def get(self, paper_id: str, version: int) -> FullText | bool | None:
        found = self._kept.get((paper_id, version))
        if found is None:
            return None
        full_text, at = found
        if full_text is None:
            return False if self._clock() - at < MISSING_RETRY_S else None
        self._kept.move_to_end((paper_id, version))
        return full_text

    def put(self, paper_id: str, version: int, full_text: FullText | None) -> None:
        self._kept[(paper_id, version)] = (full_text, self._clock())
        self._kept.move_to_end((paper_id, version))
        while len(self._kept) > self.max_files:
            self._kept.popitem(last=False)


class FullTextCache:
    """Parsed pages on disk, one small JSON file per paper version, at most ``max_files`` of them.

    A paper without an HTML version is remembered for ``MISSING_RETRY_S`` (arXiv converts new papers
    within a day), so a channel asking twice does not ask arXiv twice.
    """

    def __init__(self, folder: Path, *, max_files: int = CACHE_FILES) -> None:
        self.folder = folder
        self.max_files = max_files

    def _path(self, paper_id: str, version: int) -> Path:
        return self.folder / f"{paper_id.replace('/', '_')}v{version}.json"

    def get(self, paper_id: str, version: int) -> FullText | bool | None:
        """The cached page; False when the paper had no HTML version lately; None when unknown."""
        path = self._path(paper_id, version)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("missing"):
                return False if time.time() - path.stat().st_mtime < MISSING_RETRY_S else None
            return _from_json(raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError):
            log.info("unreadable full-text cache file %s; fetching again", path)
            return None

    def put(self, paper_id: str, version: int, full_text: FullText | None) -> None:
        data: dict[str, Any] = {"missing": True} if full_text is None else asdict(full_text)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(paper_id, version)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(temporary, path)
            self._trim()
        except OSError as err:  # a full or read-only disk costs a refetch, nothing more
            log.info("full-text cache not written (%s)", err)

    def _trim(self) -> None:
        files = sorted(self.folder.glob("*.json"), key=lambda f: f.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)


async def fetch_full_text(
    source: HtmlSource, paper_id: str, version: int, html_url: str, cache: TextCache | None = None
) -> FullText | None:
    """The paper's full text, or None when arXiv has no (usable) HTML version of it.

    Errors from the source propagate: the caller decides that a failure means abstract-only.
    """

    async def read() -> FullText | None:
        html = await source.fetch_html(paper_id, version)
        url = f"{html_url.rstrip('/')}/{paper_id}v{version}"
        return None if html is None else await asyncio.to_thread(parse_full_text, html, paper_id, version, url)

    return await through_cache(cache, paper_id, version, read)


async def through_cache(
    cache: TextCache | None, paper_id: str, version: int, read: Callable[[], Awaitable[FullText | None]]
) -> FullText | None:
    """A paper version's full text from ``cache``, else ``read()`` and remember its answer: the text, or
    that there was none (asked again a day later). What ``read`` raises is not remembered."""
    if cache is not None:
        cached = cache.get(paper_id, version)
        if cached is False:
            return None
        if isinstance(cached, FullText):
            return cached
    full_text = await read()
    if cache is not None:
        cache.put(paper_id, version, full_text)
    return full_text


def _from_json(raw: dict[str, Any]) -> FullText:
    return FullText(
        paper_id=str(raw["paper_id"]),
        version=int(raw["version"]),
        url=str(raw["url"]),
        sections=tuple(str(s) for s in raw["sections"]),
        equations=tuple(PaperEquation(**e) for e in raw["equations"]),
        origin=str(raw.get("origin", "html")),
        passages=tuple(Passage(**p) for p in raw.get("passages", ())),
    )


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def parse_full_text(html: bytes | str, paper_id: str, version: int, url: str) -> FullText:
    """Sections and numbered display equations of a LaTeXML page (see the module docstring)."""
    tree = LexborHTMLParser(html)
    references = _reference_counts(tree)
    equations: list[PaperEquation] = []
    seen: set[str] = set()
    for tag in tree.css("span.ltx_tag_equation, span.ltx_tag_equationgroup"):
        if len(equations) >= MAX_EQUATIONS:
            break
        label_match = _LABEL.match(" ".join((tag.text() or "").split()))
        anchor_node = _numbered_ancestor(tag)
        if label_match is None or anchor_node is None:
            continue
        anchor = str(anchor_node.attributes.get("id") or "")
        if anchor in seen:
            continue
        seen.add(anchor)
        tex = _equation_tex(anchor_node)
        if not tex:
            continue
        section, appendix = _section_of(anchor_node)
        equations.append(
            PaperEquation(
                label=label_match.group(1),
                anchor=anchor,
                tex=tex,
                section=section,
                appendix=appendix,
                intro=_intro_sentence(anchor_node),
                references=references.get(anchor, 0),
            )
        )
    return FullText(paper_id, version, url, _section_titles(tree), tuple(equations))


def _reference_counts(tree: LexborHTMLParser) -> Counter[str]:
    counts: Counter[str] = Counter()
    for link in tree.css("a.ltx_ref"):
        href = link.attributes.get("href") or ""
        if "#" in href:
            counts[href.rsplit("#", 1)[1]] += 1
    return counts


def _numbered_ancestor(node: LexborNode) -> LexborNode | None:
    """The element carrying a numbered equation's id: the table, or one tbody of an aligned group."""
    current = node.parent
    for _ in range(12):  # the label cell is a few levels below it
        if current is None:
            return None
        if _EQUATION_ID.search(str(current.attributes.get("id") or "")):
            return current
        if current.tag in ("body", "section", "article"):
            return None
        current = current.parent
    return None


def _equation_tex(anchor: LexborNode) -> str:
    """The TeX of an equation: its formulas' alttext, cells joined by a space and rows by ``\\quad``."""
    rows: list[str] = []
    total = 0
    for row in anchor.css("tr") or [anchor]:
        cells = []
        for math in row.css("math")[:MAX_MATHS_PER_EQUATION]:
            alt = _LINE_CONTINUATION.sub("", str(math.attributes.get("alttext") or ""))
            alt = alt.replace("\\displaystyle", "").strip()
            total += len(alt)
            if total > MAX_TEX_CHARS:
                return ""
            if alt:
                cells.append(alt)
        if cells:
            rows.append(" ".join(cells))
        if len(rows) >= MAX_MATHS_PER_EQUATION:
            break
    return " \\quad ".join(rows)


def _section_of(node: LexborNode) -> tuple[str, bool]:
    """The title of the outermost section holding ``node``, and whether that is an appendix."""
    title, appendix = "", False
    current = node.parent
    while current is not None and current.tag != "body":
        if current.tag == "section":
            classes = str(current.attributes.get("class") or "")
            if "ltx_appendix" in classes:
                appendix = True
            heading = current.css_first("h1, h2, h3, h4, h5, h6")
            if heading is not None:
                title = _title_text(heading)
        current = current.parent
    return title, appendix


def _section_titles(tree: LexborHTMLParser) -> tuple[str, ...]:
    titles = []
    for section in tree.css("section.ltx_section, section.ltx_appendix")[:MAX_SECTIONS]:
        heading = section.css_first("h1, h2, h3")
        if heading is not None and (title := _title_text(heading)):
            titles.append(title)
    return tuple(titles)


def _title_text(heading: LexborNode) -> str:
    return clean_text(heading.text(deep=True) or "")[:200]


def _intro_sentence(anchor: LexborNode) -> str:
    """The last sentence of the paragraph text just before the equation ("The loss is:")."""
    table = anchor if anchor.tag == "table" else _closest_table(anchor)
    if table is None:
        return ""
    before = table.prev
    while before is not None and before.tag == "-text":
        before = before.prev
    if before is None:
        return ""
    if before.tag != "p":
        paragraphs = before.css("p.ltx_p")
        if not paragraphs:
            return ""
        before = paragraphs[-1]
    return last_sentence(_prose(before))


def last_sentence(text: str) -> str:
    """The last sentence of clean text, at most ``MAX_SENTENCE_CHARS`` (its end kept: it leads to the formula)."""
    sentences = _SENTENCE_END.split(text.strip())
    sentence = sentences[-1] if sentences else ""
    if len(sentence) > MAX_SENTENCE_CHARS:
        sentence = "…" + sentence[-(MAX_SENTENCE_CHARS - 1) :].lstrip()
    return sentence


def _closest_table(node: LexborNode) -> LexborNode | None:
    current = node.parent
    for _ in range(4):
        if current is None:
            return None
        if current.tag == "table":
            return current
        current = current.parent
    return None


def _prose(paragraph: LexborNode) -> str:
    """A paragraph as clean text, each formula by its TeX turned to Unicode (not its MathML glyphs)."""
    parts: list[str] = []
    size = 0
    skip_below: LexborNode | None = None
    for node in paragraph.traverse(include_text=True):
        if skip_below is not None:
            if _is_inside(node, skip_below):
                continue
            skip_below = None
        if node.tag == "math":
            parts.append(f"\\({node.attributes.get('alttext') or ''}\\)")
            skip_below = node
        elif node.tag == "-text":
            parts.append(node.text_content or "")
        size += len(parts[-1]) if parts else 0
        if size > 20_000:  # a paragraph is a few hundred characters; stop at a pathological one
            break
    return clean_text("".join(parts))


def _is_inside(node: LexborNode, ancestor: LexborNode) -> bool:
    current = node.parent
    for _ in range(64):
        if current is None:
            return False
        if current.mem_id == ancestor.mem_id:
            return True
        current = current.parent
    return False


# ---------------------------------------------------------------------------------------------
# Choosing
# ---------------------------------------------------------------------------------------------


def key_equations(full_text: FullText, limit: int = KEY_EQUATIONS) -> tuple[PaperEquation, ...]:
    """Up to ``limit`` equations worth showing, in the paper's order (heuristic: module docstring)."""
    candidates = [e for e in full_text.equations if not _is_trivial(e.tex)]
    ranked = sorted(enumerate(candidates), key=lambda pair: (-_score(pair[1]), pair[0]))
    chosen = sorted(ranked[: max(0, limit)], key=lambda pair: pair[0])
    return tuple(equation for _, equation in chosen)


def _is_trivial(tex: str) -> bool:
    return len(_SPACING.sub("", tex)) < TRIVIAL_TEX_CHARS


def _score(equation: PaperEquation) -> int:
    score = 2 * min(equation.references, 50)
    if equation.appendix or _ASIDE_WORDS.search(equation.section):
        score -= 3
    elif _METHOD_WORDS.search(equation.section):
        score += 3
    return score
