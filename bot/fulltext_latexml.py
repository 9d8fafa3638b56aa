"""Reading arXiv's HTML version (LaTeXML) into a ``FullText``: its sections, numbered display equations and
passages (bot.fulltext_passages).

LaTeXML gives a numbered display equation an anchor id (``S3.E2``, ``A1.E4``, ``S3.E7.1`` for a row of
subequations, ``S3.Ex1`` for one numbered by ``\\tag``) and a label cell ``(3)``. For each: its label, its
TeX (rows of an ``align``/``eqnarray`` group joined by ``\\quad``), and the words around it:
- ``intro``, the sentence leading to it, whatever the layout: the paragraph text just before it in the
  same ``div`` (also for an ``ltx_equationgroup``: every row shares the group's), else, when the equation
  opens its own ``ltx_para``, the end of the previous paragraph (unless that ends in another display);
- ``after``, the sentence(s) right after it in its paragraph, up to the next display ("where α is …");
- ``statement``, "Theorem 2" when it sits in a theorem-like block.

Parsed with selectolax (lexbor, a complete HTML5 parser in C): a 3 MB page takes tens of milliseconds
and a malformed one parses as a browser would, never raises. Everything is bounded.
"""

from __future__ import annotations

import re
from collections import Counter

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.fulltext_model import (
    MAX_EQUATIONS,
    MAX_SECTIONS,
    MAX_TEX_CHARS,
    FullText,
    PaperEquation,
    first_sentence,
    following_sentences,
    last_sentence,
)
from bot.fulltext_passages import latexml_passages
from bot.latexml_text import Sections, children, classes, prose, statement_of, statement_title

__all__ = ["parse_full_text"]

MAX_MATHS_PER_EQUATION = 24  # the rows and cells of one aligned group

_EQUATION_ID = re.compile(r"(?:^|\.)E(?:x)?\d+(?:\.\d+)*[a-z]?$")
_LABEL = re.compile(r"^\(\s*([^()\s]{1,12})\s*\)$")
_LINE_CONTINUATION = re.compile(r"%\n")


def parse_full_text(html: bytes | str, paper_id: str, version: int, url: str) -> FullText:
    """Sections, numbered display equations and passages of a LaTeXML page (see the module docstring)."""
    tree = LexborHTMLParser(html)
    sections = Sections()
    return FullText(
        paper_id,
        version,
        url,
        _section_titles(tree, sections),
        _equations(tree, sections),
        passages=latexml_passages(tree, sections),
    )


def _equations(tree: LexborHTMLParser, sections: Sections) -> tuple[PaperEquation, ...]:
    references = _reference_counts(tree)
    equations: list[PaperEquation] = []
    seen: set[str] = set()
    words: dict[int, tuple[str, str]] = {}  # table -> (intro, after): the rows of a group share them
    for tag in tree.css("span.ltx_tag_equation, span.ltx_tag_equationgroup"):
        if len(equations) >= MAX_EQUATIONS:
            break
        label_match = _LABEL.match(prose(tag))
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
        table = anchor_node if anchor_node.tag == "table" else _closest_table(anchor_node)
        if table is None:
            intro, after = "", ""
        elif table.mem_id in words:
            intro, after = words[table.mem_id]
        else:
            intro, after = words[table.mem_id] = (_intro_sentence(table), _after_sentences(table))
        statement = statement_of(anchor_node)
        section, appendix = sections.of(anchor_node)
        equations.append(
            PaperEquation(
                label=label_match.group(1),
                anchor=anchor,
                tex=tex,
                section=section,
                appendix=appendix,
                intro=intro,
                references=references.get(anchor, 0),
                after=after,
                statement=statement_title(statement) if statement is not None else "",
            )
        )
    return tuple(equations)


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
            if _in_label_cell(math, row):
                continue  # the "⋆" of \tag{$\star$} is the label, not the formula
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


def _in_label_cell(math: LexborNode, row: LexborNode) -> bool:
    current = math.parent
    for _ in range(8):
        if current is None or current.mem_id == row.mem_id:
            return False
        if "ltx_eqn_eqno" in classes(current):
            return True
        current = current.parent
    return False


def _section_titles(tree: LexborHTMLParser, sections: Sections) -> tuple[str, ...]:
    titles = []
    for section in tree.css("section.ltx_section, section.ltx_appendix")[:MAX_SECTIONS]:
        if title := sections.title(section):
            titles.append(title)
    return tuple(titles)


def _closest_table(node: LexborNode) -> LexborNode | None:
    current = node.parent
    for _ in range(4):
        if current is None:
            return None
        if current.tag == "table":
            return current
        current = current.parent
    return None


def _previous_element(node: LexborNode) -> LexborNode | None:
    before = node.prev
    while before is not None and (before.tag or "-").startswith("-"):
        before = before.prev
    return before


def _next_element(node: LexborNode) -> LexborNode | None:
    after = node.next
    while after is not None and (after.tag or "-").startswith("-"):
        after = after.next
    return after


def _intro_sentence(table: LexborNode) -> str:
    """The last sentence of the paragraph text just before the equation ("The loss is:")."""
    before = _previous_element(table)
    if before is None:
        # The equation opens its own paragraph (a blank line before it in the LaTeX): the sentence
        # leading to it ends the previous paragraph, unless that one ends in a display of its own.
        container = table.parent
        if container is None or "ltx_para" not in classes(container):
            return ""
        previous = _previous_element(container)
        if previous is None or "ltx_para" not in classes(previous):
            return ""
        last = None
        for child in children(previous):
            last = child
        if last is None or last.tag != "p":
            return ""
        before_last = _previous_element(last)
        if before_last is not None and before_last.tag == "table":
            return ""  # the words after another display ("where …"), not leading to this one
        return last_sentence(prose(last))
    if before.tag == "table":
        return ""  # two displays in a row: the words before the first lead to it, not to this one
    if before.tag != "p":
        paragraphs = before.css("p.ltx_p")
        if not paragraphs:
            return ""
        before = paragraphs[-1]
    return last_sentence(prose(before))


def _after_sentences(table: LexborNode) -> str:
    """The sentence(s) right after the equation in its paragraph ("where α is the miscoverage level."); for
    an equation that ends its paragraph (or the statement it is part of), the first sentence of what a
    reader sees next, the following paragraph or the proof, since that is what explains it."""
    after = _next_element(table)
    if after is not None:
        return following_sentences(prose(after)) if after.tag == "p" else ""
    return _first_sentence_after(table.parent)


def _first_sentence_after(block: LexborNode | None) -> str:
    """The first sentence of the paragraph after ``block`` (an ``ltx_para``), climbing out of a statement
    when the equation closes it; "" when a display or a new section comes first."""
    for _ in range(3):  # the paragraph, the statement around it, the block around that
        if block is None or block.tag in ("section", "body", "article"):
            return ""
        following = _next_element(block)
        if following is not None:
            first = following if following.tag == "p" else following.css_first("p.ltx_p")
            if first is None or following.tag in ("section", "h2", "h3", "h4", "table"):
                return ""
            leading = _previous_element(first)
            if leading is not None and leading.tag == "table":
                return ""  # the next paragraph opens with a display: its words belong to that one
            text = prose(first)
            sentence = first_sentence(text)
            display = _next_element(first)
            if display is not None and display.tag == "table" and sentence == text.strip():
                return ""  # it only leads to the next display: its introduction, not this one's sequel
            return sentence
        block = block.parent
    return ""
