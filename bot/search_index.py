"""Full-text search over every stored paper (all sources): an SQLite FTS5 index of titles, abstracts and
authors, and the one place user text becomes an FTS5 query.

The index is an *external content* FTS5 table over ``papers`` (it stores only the index, not a second
copy of the text) kept in step in the same transaction as every write to ``papers``: updates and deletes by
triggers, new rows by the store's one insert path, a batch at a time (bot.store_writes; a trigger row by row
cost two to three times as much). Its
migrations are a set of their own, applied by ``Store.migrate`` after the store's; the first one builds
the index of a database made before search existed (a backfill).

User text is never FTS5 syntax: ``parse_query`` reads it as words and "quoted phrases" (“typographic”
and 'single' quotes too: bot.quotes), drops common
words, and every term reaches FTS5 inside double quotes, so ``*``, ``NEAR``, ``-``, ``:``, ``^``,
parentheses and stray quotes are plain text. Anything it cannot use is a ``UsageError`` saying what to
type instead.

Ranking is BM25 (title weighted above authors above abstract). A query of several words also asks for
them as one phrase, OR-ed with the words: BM25 then adds the (rare, so heavily weighted) phrase to the
score of papers that have the words side by side, which is the phrase boost.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from bot.errors import ConfigError, UsageError
from bot.models import Paper
from bot.quotes import straight_quotes
from bot.store import Store, refuse_newer_schema
from bot.store_writes import FTS_TABLE, INSERT_TRIGGER
from bot.text import strip_unsafe_chars
from bot.user_input import as_typed

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "STOP_WORDS",
    "PaperIndex",
    "SearchQuery",
    "migrate",
    "migrations",
    "parse_query",
    "record_upstream_search",
    "upstream_asked_at",
]

MAX_QUERY_CHARS = 500  # a search is a few words; a pasted abstract is not a query
MAX_QUERY_TERMS = 20
MAX_TERM_CHARS = 60  # longer "words" are not words (hashes, base64): cut, still searched by their start
MAX_LIMIT = 100
MAX_SCORED = 10_000  # matches ranked per search: see PaperIndex.search
TABLE = FTS_TABLE
# BM25 weights of the indexed columns: a word in the title says more than one in the abstract.
WEIGHTS = {"title": 4.0, "abstract": 1.0, "authors": 2.0}
# Porter stemming over unicode61 (accents folded): "networks" finds "network", "Schölkopf" finds "Scholkopf".
TOKENIZER = "porter unicode61 remove_diacritics 2"

# Words that say nothing about a topic. Only bare words are dropped; inside a "phrase" they stay, as the
# phrase is matched word for word ("theory of mind").
STOP_WORDS = frozenset(
    """a an and are as at be but by for from has have in into is it its of on or that the their then there
    these this those to was were will with we our via using use based towards toward new paper papers
    about than which what when where how do does not no can""".split()
)

_BM25 = f"bm25({TABLE}, {WEIGHTS['title']}, {WEIGHTS['abstract']}, {WEIGHTS['authors']})"

migrations = Migrations("paperbot.search")


@migrations()
def m001_papers_fts(db: sqlite_utils.Database) -> None:
    # External content: the index reads the text from `papers` by rowid, so it costs only the index.
    # Safe to run again: every statement is "if not exists", and the rebuild recomputes the index.
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
        f"title, abstract, authors, content='papers', content_rowid='rowid', tokenize='{TOKENIZER}')"
    )
    indexed = "rowid, title, abstract, authors"
    new = "new.rowid, new.title, new.abstract, new.authors"
    old = "old.rowid, old.title, old.abstract, old.authors"
    db.execute(
        f"CREATE TRIGGER IF NOT EXISTS {TABLE}_after_insert AFTER INSERT ON papers BEGIN"
        f" INSERT INTO {TABLE}({indexed}) VALUES ({new}); END"
    )
    db.execute(
        f"CREATE TRIGGER IF NOT EXISTS {TABLE}_after_delete AFTER DELETE ON papers BEGIN"
        f" INSERT INTO {TABLE}({TABLE}, {indexed}) VALUES ('delete', {old}); END"
    )
    # The store rewrites a paper's row each time a feed lists it again: re-index only when its text changed.
    db.execute(
        f"CREATE TRIGGER IF NOT EXISTS {TABLE}_after_update AFTER UPDATE OF title, abstract, authors ON papers"
        " WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract OR old.authors IS NOT new.authors"
        f" BEGIN INSERT INTO {TABLE}({TABLE}, {indexed}) VALUES ('delete', {old});"
        f" INSERT INTO {TABLE}({indexed}) VALUES ({new}); END"
    )
    # The backfill: papers stored before the index existed (or while it was missing) are indexed now.
    db.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')")


@migrations()
def m002_upstream_searches(db: sqlite_utils.Database) -> None:
    # When each query was last asked of arXiv and Hugging Face: their terms ask us not to repeat a request
    # within a day, and what they answered is stored anyway, so the next search finds it locally.
    db.table("upstream_searches").create({"query": str, "asked_at": str, "found": int}, pk="query", if_not_exists=True)


@migrations()
def m003_new_papers_indexed_by_the_batch(db: sqlite_utils.Database) -> None:
    # The store indexes the rows each save inserts in one statement (bot.store_writes.index_new_papers).
    db.execute(f"DROP TRIGGER IF EXISTS {INSERT_TRIGGER}")


_migrated: weakref.WeakSet[Store] = weakref.WeakSet()


def migrate(store: Store) -> None:
    """Apply the search index's migrations (after the store's, which create ``papers``); cheap to repeat."""
    if store in _migrated:
        return
    refuse_newer_schema(store.db, store.path, migrations)
    try:
        migrations.apply(store.db)
    except sqlite3.OperationalError as err:
        if "fts5" in str(err).lower():
            raise ConfigError(
                "this Python's SQLite was built without FTS5, which paperbot's search needs: "
                "use a Python from python.org, your OS packages or uv"
            ) from None
        raise
    _migrated.add(store)


def upstream_asked_at(store: Store, key: str) -> datetime | None:
    """When the search ``key`` was last asked of the upstream services, or None."""
    row = store.db.conn.execute("SELECT asked_at FROM upstream_searches WHERE query = ?", (key,)).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def record_upstream_search(store: Store, key: str, at: datetime, found: int) -> None:
    with store.db.atomic():
        store.db.conn.execute(
            "INSERT INTO upstream_searches (query, asked_at, found) VALUES (?,?,?)"
            " ON CONFLICT(query) DO UPDATE SET asked_at = excluded.asked_at, found = excluded.found",
            (key, at.isoformat(), found),
        )


# --- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search as words and phrases, every one plain text (letters and digits only)."""

    terms: tuple[str, ...]  # single words, stop words dropped
    phrases: tuple[tuple[str, ...], ...]  # "quoted phrases" and hyphenated words (self-supervised)

    @property
    def text(self) -> str:
        """The query as understood, in a canonical spelling: words, then "phrases"."""
        return " ".join([*self.terms, *(_quoted(p) for p in self.phrases)])

    @property
    def words(self) -> tuple[str, ...]:
        """Every word the query looks for, in order, once."""
        return tuple(dict.fromkeys([*self.terms, *(w for p in self.phrases for w in p)]))

    def fts(self) -> str:
        """The FTS5 expression: every term and phrase required; several bare words are also asked for
        side by side (OR-ed, so it adds to BM25 without narrowing the match)."""
        phrases = [_quoted(p) for p in self.phrases]
        required = " AND ".join([_quoted((term,)) for term in self.terms] + phrases)
        if len(self.terms) >= 2:
            # Matches exactly what `required` does (the words side by side are the words), scores more.
            side_by_side = " AND ".join([_quoted(self.terms), *phrases])
            return f"({side_by_side}) OR ({required})"
        return required


