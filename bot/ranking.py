"""Ranking a channel's candidate papers by its research radar. Pure: no I/O, no clock.

A score is the sum of what a person can read back in the card's "why" line:

- keywords: BM25 over title and abstract (the title counted twice), with the day's candidate papers as the
  corpus, so a word every paper uses weighs little; a phrase found as typed scores double, its words found
  apart score half;
- authors: a name on the radar matches a paper's author with accents, case and initials folded
  ("Y. Song" is "Yang Song", "Schölkopf" is "Scholkopf");
- liked papers: TF-IDF cosine similarity to each liked paper, times the like's weight (a dislike is
  negative, so papers like a disliked one sink);
- mutes: a muted word or phrase in the title or abstract sinks the paper below every other one.

Equal scores keep the source's own signal (Hugging Face upvotes) first, then the newer paper, then the
order the digest had. Without a radar the order is exactly the digest's.

A fan-out ranks the same candidates for many channels: ``Corpus`` holds the per-paper token statistics,
built once, and remembers each distinct profile's ranking, so channels with the same radar share it.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.models import Paper

__all__ = [
    "Corpus",
    "Like",
    "RadarProfile",
    "Ranked",
    "author_key",
    "keyword_terms",
    "rank",
    "terms",
    "top",
]

# BM25's usual constants; a title counts as two abstracts' worth of words.
_K1 = 1.2
_B = 0.75
_TITLE_WEIGHT = 2
PHRASE_BOOST = 2.0  # a phrase found as typed
PHRASE_PARTIAL = 0.5  # some of its words found, not together
AUTHOR_SCORE = 10.0  # one matching author outranks all but the strongest keyword matches
LIKE_SCALE = 10.0  # cosine 0.3 with one liked paper is worth about a good keyword match
LIKE_MIN_SIMILARITY = 0.1  # below this, two abstracts share only the field's common words
_LIKE_TERMS = 15  # a liked paper is compared on its most distinctive terms
_LIKE_MAX_SHARE = 40  # ... that at most one candidate in 40 uses
_LIKE_MIN_DF_CAP = 50  # (or 50: a small corpus has few words that rare)
MUTED_PENALTY = 1_000.0  # a muted paper's score: below every unmuted one
_WHY_KEYWORDS = 4
_WHY_AUTHORS = 2

# English words that say nothing about a topic: never a term of a keyword, never weighed in a document.
STOP_WORDS = frozenset(
    """a about above after again against all also an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers him his how i if in into is it its itself just more most no nor not of off on once only
    or other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which while who whom
    why will with would you your via we us using use used based new show shows paper propose proposed""".split()
)

_WORD = re.compile(r"[^\W_]+")
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
    return [known(w) or _stem(w) for w in _WORD.findall(fold(text))]


def keyword_terms(text: str) -> list[str]:
    """The words of a keyword that weigh in a match: ``terms`` without stop words, each once."""
    return list(dict.fromkeys(t for t in terms(text) if t not in STOP_WORDS))


def _name_parts(name: str) -> tuple[str, tuple[str, ...]]:
    """(family name, given names) of an author as printed: "Yang Song", "Y. Song", "Song, Yang"."""
    if "," in name:
        family, _, given = name.partition(",")
        name = f"{given} {family}"
    words = _WORD.findall(fold(name))
    if not words:
        return "", ()
    return words[-1], tuple(words[:-1])


def author_key(name: str) -> str:
    """How an author name is stored and compared: folded words, family name last."""
    family, given = _name_parts(name)
    return " ".join((*given, family)).strip()


def _given_names_agree(wanted: tuple[str, ...], listed: tuple[str, ...]) -> bool:
    """The first given name on the radar and on the paper agree: equal, or one is the other's initial."""
    if not wanted or not listed:
        return True
    a, b = wanted[0], listed[0]
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    return a == b


