"""Words as the radar and the explanation's context compare them: folded (lower case, no accents), plural to
singular, and the English stop words that say nothing about a topic. Pure and light (no numpy): used by
bot.ranking's BM25 and by what picks a paper's passages for a prompt (bot.explain.context)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOP_WORDS", "WORD", "fold", "keyword_terms", "terms"]

# English words that say nothing about a topic: never a term of a keyword, never weighed in a document.
STOP_WORDS = frozenset(
    """a about above after again against all also an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers him his how i if in into is it its itself just more most no nor not of off on once only
    or other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which while who whom
    why will with would you your via we us using use used based new show shows paper propose proposed""".split()
)

WORD = re.compile(r"[^\W_]+")  # a word as a person reads it, in any script
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # the same on folded ASCII text, found faster
# The combining marks NFKD splits off accented letters (Latin, Greek, Cyrillic and their extensions).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_stems: dict[str, str] = {}


def _stem(word: str) -> str:
    """Plural to singular, the one inflection that changes a topic's spelling everywhere
    ("networks", "processes", "studies"); nothing more, so a stem stays a word people recognise."""
    found = _stems.get(word)
    if found is not None:
        return found
    stem = word
    if len(word) > 3 and word.endswith("s") and not word.isdigit():
        if word.endswith("ies") and len(word) > 4:
            stem = word[:-3] + "y"
        elif word.endswith(("sses", "ches", "shes", "xes", "zzes")):
            stem = word[:-2]
        elif not word.endswith(("ss", "us", "is")):
            stem = word[:-1]
    if len(_stems) < 200_000:  # bounded: hostile text must not grow it without end
        _stems[word] = stem
    return stem


def fold(text: str) -> str:
    """Lower case without accents: "Schölkopf" → "scholkopf", "Ｇraph" → "graph"."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text.casefold()


def terms(text: str) -> list[str]:
    """Every word of ``text`` as the ranking compares words: folded and singular, stop words kept
    (a phrase is matched word for word)."""
    known = _stems.get
    folded = fold(text)
    words = (_ASCII_WORD if folded.isascii() else WORD).findall(folded)
    return [known(w) or _stem(w) for w in words]


def keyword_terms(text: str) -> list[str]:
    """The words of a keyword that weigh in a match: ``terms`` without stop words, each once."""
    return list(dict.fromkeys(t for t in terms(text) if t not in STOP_WORDS))
