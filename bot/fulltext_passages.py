"""A full text's passages: every paragraph of the body in order, its theorem-like statements, the
contributions paragraph and the conclusion, as ``Passage``s (bot.fulltext_model).

Kinds, the same rules for arXiv's LaTeXML pages and for JATS:
- a statement (LaTeXML ``div.ltx_theorem``, JATS ``<statement>``) is "theorem" (theorem, proposition,
  corollary, claim), "lemma", "assumption" (also condition, hypothesis) or "definition", labelled as printed
  ("Theorem 2"); other statements (remarks, examples) are paragraphs that start with their title;
- a paragraph announcing the contributions ("Our contributions are", "we make the following
  contributions", "In summary, we") is "contributions", and so is a list right after it;
- a paragraph of a section titled Conclusion(s), Concluding remarks, Discussion or Summary is "conclusion";
- anything else of the body is "paragraph". The abstract, the bibliography, footnotes, figure and table
  captions, acknowledgements and the front matter are not passages.
Bounded: ``MAX_PASSAGES`` passages of at most ``MAX_PASSAGE_CHARS`` each, ``MAX_PASSAGES_CHARS`` in all.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.fulltext_model import MAX_PASSAGE_CHARS, MAX_PASSAGES, MAX_PASSAGES_CHARS, Passage, bounded_text
from bot.latexml_text import Sections, children, classes, prose, statement_title, walk

__all__ = ["PassageList", "latexml_passages", "statement_kind"]

_STATEMENT_KINDS = {
    "theorem": "theorem", "proposition": "theorem", "corollary": "theorem", "claim": "theorem",
    "lemma": "lemma", "assumption": "assumption", "condition": "assumption", "hypothesis": "assumption",
    "definition": "definition",
}  # fmt: skip
_CONTRIBUTIONS = re.compile(
    r"\bour (?:main |key |primary )?contributions? (?:are|is|include|can be summari[sz]ed)|"
    r"\bwe make the following (?:\w+ )?contributions|\bin summary, we\b|\bwe summari[sz]e our contributions|"
    r"\b(?:main|key) contributions of (?:this|our) (?:paper|work)|\bthe contributions of this (?:paper|work)",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(r"\b(?:conclusions?|concluding|discussion|summary)\b", re.IGNORECASE)
_EXCLUDED = frozenset({
    "ltx_abstract", "ltx_bibliography", "ltx_note", "ltx_caption", "ltx_figure", "ltx_table", "ltx_authors",
    "ltx_dates", "ltx_acknowledgements", "ltx_keywords", "ltx_classification", "ltx_page_footer",
    "ltx_page_header", "ltx_TOC", "ltx_pagination", "ltx_title_document",
})  # fmt: skip
_EXCLUDED_TAGS = frozenset({"nav", "header", "footer", "figure", "math", "script", "style", "head"})
_LISTS = frozenset({"ul", "ol", "dl"})


def statement_kind(title: str) -> str | None:
    """The passage kind of a statement titled ``title`` ("Theorem 2" -> "theorem"); None: not one of them."""
    words = title.split()
    return _STATEMENT_KINDS.get(words[0].casefold()) if words else None


def is_conclusion_section(title: str) -> bool:
    return bool(_CONCLUSION.search(title))


def announces_contributions(text: str) -> bool:
    return bool(_CONTRIBUTIONS.search(text))


class PassageList:
    """Passages in the paper's order, bounded; a list right after the contributions is contributions."""

    def __init__(self) -> None:
        self.passages: list[Passage] = []
        self._size = 0
        self._after_contributions = False

    @property
    def full(self) -> bool:
        return len(self.passages) >= MAX_PASSAGES or self._size >= MAX_PASSAGES_CHARS

    def add_paragraph(self, section: str, text: str, *, is_list: bool = False) -> None:
        if is_conclusion_section(section):
            kind = "conclusion"
        elif announces_contributions(text) or (is_list and self._after_contributions):
            kind = "contributions"
        else:
            kind = "paragraph"
        self._add(Passage(kind, section, text))
        self._after_contributions = kind == "contributions"

    def add_statement(self, section: str, title: str, text: str) -> None:
        kind = statement_kind(title)
        if kind is None:  # a remark or an example: a paragraph, its title kept in its text
            self._add(Passage("paragraph", section, f"{title}. {text}" if title else text))
        else:
            self._add(Passage(kind, section, text, title))
        self._after_contributions = False

    def _add(self, passage: Passage) -> None:
        if not passage.text or self.full:
            return
        text = bounded_text(passage.text, min(MAX_PASSAGE_CHARS, MAX_PASSAGES_CHARS - self._size))
        self.passages.append(Passage(passage.kind, passage.section, text, passage.label))
        self._size += len(text)


def _excluded(node: LexborNode) -> bool:
    return node.tag in _EXCLUDED_TAGS or any(c in _EXCLUDED for c in classes(node))


def _is_theorem_title(node: LexborNode) -> bool:
    return node.tag == "h6" or "ltx_title_theorem" in classes(node)


def latexml_passages(tree: LexborHTMLParser, sections: Sections | None = None) -> tuple[Passage, ...]:
    """The passages of a LaTeXML page (see the module docstring)."""
    root = tree.css_first("article.ltx_document") or tree.body
    if root is None:
        return ()
    sections = sections or Sections()
    found = PassageList()

    def descend(node: LexborNode) -> bool:
        names = classes(node)
        return not _excluded(node) and "ltx_para" not in names and "ltx_theorem" not in names

    for node in walk(root, descend):
        if found.full:
            break
        if (node.tag or "-").startswith("-") or _excluded(node):
            continue
        names = classes(node)
        if "ltx_theorem" in names:
            section, _ = sections.of(node)
            found.add_statement(section, statement_title(node), prose(node, skip=_is_theorem_title))
        elif "ltx_para" in names:
            section, _ = sections.of(node)
            first = next(children(node), None)
            is_list = first is not None and first.tag in _LISTS
            found.add_paragraph(section, prose(node), is_list=is_list)
    return tuple(found.passages)
