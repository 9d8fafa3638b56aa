"""A paper's full text: fetched (arXiv's HTML version, through a cache), and which equations to show.

Reading a page is :mod:`bot.fulltext_latexml` (sections, numbered equations with the sentence before and
after each and the statement holding it) and :mod:`bot.fulltext_passages` (paragraphs and statements);
the data model is :mod:`bot.fulltext_model`. This module re-exports their public names.

Which equations to show (``key_equations``), the heuristic:
1. only numbered display equations (the authors numbered what they refer to), not trivial ones
   (TeX shorter than ``TRIVIAL_TEX_CHARS`` once spacing commands are dropped: ``x = 1``);
2. score = 2 × how often the text refers to it (at most 50 references counted)
   + 5 if it sits in a theorem, proposition, corollary or lemma, + 3 if in an assumption or definition
   (what the paper states as its result or its premise)
   + 3 if its section reads as the method (method, approach, model, framework, formulation,
   preliminaries, …) − 3 if it reads as experiments, results, related work or an appendix;
3. the ``limit`` best (ties: the earlier one), shown in the paper's order.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from bot.fulltext_latexml import parse_full_text
from bot.fulltext_model import (
    HTML_BADGE,
    JATS_BADGE,
    MAX_EQUATIONS,
    MAX_PASSAGE_CHARS,
    MAX_PASSAGES,
    MAX_SECTIONS,
    MAX_SENTENCE_CHARS,
    MAX_TEX_CHARS,
    PASSAGE_KINDS,
    FullText,
    PaperEquation,
    Passage,
    following_sentences,
    full_text_badge,
    last_sentence,
)
from bot.fulltext_passages import statement_kind
from bot.isolated import WorkerError
from bot.isolated_parse import NestingTooDeep, parse_isolated
from bot.page_refusals import TOO_DEEP, UNREADABLE

log = logging.getLogger(__name__)

__all__ = [
    "CACHE_FORMAT",
    "HTML_BADGE",
    "JATS_BADGE",
    "KEY_EQUATIONS",
    "MAX_EQUATIONS",
    "MAX_PASSAGES",
    "MAX_PASSAGE_CHARS",
    "MAX_SECTIONS",
    "MAX_SENTENCE_CHARS",
    "MAX_TEX_CHARS",
    "PASSAGE_KINDS",
    "FullText",
    "FullTextCache",
    "HtmlSource",
    "MemoryFullTextCache",
    "PaperEquation",
    "Passage",
    "TextCache",
    "fetch_full_text",
    "following_sentences",
    "full_text_badge",
    "key_equations",
    "last_sentence",
    "parse_full_text",
]

KEY_EQUATIONS = 5
TRIVIAL_TEX_CHARS = 8
CACHE_FILES = 500  # parsed pages kept on disk (a few kB each)
MISSING_RETRY_S = 24 * 3600.0  # a paper without an HTML version is asked again a day later
# The disk cache's format: a file written by an older reader (no passages, no "after") is not served as
# complete, it is read again. Raise it whenever what parse_full_text reads changes.
CACHE_FORMAT = 2

_SPACING = re.compile(r"\\(?:displaystyle|textstyle|quad|qquad|[,;:!]|hfill|nonumber|notag)|\s+|&")
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


class HtmlSource(Protocol):
    async def fetch_html(self, paper_id: str, version: int) -> bytes | None: ...


def _refusal(source: HtmlSource, paper_id: str, version: int) -> str:
    """Why the source answered no page ("" for none at all), when it can say (ArxivClient.html_refusal)."""
    explain = getattr(source, "html_refusal", None)
    return str(explain(paper_id, version)) if callable(explain) else ""


# ---------------------------------------------------------------------------------------------
# Fetching, with a cache on disk
# ---------------------------------------------------------------------------------------------


class TextCache(Protocol):
    """Where parsed full texts are kept: on disk next to the database, or in memory."""

    def get(self, paper_id: str, version: int) -> FullText | bool | None: ...

    def put(self, paper_id: str, version: int, full_text: FullText | None, *, reason: str = "") -> None: ...

    def missing_reason(self, paper_id: str, version: int) -> str:
        """Why the version has no full text, as remembered with it ("" when it simply has none)."""
        ...


class MemoryFullTextCache:
    """The same as FullTextCache, in memory (a database in memory keeps nothing on disk either): the most
    recent ``max_files`` answers, so that the same paper asked for again, or by many at once, is one
    request to its source."""

    def __init__(self, *, max_files: int = CACHE_FILES, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_files = max_files
        self._clock = clock
        self._kept: OrderedDict[tuple[str, int], tuple[FullText | None, float]] = OrderedDict()
        self._reasons: dict[tuple[str, int], str] = {}  # why a version kept as None was set aside

    def get(self, paper_id: str, version: int) -> FullText | bool | None:
        found = self._kept.get((paper_id, version))
        if found is None:
            return None
        full_text, at = found
        if full_text is None:
            return False if self._clock() - at < MISSING_RETRY_S else None
        self._kept.move_to_end((paper_id, version))
        return full_text

    def put(self, paper_id: str, version: int, full_text: FullText | None, *, reason: str = "") -> None:
        self._kept[(paper_id, version)] = (full_text, self._clock())
        self._reasons.pop((paper_id, version), None)
        if full_text is None and reason:
            self._reasons[(paper_id, version)] = reason
        self._kept.move_to_end((paper_id, version))
        while len(self._kept) > self.max_files:
            gone, _ = self._kept.popitem(last=False)
            self._reasons.pop(gone, None)

    def missing_reason(self, paper_id: str, version: int) -> str:
        return self._reasons.get((paper_id, version), "")


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
            if raw.get("format") != CACHE_FORMAT:
                return None  # written by an older reader: unknown, read again
            if raw.get("missing"):
                return False if time.time() - path.stat().st_mtime < MISSING_RETRY_S else None
            return _from_json(raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError):
            log.info("unreadable full-text cache file %s; fetching again", path)
            return None

    def missing_reason(self, paper_id: str, version: int) -> str:
        try:
            raw = json.loads(self._path(paper_id, version).read_text(encoding="utf-8"))
            return str(raw.get("reason", ""))[:200] if raw.get("missing") else ""
        except (OSError, ValueError, AttributeError):
            return ""

    def put(self, paper_id: str, version: int, full_text: FullText | None, *, reason: str = "") -> None:
        data: dict[str, Any] = {"missing": True, "reason": reason} if full_text is None else asdict(full_text)
        data["format"] = CACHE_FORMAT
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

    why = ""

    async def read() -> FullText | None:
        nonlocal why
        html = await source.fetch_html(paper_id, version)
        url = f"{html_url.rstrip('/')}/{paper_id}v{version}"
        if html is None:
            why = _refusal(source, paper_id, version)
            return None
        try:
            # lexbor is native code fed an untrusted page: it runs in a worker process with memory and time
            # limits, after a linear check of the nesting depth (a page of 100,000 nested divs is quadratic).
            return await parse_isolated(parse_full_text, html, paper_id, version, url)
        except (NestingTooDeep, WorkerError) as err:
            # None is remembered per version for a day (through_cache): not downloaded and parsed again.
            log.info("the HTML of %sv%d cannot be read safely (%s); from the abstract", paper_id, version, err)
            why = TOO_DEEP if isinstance(err, NestingTooDeep) else UNREADABLE
            return None

    return await through_cache(cache, paper_id, version, read, why=lambda: why)


async def through_cache(
    cache: TextCache | None,
    paper_id: str,
    version: int,
    read: Callable[[], Awaitable[FullText | None]],
    *,
    why: Callable[[], str] = str,
) -> FullText | None:
    """A paper version's full text from ``cache``, else ``read()`` and remember its answer: the text, or
    that there was none (asked again a day later) and ``why()`` (a page set aside: bot.page_refusals).
    What ``read`` raises is not remembered."""
    if cache is not None:
        cached = cache.get(paper_id, version)
        if cached is False:
            return None
        if isinstance(cached, FullText):
            return cached
    full_text = await read()
    if cache is not None:
        cache.put(paper_id, version, full_text, reason=why() if full_text is None else "")
    return full_text


def _from_json(raw: dict[str, Any]) -> FullText:
    return FullText(
        paper_id=str(raw["paper_id"]),
        version=int(raw["version"]),
        url=str(raw["url"]),
        sections=tuple(str(s) for s in raw["sections"]),
        equations=tuple(PaperEquation(**e) for e in raw["equations"]),
        origin=str(raw.get("origin", "html")),
        passages=tuple(Passage(**p) for p in raw["passages"]),
    )


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
    kind = statement_kind(equation.statement)
    if kind in ("theorem", "lemma"):
        score += 5
    elif kind in ("assumption", "definition"):
        score += 3
    if equation.appendix or _ASIDE_WORDS.search(equation.section):
        score -= 3
    elif _METHOD_WORDS.search(equation.section):
        score += 3
    return score
