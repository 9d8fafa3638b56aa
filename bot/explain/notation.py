"""The paper's notation, symbol → meaning, read from its own words.

Two places say what a symbol means: the clause after a display equation ("where α ∈ (0,1) is the
miscoverage level and n the number of calibration points") and definitions in the running text ("Let X
denote …", "we write Pₙ for …", "we denote by 𝒟 the …", "θ denotes …"). Both arrive as clean text
(formulas already Unicode, :mod:`bot.fulltext`), so this works on words, never on TeX.

A clause is split at top-level commas, semicolons and "and" (not inside brackets: "(0, 1)"); a piece
opens a new entry when it starts with a symbol followed by a verb ("is", "denotes", …) or an article
("the", "a"), otherwise it continues the previous meaning ("the mean and variance"). A symbol is short
and looks like mathematics: a single letter, or a token holding a non-ASCII letter, a digit, a script or
a bracket; never an English word. Everything is bounded: entries, symbol and meaning lengths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.fulltext import FullText, PaperEquation

__all__ = ["NotationEntry", "notation", "notation_in"]

MAX_ENTRIES = 12
SYMBOL_CHARS = 24
MEANING_CHARS = 120
MEANING_WORDS = 18
_SCANNED_CHARS = 4_000  # of one passage: definitions sit in its first sentences
_SCANNED_PASSAGES = 120  # notation is set up early; this bounds the work on a very long paper


@dataclass(frozen=True, slots=True)
class NotationEntry:
    symbol: str  # "α"
    meaning: str  # "the miscoverage level"
    qualifier: str = ""  # "α ∈ (0,1)": what the text says of its range, when it does


def notation(
    full_text: FullText, first: Iterable[PaperEquation] = (), limit: int = MAX_ENTRIES
) -> tuple[NotationEntry, ...]:
    """The paper's notation: the where-clauses of ``first`` (the equations shown), then of the other
    equations, then the definitions in the text; each symbol once (its first meaning), at most ``limit``."""
    shown = tuple(first)
    rest = tuple(e for e in full_text.equations if e not in shown)
    texts = [text for e in (*shown, *rest) for text in (e.after, e.intro) if text]
    texts.extend(p.text[:_SCANNED_CHARS] for p in full_text.passages[:_SCANNED_PASSAGES])
    return _first_per_symbol((entry for text in texts for entry in notation_in(text)), limit)


def notation_in(text: str) -> Iterator[NotationEntry]:
    """The entries one sentence or paragraph defines: its where-clauses, then its definitions."""
    seen: set[str] = set()
    for entry in _entries_in(text):
        if _key(entry.symbol) not in seen:
            seen.add(_key(entry.symbol))
            yield entry


def _entries_in(text: str) -> Iterator[NotationEntry]:
    for clause in _WHERE.finditer(text):
        yield from _where_entries(clause.group("clause"))
    for pattern in _DEFINITIONS:
        for match in pattern.finditer(text):
            entry = _entry(match.group("symbol"), match.group("meaning"))
            if entry is not None:
                yield entry


def _first_per_symbol(entries: Iterable[NotationEntry], limit: int) -> tuple[NotationEntry, ...]:
    kept: dict[str, NotationEntry] = {}
    for entry in entries:
        if len(kept) >= limit:
            break
        kept.setdefault(_key(entry.symbol), entry)
    return tuple(kept.values())


def _key(symbol: str) -> str:
    return "".join(symbol.split())


# ---------------------------------------------------------------------------------------------
# "where …" clauses
# ---------------------------------------------------------------------------------------------

# A clause opens at "where", "in which", "here" (a sentence start or after a comma) and runs to the end of
# its sentence.
_WHERE = re.compile(
    r"(?:^|[,;:]\s*|\.\s+)(?:where|in which|here|with)\b[,:]?\s+(?P<clause>[^.]*(?:\.\d[^.]*)*)", re.IGNORECASE
)
_VERB = r"(?:is|are|denotes?|stands? for|represents?|refers? to|is defined as|corresponds? to|being)"
_ARTICLE = r"(?:the|a|an|our|its|their|some|each|any|all|one)"
_RELATION = r":=|[∈∉⊂⊆⊃≥≤><≠∼~=≡≔]"
_ITEM = re.compile(
    rf"(?P<symbol>\S{{1,{SYMBOL_CHARS}}}?)(?P<qualifier>\s*(?:{_RELATION})\s*\S+(?:\s\S+)??)?"
    rf"\s+(?:(?P<verb>{_VERB})\s+)?(?P<meaning>(?(verb)|{_ARTICLE}\b).+)$",
    re.DOTALL,
)


def _where_entries(clause: str) -> Iterator[NotationEntry]:
    entries: list[list[str]] = []  # [symbol, qualifier, meaning] being built
    for separator, piece in _pieces(clause):
        match = _ITEM.match(piece)
        if match is not None and _is_symbol(match.group("symbol")):
            entries.append([match.group("symbol"), (match.group("qualifier") or "").strip(), match.group("meaning")])
        elif entries:
            entries[-1][2] += separator + piece  # "the mean and variance": one meaning
        else:
            return  # the clause does not open with a symbol: not a where-clause of notation
    for symbol, qualifier, meaning in entries:
        entry = _entry(symbol, meaning, f"{symbol} {qualifier}" if qualifier else "")
        if entry is not None:
            yield entry




def _pieces(clause: str) -> Iterator[tuple[str, str]]:
    """(separator before it, piece) at top-level commas, semicolons and "and"."""
    depth = 0
    start = 0
    separator = ""
    i = 0
    while i < len(clause):
        char = clause[i]
        if char in "([{⟨":
            depth += 1
        elif char in ")]}⟩":
            depth = max(0, depth - 1)
        elif depth == 0:
            cut = _separator_at(clause, i)
            if cut:
                yield separator, clause[start:i].strip()
                separator = clause[i : i + cut]
                start = i + cut
                i += cut
                continue
        i += 1
    yield separator, clause[start:].strip()


_SEPARATOR = re.compile(r"[,;]\s*and\s+|;\s*|,\s*|\s+and\s+")


def _separator_at(text: str, i: int) -> int:
    if text[i] not in ",; ":
        return 0
    match = _SEPARATOR.match(text, i)
    return len(match.group()) if match else 0


# ---------------------------------------------------------------------------------------------
# Definitions in the running text
# ---------------------------------------------------------------------------------------------

# A token, or a function of a few arguments ("s(x, y)", "L(θ)").
_SYMBOL = r"(?P<symbol>[^\s,;.(]{1,12}(?:\([^()]{0,16}\))?)"
_MEANING = r"(?P<meaning>(?:(?!\s+and\s+(?:let|we)\b)[^.;:]){3,})"  # up to the next definition
_DEFINITIONS = (
    re.compile(rf"\b[Ll]et {_SYMBOL} (?:denote|be|stand for|represent) {_MEANING}"),
    re.compile(rf"\b[Ww]e (?:write|use) {_SYMBOL} (?:for|to denote) {_MEANING}"),
    re.compile(rf"\b[Ww]e denote by {_SYMBOL} {_MEANING}"),
    re.compile(rf"(?:^|[\s(]){_SYMBOL} (?:denotes|stands for) {_MEANING}"),
)


# ---------------------------------------------------------------------------------------------
# One entry: is it a symbol, and a bounded meaning
# ---------------------------------------------------------------------------------------------

_ENGLISH = re.compile(r"[A-Za-z][a-z]+|[A-Z]{2,}[a-z]*|[a-z]+")
# Where a definition's meaning ends: a relative clause, the next definition ("…, Y is …", "and let …").
_STOP = re.compile(
    r",\s*(?:which|that|and we|so that|while|whereas|as|see|cf)\b|\s+\((?:see|cf)\b|\s+and\s+(?:let|we)\b"
    r"|[,;]\s*(?:and\s+)?\S{1,12}\s+(?:is|are|denotes?)\b"
)


def _is_symbol(token: str) -> bool:
    """Short and mathematical: "n", "α", "Xᵢ", "θ_(t+1)", "L(θ)", "𝒟"; not "the", "We", "Adam"."""
    token = token.strip()
    if not token or len(token) > SYMBOL_CHARS or token[-1] in ",.;:":
        return False
    if len(token) == 1:
        return token.isalpha()
    if _ENGLISH.fullmatch(token):
        return False  # a word ("loss", "We") or an acronym ("KL") is not notation here
    return any(not c.isascii() or c in "_^()[]{}|'0123456789" for c in token) and any(c.isalpha() for c in token)


def _entry(symbol: str, meaning: str, qualifier: str = "") -> NotationEntry | None:
    symbol = symbol.strip()
    if not _is_symbol(symbol):
        return None
    meaning = _bounded_meaning(meaning)
    if len(meaning) < 3 or not any(c.isalpha() for c in meaning):
        return None
    return NotationEntry(symbol, meaning, " ".join(qualifier.split()))


def _bounded_meaning(meaning: str) -> str:
    meaning = " ".join(meaning.split())
    stop = _STOP.search(meaning)
    if stop is not None:
        meaning = meaning[: stop.start()]
    meaning = meaning.strip(" ,;:")
    words = meaning.split(" ")
    cut = len(words) > MEANING_WORDS
    meaning = " ".join(words[:MEANING_WORDS])
    if len(meaning) > MEANING_CHARS:
        meaning, cut = meaning[: MEANING_CHARS - 1].rsplit(" ", 1)[0], True
    return meaning.rstrip(" ,;:(") + ("…" if cut else "")
