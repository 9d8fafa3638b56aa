"""A bioRxiv/medRxiv preprint's full text from its JATS XML: section titles and numbered display formulas.

bioRxiv's details API names each version's JATS file (``jatsxml``). JATS marks a display formula as
``<disp-formula id="…"><label>(1)</label>…</disp-formula>`` holding the authors' TeX (``<tex-math>``),
MathML (``<mml:math>``, at times with a TeX ``<annotation>``), or only a picture (``<graphic>``: nothing
to read). References in the text are ``<xref ref-type="disp-formula" rid="…">``. This module reads them
into bot.fulltext's ``FullText``/``PaperEquation`` (origin "jats"), so ``key_equations``, the prompt, the
offline explanation and the equation images treat a preprint as they treat an arXiv paper.

A formula's TeX, in order of preference: its tex-math (the wrapper document and ``$$`` stripped), the TeX
annotation of its MathML, its MathML converted (:func:`mathml_to_tex`: the common presentation elements;
anything else becomes its text content). Only labelled formulas count, as on arXiv: the authors numbered
what they refer to.

Hostile input: a first expat pass (bot.sources.xml_guard) refuses any entity declaration (billion laughs,
external entities) and malformed XML; ElementTree then parses without ever fetching a DTD or an entity.
The document's size, the formulas looked at, MathML depth and node count, TeX length and sentence length
are bounded, and everything here is pure: the caller runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
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
    MAX_TEX_CHARS,
    FullText,
    PaperEquation,
    TextCache,
    last_sentence,
    through_cache,
)
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
MAX_MATHML_DEPTH = 40
MAX_MATHML_NODES = 3_000  # per formula
MAX_PROSE_CHARS = 20_000
MAX_INTRO_ELEMENTS = 16  # inline elements looked at before a formula for its introducing sentence
MAX_TITLE_CHARS = 200
NO_JATS_BADGE = "from the abstract only (no full text)"
UNFETCHED_JATS_BADGE = "from the abstract only (the full text could not be fetched)"

_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?)])")  # a formula is padded with blanks in prose
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_LABEL = re.compile(r"^\(?\s*(?:Eq(?:uation)?\.?\s*)?([^()\s]{1,12})\s*\)?$", re.IGNORECASE)
_TEX_DOCUMENT = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.DOTALL)
_TEX_FENCES = re.compile(
    r"^(?:\$\$|\$|\\\[|\\begin\{(?:equation|displaymath|align|gather)\*?\})"
    r"|(?:\$\$|\$|\\\]|\\end\{(?:equation|displaymath|align|gather)\*?\})$"
)
_TEX_LABEL = re.compile(r"\\(?:label|tag)\{[^{}]{0,80}\}")
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
            return await asyncio.to_thread(parse_jats, data, paper_id, version, url)
        except UnreadableJats as err:
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
    return FullText(paper_id, version, url, reader.section_titles(), reader.equations(), origin="jats")


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an element sits: its parent, and the outermost section around it."""

    parent: ElementTree.Element | None
    index: int  # among the parent's children
    section: str
    appendix: bool


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
            children = [(child, _Place(element, n, section, appendix)) for n, child in enumerate(element)]
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
                )
            )
        return tuple(found)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


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


# ---------------------------------------------------------------------------------------------
# A formula's TeX
# ---------------------------------------------------------------------------------------------


def formula_tex(formula: ElementTree.Element) -> str:
    """The TeX of a disp-formula or inline-formula ("" when it is only a picture, or too long)."""
    tex_math = annotation = None
    math = None
    for node in _bounded_iter(formula, MAX_MATHML_NODES):
        name = _local(node.tag)
        if name == "tex-math" and tex_math is None:
            tex_math = node
        elif name == "annotation" and annotation is None and "tex" in (node.get("encoding") or "").casefold():
            annotation = node
        elif name == "math" and math is None:
            math = node
    tex = ""
    if tex_math is not None:
        tex = _unwrap_tex("".join(tex_math.itertext()))
    if not tex and annotation is not None:
        tex = _unwrap_tex(annotation.text or "")
    if not tex and math is not None:
        tex = mathml_to_tex(math)
    tex = " ".join(tex.split())
    return tex if len(tex) <= MAX_TEX_CHARS else ""


def _bounded_iter(root: ElementTree.Element, limit: int) -> Iterator[ElementTree.Element]:
    for count, node in enumerate(root.iter()):
        if count >= limit:
            return
        yield node


