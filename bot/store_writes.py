"""How the store writes a paper row: one upsert that keeps the right source's fields, and that leaves a row
alone when the write would change nothing; and how new rows reach the search index, in one statement a batch.

arXiv lists a paper in every category it is cross-listed in, so a morning's feeds bring most papers two or
three times; each used to rewrite the same row again. The upsert's ``WHERE`` skips a row whose every
column would stay as it is and whose ``updated_at`` is already of the same day (retention prunes by that
day, so a paper listed again on a later day is still stamped).

The full-text index (bot.search_index) is told of new rows by the store's one insert path, all of a batch
in one ``INSERT … SELECT`` once they are written, rather than by a trigger row by row: the same index, in a
third to a half of the time a trigger takes for a morning's 2,000 papers (bench/bench_engine.py). Its
update and delete triggers stay. A database whose insert trigger is still there (a search migration run
again by hand recreates it) is indexed by the trigger alone, never twice.
"""

from __future__ import annotations

import sqlite3

__all__ = ["FTS_TABLE", "INSERT_TRIGGER", "PAPER_COLUMNS", "PAPER_UPSERT", "index_new_papers", "last_paper_row"]

FTS_TABLE = "papers_fts"
INSERT_TRIGGER = f"{FTS_TABLE}_after_insert"

PAPER_COLUMNS = (
    "id",
    "version",
    "title",
    "authors",
    "categories",
    "primary_category",
    "abstract",
    "abstract_tex",
    "doi",
    "journal_ref",
    "comment",
    "source",
    "updated_at",
    "upvotes",
    "num_comments",
    "github_url",
    "project_url",
    "published_doi",
    "page_url",
    "pdf_link",
    "html_link",
)

# A paper's own fields (title, authors, categories, abstract, version) come from the source that owns
# it: a newer version from the same source, or arXiv over Hugging Face (which lists arXiv papers with
# fewer fields). What a source adds (upvotes, links, DOIs) is kept whichever source saved last.
_OWNS_CORE = (
    "(excluded.version >= papers.version AND (excluded.source = papers.source OR papers.source = 'huggingface'))"
)
_CORE = (
    "version",
    "title",
    "authors",
    "categories",
    "primary_category",
    "abstract",
    "abstract_tex",
    "source",
    "page_url",
    "pdf_link",
    "html_link",
)
_ADDED = ("doi", "journal_ref", "comment", "upvotes", "num_comments", "github_url", "project_url", "published_doi")

_NEW_VALUES = {
    **{column: f"CASE WHEN {_OWNS_CORE} THEN excluded.{column} ELSE papers.{column} END" for column in _CORE},
    **{column: f"coalesce(excluded.{column}, papers.{column})" for column in _ADDED},
}
_SEPARATOR = ",\n    "
# Every column as the update would leave it, compared with what it holds ("IS": NULL equals NULL).
_UNCHANGED = " AND ".join(f"({value}) IS papers.{column}" for column, value in _NEW_VALUES.items())

PAPER_UPSERT = (
    f"INSERT INTO papers ({', '.join(PAPER_COLUMNS)}) VALUES ({','.join('?' * len(PAPER_COLUMNS))})\n"
    "ON CONFLICT(id) DO UPDATE SET\n    "
    + _SEPARATOR.join(f"{column}={value}" for column, value in _NEW_VALUES.items())
    + f"{_SEPARATOR}updated_at=excluded.updated_at\n"
    f"WHERE NOT ({_UNCHANGED} AND substr(papers.updated_at, 1, 10) = substr(excluded.updated_at, 1, 10))"
)


def last_paper_row(conn: sqlite3.Connection) -> int:
    """The highest rowid of ``papers``: rows inserted after this call get higher ones (an upsert that updates
    keeps its row's rowid), so they are the batch's new rows."""
    return int(conn.execute("SELECT coalesce(max(rowid), 0) FROM papers").fetchone()[0])


def index_new_papers(conn: sqlite3.Connection, after: int) -> None:
    """Index the papers inserted since ``last_paper_row`` gave ``after``, in the caller's transaction; nothing
    when there is no index yet (it is built from every row when it is made) or its insert trigger does it."""
    present = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE name IN (?, ?)", (FTS_TABLE, INSERT_TRIGGER))
    }
    if present != {FTS_TABLE}:
        return
    conn.execute(
        f"INSERT INTO {FTS_TABLE}(rowid, title, abstract, authors)"
        " SELECT rowid, title, abstract, authors FROM papers WHERE rowid > ?",
        (after,),
    )
