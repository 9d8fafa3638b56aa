"""What a briefing can say from the papers' data alone: how many papers each feed brought, the most
upvoted on Hugging Face, the glossary concepts several papers are about, and the channel's radar entries
the papers match. Every line cites the cards it is about by number (1..n in the digest's order).

A paper is about a concept when its title names it, when a sentence of its abstract saying what the
paper does ("we propose …", "this paper studies …") names it outside an example list or a comparison
(bot.briefing_abstract), or when two sentences of its abstract or more name it outside such lists. A
concept an abstract mentions in passing ("methods such as random forests, neural nets and …",
"outperforms random forests", "we further applied a Bayesian analysis") is not something two papers
share: on the recorded stat feed of 2024-03-26 it made "Random forest" a concept of papers #1 and #3,
neither of them about random forests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.briefing_abstract import about_text, sentences, without_examples
from bot.explain.glossary import find_concepts
from bot.models import Paper
from bot.ranking import RadarProfile, author_key, keyword_terms, terms

__all__ = ["Facts", "concepts_about", "facts_of", "feed_counts", "radar_matches", "shared_concepts", "top_upvoted"]

MAX_CLUSTERS = 4
MAX_RADAR_LINES = 4
MAX_UPVOTED = 3
CONCEPTS_PER_PAPER = 8


@dataclass(frozen=True, slots=True)
class Facts:
    """What the data says about one digest's papers. Names are untrusted (radar entries are typed by the
    channel's members, glossary terms are ours): the composer makes the whole text inert."""

    feeds: tuple[tuple[str, int], ...]  # (feed, papers from it), in the channel's order
    upvoted: tuple[tuple[int, int], ...]  # (card number, upvotes), most first
    concepts: tuple[tuple[str, tuple[int, ...]], ...]  # (concept, cards), the largest clusters first
    radar: tuple[tuple[str, tuple[int, ...]], ...]  # (entry as shown, cards matching it)


def facts_of(papers: Sequence[Paper], feed_of: Mapping[str, str], feeds: Sequence[str], profile: RadarProfile) -> Facts:
    return Facts(
        feeds=feed_counts(papers, feed_of, feeds),
        upvoted=top_upvoted(papers),
        concepts=shared_concepts(papers),
        radar=radar_matches(papers, profile),
    )


def feed_counts(
    papers: Sequence[Paper], feed_of: Mapping[str, str], feeds: Sequence[str]
) -> tuple[tuple[str, int], ...]:
    counts = dict.fromkeys(feeds, 0)
    for paper in papers:
        feed = feed_of.get(paper.id)
        if feed is not None:
            counts[feed] = counts.get(feed, 0) + 1
    return tuple((feed, count) for feed, count in counts.items() if count)


def top_upvoted(papers: Sequence[Paper]) -> tuple[tuple[int, int], ...]:
    voted = [(paper.upvotes, number) for number, paper in enumerate(papers, start=1) if paper.upvotes]
    voted.sort(key=lambda pair: (-(pair[0] or 0), pair[1]))
    return tuple((number, votes or 0) for votes, number in voted[:MAX_UPVOTED])


def shared_concepts(papers: Sequence[Paper]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Glossary concepts two papers or more are about (see the module doc), the largest clusters first
    (ties: first cited first)."""
    cards: dict[str, list[int]] = {}
    for number, paper in enumerate(papers, start=1):
        for term in concepts_about(paper):
            cards.setdefault(term, []).append(number)
    shared = [(term, tuple(numbers)) for term, numbers in cards.items() if len(numbers) >= 2]
    shared.sort(key=lambda item: (-len(item[1]), item[1][0]))
    return tuple(shared[:MAX_CLUSTERS])


def concepts_about(paper: Paper) -> tuple[str, ...]:
    """The glossary concepts ``paper`` is about (see the module doc), at most CONCEPTS_PER_PAPER."""
    about = [c.term for c in find_concepts(about_text(paper.title, paper.abstract), limit=CONCEPTS_PER_PAPER)]
    named = Counter(
        concept.term
        for sentence in sentences(paper.abstract)
        for concept in find_concepts(without_examples(sentence), limit=CONCEPTS_PER_PAPER)
    )
    repeated = [term for term, count in named.items() if count >= 2 and term not in about]
    return tuple([*about, *repeated][:CONCEPTS_PER_PAPER])


def radar_matches(papers: Sequence[Paper], profile: RadarProfile) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The channel's keywords and authors with the cards matching each (entries matching none left out)."""
    if not profile.keywords and not profile.authors:
        return ()
    words = [set(terms(f"{paper.title} {paper.abstract}")) for paper in papers]
    found: list[tuple[str, tuple[int, ...]]] = []
    for keyword in profile.keywords:
        wanted = set(keyword_terms(keyword))
        hits = tuple(n for n, have in enumerate(words, start=1) if wanted and wanted <= have)
        if hits:
            found.append((f"“{keyword}”", hits))
    for name in profile.authors:
        hits = tuple(n for n, paper in enumerate(papers, start=1) if any(_same_author(name, a) for a in paper.authors))
        if hits:
            found.append((name, hits))
    return tuple(found[:MAX_RADAR_LINES])


def _same_author(wanted: str, listed: str) -> bool:
    """Same family name, and the first given names agree (equal, or one the other's initial)."""
    a, b = author_key(wanted).split(), author_key(listed).split()
    if not a or not b or a[-1] != b[-1]:
        return False
    if len(a) == 1 or len(b) == 1:
        return True
    return a[0] == b[0] or ((len(a[0]) == 1 or len(b[0]) == 1) and a[0][0] == b[0][0])
