"""A bioRxiv/medRxiv preprint's full text from its JATS XML: section titles and numbered display formulas.

bioRxiv's details API names each version's JATS file (``jatsxml``). JATS marks a display formula as
``<disp-formula id="…"><label>(1)</label>…</disp-formula>`` holding the authors' TeX (``<tex-math>``),
MathML (``<mml:math>``, at times with a TeX ``<annotation>``), or only a picture (``<graphic>``: nothing
to read). References in the text are ``<xref ref-type="disp-formula" rid="…">``. This module reads them
into bot.fulltext's ``FullText``/``PaperEquation`` (origin "jats"), so ``key_equations``, the prompt, the
offline explanation and the equation images treat a preprint as they treat an arXiv paper.

A formula's TeX (bot.jats_math), in order of preference: its tex-math (the wrapper document and ``$$``
stripped), the TeX annotation of its MathML, its MathML converted (:func:`mathml_to_tex`). Only labelled
formulas count, as on arXiv: the authors numbered what they refer to. Each comes with the sentence before
it, the sentence(s) after it ("where …": the rest of its paragraph up to the next formula, or the next
paragraph when that starts lower-case) and the ``<statement>`` holding it ("Theorem 1"). The passages
(paragraphs ``<p>``, statements ``<statement>``, lists) follow bot.fulltext_passages's rules; the front
matter (abstract), the back matter's references, acknowledgements and notes, figures, tables and
footnotes are not passages, appendices are.

Hostile input: a first expat pass (bot.sources.xml_guard) refuses any entity declaration (billion laughs,
external entities) and malformed XML; ElementTree then parses without ever fetching a DTD or an entity.
The document's size, the formulas looked at, MathML depth and node count, TeX length and sentence length
are bounded, and everything here is pure: the caller runs it in a worker thread.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.fulltext import (
    MAX_EQUATIONS,
    MAX_SECTIONS,
    FullText,
    PaperEquation,
    Passage,
    TextCache,
    following_sentences,
    last_sentence,
    through_cache,
)
from bot.fulltext_passages import PassageList
from bot.isolated import WorkerError
from bot.isolated_parse import NestingTooDeep, parse_isolated
from bot.jats_math import formula_tex, mathml_to_tex
from bot.jats_math import local_name as _local
from bot.sources.xml_guard import UnreadableXml, bound_author_fields
from bot.text import clean_text

log = logging.getLogger(__name__)

__all__ = [
    "MAX_JATS_BYTES",
    "NO_JATS_BADGE",
    "UNFETCHED_JATS_BADGE",
    "JatsSource",
    "UnreadableJats",
    "as_jats_source",
    "fetch_jats_full_text",
    "mathml_to_tex",
    "parse_jats",
]

MAX_JATS_BYTES = 8 * 1024 * 1024  # a real preprint's JATS is 50-500 KB; MathML-heavy ones a few MB
MAX_PROSE_CHARS = 20_000
MAX_INTRO_ELEMENTS = 16  # inline elements looked at before a formula for its introducing sentence
MAX_TITLE_CHARS = 200
NO_JATS_BADGE = "from the abstract only (no full text)"
UNFETCHED_JATS_BADGE = "from the abstract only (the full text could not be fetched)"

_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?)])")  # a formula is padded with blanks in prose
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_LABEL = re.compile(r"^\(?\s*(?:Eq(?:uation)?\.?\s*)?([^()\s]{1,12})\s*\)?$", re.IGNORECASE)
# Not passages: references, acknowledgements, notes, figures, tables, footnotes, formulas on their own.
_NOT_PASSAGES = frozenset({
    "ref-list", "ack", "fn-group", "fn", "fig", "table-wrap", "notes", "glossary", "title", "label",
    "disp-formula", "sec-meta", "fig-group", "table-wrap-group", "supplementary-material",
})  # fmt: skip
_APPENDIX_TYPES = ("app", "appendix", "supplementary", "supplementary-material")


class UnreadableJats(ValueError):
    """The document is too large, not well-formed, or uses something refused (a DTD's entities)."""


@runtime_checkable
class JatsSource(Protocol):
    """A source that can fetch a preprint version's JATS XML (None: it has none, or none we can use)."""

    async def fetch_jats(self, doi: str, version: int) -> bytes | None: ...


def as_jats_source(source: object) -> JatsSource | None:
    """``source`` when it can fetch JATS XML (bioRxiv, medRxiv), else None."""
    return source if isinstance(source, JatsSource) else None


async def fetch_jats_full_text(
    source: JatsSource, paper_id: str, version: int, url: str, cache: TextCache | None = None
) -> FullText | None:
    """The preprint's full text, or None when its server has no usable JATS XML for this version.

    Errors fetching propagate (the caller falls back to the abstract); an unreadable document is None,
    remembered as the arXiv pages without an HTML version are."""

    async def read() -> FullText | None:
        data = await source.fetch_jats(paper_id, version)
        if data is None:
            return None
        try:
            # The XML parser runs in a worker process with memory and time limits, after a nesting check.
            return await parse_isolated(parse_jats, data, paper_id, version, url)
        except (UnreadableJats, NestingTooDeep, WorkerError) as err:
            log.info("the JATS XML of %sv%d is not usable (%s); explained from the abstract", paper_id, version, err)
            return None

    return await through_cache(cache, paper_id, version, read)


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------


def parse_jats(data: bytes, paper_id: str, version: int, url: str) -> FullText:
    """Sections and labelled display formulas of a JATS document; raises UnreadableJats."""
    if len(data) > MAX_JATS_BYTES:
        raise UnreadableJats(f"larger than {MAX_JATS_BYTES // (1024 * 1024)} MB")
    try:
        checked = bound_author_fields(data)  # well-formed, and no entity declaration at all
        root = ElementTree.fromstring(checked)
    except UnreadableXml as err:
        raise UnreadableJats(str(err)) from None
    except ElementTree.ParseError as err:  # e.g. an entity the (never fetched) DTD would define
        raise UnreadableJats(f"invalid XML ({err})") from None
    reader = _Reader(root)
    return FullText(
        paper_id,
        version,
        url,
        reader.section_titles(),
        reader.equations(),
        origin="jats",
        passages=reader.passages(),
    )


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an element sits: its parent, and the outermost section around it."""

    parent: ElementTree.Element | None
    index: int  # among the parent's children
    section: str
    appendix: bool
    statement: str = ""  # "Theorem 1" inside a <statement>


class _Reader:
    def __init__(self, root: ElementTree.Element) -> None:
        self.root = root
        self.references = _reference_counts(root)
        self._children: dict[int, list[ElementTree.Element]] = {}  # id(parent) -> its children, listed once

    def children_of(self, parent: ElementTree.Element) -> list[ElementTree.Element]:
        found = self._children.get(id(parent))
        if found is None:
            found = self._children[id(parent)] = list(parent)
        return found

    def intro(self, place: _Place) -> str:
        """The sentence leading to a formula: the text before it in its paragraph since the previous
        formula (a few elements at most), or else the last sentence of the paragraph just before it."""
        parent = place.parent
        if parent is None:
            return ""
        siblings = self.children_of(parent)
        before = ""
        if _local(parent.tag) == "p":
            start = place.index
            while start > 0 and place.index - start < MAX_INTRO_ELEMENTS:
                if _local(siblings[start - 1].tag) == "disp-formula":
                    break
                start -= 1
            head = (parent.text or "") if start == 0 else (siblings[start - 1].tail or "")
            before = head + "".join(_prose(child) + (child.tail or "") for child in siblings[start : place.index])
        if not before.strip():
            previous = None
            for child in reversed(siblings[max(0, place.index - MAX_INTRO_ELEMENTS) : place.index]):
                name = _local(child.tag)
                if name == "p":
                    previous = child
                    break
                if name not in ("disp-formula", "label", "title"):
                    break
            before = _prose(previous) if previous is not None else ""
        return last_sentence(_SPACE_BEFORE_PUNCTUATION.sub(r"\1", clean_text(before)))

    def after(self, place: _Place) -> str:
        """The sentence(s) right after a formula: the rest of its paragraph up to the next formula, or,
        for a formula between paragraphs, the next paragraph when it goes on lower-case ("where …")."""
        parent = place.parent
        if parent is None:
            return ""
        siblings = self.children_of(parent)
        text = ""
        if _local(parent.tag) == "p":
            parts = [siblings[place.index].tail or ""]
            for child in siblings[place.index + 1 : place.index + 1 + MAX_INTRO_ELEMENTS]:
                if _local(child.tag) == "disp-formula":
                    break
                parts.append(_prose(child) + (child.tail or ""))
            text = "".join(parts)
        elif place.index + 1 < len(siblings) and _local(siblings[place.index + 1].tag) == "p":
            following = clean_text(_prose(siblings[place.index + 1]))
            text = following if following[:1].islower() else ""
        return following_sentences(_SPACE_BEFORE_PUNCTUATION.sub(r"\1", clean_text(text)).lstrip(" ,"))

    def passages(self) -> tuple[Passage, ...]:
        """The paragraphs, statements and lists of the body and appendices, in order (bounded)."""
        found = PassageList()
        roots = [e for e in self.root if _local(e.tag) in ("body", "back")]
        stack: list[tuple[ElementTree.Element, str]] = [(e, "") for e in reversed(roots)]
        while stack and not found.full:
            element, section = stack.pop()
            name = _local(element.tag)
            if name in _NOT_PASSAGES:
                continue
            if name == "p":
                found.add_paragraph(section, _paragraph_text(element))
            elif name == "list":
                found.add_paragraph(section, _paragraph_text(element), is_list=True)
            elif name == "statement":
                body = " ".join(_paragraph_text(c) for c in element if _local(c.tag) not in ("label", "title"))
                found.add_statement(section, _statement_title(element), clean_text(body))
            else:
                if name in ("sec", "app") and not section:
                    section = _title_of(element)
                stack.extend((child, section) for child in reversed(list(element)))
        return tuple(found.passages)

    def _walk(self) -> Iterator[tuple[ElementTree.Element, _Place]]:
        """Every element with its place, in document order, without recursion (XML may nest deeply)."""
        stack: list[tuple[ElementTree.Element, _Place]] = [(self.root, _Place(None, 0, "", False))]
        while stack:
            element, place = stack.pop()
            yield element, place
            name = _local(element.tag)
            section, appendix = place.section, place.appendix
            if name in ("back", "app", "app-group") or (name == "sec" and _is_appendix(element)):
                appendix = True
            if name in ("sec", "app") and not place.section:
                section = _title_of(element)
            statement = _statement_title(element) if name == "statement" else place.statement
            children = [(child, _Place(element, n, section, appendix, statement)) for n, child in enumerate(element)]
            stack.extend(reversed(children))

    def section_titles(self) -> tuple[str, ...]:
        titles: list[str] = []
        for element, place in self._walk():
            if _local(element.tag) in ("sec", "app") and not place.section and (title := _title_of(element)):
                titles.append(title)
                if len(titles) >= MAX_SECTIONS:
                    break
        return tuple(titles)

    def equations(self) -> tuple[PaperEquation, ...]:
        found: list[PaperEquation] = []
        seen: set[str] = set()
        looked_at = 0
        for element, place in self._walk():
            if _local(element.tag) != "disp-formula":
                continue
            looked_at += 1
            if looked_at > MAX_EQUATIONS:
                break
            label = _label_of(element)
            tex = formula_tex(element) if label else ""
            if not label or not tex:
                continue
            raw_id = element.get("id") or ""
            anchor = raw_id if _SAFE_ID.fullmatch(raw_id) else f"disp-formula-{looked_at}"
            if anchor in seen:
                anchor = f"disp-formula-{looked_at}"
            seen.add(anchor)
            found.append(
                PaperEquation(
                    label=label,
                    anchor=anchor,
                    tex=tex,
                    section=place.section,
                    appendix=place.appendix,
                    intro=self.intro(place),
                    references=self.references.get(raw_id, 0) if raw_id else 0,
                    after=self.after(place),
                    statement=place.statement,
                )
            )
        return tuple(found)


def _paragraph_text(element: ElementTree.Element) -> str:
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", clean_text(_prose(element)))


def _statement_title(statement: ElementTree.Element) -> str:
    """ "Theorem 1" of a ``<statement>``: its label as printed, else its content-type ("" when neither)."""
    for child in statement:
        if _local(child.tag) == "label":
            return clean_text("".join(child.itertext()))[:MAX_TITLE_CHARS].rstrip(" .:")
    return (statement.get("content-type") or "").strip()[:40].capitalize()


def _is_appendix(section: ElementTree.Element) -> bool:
    kind = (section.get("sec-type") or "").casefold()
    return any(kind.startswith(t) for t in _APPENDIX_TYPES)


def _title_of(section: ElementTree.Element) -> str:
    for child in section:
        if _local(child.tag) == "title":
            return clean_text(_prose(child))[:MAX_TITLE_CHARS]
    return ""


def _label_of(formula: ElementTree.Element) -> str:
    for child in formula:
        if _local(child.tag) == "label":
            match = _LABEL.match(" ".join("".join(child.itertext()).split())[:40])
            return match.group(1) if match else ""
    return ""


def _reference_counts(root: ElementTree.Element) -> Counter[str]:
    counts: Counter[str] = Counter()
    for element in root.iter():
        if _local(element.tag) == "xref" and element.get("ref-type") == "disp-formula":
            for rid in (element.get("rid") or "").split()[:10]:
                counts[rid] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Prose: the sentence before a formula
# ---------------------------------------------------------------------------------------------


_SKIPPED = frozenset({"label", "graphic", "fn", "table-wrap", "fig", "alternatives"})


def _prose(element: ElementTree.Element, stop: ElementTree.Element | None = None) -> str:
    """An element's text up to ``stop``, each formula in it as ``\\(TeX\\)`` (clean_text turns that into
    Unicode); bounded, without recursion (a text piece on the stack is a tail, in the parent's flow)."""
    parts: list[str] = []
    size = 0
    stack: list[ElementTree.Element | str] = [element]
    while stack and size < MAX_PROSE_CHARS:
        item = stack.pop()
        if isinstance(item, str):
            piece = item
        elif item is stop:
            break
        elif _local(item.tag) in ("inline-formula", "disp-formula"):
            tex = formula_tex(item)
            piece = f" \\({tex}\\) " if tex else " "
        elif _local(item.tag) in _SKIPPED:
            piece = ""
        else:
            piece = item.text or ""
            for child in reversed(list(item)):
                if child.tail:
                    stack.append(child.tail)
                stack.append(child)
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:MAX_PROSE_CHARS]
