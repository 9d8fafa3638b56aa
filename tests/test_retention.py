"""Retention: the daily prune removes what [retention] no longer keeps, and never what dedupe needs (a
paper a channel was sent is never sent to it again), nor a digest still to be posted."""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot import posted_messages
from bot.cli import main
from bot.errors import ConfigError
from bot.models import ChannelRef, Subscription
from bot.outbox import Outbox
from bot.posted_messages import MessageKind
from bot.radar import Radar
from bot.retention import RetentionSettings, database_size, prune, size_line
from bot.scheduler import DigestScheduler
from bot.status import status_report
from bot.store import Store, utcnow
from tests.support import FEED_MORNING, FakeArxiv, make_config, make_engine
from tests.support_history import RecordingPoster

CHANNEL = ChannelRef("test", "T1", "c0")
DAY = date(2024, 3, 26)
SETTINGS = RetentionSettings()
LATER = timedelta(days=400)  # past every default


def _fan_out(engine_store: Store | None = None) -> tuple[RecordingPoster, DigestScheduler]:
    engine = make_engine(FakeArxiv(), store=engine_store)
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat.ML", time="09:00", timezone="UTC"))
    poster = RecordingPoster(engine.store)
    scheduler = DigestScheduler(engine, {"test": poster}, now=lambda: FEED_MORNING)
    asyncio.run(scheduler.run_slot(("09:00", "UTC")))
    return poster, scheduler


def test_a_paper_sent_to_a_channel_is_never_sent_again_once_its_history_is_pruned() -> None:
    poster, scheduler = _fan_out()
    store = scheduler.engine.store
    sent = {card.paper_id for _, digest in poster.digests for card in digest.cards}
    assert len(sent) == 10
    report = prune(store, SETTINGS, now=utcnow() + LATER)
    assert report.removed["outbox rows"] == 1 and report.removed["deliveries"] == 10
    assert store.db["deliveries"].count == 0 and store.db["outbox"].count == 0
    # The same announcement again (a feed that went quiet): nothing of it reaches the channel twice.
    asyncio.run(scheduler.run_slot(("09:00", "UTC")))
    again = [card.paper_id for _, digest in poster.digests[1:] for card in digest.cards]
    assert not sent & set(again)
    assert store.delivered_ids(CHANNEL, sent) == sent
    assert all(store.get_paper(pid) is not None for pid in sent)  # a paper a channel got is kept


def test_recent_history_and_unfinished_digests_are_kept() -> None:
    store = Store(":memory:")
    store.migrate()
    outbox = Outbox(store)
    planned = outbox.plan(CHANNEL, DAY, ("stat.ML",), ["2403.15527"])
    done = outbox.plan(ChannelRef("test", "T1", "c1"), DAY, ("stat.ML",), [])
    outbox.mark_sent(done.key)
    assert prune(store, SETTINGS, now=utcnow() + timedelta(days=89)).removed.get("outbox rows") == 0
    prune(store, SETTINGS, now=utcnow() + LATER)
    assert outbox.get(done.key) is None
    assert outbox.get(planned.key) is not None  # a restart still posts it


def test_papers_no_one_got_go_after_papers_days_with_their_listings_and_search_rows() -> None:
    poster, scheduler = _fan_out()
    store = scheduler.engine.store
    sent = {card.paper_id for _, digest in poster.digests for card in digest.cards}
    listed = {p.id for p in store.listed_papers("stat.ML", DAY)}
    liked = sorted(listed - sent)[0]
    Radar(store).like(ChannelRef("test", "T1", "c9"), liked)
    # An older listing of the same feed, not its latest: pruned with the papers only it holds.
    store.db.conn.execute("UPDATE listings SET announced = '2024-01-02' WHERE paper_id = ?", (liked,))
    store.db.conn.execute(
        "INSERT INTO listings (category, announced, paper_id, announce_type, position)"
        " SELECT category, '2024-01-02', paper_id, announce_type, position FROM listings WHERE announced = ?",
        (DAY.isoformat(),),
    )
    store.clear_caches()
    assert prune(store, SETTINGS, now=utcnow() + timedelta(days=179)).removed.get("papers") == 0
    prune(store, SETTINGS, now=utcnow() + LATER)
    assert {p.id for p in store.listed_papers("stat.ML", DAY)} == listed - {liked}  # the latest day stays
    kept = {row[0] for row in store.db.conn.execute("SELECT id FROM papers")}
    assert sent | listed <= kept
    assert liked in kept  # listed only on a pruned day, but a radar likes it
    assert store.db.conn.execute("SELECT count(*) FROM listings WHERE announced = '2024-01-02'").fetchone()[0] == 0


