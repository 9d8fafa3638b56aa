"""Reading text out of a LaTeXML page (arXiv's HTML version): prose with each formula by its TeX turned to
Unicode, the section around an element, the statement (theorem, lemma, …) around an element.

LaTeXML keeps every formula's TeX in ``<math alttext="…">``; the MathML inside (and the TeX annotation
``--mathtex`` adds) is skipped, so a formula is read once, from its TeX. Footnotes and equation numbers
are skipped in prose: they interrupt the sentence they sit in. Walks are iterative and bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from selectolax.lexbor import LexborNode

from bot.text import clean_text

__all__ = [
    "Sections",
    "children",
    "classes",
    "prose",
    "section_of",
    "statement_of",
    "statement_title",
    "title_text",
    "walk",
]

MAX_PROSE_CHARS = 20_000  # a paragraph is a few hundred characters; stop at a pathological one
MAX_DEPTH = 64  # ancestors looked at: LaTeXML nests a formula a dozen levels deep

_SKIPPED_IN_PROSE = (
    "ltx_note",
    "ltx_eqn_eqno",
    "ltx_tag_equation",
    "ltx_tag_equationgroup",
    "ltx_missing_citation",  # one unresolved key among resolved ones: the key is not prose either
)
_BLOCKS = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd", "h6", "figure"})
_LINE_CONTINUATION = re.compile(r"%\n")
_CLOSING = frozenset(".,;:)]")


def classes(node: LexborNode) -> tuple[str, ...]:
    return tuple(str(node.attributes.get("class") or "").split())


def walk(root: LexborNode, descend: Callable[[LexborNode], bool]) -> Iterator[LexborNode]:
    """Every node below ``root`` in document order (text nodes too), not entering those ``descend`` refuses."""
    node = root.child
    while node is not None:
        yield node
        if node.child is not None and node.tag != "-text" and descend(node):
            node = node.child
            continue
        while node is not None and node.next is None:
            node = node.parent
            if node is None or node.mem_id == root.mem_id:
                return
        node = node.next if node is not None else None


def _readable(node: LexborNode) -> bool:
    """Whether prose goes into ``node``: not into a formula (read from its alttext), a footnote, a number,
    or a citation LaTeXML could not resolve: it prints the bare BibTeX key ("higham_gaussian_2011"), which
    reads as words of the sentence (a notation entry, a quoted passage) instead of a reference."""
    if node.tag == "math":
        return False
    if node.tag == "cite" and _only_missing_citations(node):
        return False
    return not any(c in _SKIPPED_IN_PROSE for c in classes(node))


def _before_gap(text: str, closing: str) -> str:
    """The text before a left-out citation, as it reads up to ``closing``: no space (LaTeXML puts a
    no-break space before ``\\cite``) and, before a bracket, no separator of the citation left out."""
    text = text.rstrip()
    return text.rstrip(";,").rstrip() if closing in ")]" else text


def _is_missing_citation(node: LexborNode) -> bool:
    return "ltx_missing_citation" in classes(node) or (node.tag == "cite" and _only_missing_citations(node))


def _only_missing_citations(cite: LexborNode) -> bool:
    refs = cite.css(".ltx_ref")
    return bool(refs) and all("ltx_missing_citation" in classes(ref) for ref in refs)


def prose(element: LexborNode, *, skip: Callable[[LexborNode], bool] | None = None) -> str:
    """An element's text as clean text, each formula by its TeX turned to Unicode (not its MathML glyphs)."""
    parts: list[str] = []
    size = 0

    def descend(node: LexborNode) -> bool:
        return _readable(node) and not (skip is not None and skip(node))

    dropped = False  # a citation key was left out: the gap it leaves before punctuation closes
    for node in walk(element, descend):
        if node.tag != "-text" and not _readable(node) and _is_missing_citation(node):
            dropped = True
            continue
        if node.tag == "math":
            alt = _LINE_CONTINUATION.sub("", str(node.attributes.get("alttext") or ""))
            piece = f" \\({alt}\\) " if _display(node) else f"\\({alt}\\)"
        elif node.tag == "-text":
            piece = node.text_content or ""
        elif node.tag in _BLOCKS:
            piece = " "
        else:
            continue
        if skip is not None and node.tag != "-text" and skip(node):
            continue
        if dropped and parts and piece[:1] in _CLOSING:
            parts[-1] = _before_gap(parts[-1], piece[:1])
        dropped = False
        parts.append(piece)
        size += len(piece)
        if size > MAX_PROSE_CHARS:
            break
    return clean_text("".join(parts))


def _display(math: LexborNode) -> bool:
    return math.attributes.get("display") == "block"


def title_text(heading: LexborNode) -> str:
    return prose(heading)[:200]


class Sections:
    """The section around an element, each section's title read once per page."""

    def __init__(self) -> None:
        self._titles: dict[int, str] = {}

    def title(self, section: LexborNode) -> str:
        found = self._titles.get(section.mem_id)
        if found is None:
            heading = next((c for c in _children(section) if c.tag in ("h1", "h2", "h3", "h4", "h5", "h6")), None)
            found = self._titles[section.mem_id] = title_text(heading) if heading is not None else ""
        return found

    def of(self, node: LexborNode) -> tuple[str, bool]:
        """The title of the outermost section holding ``node``, and whether that is an appendix."""
        title, appendix = "", False
        current = node.parent
        for _ in range(MAX_DEPTH):
            if current is None or current.tag == "body":
                break
            if current.tag == "section":
                if "ltx_appendix" in classes(current):
                    appendix = True
                title = self.title(current) or title
            current = current.parent
        return title, appendix


def section_of(node: LexborNode) -> tuple[str, bool]:
    return Sections().of(node)


def _children(node: LexborNode) -> Iterator[LexborNode]:
    child = node.child
    while child is not None:
        yield child
        child = child.next


def statement_of(node: LexborNode) -> LexborNode | None:
    """The theorem-like block (``div.ltx_theorem``) around ``node``, if any."""
    current = node.parent
    for _ in range(MAX_DEPTH):
        if current is None or current.tag in ("section", "body", "article"):
            return None
        if "ltx_theorem" in classes(current):
            return current
        current = current.parent
    return None


def statement_title(statement: LexborNode) -> str:
    """ "Theorem 2" of a theorem-like block: its number tag, as printed ("" when unnumbered)."""
    tag = statement.css_first(".ltx_tag_theorem")
    return prose(tag).rstrip(" .:") if tag is not None else ""


def children(node: LexborNode) -> Iterator[LexborNode]:
    """The element children of ``node``, in order."""
    return (c for c in _children(node) if not (c.tag or "-").startswith("-"))
