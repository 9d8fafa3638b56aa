"""Ranking a channel's candidate papers by its research radar. Pure: no I/O, no clock.

A score is the sum of what a person can read back in the card's "why" line:

- keywords: BM25 over title and abstract (the title counted twice), with the day's candidate papers as the
  corpus, so a word every paper uses weighs little; a phrase ("conformal prediction") matches only where its
  words stand side by side as typed (then it scores double): its words found apart match nothing;
- authors: a name on the radar matches a paper's author with accents, case and initials folded
  ("Y. Song" is "Yang Song", "Schölkopf" is "Scholkopf");
- liked papers: TF-IDF cosine similarity to each liked paper, times the like's weight (a dislike is
  negative, so papers like a disliked one sink); where both papers have a cached embedding
  (bot.embeddings), the larger of that and their embeddings' cosine (rescaled above ``SEMANTIC_FLOOR``):
  the two measure the same closeness, so the larger is taken rather than the sum, which would count a
  paper alike in words and meaning twice, and a paper without a vector still compares by its words;
- mutes: a muted word or phrase in the title or abstract sinks the paper below every other one.

Equal scores keep the source's own signal (Hugging Face upvotes) first, then the newer paper, then the
order the digest had, within each feed; the papers that match nothing (and equal scores) take turns across
the channel's feeds, so upvotes never push an arXiv feed out. Without a radar the order is exactly the
digest's.

A fan-out ranks the same candidates for many channels: ``Corpus`` holds the per-paper token statistics,
built once, and remembers each distinct profile's ranking, so channels with the same radar share it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.feed_interleave import dealt, feed_queues
from bot.models import Paper
from bot.words import STOP_WORDS, WORD, fold, keyword_terms, terms

__all__ = [
    "Corpus",
    "Like",
    "RadarProfile",
    "Ranked",
    "VectorLookup",
    "author_key",
    "keyword_terms",
    "rank",
    "terms",
    "top",
]

_Docs = NDArray[np.intp]
_Floats = NDArray[np.float64]
# Where a corpus reads papers' cached embeddings (unit float32 vectors by paper id; a paper without one
# is left out): given by the caller, so ranking itself does no I/O and never waits on the network.
VectorLookup = Callable[[Sequence[Paper]], Mapping[str, NDArray[np.float32]]]

# BM25's usual constants; a title counts as two abstracts' worth of words.
_K1 = 1.2
_B = 0.75
_TITLE_WEIGHT = 2
PHRASE_BOOST = 2.0  # a phrase found as typed (its words apart are no match at all)
AUTHOR_SCORE = 10.0  # one matching author outranks all but the strongest keyword matches
LIKE_SCALE = 10.0  # cosine 0.3 with one liked paper is worth about a good keyword match
LIKE_MIN_SIMILARITY = 0.1  # below this, two abstracts share only the field's common words
_LIKE_TERMS = 15  # a liked paper is compared on its most distinctive terms
_LIKE_MAX_SHARE = 40  # ... that at most one candidate in 40 uses
_LIKE_MIN_DF_CAP = 50  # (or 50: a small corpus has few words that rare)
# Embedding cosines of unrelated abstracts of one field sit well above 0 (about 0.2-0.5 for the usual
# models): below this a pair counts as not alike, above it the cosine is stretched to 0..1 like TF-IDF's.
SEMANTIC_FLOOR = 0.5
MUTED_PENALTY = 1_000.0  # a muted paper's score: below every unmuted one
_WHY_KEYWORDS = 4
_WHY_AUTHORS = 2


def _name_parts(name: str) -> tuple[str, tuple[str, ...]]:
    """(family name, given names) of an author as printed: "Yang Song", "Y. Song", "Song, Yang"."""
    if "," in name:
        family, _, given = name.partition(",")
        name = f"{given} {family}"
    words = WORD.findall(fold(name))
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


@lru_cache(maxsize=8192)  # a fan-out compiles the same keywords for many channels
def _compile_keyword(text: str) -> _Keyword | None:
    kept = tuple(keyword_terms(text))
    if not kept:
        return None
    every = terms(text)
    phrase = f" {' '.join(every)} " if len(every) > 1 else ""
    return _Keyword(label=" ".join(text.split()), terms=kept, phrase=phrase)


class _Signal:
    """One radar entry's effect on a corpus: the score it adds to each paper it touches (``docs``, ascending,
    with their ``values``: arrays, so a channel's ranking adds up its entries in one pass), and what the why
    line names for it (the keyword as typed, the words of a phrase found apart, the author as printed)."""

    __slots__ = ("_hits", "_names", "docs", "kind", "label", "values")

    def __init__(
        self,
        kind: str,  # keyword | author | like | mute
        label: str,
        docs: _Docs,
        values: _Floats,
        names: Callable[[int], str | None] | None = None,  # per paper, where it differs from ``label``
    ) -> None:
        self.kind, self.label, self.docs, self.values = kind, label, docs, values
        self._names = names
        self._hits: dict[int, float] | None = None

    @property
    def hits(self) -> dict[int, float]:
        """Paper → score, made when a why line first asks (most entries of a fan-out are never shown)."""
        if self._hits is None:
            self._hits = dict(zip(self.docs.tolist(), self.values.tolist(), strict=True))
        return self._hits

    def name(self, doc: int) -> str:
        found = self._names(doc) if self._names is not None else None
        return self.label if found is None else found


_EMPTY_DOCS: _Docs = np.zeros(0, dtype=np.intp)
_EMPTY_VALUES: _Floats = np.zeros(0, dtype=np.float64)


class _Vocabulary(dict[str, int]):
    """Term → its number, numbering a new term as it is first looked up."""

    def __missing__(self, term: str) -> int:
        number = self[term] = len(self)
        return number


def _sum_by_doc(docs: _Docs, values: _Floats, count: int) -> _Floats:
    """Per paper, the sum of its ``values``, added in the order given (as a loop adding them would)."""
    return np.asarray(np.bincount(docs, weights=values, minlength=count), dtype=np.float64)


class Corpus:
    """The token statistics of one set of candidate papers (one fan-out's digest candidates), each radar
    entry's effect on them, and the rankings already made: work shared by every channel of a fan-out.

    Postings are flat arrays grouped by term (each term's papers ascending): built in one vectorised pass
    rather than a dictionary per term, and a channel's ranking sums its entries' arrays at once.

    ``vectors``: where cached embeddings of papers are read (``bot.embeddings.vector_lookup``), asked once
    for the candidates and once per liked paper that is not one; None ranks by words alone. ``feeds``: the
    feed each candidate came from (the digest's), whose papers take turns where no radar entry decides;
    by default each paper's source."""

    def __init__(
        self, papers: Sequence[Paper], vectors: VectorLookup | None = None, feeds: Sequence[str] | None = None
    ) -> None:
        self.papers = tuple(papers)
        self.position = {p.id: i for i, p in enumerate(self.papers)}
        count = len(self.papers)
        self._joined: list[str] = []
        vocab = _Vocabulary()
        term_ids: list[int] = []
        frequencies: list[int] = []
        sizes: list[int] = []
        lengths: list[int] = []
        add_term = vocab.__getitem__
        for paper in self.papers:
            title, abstract = terms(paper.title), terms(paper.abstract)
            # " | " keeps a phrase from running from the title into the abstract.
            self._joined.append(f" {' '.join(title)} | {' '.join(abstract)} ")
            counts = Counter(abstract)
            counts.update(title * _TITLE_WEIGHT)
            for stop in STOP_WORDS.intersection(counts):
                del counts[stop]
            term_ids += map(add_term, counts)
            frequencies += counts.values()
            sizes.append(len(counts))
            lengths.append(counts.total())
        self._vocab: dict[str, int] = dict(vocab)
        self._terms = list(vocab)
        # One row per (paper, term) in paper order; ``_doc_start`` says where each paper's rows begin.
        self._term_of = np.array(term_ids, dtype=np.intp)
        self._tf = np.array(frequencies, dtype=np.float64)
        self._doc_of = np.repeat(np.arange(count, dtype=np.intp), sizes)
        self._doc_start = [0, *itertools.accumulate(sizes)]
        self._df_array = np.bincount(self._term_of, minlength=len(vocab))
        df = self._df_array.tolist()
        self.df: dict[str, int] = dict(zip(self._terms, df, strict=True))
        # The same postings grouped by term (a stable sort keeps each term's papers in ascending order).
        self._by_term = np.argsort(self._term_of, kind="stable")
        self._term_start = [0, *itertools.accumulate(df)]
        self._post_docs: _Docs = self._doc_of[self._by_term]
        average = (sum(lengths) / count) if count else 1.0
        # Scalars from math.log, not numpy's: the scores do not depend on numpy's vectorised logarithm.
        idf = np.array([math.log(1 + (count - n + 0.5) / (n + 0.5)) for n in df], dtype=np.float64)
        norms = np.array([_K1 * (1 - _B + _B * n / (average or 1.0)) for n in lengths], dtype=np.float64)
        tf = self._tf
        bm25 = idf[self._term_of] * tf * (_K1 + 1) / (tf + norms[self._doc_of])
        self._post_bm25: _Floats = bm25[self._by_term]
        self._authors: dict[str, list[tuple[int, tuple[str, ...], str]]] = {}
        for doc, paper in enumerate(self.papers):
            for name in paper.authors:
                family, given = _name_parts(name)
                if family:
                    self._authors.setdefault(family, []).append((doc, given, " ".join(name.split())))
        # Ties, and the papers no entry touches: each feed's own signal (upvotes), then the newer paper,
        # then the digest's order, the feeds taking turns (bot.feed_interleave).
        feed_of = (lambda i: feeds[i]) if feeds is not None else (lambda i: self.papers[i].source)
        self._feed_queues = feed_queues(count, lambda i: _tie_key(self.papers[i], i), feed_of)
        order = list(dealt(self._feed_queues, lambda _: True))
        self.tie_rank = [0] * count
        for place, doc in enumerate(order):
            self.tie_rank[doc] = place
        self._unscored = [Ranked(p, 0.0, "") for p in self.papers]
        # Smoothed idf for TF-IDF (likes); a term no candidate has still weighs in the liked paper's norm.
        self._idf_smooth = {term: math.log((count + 1) / (n + 1)) + 1.0 for term, n in self.df.items()}
        self._idf_unseen = math.log(count + 1) + 1.0
        self._doc_tfidf: _Floats | None = None  # per row of the paper-ordered postings
        self._post_tfidf: _Floats | None = None  # the same grouped by term
        self._similar: dict[str, tuple[_Docs, _Floats]] = {}
        self._signals: dict[tuple[str, str], _Signal | None] = {}
        self._memo: dict[object, tuple[list[Ranked], int]] = {}
        self._vector_lookup = vectors
        self._embedded: tuple[NDArray[np.float32], NDArray[np.bool_]] | None = None
        self._outside_vectors: dict[str, NDArray[np.float32] | None] = {}  # liked papers that are not candidates

    def __len__(self) -> int:
        return len(self.papers)

    def _postings(self, term: str) -> tuple[_Docs, _Floats]:
        """The papers using ``term`` (ascending) and its BM25 weight in each."""
        found = self._vocab.get(term)
        if found is None:
            return _EMPTY_DOCS, _EMPTY_VALUES
        start, end = self._term_start[found], self._term_start[found + 1]
        return self._post_docs[start:end], self._post_bm25[start:end]

    # --- liked papers ----------------------------------------------------------------------------

    def _vector(self, counts: Mapping[str, int]) -> dict[str, float]:
        idf = self._idf_smooth
        unseen = self._idf_unseen
        weights = {t: (1 + math.log(tf)) * idf.get(t, unseen) for t, tf in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def _tfidf(self) -> tuple[_Floats, _Floats]:
        """Each candidate's unit TF-IDF vector, per row of the paper-ordered postings and grouped by term."""
        if self._doc_tfidf is None or self._post_tfidf is None:
            idf = np.array([self._idf_smooth[t] for t in self._terms], dtype=np.float64)
            most = int(self._tf.max()) if len(self._tf) else 0
            log_tf = np.array([0.0, *(1 + math.log(n) for n in range(1, most + 1))], dtype=np.float64)
            weights = log_tf[self._tf.astype(np.intp)] * idf[self._term_of]
            # Each paper's squares added in row order, as a plain sum would.
            norms = np.sqrt(np.bincount(self._doc_of, weights=weights * weights, minlength=len(self.papers)))
            norms[norms == 0] = 1.0
            self._doc_tfidf = weights / norms[self._doc_of]
            self._post_tfidf = self._doc_tfidf[self._by_term]
        return self._doc_tfidf, self._post_tfidf

    def _liked_terms(self, paper: Paper) -> list[tuple[float, str]]:
        """The liked paper's ``_LIKE_TERMS`` heaviest terms among those at most one candidate in
        ``_LIKE_MAX_SHARE`` uses, heaviest first: the field's common words weigh little in a cosine and
        would cost most of the work."""
        doc = self.position.get(paper.id)
        same = self.papers[doc] if doc is not None else None
        # A liked candidate (even as loaded again from the store: same text) has its vector already.
        common = max(len(self.papers) / _LIKE_MAX_SHARE, _LIKE_MIN_DF_CAP)
        if doc is not None and same is not None and (same.title, same.abstract) == (paper.title, paper.abstract):
            start, end = self._doc_start[doc], self._doc_start[doc + 1]
            term_ids = self._term_of[start:end]
            weights = self._tfidf()[0][start:end]
            rare = self._df_array[term_ids] <= common
            term_ids, weights = term_ids[rare], weights[rare]
            if len(weights) > _LIKE_TERMS:  # the heaviest few, and any tied with the last of them
                cut = np.partition(weights, len(weights) - _LIKE_TERMS)[len(weights) - _LIKE_TERMS]
                term_ids, weights = term_ids[weights >= cut], weights[weights >= cut]
            names = self._terms
            pairs = zip(weights.tolist(), [names[t] for t in term_ids.tolist()], strict=True)
            return heapq.nlargest(_LIKE_TERMS, pairs)
        tally = Counter(terms(paper.abstract))
        tally.update(terms(paper.title) * _TITLE_WEIGHT)
        for stop in STOP_WORDS.intersection(tally):
            del tally[stop]
        vector = self._vector(tally)
        df = self.df.get
        # The same as sorted(..., reverse=True)[:_LIKE_TERMS], without ordering the rest.
        return heapq.nlargest(_LIKE_TERMS, ((w, t) for t, w in vector.items() if df(t, 0) <= common))

    def _similar_docs(self, paper: Paper) -> tuple[_Docs, _Floats]:
        """The candidates similar to ``paper`` (≥ LIKE_MIN_SIMILARITY, ascending) and how similar, remembered
        per paper: the cosine of TF-IDF vectors (the liked paper as its distinctive terms), or of the
        papers' embeddings where both have one, whichever says more."""
        found = self._similar.get(paper.id)
        if found is not None:
            return found
        _, post_tfidf = self._tfidf()
        kept = self._liked_terms(paper)
        norm = math.sqrt(sum(w * w for w, _ in kept)) or 1.0
        # The kept terms' postings side by side (one gather, not one slice per term).
        vocab, bounds = self._vocab, self._term_start
        found_terms = [(weight / norm, vocab[term]) for weight, term in kept if term in vocab]
        starts = np.array([bounds[i] for _, i in found_terms], dtype=np.intp)
        sizes = np.array([bounds[i + 1] - bounds[i] for _, i in found_terms], dtype=np.intp)
        rows = np.arange(int(sizes.sum()), dtype=np.intp) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        weights = np.repeat(np.array([w for w, _ in found_terms], dtype=np.float64), sizes)
        # Summed term by term for each paper, as the dot product is written.
        sums = _sum_by_doc(self._post_docs[rows], post_tfidf[rows] * weights, len(self.papers))
        semantic = self._semantic_similarity(paper)
        if semantic is not None:
            sums = np.maximum(sums, semantic)
        close = sums >= LIKE_MIN_SIMILARITY
        itself = self.position.get(paper.id)
        if itself is not None:
            close[itself] = False
        hits = np.flatnonzero(close)
        similar = (hits, sums[hits])
        self._similar[paper.id] = similar
        return similar

    def similar_to(self, paper: Paper) -> dict[int, float]:
        """Similarity (≥ LIKE_MIN_SIMILARITY) of each candidate to ``paper``, by candidate position."""
        docs, values = self._similar_docs(paper)
        return dict(zip(docs.tolist(), values.tolist(), strict=True))

    def _embeddings(self) -> tuple[NDArray[np.float32], NDArray[np.bool_]] | None:
        """The candidates' cached embeddings as rows of one matrix (zeros where a paper has none) and which
        rows are real; None without any."""
        if self._vector_lookup is None:
            return None
        if self._embedded is None:
            found = self._vector_lookup(self.papers)
            rows = [found.get(p.id) for p in self.papers]
            dimension = next((len(v) for v in rows if v is not None), 0)
            matrix = np.zeros((len(self.papers), dimension), dtype=np.float32)
            present = np.zeros(len(self.papers), dtype=np.bool_)
            for doc, row in enumerate(rows):
                if row is not None and len(row) == dimension:
                    matrix[doc] = row
                    present[doc] = True
            self._embedded = (matrix, present)
        return self._embedded if self._embedded[1].any() else None

    def _fetch_outside_vectors(self, papers: Iterable[Paper]) -> None:
        """Read the vectors of liked papers that are not candidates, all of a ranking's in one lookup."""
        if self._vector_lookup is None or self._embeddings() is None:
            return
        position, known = self.position, self._outside_vectors
        wanted = [p for p in papers if p.id not in position and p.id not in known]
        if wanted:
            found = self._vector_lookup(wanted)
            for paper in wanted:
                known[paper.id] = found.get(paper.id)

    def _semantic_similarity(self, paper: Paper) -> _Floats | None:
        """Each candidate's embedding cosine to ``paper``, rescaled so that ``SEMANTIC_FLOOR`` (what two
        unrelated abstracts of a field reach) is 0 and 1 is 1, 0 for a candidate without an embedding;
        None when ``paper`` or every candidate has none."""
        embedded = self._embeddings()
        if embedded is None or self._vector_lookup is None:
            return None
        matrix, present = embedded
        doc = self.position.get(paper.id)
        vector: NDArray[np.float32] | None
        if doc is not None and present[doc]:
            vector = matrix[doc]
        else:
            self._fetch_outside_vectors((paper,))
            vector = self._outside_vectors.get(paper.id)
        if vector is None or len(vector) != matrix.shape[1]:
            return None
        cosine = (matrix @ vector).astype(np.float64)
        scaled = np.clip((cosine - SEMANTIC_FLOOR) / (1.0 - SEMANTIC_FLOOR), 0.0, 1.0)
        scaled[~present] = 0.0
        return scaled

    # --- signals ---------------------------------------------------------------------------------

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
            docs = np.array(sorted(names), dtype=np.intp)
            found = _Signal(kind, value, docs, np.full(len(docs), AUTHOR_SCORE), names.get)
        else:
            keyword = _compile_keyword(value)
            if keyword is not None:
                found = self._keyword_signal(kind, keyword)
        if len(self._signals) < 100_000:
            self._signals[key] = found
        return found

    def _keyword_signal(self, kind: str, keyword: _Keyword) -> _Signal:
        if not keyword.phrase:
            return _Signal(kind, keyword.label, *self._postings(keyword.terms[0]))
        postings = [self._postings(term) for term in keyword.terms]
        every_doc = np.concatenate([docs for docs, _ in postings])
        count = len(self.papers)
        # Summed term by term for each paper; a paper holding every word may hold the phrase as typed.
        sums = _sum_by_doc(every_doc, np.concatenate([w for _, w in postings]), count)
        found_words = np.bincount(every_doc, minlength=count)
        complete = np.flatnonzero(found_words == len(keyword.terms)).tolist()
        # A phrase matches where it stands as typed, never by its words apart ("prediction" alone is not
        # "conformal prediction"): the paper scores its words' BM25, doubled; a mute sinks it.
        whole = np.array([doc for doc in complete if keyword.phrase in self._joined[doc]], dtype=np.intp)
        values = np.zeros(len(whole)) if kind == "mute" else sums[whole] * PHRASE_BOOST
        return _Signal(kind, keyword.label, whole, values)

    def _like_signal(self, paper: Paper, weight: float) -> _Signal:
        docs, similarity = self._similar_docs(paper)
        return _Signal("like", paper.id, docs, (LIKE_SCALE * weight) * similarity)

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
        liked_here = [(liked[pid], w) for pid, w in weights.items() if pid in liked]
        if self._vector_lookup is not None:
            self._fetch_outside_vectors(paper for paper, _ in liked_here if paper.id not in self._similar)
        signals += [self._like_signal(paper, w) for paper, w in liked_here]
        mutes = [self._signal("mute", m) for m in dict.fromkeys(profile.mutes)]
        scoring = [s for s in signals if s is not None]
        muting = [s for s in mutes if s is not None]
        explained = scoring + muting
        count = len(self.papers)

        # Every entry's scores added up per paper in one pass (in entry order, as a loop would), and which
        # papers any entry touched (a touched paper scoring exactly 0 is explained, an untouched one is not).
        touched = np.zeros(count, dtype=np.bool_)
        if scoring:
            every_doc = np.concatenate([s.docs for s in scoring])
            every_value = np.concatenate([s.values for s in scoring])
            scores = _sum_by_doc(every_doc, every_value, count)
            touched[every_doc] = True
        else:
            scores = np.zeros(count, dtype=np.float64)
        muted = np.zeros(count, dtype=np.bool_)
        for signal in muting:
            muted[signal.docs] = True
        if subset is not None:
            inside = np.zeros(count, dtype=np.bool_)
            inside[list(subset)] = True
            touched &= inside
            muted &= inside
        live = np.flatnonzero(touched & (scores > 0) & ~muted)
        total = len(live) if profile.only else (count if subset is None else len(subset))
        tie = self.tie_rank
        papers = self.papers

        def ranked(items: Iterable[tuple[float, int, int]], penalty: float = 0.0) -> list[Ranked]:
            return [Ranked._explained(papers[doc], -neg - penalty, explained, doc) for neg, _, doc in items]

        def ordered(docs: _Docs) -> list[tuple[float, int, int]]:
            return sorted(zip((-scores[docs]).tolist(), [tie[d] for d in docs.tolist()], docs.tolist(), strict=True))

        if limit and len(live) > limit:
            # Only papers scoring at least the limit-th best score can be shown: order just those (ties
            # at that score included).
            live_scores = scores[live]
            cut = np.partition(live_scores, len(live) - limit)[len(live) - limit]
            live = live[live_scores >= cut]
        ahead = ordered(live)
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
        wanted = limit - len(result) if limit else count
        is_touched, is_muted, score_of = touched.tolist(), muted.tolist(), scores.tolist()
        def unmatched(doc: int) -> bool:
            return (subset is None or doc in subset) and not is_muted[doc] and score_of[doc] == 0

        for doc in dealt(self._feed_queues, unmatched):  # the feeds take turns (bot.feed_interleave)
            if wanted <= 0:
                return result, total
            if is_touched[doc]:  # likes and dislikes that cancel out: explained, at 0
                result.append(Ranked._explained(papers[doc], 0.0, explained, doc))
            else:
                result.append(self._unscored[doc])
            wanted -= 1
        result += ranked(ordered(np.flatnonzero(touched & (scores < 0) & ~muted)))
        # A muted paper no entry touched scores 0 before the penalty.
        sunk = [(-(score_of[d] if is_touched[d] else 0.0), tie[d], d) for d in np.flatnonzero(muted).tolist()]
        result += ranked(sorted(sunk), MUTED_PENALTY)
        return (result[:limit] if limit else result), total


def _tie_key(paper: Paper, position: int) -> tuple[int, int, int]:
    recency = paper.announced.toordinal() if paper.announced is not None else 0
    return (-(paper.upvotes or 0), -recency, position)


def _why(signals: Sequence[_Signal], doc: int) -> str:
    """What scored for one paper, in the order people read a radar: mutes, keywords, authors, likes."""
    muted: list[str] = []
    keywords: list[str] = []
    authors: list[str] = []
    like: tuple[float, str] | None = None
    for signal in signals:
        hits = signal._hits if signal._hits is not None else signal.hits  # read for every card shown
        hit = hits.get(doc)
        if hit is None:
            continue
        kind = signal.kind
        if kind == "keyword":
            keywords.append(signal.name(doc))
        elif kind == "author":
            authors.append(signal.name(doc))
        elif kind == "mute":
            muted.append(signal.label)
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