def _quoted(words: Sequence[str]) -> str:
    # Words hold letters and digits only (see _words), so no quote can end the string early.
    return '"' + " ".join(words) + '"'


def parse_query(text: str) -> SearchQuery:
    """``text`` as a search: words and "quoted phrases". UsageError saying what to type for an empty,
    stop-word-only, too long or wordless (emoji, punctuation) query. Never FTS5 syntax."""
    typed = straight_quotes(strip_unsafe_chars(as_typed(text)))
    if len(typed) > MAX_QUERY_CHARS:
        raise UsageError(
            f"That search is too long ({len(typed):,} characters): use at most {MAX_QUERY_CHARS}, "
            'a few words or a "quoted phrase".'
        )
    terms: list[str] = []
    phrases: list[tuple[str, ...]] = []
    # Even pieces lie outside quotes, odd ones inside; an unclosed quote's text is read as plain words.
    pieces = typed.split('"')
    if len(pieces) % 2 == 0:
        pieces[-2:] = [pieces[-2] + " " + pieces[-1]]
    for index, piece in enumerate(pieces):
        if index % 2:
            words = _words(piece)
            if len(words) == 1:
                terms.append(words[0])  # a "phrase" of one word is that word, kept even if common
            elif words:
                phrases.append(words)
            continue
        for chunk in piece.split():
            words = _words(chunk)
            if len(words) > 1:
                phrases.append(words)  # self-supervised, GPT-4, t-SNE: the parts, side by side
            elif words and words[0].casefold() not in STOP_WORDS:
                terms.append(words[0])
    terms = list(dict.fromkeys(terms))
    phrases = list(dict.fromkeys(phrases))
    if not terms and not phrases:
        raise UsageError(_nothing_to_search(typed))
    if len(terms) + len(phrases) > MAX_QUERY_TERMS:
        raise UsageError(f"That search has too many words: use at most {MAX_QUERY_TERMS}.")
    return SearchQuery(tuple(terms), tuple(phrases))


