"""What a paper's full text is once read (bot.fulltext re-exports all of it): its equations, its passages,
the bounds every reader keeps to, and the sentence helpers the LaTeXML and JATS readers share."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HTML_BADGE",
    "JATS_BADGE",
    "MAX_AFTER_CHARS",
    "MAX_EQUATIONS",
    "MAX_PASSAGES",
    "MAX_PASSAGES_CHARS",
    "MAX_PASSAGE_CHARS",
    "MAX_SECTIONS",
    "MAX_SENTENCE_CHARS",
    "MAX_TEX_CHARS",
    "PASSAGE_KINDS",
    "FullText",
    "PaperEquation",
    "Passage",
    "first_sentence",
    "following_sentences",
    "full_text_badge",
    "last_sentence",
]

MAX_EQUATIONS = 2_000  # numbered equations looked at per page; a real paper has tens
MAX_TEX_CHARS = 1_500  # longer TeX is a table in disguise: shown nowhere, so not kept
MAX_SENTENCE_CHARS = 300
MAX_AFTER_CHARS = 400  # the sentence(s) after an equation: a "where …" clause, not the next page
MAX_SECTIONS = 200
MAX_PASSAGES = 400  # a long paper has 150-300 paragraphs; beyond that is an appendix of tables
MAX_PASSAGE_CHARS = 2_000
MAX_PASSAGES_CHARS = 250_000  # about 60k tokens: far more than any prompt sends, so bounded memory only
HTML_BADGE = "from the paper's full text (v{version})"
JATS_BADGE = "from the preprint's full text (JATS)"

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(])")
_FULL_STOP = re.compile(r"(?<=[.!?])\s+(?=\S)")


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


def last_sentence(text: str) -> str:
    """The last sentence of clean text, at most ``MAX_SENTENCE_CHARS`` (its end kept: it leads to the formula)."""
    sentences = _SENTENCE_END.split(text.strip())
    sentence = sentences[-1] if sentences else ""
    if len(sentence) > MAX_SENTENCE_CHARS:
        sentence = "…" + sentence[-(MAX_SENTENCE_CHARS - 1) :].lstrip()
    return sentence


def first_sentence(text: str, limit: int = MAX_SENTENCE_CHARS) -> str:
    """The first sentence of clean text, at most ``limit`` characters (cut at a word with "…")."""
    sentence = _FULL_STOP.split(text.strip(), maxsplit=1)[0]
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return sentence


def following_sentences(text: str, limit: int = MAX_AFTER_CHARS) -> str:
    """The first sentences of clean text, whole, up to ``limit`` characters; the first one alone is cut
    with "…" when longer. A sentence here may start lower-case: "where α is the miscoverage level."."""
    text = text.strip()
    kept = ""
    for sentence in _FULL_STOP.split(text):
        joined = f"{kept} {sentence}".strip()
        if len(joined) > limit:
            break
        kept = joined
    if not kept and text:
        kept = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return kept


def bounded_text(text: str, limit: int = MAX_PASSAGE_CHARS) -> str:
    """``text`` cut at a word to at most ``limit`` characters, the cut marked with "…"."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