# --- the profile ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Like:
    """A paper the channel liked (weight > 0) or disliked (< 0), and who said so."""

    paper_id: str
    weight: float
    origin: str = "command"  # "command", "reaction:<user>", "explain:<user>"


@dataclass(frozen=True, slots=True)
class RadarProfile:
    """What a channel cares about. Hashable: channels with the same profile share their ranking."""

    keywords: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    likes: tuple[Like, ...] = ()
    mutes: tuple[str, ...] = ()
    only: bool = False  # leave out papers that match nothing

    @property
    def ranks(self) -> bool:
        """Whether there is anything to rank by (a lone ``only`` flag ranks nothing, and hides nothing)."""
        return bool(self.keywords or self.authors or self.likes or self.mutes)

    @property
    def size(self) -> int:
        return len(self.keywords) + len(self.authors) + len(self.likes) + len(self.mutes)

    def like_weights(self) -> dict[str, float]:
        """Each liked paper's weight, several people's likes added up, within [-2, 2]."""
        total: dict[str, float] = {}
        for like in self.likes:
            total[like.paper_id] = total.get(like.paper_id, 0.0) + like.weight
        return {pid: max(-2.0, min(2.0, w)) for pid, w in total.items() if w}


class Ranked:
    """One paper in a ranking: its score and the why line ("matches: score matching, diffusion · author:
    Yang Song · like 2011.13456"). The why is composed when first read: a fan-out ranks thousands of
    papers per channel and shows ten."""

    __slots__ = ("_doc", "_signals", "_why", "paper", "score")

    def __init__(self, paper: Paper, score: float, why: str = "") -> None:
        self.paper = paper
        self.score = score
        self._why: str | None = why
        self._signals: Sequence[_Signal] = ()
        self._doc = -1

    @classmethod
    def _explained(cls, paper: Paper, score: float, signals: Sequence[_Signal], doc: int) -> Ranked:
        ranked = cls(paper, score)
        ranked._why, ranked._signals, ranked._doc = None, signals, doc
        return ranked

    @property
    def why(self) -> str:
        if self._why is None:
            self._why = _why(self._signals, self._doc)
            self._signals = ()
        return self._why

    def to_json(self) -> dict[str, Any]:
        """The paper object of the CLI contract with its ``score`` and ``why``."""
        return {**self.paper.to_json(), "score": round(self.score, 4), "why": self.why}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ranked):
            return NotImplemented
        return (self.paper, self.score, self.why) == (other.paper, other.score, other.why)

    def __hash__(self) -> int:
        return hash((self.paper.id, self.score))

    def __repr__(self) -> str:
        return f"Ranked({self.paper.id!r}, {self.score!r}, {self.why!r})"


# --- the corpus --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Keyword:
    label: str  # as typed
    terms: tuple[str, ...]
    phrase: str  # " w1 w2 " to find in a document's joined words; "" for one word
    words: Mapping[str, str]  # term -> the word as typed, for the why line


@lru_cache(maxsize=8192)  # a fan-out compiles the same keywords for many channels
def _compile_keyword(text: str) -> _Keyword | None:
    words = _WORD.findall(text)
    typed = {_stem(fold(w)): w for w in words}
    kept = tuple(keyword_terms(text))
    if not kept:
        return None
    every = terms(text)
    phrase = f" {' '.join(every)} " if len(every) > 1 else ""
    return _Keyword(label=" ".join(text.split()), terms=kept, phrase=phrase, words=typed)


@dataclass(frozen=True, slots=True)
class _Signal:
    """One radar entry's effect on a corpus: the score it adds to each paper it touches, and what the why
    line names for it (the keyword as typed, the words of a phrase found apart, the author as printed)."""

    kind: str  # keyword | author | like | mute
    label: str
    hits: Mapping[int, float]
    names: Mapping[int, str] | None = None  # per paper, where it differs from ``label``


