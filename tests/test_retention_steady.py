"""Retention reaches a steady state: once every window is full, each table holds a bounded number of rows
(only the compact dedupe record grows), papers go whether or not they were sent, and what still refers
to a paper keeps it, or gets it back from its source."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import posted_messages
from bot.cli import main
from bot.database_space import HEADROOM, INCREMENTAL, auto_vacuum_mode
from bot.models import ChannelRef, Subscription
from bot.posted_messages import MessageKind
from bot.radar import Radar
from bot.retention import RetentionSettings, database_size, prune
from bot.scheduler import DigestScheduler
from bot.sources.arxiv import parse_rss
from bot.store import Store, utcnow
from tests.support import FEED_MORNING, STAT_FEED, FakeArxiv, api_body, make_engine
from tests.support_history import RecordingPoster, history_paper, write_history_day

SHORT = RetentionSettings(outbox_days=3, deliveries_days=3, papers_days=5, posted_messages_days=4)
CHANNELS, PAPERS, SENT = 3, 20, 2
TABLES = ("papers", "papers_fts_docsize", "listings", "deliveries", "outbox", "posted_messages", "fetches")
FIRST = ChannelRef("test", "T1", "c0")


def _store(path: Path | str = ":memory:") -> Store:
    store = Store(path)
    store.migrate()
    posted_messages.migrate(store)
    return store


def _days(store: Store, days: range, end: datetime) -> dict[int, dict[str, int]]:
    """Write and prune each day of ``days`` (the last one is ``end``); rows per table after each day."""
    counts = {}
    for day in days:
        at = end - timedelta(days=days.stop - 1 - day)
        write_history_day(store, day, at, CHANNELS, PAPERS, SENT)
        prune(store, SHORT, now=at)
        counts[day] = {t: store.db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    return counts


def test_rows_per_table_stop_growing_once_the_windows_are_full_and_only_the_dedupe_record_grows() -> None:
    store = _store()
    counts = _days(store, range(1, 31), utcnow())

    assert counts[12] == counts[20] == counts[30]  # papers' window (5 days) and every other one full
    assert counts[30]["papers"] == 6 * PAPERS  # five days' papers and today's
    assert counts[30]["papers_fts_docsize"] == counts[30]["papers"]  # the search index goes with them
    assert counts[30]["fetches"] == 4  # the fetch log is kept as long as the outbox
    delivered = store.db.conn.execute("SELECT count(*) FROM delivered").fetchone()[0]
    assert delivered == 30 * CHANNELS * SENT  # every paper every channel was sent, kept forever
    first_sent = history_paper(1, 0).id
    assert store.get_paper(first_sent) is None  # sent on day 1 and long gone ...
    assert store.delivered_ids(FIRST, [first_sent]) == {first_sent}  # ... but never sent to c0 again


def test_a_liked_paper_and_the_papers_of_a_kept_message_survive_their_window() -> None:
    store = _store()
    liked, shown = history_paper(1, 19).id, history_paper(1, 18).id
    end = utcnow()
    write_history_day(store, 1, end - timedelta(days=20), CHANNELS, PAPERS, SENT)
    Radar(store).like(ChannelRef("test", "T1", "c2"), liked)
    # A compact digest posted recently, naming a paper of day 1 among its cards.
    posted_messages.record(store, FIRST, "compact", MessageKind.DIGEST, papers=[history_paper(1, 0).id, shown])
    _days(store, range(2, 21), end)

    kept = {row[0] for row in store.db.conn.execute("SELECT id FROM papers WHERE id LIKE '2001.%'")}
    assert kept == {liked, shown, history_paper(1, 0).id}


def test_a_sent_paper_pruned_and_then_listed_again_is_not_sent_to_the_channel_again() -> None:
    engine = make_engine(FakeArxiv())
    engine.store.subscribe(Subscription(id=0, channel=FIRST, category="stat.ML", time="09:00", timezone="UTC"))
    poster = RecordingPoster(engine.store)
    scheduler = DigestScheduler(engine, {"test": poster}, now=lambda: FEED_MORNING)
    asyncio.run(scheduler.run_slot(("09:00", "UTC")))
    store = engine.store
    sent = {card.paper_id for _, digest in poster.digests for card in digest.cards}
    store.db.conn.execute("DELETE FROM listings")  # the feed moved on: nothing lists them any more

    prune(store, RetentionSettings(), now=utcnow() + timedelta(days=400))
    assert all(store.get_paper(pid) is None for pid in sent)  # sent long ago: the rows went

    store.save_feed(parse_rss(STAT_FEED, ["stat.ML"]))  # the same announcement served again
    asyncio.run(scheduler.run_slot(("09:00", "UTC")))
    again = {card.paper_id for _, digest in poster.digests[1:] for card in digest.cards}
    assert again and not sent & again


def test_explaining_a_pruned_paper_fetches_it_again_from_its_source() -> None:
    fake = FakeArxiv(api={"1605.08386": api_body("id_1605.08386_s0_m100_199195aa31ad.json")})
    engine = make_engine(fake)
    paper, _ = asyncio.run(engine.lookup("1605.08386"))
    assert fake.count("/api/query") == 1
    prune(engine.store, RetentionSettings(), now=utcnow() + timedelta(days=400))
    assert engine.store.get_paper(paper.id) is None
    word = max(paper.title.split(), key=len).strip(".,:;()")
    found = "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?"
    assert engine.store.db.conn.execute(found, (f'"{word}"',)).fetchone()[0] == 0  # search no longer finds it

    again, _ = asyncio.run(engine.lookup("arXiv:1605.08386"))
    assert (again.id, again.title) == (paper.id, paper.title)
    assert fake.count("/api/query") == 2 and engine.store.get_paper(paper.id) is not None


def test_a_new_database_gives_pruned_space_back_to_the_disk(tmp_path: Path) -> None:
    store = _store(tmp_path / "p.db")
    assert auto_vacuum_mode(store.db.conn) == INCREMENTAL
    old = utcnow() - timedelta(days=200)
    for day in range(1, 6):
        write_history_day(store, day, old + timedelta(days=day), CHANNELS, 400, SENT)
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full, _ = database_size(store)

    prune(store, RetentionSettings(), now=utcnow())
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after, free = database_size(store)
    assert after < full * 0.7  # four days of five went (the latest listing stays)
    assert free <= full * HEADROOM  # at most the headroom stays, for the next days' rows
    store.close()


def test_paperbot_prune_vacuum_switches_an_older_file_to_giving_space_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "p.db"
    with sqlite3.connect(database) as older:  # a file made before incremental auto-vacuum: mode none
        older.execute("CREATE TABLE made_before (x)")
    older.close()
    store = _store(database)
    assert auto_vacuum_mode(store.db.conn) == 0
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{database}"\n')

    assert main(["prune", "--vacuum", "--config", str(config)]) == 0
    assert "Database: " in capsys.readouterr().out
    store = Store(database)
    assert auto_vacuum_mode(store.db.conn) == INCREMENTAL
    store.close()


def test_the_weekly_merge_drops_the_search_indexs_delete_markers() -> None:
    store = _store()
    monday = datetime(2024, 3, 25, 9, tzinfo=UTC)  # the merge runs on Sundays (ordinal % 7 == 0): the 31st
    fts_rows = "SELECT count(*) FROM papers_fts_data"
    days = [monday + timedelta(days=n) for n in range(-30, 6)]  # ends on Saturday: no merge yet
    for n, at in enumerate(days, start=1):
        write_history_day(store, n, at, CHANNELS, 200, SENT)
        prune(store, SHORT, now=at)
    assert all(at.toordinal() % 7 for at in days[-6:])
    grown = store.db.conn.execute(fts_rows).fetchone()[0]

    merge_day = days[-1] + timedelta(days=1)
    assert merge_day.toordinal() % 7 == 0
    write_history_day(store, len(days) + 1, merge_day, CHANNELS, 200, SENT)
    prune(store, SHORT, now=merge_day)

    assert store.db.conn.execute(fts_rows).fetchone()[0] < grown
    store.db.conn.execute("INSERT INTO papers_fts(papers_fts) VALUES ('integrity-check')")  # raises if unsound
    found = "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'estimator'"
    assert store.db.conn.execute(found).fetchone()[0] == store.db["papers"].count
