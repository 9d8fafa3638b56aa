"""What of a paper's full text goes into an explanation's prompt, within a budget of characters.

Everything when it fits. Otherwise, in this order, each part whole or not at all: the contributions
passage(s); the theorem, assumption, definition and lemma statements; each key equation
(bot.fulltext.key_equations, the most important first) with the sentence introducing it and the
sentence(s) after it ("where α is …"); the conclusion; then the other paragraphs by relevance to the
title and abstract (BM25 over the paragraphs, words as the radar compares them: bot.words); then the other
equations. A part that does not fit is skipped and a smaller later one may still go. Deterministic: the
same text and budget always give the same prompt, so cached answers stay valid.

In the prompt the parts are shown in the paper's order, as delimited, inert data (prompt._data).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.fulltext import KEY_EQUATIONS, FullText, PaperEquation, Passage, key_equations
from bot.words import STOP_WORDS, terms

__all__ = ["Packed", "pack", "relevance_order"]

PROMPT_TEX_CHARS = 600  # one equation's TeX
PROMPT_CONTEXT_CHARS = 300  # its section, statement and each of its sentences
PROMPT_PASSAGE_CHARS = 2_000  # one passage; a longer one is cut (a statement rarely is)
STATEMENT_KINDS = ("theorem", "assumption", "definition", "lemma")
WRAPPER_CHARS = len("<passages>\n</passages>\n<equations>\n</equations>\n")
_K1, _B = 1.2, 0.75  # BM25's usual constants, as bot.ranking's

Render = Callable[[str], str]  # a field's text as inert data


@dataclass(frozen=True, slots=True)
class Packed:
    """What was sent: the passages and equations (each in the paper's order), and the prompt lines."""

    passages: tuple[Passage, ...]
    equations: tuple[PaperEquation, ...]
    key: tuple[PaperEquation, ...]  # the key equations, sent or not
    lines: tuple[str, ...]
    chars: int

    @property
    def covered(self) -> tuple[str, ...]:
        """Labels of the key equations sent with both their introducing and their following sentence."""
        sent = set(self.equations)
        return tuple(e.label for e in self.key if e in sent and e.intro and e.after)

    @property
    def coverage(self) -> float:
        """The share of key equations sent with both sentences (1.0 when the paper has none)."""
        return len(self.covered) / len(self.key) if self.key else 1.0


def pack(full_text: FullText, query: str, room_chars: int, render: Render) -> Packed:
    """The parts of ``full_text`` that fit ``room_chars`` (``query``: the title and abstract)."""
    key = _by_importance(full_text)
    passages = full_text.passages
    ordered: list[Passage | PaperEquation] = [p for p in passages if p.kind == "contributions"]
    ordered += [p for p in passages if p.kind in STATEMENT_KINDS]
    ordered += key
    ordered += [p for p in passages if p.kind == "conclusion"]
    paragraphs = [p for p in passages if p.kind not in ("contributions", "conclusion", *STATEMENT_KINDS)]
    ordered += relevance_order(paragraphs, query)
    ordered += [e for e in full_text.equations if e not in key]
    chosen: set[int] = set()
    used = WRAPPER_CHARS
    for part in ordered:
        size = len(_block(part, render)) + 1
        if used + size <= room_chars:
            chosen.add(id(part))
            used += size
    sent_passages = tuple(p for p in passages if id(p) in chosen)
    sent_equations = tuple(e for e in full_text.equations if id(e) in chosen)
    lines = _lines(sent_passages, sent_equations, render)
    return Packed(sent_passages, sent_equations, tuple(sorted(key, key=full_text.equations.index)), lines, used)


def relevance_order(paragraphs: Sequence[Passage], query: str) -> list[Passage]:
    """``paragraphs`` most relevant to ``query`` first (BM25; ties keep the paper's order)."""
    docs = [Counter(t for t in terms(f"{p.section} {p.text}") if t not in STOP_WORDS) for p in paragraphs]
    wanted = set(terms(query)) - STOP_WORDS
    if not docs or not wanted:
        return list(paragraphs)
    average = sum(d.total() for d in docs) / len(docs) or 1.0
    df = Counter(t for d in docs for t in wanted.intersection(d))

    def score(doc: Counter[str]) -> float:
        norm = _K1 * (1 - _B + _B * doc.total() / average)
        return sum(
            math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5)) * doc[t] * (_K1 + 1) / (doc[t] + norm)
            for t in wanted.intersection(doc)
        )

    scores = [score(d) for d in docs]
    return [paragraphs[i] for i in sorted(range(len(paragraphs)), key=lambda i: (-scores[i], i))]


def _by_importance(full_text: FullText) -> list[PaperEquation]:
    """The key equations, most important first (key_equations(n) keeps the n best, in the paper's order)."""
    found: list[PaperEquation] = []
    for count in range(1, KEY_EQUATIONS + 1):
        found += [e for e in key_equations(full_text, count) if e not in found]
    return found


def _lines(passages: Sequence[Passage], equations: Sequence[PaperEquation], render: Render) -> tuple[str, ...]:
    lines: list[str] = []
    if passages:
        lines += ["<passages>", *(_block(p, render) for p in passages), "</passages>"]
    if equations:
        lines += ["<equations>", *(_block(e, render) for e in equations), "</equations>"]
    return tuple(lines)


def _block(part: Passage | PaperEquation, render: Render) -> str:
    if isinstance(part, Passage):
        fields = [
            ("kind", part.kind),
            ("label", part.label[:PROMPT_CONTEXT_CHARS]),
            ("section", part.section[:PROMPT_CONTEXT_CHARS]),
            ("text", part.text[:PROMPT_PASSAGE_CHARS]),
        ]
        return "<passage>" + _fields(fields, render) + "</passage>"
    fields = [
        ("label", part.label[:16]),
        ("section", part.section[:PROMPT_CONTEXT_CHARS]),
        ("statement", part.statement[:PROMPT_CONTEXT_CHARS]),
        ("intro", part.intro[:PROMPT_CONTEXT_CHARS]),
        ("tex", part.tex[:PROMPT_TEX_CHARS]),
        ("after", part.after[:PROMPT_CONTEXT_CHARS]),
    ]
    return "<equation>" + _fields(fields, render) + "</equation>"


def _fields(fields: Sequence[tuple[str, str]], render: Render) -> str:
    # An empty field is left out (no "<statement></statement>" for most equations): fewer tokens.
    return "".join(f"<{tag}>{render(value)}</{tag}>" for tag, value in fields if value.strip())