class Corpus:
    """The token statistics of one set of candidate papers (one fan-out's digest candidates), each radar
    entry's effect on them, and the rankings already made: work shared by every channel of a fan-out."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = tuple(papers)
        self.position = {p.id: i for i, p in enumerate(self.papers)}
        count = len(self.papers)
        self._joined: list[str] = []
        self._counts: list[dict[str, int]] = []
        lengths: list[int] = []
        df: Counter[str] = Counter()
        for paper in self.papers:
            title, abstract = terms(paper.title), terms(paper.abstract)
            # " | " keeps a phrase from running from the title into the abstract.
            self._joined.append(f" {' '.join(title)} | {' '.join(abstract)} ")
            counts = Counter(abstract)
            counts.update(title * _TITLE_WEIGHT)
            for stop in STOP_WORDS.intersection(counts):
                del counts[stop]
            self._counts.append(counts)
            lengths.append(counts.total())
            df.update(counts.keys())
        self.df = df
        average = (sum(lengths) / count) if count else 1.0
        self._bm25: dict[str, dict[int, float]] = {}
        idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in df.items()}
        for doc, (doc_counts, length) in enumerate(zip(self._counts, lengths, strict=True)):
            norm = _K1 * (1 - _B + _B * length / (average or 1.0))
            for term, tf in doc_counts.items():
                postings = self._bm25.get(term)
                if postings is None:
                    postings = self._bm25[term] = {}
                postings[doc] = idf[term] * tf * (_K1 + 1) / (tf + norm)
        self._authors: dict[str, list[tuple[int, tuple[str, ...], str]]] = {}
        for doc, paper in enumerate(self.papers):
            for name in paper.authors:
                family, given = _name_parts(name)
                if family:
                    self._authors.setdefault(family, []).append((doc, given, " ".join(name.split())))
        # Ties: the source's own signal, then the newer paper, then the digest's order.
        order = sorted(range(count), key=lambda i: _tie_key(self.papers[i], i))
        self.tie_rank = [0] * count
        for place, doc in enumerate(order):
            self.tie_rank[doc] = place
        self._tie_order = order
        self._unscored = [Ranked(p, 0.0, "") for p in self.papers]
        # Smoothed idf for TF-IDF (likes); a term no candidate has still weighs in the liked paper's norm.
        self._idf_smooth = {term: math.log((count + 1) / (n + 1)) + 1.0 for term, n in df.items()}
        self._idf_unseen = math.log(count + 1) + 1.0
        self._tfidf: dict[str, dict[int, float]] | None = None
        self._doc_vectors: list[dict[str, float]] = []
        self._similar: dict[str, dict[int, float]] = {}
        self._signals: dict[tuple[str, str], _Signal | None] = {}
        self._memo: dict[object, tuple[list[Ranked], int]] = {}

    def __len__(self) -> int:
        return len(self.papers)

    # --- signals ---------------------------------------------------------------------------------

    def _vector(self, counts: Mapping[str, int]) -> dict[str, float]:
        idf = self._idf_smooth
        unseen = self._idf_unseen
        weights = {t: (1 + math.log(tf)) * idf.get(t, unseen) for t, tf in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def _tfidf_postings(self) -> dict[str, dict[int, float]]:
        if self._tfidf is None:
            postings: dict[str, dict[int, float]] = {}
            for counts in self._counts:
                vector = self._vector(counts)
                self._doc_vectors.append(vector)  # a liked candidate reuses its own
            for doc, vector in enumerate(self._doc_vectors):
                for term, w in vector.items():
                    found = postings.get(term)
                    if found is None:
                        found = postings[term] = {}
                    found[doc] = w
            self._tfidf = postings
        return self._tfidf

    def similar_to(self, paper: Paper) -> dict[int, float]:
        """Cosine similarity (≥ LIKE_MIN_SIMILARITY) of each candidate to ``paper``, remembered per paper.

        The liked paper is compared on its ``_LIKE_TERMS`` heaviest terms among those at most one candidate
        in ``_LIKE_MAX_SHARE`` uses: the field's common words weigh little in a cosine and would cost most
        of the work."""
        found = self._similar.get(paper.id)
        if found is not None:
            return found
        postings = self._tfidf_postings()
        doc = self.position.get(paper.id)
        same = self.papers[doc] if doc is not None else None
        # A liked candidate (even as loaded again from the store: same text) has its vector already.
        if doc is not None and same is not None and (same.title, same.abstract) == (paper.title, paper.abstract):
            vector = self._doc_vectors[doc]
        else:
            tally = Counter(terms(paper.abstract))
            tally.update(terms(paper.title) * _TITLE_WEIGHT)
            for stop in STOP_WORDS.intersection(tally):
                del tally[stop]
            vector = self._vector(tally)
        common = max(len(self.papers) / _LIKE_MAX_SHARE, _LIKE_MIN_DF_CAP)
        df = self.df.get
        # The same as sorted(..., reverse=True)[:_LIKE_TERMS], without ordering the rest.
        kept = heapq.nlargest(_LIKE_TERMS, ((w, t) for t, w in vector.items() if df(t, 0) <= common))
        sums = [0.0] * len(self.papers)
        touched: set[int] = set()
        norm = math.sqrt(sum(w * w for w, _ in kept)) or 1.0  # the liked paper as its distinctive terms
        for weight, term in kept:
            weight /= norm
            found_docs = postings.get(term)
            if found_docs is None:
                continue
            touched.update(found_docs)
            for other, w in found_docs.items():
                sums[other] += weight * w
        papers = self.papers
        found = {d: sums[d] for d in touched if sums[d] >= LIKE_MIN_SIMILARITY and papers[d].id != paper.id}
        self._similar[paper.id] = found
        return found

    def _signal(self, kind: str, value: str) -> _Signal | None:
        """A keyword's, author's or mute's effect, computed once per corpus (channels share entries)."""
        key = (kind, value)
        if key in self._signals:
            return self._signals[key]
        found: _Signal | None = None
        if kind == "author":
            family, given = _name_parts(value)
            names = {
                doc: printed
                for doc, listed, printed in self._authors.get(family, ())
                if _given_names_agree(given, listed)
            }
            found = _Signal(kind, value, dict.fromkeys(names, AUTHOR_SCORE), names)
        else:
            keyword = _compile_keyword(value)
            if keyword is not None:
                found = self._keyword_signal(kind, keyword)
        if len(self._signals) < 100_000:
            self._signals[key] = found
        return found

    def _keyword_signal(self, kind: str, keyword: _Keyword) -> _Signal:
        if not keyword.phrase:
            hits = self._bm25.get(keyword.terms[0], {})
            return _Signal(kind, keyword.label, hits)
        sums: dict[int, float] = {}
        present: dict[int, list[str]] = {}
        for term in keyword.terms:
            for doc, w in self._bm25.get(term, {}).items():
                sums[doc] = sums.get(doc, 0.0) + w
                present.setdefault(doc, []).append(term)
        whole = {doc for doc in sums if keyword.phrase in self._joined[doc]}
        if kind == "mute":  # a muted phrase mutes where it is found as typed, not its words apart
            return _Signal(kind, keyword.label, dict.fromkeys(whole, 0.0))
        hits = {doc: total * (PHRASE_BOOST if doc in whole else PHRASE_PARTIAL) for doc, total in sums.items()}
        names = {
            doc: ", ".join(keyword.words.get(t, t) for t in terms_found)
            for doc, terms_found in present.items()
            if doc not in whole
        }
        return _Signal(kind, keyword.label, hits, names)

    def _like_signal(self, paper: Paper, weight: float) -> _Signal:
        similar = self.similar_to(paper)
        scale = LIKE_SCALE * weight
        return _Signal("like", paper.id, {doc: scale * s for doc, s in similar.items()})

    # --- ranking ---------------------------------------------------------------------------------

    def rank(
        self, papers: Sequence[Paper], profile: RadarProfile, liked: Mapping[str, Paper], limit: int = 0
    ) -> tuple[list[Ranked], int]:
        """``papers`` (candidates of this corpus) ranked by ``profile``: the first ``limit`` (0: all) and
        how many the whole ranking holds (in "only" mode, the matching papers)."""
        weights = profile.like_weights()
        liked_key = tuple(sorted((pid, w) for pid, w in weights.items() if pid in liked))
        # The candidates themselves (nothing delivered yet: the usual case) are recognised at once.
        whole = papers is self.papers or (len(papers) == len(self.papers) and list(papers) == list(self.papers))
        subset = None if whole else frozenset(self.position[p.id] for p in papers)
        key = (profile, liked_key, subset, limit)
        found = self._memo.get(key)
        if found is None:
            found = self._rank(subset, profile, weights, liked, limit)
            if len(self._memo) < 4096:
                self._memo[key] = found
        return list(found[0]), found[1]

    def _rank(
        self,
        subset: frozenset[int] | None,
        profile: RadarProfile,
        weights: Mapping[str, float],
        liked: Mapping[str, Paper],
        limit: int,
    ) -> tuple[list[Ranked], int]:
        signals = [self._signal("keyword", k) for k in dict.fromkeys(profile.keywords)]
        signals += [self._signal("author", a) for a in dict.fromkeys(profile.authors)]
        signals += [self._like_signal(liked[pid], w) for pid, w in weights.items() if pid in liked]
        mutes = [self._signal("mute", m) for m in dict.fromkeys(profile.mutes)]
        scoring = [s for s in signals if s is not None]
        muting = [s for s in mutes if s is not None]
        explained = scoring + muting

        # Scores in a list indexed by paper, and which papers any signal touched (a touched paper scoring
        # exactly 0 is explained, an untouched one is not): cheaper than a dict for thousands of hits.
        scores = [0.0] * len(self.papers)
        touched: set[int] = set()
        for signal in scoring:
            hits = signal.hits
            touched.update(hits)
            for doc, score in hits.items():
                scores[doc] += score
        muted: set[int] = set()
        for signal in muting:
            muted.update(signal.hits)
        if subset is not None:
            touched &= subset
            muted &= subset
        live = [doc for doc in touched if scores[doc] > 0]
        if muted:
            live = [doc for doc in live if doc not in muted]
        total = len(live) if profile.only else (len(self.papers) if subset is None else len(subset))
        tie = self.tie_rank
        papers = self.papers

        def ranked(items: Iterable[tuple[float, int, int]], penalty: float = 0.0) -> list[Ranked]:
            return [Ranked._explained(papers[doc], -neg - penalty, explained, doc) for neg, _, doc in items]

        if limit and len(live) > limit:
            # Only papers scoring at least the limit-th best score can be shown: order just those (ties
            # at that score included), comparing bare scores first rather than a tuple per paper.
            cut = sorted([scores[doc] for doc in live], reverse=True)[limit - 1]
            live = [doc for doc in live if scores[doc] >= cut]
        ahead = sorted([(-scores[doc], tie[doc], doc) for doc in live])
        if limit:
            best = ahead[:limit]
            if len(best) == limit or profile.only:
                return ranked(best), total
            result = ranked(best)
        else:
            result = ranked(ahead)
            if profile.only:
                return result, total
        # Matched nothing (or likes and dislikes cancelled out): in the order they had.
        wanted = limit - len(result) if limit else len(self.papers)
        for doc in self._tie_order:
            if wanted <= 0:
                return result, total
            if (subset is None or doc in subset) and doc not in muted:
                if doc not in touched:
                    result.append(self._unscored[doc])
                elif scores[doc] == 0:
                    result.append(Ranked._explained(papers[doc], 0.0, explained, doc))
                else:
                    continue
                wanted -= 1
        behind = sorted((-scores[doc], tie[doc], doc) for doc in touched if scores[doc] < 0 and doc not in muted)
        result += ranked(behind)
        sunk = sorted((-(scores[doc] if doc in touched else 0.0), tie[doc], doc) for doc in muted)
        result += ranked(sunk, MUTED_PENALTY)
        return (result[:limit] if limit else result), total


