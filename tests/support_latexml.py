"""Pages made by LaTeXML (Debian's latexml 0.8.7, converted as arXiv converts: ``latexmlc --format=html5
--nodefaultresources --pmml --mathtex``) from real papers' LaTeX sources and from LaTeX written to exercise
every display layout; their provenance is in tests/data/PROVENANCE.md. For any test that needs a real
arXiv-shaped page: ``latexml_page(name)`` gives its HTML, ``latexml_full_text(name)`` it parsed."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

from bot.fulltext import FullText, parse_full_text

__all__ = ["LATEXML_PAGES", "latexml_full_text", "latexml_page"]

FOLDER = Path(__file__).parent / "data" / "latexml"


class _Page(NamedTuple):
    file: str
    paper_id: str  # the arXiv id of the paper the source is of ("2501.00017" for the hand-written one)
    version: int


LATEXML_PAGES = {
    # Hand-written: equation, align, eqnarray, subequations, \tag, cases, pmatrix/bmatrix, theorem,
    # lemma, assumption, definition, remark, an equation in its own paragraph, "where …" clauses,
    # a contributions list and a conclusion (tests/data/latexml/own-structures.tex).
    "structures": _Page("own-structures.html", "2501.00017", 1),
    # Real sources, converted unmodified (see PROVENANCE.md for trims).
    "robust-sls": _Page("robust-sls-system-level-synthesis.html", "1909.10092", 1),
    "decentralized-online": _Page("1901.10593-decentralized-online-learning.html", "1901.10593", 4),
    "lu-existence": _Page("2601.07791-lu-factorization-existence.html", "2601.07791", 1),
}


def latexml_page(name: str) -> bytes:
    """The HTML of one of ``LATEXML_PAGES``."""
    return (FOLDER / LATEXML_PAGES[name].file).read_bytes()


@cache
def latexml_full_text(name: str) -> FullText:
    """One of ``LATEXML_PAGES`` read by bot.fulltext, as arXiv's HTML version of its paper would be."""
    page = LATEXML_PAGES[name]
    url = f"https://arxiv.org/html/{page.paper_id}v{page.version}"
    return parse_full_text(latexml_page(name), page.paper_id, page.version, url)