def _nothing_to_search(typed: str) -> str:
    if not typed.strip():
        return 'Give some words to search for, e.g. conformal prediction or "score matching".'
    if any(_is_word_char(ch) for ch in typed):
        return 'Those are all common words: add what the papers are about, e.g. "theory of mind".'
    return 'Search with words (letters or digits), e.g. conformal prediction or "score matching".'


def _words(text: str) -> tuple[str, ...]:
    """The runs of letters and digits in ``text`` (what the index's tokenizer calls tokens), lower case."""
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if _is_word_char(ch):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    # A run of marks alone (an emoji's variation selector) is not a word.
    return tuple(w.casefold()[:MAX_TERM_CHARS] for w in words if any(unicodedata.category(c)[0] in "LN" for c in w))


def _is_word_char(ch: str) -> bool:
    # unicode61's token characters: letters, numbers, private use; combining marks ride with their letter.
    return unicodedata.category(ch)[0] in "LNM" or unicodedata.category(ch) == "Co"


# --- the index ----------------------------------------------------------------------------------


class PaperIndex:
    """Search the stored papers. One per store; cheap to make (migrations are applied once)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        migrate(store)

    def search(
        self,
        query: str,
        *,
        limit: int = 5,
        offset: int = 0,
        feed: str | None = None,
        since: date | None = None,
    ) -> list[tuple[Paper, float]]:
        """The stored papers matching ``query``, best first, with their scores (higher is better).

        ``feed``: only papers of that feed (listed in it, or carrying it as an arXiv category; for
        ``hf``, papers Hugging Face knows). ``since``: only papers dated on or after that day (see
        ``_PAPER_DAY``). UsageError for a query that cannot be searched.
        """
        parsed = parse_query(query)
        if not 0 <= limit <= MAX_LIMIT or offset < 0:
            raise UsageError(f"Ask for 1 to {MAX_LIMIT} results from a position of 0 or more.")
        if limit == 0:
            return []
        params: dict[str, Any] = {"match": parsed.fts(), "cap": MAX_SCORED, "limit": limit, "offset": offset}
        where: list[str] = []
        if feed is not None:
            where.append(_IN_FEED)
            params["feed"] = feed
        if since is not None:
            where.append(f"{_PAPER_DAY} >= :since")
            params["since"] = since.isoformat()
        # FTS5 scores every paper that matches; a very common word matches most of the store. Only the
        # newest MAX_SCORED matches are scored (FTS5 walks them newest first and stops), which bounds the
        # time and, for such a query, prefers recent papers. Rarer queries are ranked over every match.
        newest = (
            f"SELECT rowid AS paper_rowid, {_BM25} AS bm25 FROM {TABLE} WHERE {TABLE} MATCH :match"
            " ORDER BY rowid DESC LIMIT :cap"
        )
        if where:
            sql = (
                f"SELECT p.id, m.bm25 FROM ({newest}) m JOIN papers p ON p.rowid = m.paper_rowid"
                f" WHERE {' AND '.join(where)} ORDER BY m.bm25, m.paper_rowid DESC LIMIT :limit OFFSET :offset"
            )
        else:
            sql = (
                f"SELECT p.id, m.bm25 FROM (SELECT * FROM ({newest}) ORDER BY bm25, paper_rowid DESC"
                " LIMIT :limit OFFSET :offset) m JOIN papers p ON p.rowid = m.paper_rowid ORDER BY m.bm25,"
                " m.paper_rowid DESC"
            )
        rows = self._rows(sql, params)
        found: list[tuple[Paper, float]] = []
        for paper_id, bm25 in rows:
            paper = self.store.get_paper(paper_id)
            if paper is not None:
                found.append((paper, -bm25))
        return found

    def scores(self, query: str, paper_ids: Sequence[str]) -> dict[str, float]:
        """How well each of ``paper_ids`` matches ``query`` (higher is better); papers that do not match
        (or are not stored) are absent. UsageError for a query that cannot be searched."""
        parsed = parse_query(query)
        rowids = self._rowids(paper_ids)
        if not rowids:
            return {}
        scores: dict[str, float] = {}
        # Only the rowid ranges the papers occupy are matched: a day's papers sit together, and FTS5
        # seeks to a rowid range instead of scoring every paper of the store that has the words.
        for low, high in _ranges(sorted(rowids)):
            rows = self._rows(
                f"SELECT rowid, {_BM25} FROM {TABLE} WHERE {TABLE} MATCH :match AND rowid BETWEEN :low AND :high",
                {"match": parsed.fts(), "low": low, "high": high},
            )
            for rowid, bm25 in rows:
                paper_id = rowids.get(rowid)
                if paper_id is not None:
                    scores[paper_id] = -bm25
        return scores

    def _rowids(self, paper_ids: Sequence[str]) -> dict[int, str]:
        ids = list(dict.fromkeys(paper_ids))
        found: dict[int, str] = {}
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for rowid, paper_id in self.store.db.conn.execute(
                f"SELECT rowid, id FROM papers WHERE id IN ({marks})", chunk
            ):
                found[rowid] = paper_id
        return found

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return self.store.db.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as err:
            # parse_query makes every expression valid; an FTS5 complaint here is a bug, not the user's.
            raise RuntimeError(f"search index query failed: {err}") from err

    def size_bytes(self) -> int:
        """Bytes the index takes in the database file (its shadow tables), for the benchmark and status."""
        try:
            row = self.store.db.conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?", (f"{TABLE}%",)
            ).fetchone()
        except sqlite3.OperationalError:  # SQLite built without the dbstat table
            return 0
        return int(row[0] or 0)


def _ranges(rowids: Sequence[int], gap: int = 256, most: int = 16) -> list[tuple[int, int]]:
    """Sorted rowids as at most ``most`` [low, high] ranges, splitting where two are over ``gap`` apart
    (the widest gaps first)."""
    if not rowids:
        return []
    gaps = sorted(
        ((rowids[i + 1] - rowids[i], i) for i in range(len(rowids) - 1) if rowids[i + 1] - rowids[i] > gap),
        reverse=True,
    )[: most - 1]
    cuts = sorted(i for _, i in gaps)
    ranges: list[tuple[int, int]] = []
    start = 0
    for cut in cuts:
        ranges.append((rowids[start], rowids[cut]))
        start = cut + 1
    ranges.append((rowids[start], rowids[-1]))
    return ranges


# A paper of a feed: listed in it, or carrying it as a category (papers found by an arXiv search have no
# listing), the archive too ("stat" holds stat.ML); Hugging Face's feed: papers Hugging Face knows.
_IN_FEED = (
    "(p.id IN (SELECT paper_id FROM listings WHERE category = :feed)"
    " OR instr(p.categories, '\"' || :feed || '\"') > 0"
    " OR instr(p.categories, '\"' || :feed || '.') > 0"
    " OR (:feed = 'hf' AND p.upvotes IS NOT NULL))"
)

# A paper's own day, as text: an arXiv id says its month (2403.15527: March 2024; counted as the month's
# last day, so a paper of that month is never left out), a bioRxiv/medRxiv DOI since 2019 its day
# (10.1101/2024.12.31.630767); other papers count from when they were stored. Not `updated_at` for all:
# the store rewrites it each time a feed lists a paper again, which would make old papers new.
_PAPER_DAY = """(CASE
    WHEN p.id GLOB '[0-9][0-9][0-9][0-9].[0-9]*'
        THEN '20' || substr(p.id, 1, 2) || '-' || substr(p.id, 3, 2) || '-31'
    WHEN p.id GLOB '*/[0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
        THEN (CASE WHEN substr(p.id, -7, 2) >= '91' THEN '19' ELSE '20' END)
             || substr(p.id, -7, 2) || '-' || substr(p.id, -5, 2) || '-31'
    WHEN p.id GLOB '10.1101/[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9].*'
        THEN replace(substr(p.id, 9, 10), '.', '-')
    ELSE substr(p.updated_at, 1, 10)
END)"""