def _tie_key(paper: Paper, position: int) -> tuple[int, int, int]:
    recency = paper.announced.toordinal() if paper.announced is not None else 0
    return (-(paper.upvotes or 0), -recency, position)


def _why(signals: Sequence[_Signal], doc: int) -> str:
    """What scored for one paper, in the order people read a radar: mutes, keywords, authors, likes."""
    muted = [s.label for s in signals if s.kind == "mute" and doc in s.hits]
    keywords: list[str] = []
    authors: list[str] = []
    like: tuple[float, str] | None = None
    for signal in signals:
        hit = signal.hits.get(doc)
        if hit is None or signal.kind == "mute":
            continue
        name = signal.names.get(doc, signal.label) if signal.names is not None else signal.label
        if signal.kind == "keyword":
            keywords.append(name)
        elif signal.kind == "author":
            authors.append(name)
        elif like is None or abs(hit) > abs(like[0]):
            like = (hit, signal.label)
    parts: list[str] = []
    if muted:
        parts.append(f"muted: {muted[0]}")
    if keywords:
        shown = list(dict.fromkeys(keywords))
        more = f" +{len(shown) - _WHY_KEYWORDS}" if len(shown) > _WHY_KEYWORDS else ""
        parts.append("matches: " + ", ".join(shown[:_WHY_KEYWORDS]) + more)
    if authors:
        shown = list(dict.fromkeys(authors))
        parts.append("author: " + ", ".join(shown[:_WHY_AUTHORS]) + (" …" if len(shown) > _WHY_AUTHORS else ""))
    if like is not None:
        contribution, pid = like
        parts.append(f"like {pid}" if contribution > 0 else f"close to disliked {pid}")
    return " · ".join(parts)