def test_a_paper_in_no_listing_no_delivery_and_no_radar_goes_with_its_search_row() -> None:
    poster, scheduler = _fan_out()
    store = scheduler.engine.store
    sent = {card.paper_id for _, digest in poster.digests for card in digest.cards}
    orphan = next(p for p in store.listed_papers("stat.ML", DAY) if p.id not in sent)
    store.db.conn.execute("DELETE FROM listings WHERE paper_id = ?", (orphan.id,))
    store.db.conn.execute("DELETE FROM posted_messages WHERE paper_id = ?", (orphan.id,))
    fts = "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?"
    title_word = next(w for w in orphan.title.split() if w.isalpha() and len(w) > 6)
    before = store.db.conn.execute(fts, (title_word,)).fetchone()[0]
    report = prune(store, SETTINGS, now=utcnow() + LATER)
    assert report.removed["papers"] >= 1
    assert store.get_paper(orphan.id) is None
    assert store.db.conn.execute(fts, (title_word,)).fetchone()[0] == before - 1
    assert all(store.get_paper(pid) is not None for pid in sent)


def test_posted_messages_are_kept_for_their_days() -> None:
    store = Store(":memory:")
    store.migrate()
    posted_messages.record(store, CHANNEL, "m1", MessageKind.CARD, paper_id="2403.15527")
    short = RetentionSettings(posted_messages_days=10)
    assert prune(store, short, now=utcnow() + timedelta(days=9)).removed["posted messages"] == 0
    assert prune(store, short, now=utcnow() + timedelta(days=11)).removed["posted messages"] == 1
    assert posted_messages.find(store, CHANNEL, "m1") is None


def test_the_full_text_cache_is_trimmed_to_its_size_oldest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    folder = tmp_path / "fulltext"
    folder.mkdir()
    for n in range(5):
        page = folder / f"2403.0000{n}v1.json"
        page.write_bytes(b"x" * 400_000)
        os.utime(page, (1_700_000_000 + n, 1_700_000_000 + n))
    report = prune(store, RetentionSettings(cache_mb=1), now=utcnow())
    assert report.removed["cached full texts"] == 3
    assert sorted(p.name for p in folder.iterdir()) == ["2403.00003v1.json", "2403.00004v1.json"]
    store.close()


def test_the_fetch_log_keeps_each_feeds_latest_fetches() -> None:
    store = Store(":memory:")
    store.migrate()
    old = utcnow() - timedelta(days=200)
    store.record_fetch_error(["stat.ML"], "HTTP 503", at=old)
    store.record_fetch_error(["cs.LG"], "HTTP 503", at=old)
    store.record_fetch_error(["cs.LG"], "HTTP 503", at=old + timedelta(days=1))
    prune(store, SETTINGS, now=utcnow())
    assert store.db["fetches"].count == 2  # the latest of each feed
    assert store.last_fetch("cs.LG", ok_only=False) is not None


def test_status_shows_the_database_size(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    engine = make_engine(store=store)
    on_disk, _ = database_size(store)
    assert on_disk > 0
    assert status_report(engine).splitlines()[-1].startswith("Database: ")
    assert "Database:" not in status_report(engine, CHANNEL)  # a channel's report is about the channel
    assert size_line(store).endswith("MB free for reuse)")
    store.close()


def test_paperbot_prune_prints_what_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "p.db"}"\n')
    existing = Store(str(tmp_path / "p.db"))
    existing.migrate()
    existing.close()
    assert main(["prune", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Pruned: nothing" in out and "Database: " in out


def test_paperbot_prune_without_a_database_creates_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "p.db"}"\n')
    assert main(["prune", "--config", str(config)]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert not (tmp_path / "p.db").exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("outbox_days", 3, "[retention] outbox_days = 3 is not allowed"),
        ("papers_days", "180", "[retention] papers_days must be an integer"),
        ("prune_at", "4:30", "[retention] prune_at = '4:30' is not allowed"),
        ("keep_forever", True, "unknown key [retention] keep_forever"),
    ],
)
def test_retention_settings_are_checked_at_start(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^config: ") as caught:
        make_config(retention={key: value})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_retention_settings_come_from_the_config() -> None:
    config = make_config(retention={"outbox_days": 30, "cache_mb": 5})
    settings = RetentionSettings.from_config(config)
    assert (settings.outbox_days, settings.cache_mb, settings.papers_days) == (30, 5, 180)