def _unwrap_tex(text: str) -> str:
    """The formula of a tex-math: inside ``\\begin{document}`` when it is a whole document, without
    ``$$``/``\\[``/equation fences, labels or tags."""
    text = text[: MAX_TEX_CHARS * 8]
    document = _TEX_DOCUMENT.search(text)
    if document is not None:
        text = document.group(1)
    text = text.strip()
    for _ in range(3):  # "$$\begin{equation}…" has nested fences
        text = _TEX_FENCES.sub("", text).strip()
    return _TEX_LABEL.sub("", text).strip()


# -- MathML to TeX

_GREEK = dict(
    zip(
        "αβγδεϵζηθϑικλμνξπϖρϱσςτυφϕχψωΓΔΘΛΞΠΣΥΦΨΩ",
        (
            "alpha beta gamma delta varepsilon epsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi "
            "varpi rho varrho sigma varsigma tau upsilon varphi phi chi psi omega Gamma Delta Theta Lambda Xi "
            "Pi Sigma Upsilon Phi Psi Omega"
        ).split(),
        strict=True,
    )
)
_SYMBOLS = {
    "∑": "sum", "∏": "prod", "∫": "int", "∮": "oint", "⋃": "bigcup", "⋂": "bigcap", "≤": "leq", "≥": "geq",
    "≠": "neq", "≈": "approx", "∼": "sim", "≡": "equiv", "∝": "propto", "→": "rightarrow", "←": "leftarrow",
    "⇒": "Rightarrow", "⇔": "Leftrightarrow", "↦": "mapsto", "∈": "in", "∉": "notin", "⊂": "subset",
    "⊆": "subseteq", "∪": "cup", "∩": "cap", "∞": "infty", "±": "pm", "∓": "mp", "×": "times", "·": "cdot",
    "⋅": "cdot", "∘": "circ", "∂": "partial", "∇": "nabla", "∀": "forall", "∃": "exists", "¬": "neg",
    "∧": "wedge", "∨": "vee", "⊗": "otimes", "⊕": "oplus", "…": "ldots", "⋯": "cdots", "‖": "|", "∅": "emptyset",
    "ℓ": "ell", "ℏ": "hbar", "⟨": "langle", "⟩": "rangle", "√": "surd", "≪": "ll", "≫": "gg", "÷": "div",
}  # fmt: skip
_PLAIN_OPERATORS = {"−": "-", "∗": "*", "′": "'", "\u2061": "", "\u2062": "", "\u2063": ",", "\u2064": "+"}
_FUNCTIONS = frozenset(
    "sin cos tan cot sec csc sinh cosh tanh log ln exp lim max min sup inf det dim arg deg gcd Pr ker".split()
)
_BIG_OPERATORS = frozenset(r"\sum \prod \int \oint \bigcup \bigcap \lim \max \min \sup \inf".split())
_ACCENTS = {
    "^": "hat", "ˆ": "hat", "¯": "bar", "‾": "bar", "−": "bar", "~": "tilde", "˜": "tilde", "˙": "dot",
    "¨": "ddot", "→": "vec", "⃗": "vec",
}  # fmt: skip
_VARIANTS = {"bold": "mathbf", "double-struck": "mathbb", "script": "mathcal", "fraktur": "mathfrak"}
_TEX_SPECIALS = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$",
                 "_": r"\_", "^": r"\^{}"}  # fmt: skip
_SPACE_AFTER_COMMAND = re.compile(r"(\\[A-Za-z]+) (?=[^A-Za-z0-9 ]|$)")
_GROUPS = frozenset({"math", "mrow", "mstyle", "mpadded", "merror", "menclose", "mphantom", "maction"})


def mathml_to_tex(math: ElementTree.Element) -> str:
    """Presentation MathML as TeX: mi, mn, mo, mtext, msub, msup, msubsup, mfrac, msqrt, mroot, mrow,
    munder, mover, munderover, mfenced and their groupings; any other element becomes its text content.
    Bounded in depth and nodes: beyond either, the rest is its text content."""
    budget = [MAX_MATHML_NODES]
    tex = " ".join(_tex(math, 0, budget).split())
    return _SPACE_AFTER_COMMAND.sub(r"\1", tex)  # "\theta )" -> "\theta)": the space only ends a command


