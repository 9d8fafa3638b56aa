"""A paper saved again unchanged on the same day is not rewritten; a changed one, or one saved on a later
day (retention prunes by the day of ``updated_at``), is."""

from __future__ import annotations

from dataclasses import replace

from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.support import STAT_FEED


def _store() -> Store:
    store = Store(":memory:")
    store.migrate()
    return store


def _row_writes(store: Store) -> int:
    return int(store.db.conn.total_changes)


def test_a_paper_listed_again_unchanged_is_not_rewritten() -> None:
    store = _store()
    papers = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items]
    store.save_papers(papers)
    before = _row_writes(store)
    store.save_papers(papers)  # the same papers, as a second category's feed brings them
    assert _row_writes(store) == before


def test_a_changed_paper_is_rewritten_and_only_it() -> None:
    store = _store()
    papers = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items]
    store.save_papers(papers)
    before = _row_writes(store)
    # A field the search index does not hold: its triggers write nothing, so one row written is one change.
    changed = replace(papers[3], comment="12 pages", version=papers[3].version + 1)
    store.save_papers([*papers[:3], changed, *papers[4:]])
    assert _row_writes(store) - before == 1
    stored = store.get_paper(changed.id)
    assert stored is not None and (stored.comment, stored.version) == ("12 pages", changed.version)


def test_a_paper_listed_again_on_a_later_day_is_stamped_again() -> None:
    store = _store()
    papers = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items][:5]
    store.save_papers(papers)
    store.db.conn.execute("UPDATE papers SET updated_at = '2020-01-01T00:00:00+00:00'")
    before = _row_writes(store)
    store.save_papers(papers)
    assert _row_writes(store) - before == len(papers)
    stamps = {row[0][:10] for row in store.db.conn.execute("SELECT updated_at FROM papers")}
    assert "2020-01-01" not in stamps


def _matches(store: Store, word: str) -> int:
    return int(store.db.conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?", (word,)).fetchone()[0])


def test_new_papers_are_indexed_with_their_batch_and_only_once() -> None:
    store = _store()
    papers = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items]
    store.save_papers(papers[:50])
    first = _matches(store, "conformal")
    store.save_papers(papers)  # 50 known (not indexed again), the rest new
    store.db.conn.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES ('integrity-check', 1)")
    trigger = Store(":memory:")
    trigger.migrate()
    from bot import search_index

    search_index.m001_papers_fts(trigger.db)  # run again by hand: its insert trigger is back, and it alone indexes
    trigger.save_papers(papers)
    trigger.db.conn.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES ('integrity-check', 1)")
    # The integrity checks above fail on a row indexed twice or not at all.
    assert 0 < first < _matches(store, "conformal") == _matches(trigger, "conformal")