def _ranking_corpus(papers: Sequence[Paper], corpus: Corpus | None) -> Corpus:
    if corpus is None or (papers is not corpus.papers and not corpus.position.keys() >= {p.id for p in papers}):
        return Corpus(papers)
    return corpus


def _liked(liked_papers: Mapping[str, Paper] | Iterable[Paper]) -> Mapping[str, Paper]:
    return liked_papers if isinstance(liked_papers, Mapping) else {p.id: p for p in liked_papers}


def rank(
    papers: Sequence[Paper],
    profile: RadarProfile,
    liked_papers: Mapping[str, Paper] | Iterable[Paper] = (),
    *,
    corpus: Corpus | None = None,
) -> list[Ranked]:
    """``papers`` ranked by ``profile``, best first, each with its score and why.

    ``liked_papers``: the text of the profile's liked and disliked papers (by id, or as a list); a like
    whose paper is not given is ignored. ``corpus``: the candidate set the papers come from (its word
    statistics are the BM25 corpus); by default the papers themselves. Without anything to rank by the
    order is unchanged and every why is "". With ``profile.only`` the papers scoring ≤ 0 are left out.
    """
    if not profile.ranks:
        return [Ranked(p, 0.0, "") for p in papers]
    return _ranking_corpus(papers, corpus).rank(papers, profile, _liked(liked_papers))[0]


def top(
    papers: Sequence[Paper],
    profile: RadarProfile,
    liked_papers: Mapping[str, Paper] | Iterable[Paper] = (),
    limit: int = 10,
    *,
    corpus: Corpus | None = None,
) -> tuple[list[Ranked], int]:
    """The first ``limit`` of ``rank(...)`` (all with 0) and the length of the whole ranking, without
    ordering the rest: what a digest with a cap needs."""
    if not profile.ranks:
        return [Ranked(p, 0.0, "") for p in (papers[:limit] if limit else papers)], len(papers)
    return _ranking_corpus(papers, corpus).rank(papers, profile, _liked(liked_papers), limit)
