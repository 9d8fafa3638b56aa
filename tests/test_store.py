"""The SQLite store: migrations, latest versions, feeds stored atomically, subscriptions, deliveries."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.models import ChannelRef, Feed, FeedItem, Paper, Subscription
from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.support import STAT_FEED

CHANNEL = ChannelRef("slack", "T1", "C1")


def _paper(version: int, title: str = "A title") -> Paper:
    return Paper(
        id="2604.11422",
        version=version,
        title=title,
        authors=("A. Author",),
        categories=("cs.LG",),
        primary_category="cs.LG",
        abstract="Text.",
    )


def test_migrations_are_named_and_rerunnable(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    store.migrate()
    names = [r["name"] for r in store.db["_sqlite_migrations"].rows]
    assert names[:6] == [
        "m001_papers",
        "m002_listings_and_fetches",
        "m003_subscriptions_and_deliveries",
        "m004_explanations_and_llm_ledger",
        "m005_outbox",
        "m006_abstract_tex_only_when_different",
    ]
    assert len(names) == len(set(names))
    assert store.db.journal_mode == "wal"
    assert {"papers", "listings", "fetches", "subscriptions", "deliveries", "digest_posts"} <= set(
        store.db.table_names()
    )


def test_unopenable_database_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConfigError, match=r"\[database\] path"):
        Store(tmp_path / "dir.db")


def test_papers_keep_their_latest_version() -> None:
    store = Store(":memory:")
    store.migrate()
    store.save_papers([_paper(2, "v2 title")])
    store.save_papers([_paper(1, "old title")])  # an older copy arriving late changes nothing
    stored = store.get_paper("2604.11422")
    assert stored is not None and (stored.version, stored.title) == (2, "v2 title")
    store.save_papers([_paper(3, "v3 title")])
    stored = store.get_paper("2604.11422")
    assert stored is not None and (stored.version, stored.title) == (3, "v3 title")


def test_feed_round_trip_keeps_every_field_and_order() -> None:
    store = Store(":memory:")
    store.migrate()
    feed = parse_rss(STAT_FEED, ["stat"])
    store.save_feed(feed)
    listed = store.listed_papers("stat", date(2024, 3, 26))
    assert [p.id for p in listed] == [i.paper.id for i in feed.items]
    first = feed.items[0].paper
    assert listed[0] == replace(first, announced=date(2024, 3, 26))
    record = store.last_fetch("stat")
    assert record is not None and record.items == 123 and record.announced == date(2024, 3, 26)


def test_a_failing_feed_write_leaves_the_store_untouched() -> None:
    store = Store(":memory:")
    store.migrate()
    good = parse_rss(STAT_FEED, ["stat"])
    broken_item = FeedItem(paper=replace(good.items[0].paper, title=None), position=0, listed_in=("stat",))  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - any database error: what matters is what is left
        store.save_feed(Feed(categories=("stat",), announced=good.announced, items=(*good.items[1:], broken_item)))
    assert store.db["papers"].count == 0 and store.db["listings"].count == 0 and store.last_fetch("stat") is None


def test_subscriptions_are_unique_per_channel_and_category() -> None:
    store = Store(":memory:")
    store.migrate()
    sub, created = store.subscribe(Subscription(id=0, channel=CHANNEL, category="cs.LG", time="09:00"))
    assert created and sub.time == "09:00"
    again, created = store.subscribe(replace(sub, timezone="Europe/Berlin"))
    assert not created and again.id == sub.id and again.timezone == "Europe/Berlin"
    store.pause(CHANNEL, "channel_not_found")
    assert store.channel_subscriptions(CHANNEL)[0].paused_reason == "channel_not_found"
    assert store.unsubscribe(CHANNEL, "cs.LG") and not store.unsubscribe(CHANNEL, "cs.LG")


def test_deliveries_are_recorded_once() -> None:
    store = Store(":memory:")
    store.migrate()
    day = date(2024, 3, 26)
    store.record_delivery(CHANNEL, day, ["cs.LG"], ["a", "b"])
    store.record_delivery(CHANNEL, day, ["cs.LG"], ["a", "b"])
    assert store.db["deliveries"].count == 2
    assert store.delivered_ids(CHANNEL, ["a", "c"]) == {"a"}
    assert store.digest_posted(CHANNEL, day, ["cs.LG"])
    assert not store.digest_posted(CHANNEL, day, ["math.OC"])
    assert store.delivered_ids(ChannelRef("slack", "T1", "C2"), ["a"]) == set()