def _tex(node: ElementTree.Element, depth: int, budget: list[int]) -> str:
    budget[0] -= 1
    name = _local(node.tag)
    if depth > MAX_MATHML_DEPTH or budget[0] < 0:
        return _escape(_text(node))
    kids = [child for child in node if _local(child.tag) not in ("annotation", "annotation-xml")]

    def sub(index: int) -> str:
        return _tex(kids[index], depth + 1, budget) if index < len(kids) else ""

    if name == "mi":
        return _identifier(_text(node), node.get("mathvariant") or "")
    if name == "mn":
        return _escape(_text(node))
    if name == "mo":
        return _operator(_text(node))
    if name in ("mtext", "ms"):
        words = _escape(_text(node)).strip()
        spaced = words.replace(" ", "\\ ")
        return rf"\mathrm{{{spaced}}}" if words else " "
    if name == "mspace":
        return " "
    if name in _GROUPS or name == "msqrt" or (name == "semantics" and kids):
        inner = "".join(sub(i) for i in range(1 if name == "semantics" else len(kids)))
        return rf"\sqrt{{{inner}}}" if name == "msqrt" else inner
    if name == "mfenced":
        separator = (node.get("separators") or ",").strip()[:1] or ","
        inner = separator.join(sub(i) for i in range(len(kids)))
        return _operator(node.get("open", "(")) + inner + _operator(node.get("close", ")"))
    if len(kids) >= 2 and name in ("msub", "msup", "mfrac", "mroot", "munder", "mover"):
        return _two(name, sub(0), sub(1), _text(kids[1]).strip())
    if len(kids) >= 3 and name in ("msubsup", "munderover"):
        base = sub(0)
        if name == "munderover" and base.strip() not in _BIG_OPERATORS:
            return rf"\overset{{{sub(2)}}}{{\underset{{{sub(1)}}}{{{base}}}}}"
        return f"{_base(base)}_{{{sub(1)}}}^{{{sub(2)}}}"
    return _escape(_text(node))


def _two(name: str, first: str, second: str, second_text: str) -> str:
    if name == "msub":
        return f"{_base(first)}_{{{second}}}"
    if name == "msup":
        return f"{_base(first)}^{{{second}}}"
    if name == "mfrac":
        return rf"\frac{{{first}}}{{{second}}}"
    if name == "mroot":
        return rf"\sqrt[{second}]{{{first}}}"
    if name == "munder":
        if first.strip() in _BIG_OPERATORS:
            return f"{first.strip()}_{{{second}}}"
        return rf"\underset{{{second}}}{{{first}}}"
    accent = _ACCENTS.get(second_text)
    if accent is not None:
        return rf"\{accent}{{{first}}}"
    if first.strip() in _BIG_OPERATORS:
        return f"{first.strip()}^{{{second}}}"
    return rf"\overset{{{second}}}{{{first}}}"


def _base(tex: str) -> str:
    """A script's base: bare when it is one symbol or command, else braced."""
    tex = tex.strip()
    if len(tex) == 1 or re.fullmatch(r"\\[A-Za-z]+", tex) or (tex.startswith("{") and tex.endswith("}")):
        return tex
    return f"{{{tex}}}"


def _identifier(text: str, variant: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if text in _FUNCTIONS:
        return rf"\{text} "
    if len(text) > 1 and all(c.isascii() for c in text):
        return rf"\mathrm{{{_escape(text)}}}"
    tex = "".join(_symbol(c) for c in text)
    command = _VARIANTS.get(variant)
    return rf"\{command}{{{tex.strip()}}}" if command else tex


def _operator(text: str) -> str:
    text = text.strip()
    if text in _FUNCTIONS:  # lim, max, … as operators (under munder)
        return rf"\{text} "
    if text in _PLAIN_OPERATORS:
        return _PLAIN_OPERATORS[text]
    if text in ("(", ")", "[", "]", "|", "=", "+", "<", ">", ",", ";", ":", "!", "/", "'", "*", "-", "."):
        return text
    return "".join(_symbol(c) for c in text)


def _symbol(character: str) -> str:
    if character in _GREEK:
        return rf"\{_GREEK[character]} "
    if character in _SYMBOLS:
        name = _SYMBOLS[character]
        return rf"\{name} " if name.isalpha() else rf"\{name}"
    if character in _PLAIN_OPERATORS:
        return _PLAIN_OPERATORS[character]
    return _escape(character)


def _escape(text: str) -> str:
    return "".join(_TEX_SPECIALS.get(c, c) for c in text)


def _text(node: ElementTree.Element) -> str:
    """An element's text content, bounded (a hostile formula may hold megabytes)."""
    parts: list[str] = []
    size = 0
    for part in node.itertext():
        parts.append(part)
        size += len(part)
        if size > MAX_TEX_CHARS * 4:
            break
    return " ".join("".join(parts).split())
