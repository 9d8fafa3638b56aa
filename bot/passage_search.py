"""The passages of one paper's full text most relevant to a question: BM25 over its paragraphs.

The radar's BM25 (bot.ranking.Corpus) ranks whole papers by title and abstract, and the search index
(bot.search_index) is SQLite FTS over stored papers; neither takes a handful of paragraphs held in memory.
This is the same scoring over a paper's own passages, with the radar's word handling (``ranking.terms``:
folded, singular, so "Networks" finds "network" and "Schölkopf" finds "scholkopf"), the same stop words,
and BM25's usual constants. A passage's section title counts as part of it: a question about "the
experiments" finds the paragraphs of the section so named.

Pure and bounded: at most ``MAX_PASSAGES_READ`` passages of at most ``MAX_PASSAGE_CHARS`` characters each
are read, so a pathological page costs milliseconds, not seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.fulltext import Passage
from bot.words import STOP_WORDS, terms

__all__ = ["ScoredPassage", "question_terms", "relevant_passages"]

K1 = 1.2
B = 0.75
MAX_PASSAGES_READ = 2_000  # a long paper has a few hundred paragraphs
MAX_PASSAGE_CHARS = 20_000  # a passage is one paragraph or statement; beyond this it is not one
MAX_QUESTION_CHARS = 4_000
# Words a question uses to ask rather than to name what it is about.
_ASKING_WORDS = frozenset(
    """explain mean means meaning tell say says said role doe eq eqs equation equations paper authors author
    exactly why how what which where when whose""".split()
)


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    passage: Passage
    position: int  # its place in the full text's passages
    score: float


def question_terms(question: str) -> tuple[str, ...]:
    """The words of a question that say what it is about (``ranking.terms``, stop and asking words
    dropped), each once, in order."""
    found = terms(question[:MAX_QUESTION_CHARS])
    return tuple(dict.fromkeys(t for t in found if t not in STOP_WORDS and t not in _ASKING_WORDS))


def relevant_passages(passages: Sequence[Passage], question: str, limit: int) -> tuple[ScoredPassage, ...]:
    """The ``limit`` passages scoring highest for ``question`` (ties: the earlier one), best first;
    passages sharing no word with it are never returned."""
    wanted = question_terms(question)
    if not wanted or limit <= 0:
        return ()
    documents = [_document(p) for p in passages[:MAX_PASSAGES_READ]]
    if not documents:
        return ()
    average = sum(d.total() for d in documents) / len(documents) or 1.0
    count = len(documents)
    idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t in wanted for n in [_df(documents, t)]}
    scored: list[ScoredPassage] = []
    for position, counts in enumerate(documents):
        norm = K1 * (1 - B + B * counts.total() / average)
        score = sum(idf[t] * counts[t] * (K1 + 1) / (counts[t] + norm) for t in wanted if counts[t])
        if score > 0:
            scored.append(ScoredPassage(passages[position], position, score))
    scored.sort(key=lambda s: (-s.score, s.position))
    return tuple(scored[:limit])


def _document(passage: Passage) -> Counter[str]:
    words = terms(f"{passage.section} {passage.label} {passage.text[:MAX_PASSAGE_CHARS]}")
    return Counter(w for w in words if w not in STOP_WORDS)


def _df(documents: Sequence[Counter[str]], term: str) -> int:
    return sum(1 for d in documents if term in d)
