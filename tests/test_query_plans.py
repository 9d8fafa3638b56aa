"""Every query a fan-out runs is found by an index on what it filters on (channel, feed, announced day),
so a channel's digest costs the same on the bot's first day and after months of history: checked on
the plans SQLite chooses for the statements of a real fan-out, recorded as they run."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from bot.models import ChannelRef, Subscription
from bot.outbox import Outbox
from bot.scheduler import DigestScheduler
from tests.support import FEED_MORNING, FakeArxiv, make_engine
from tests.support_history import QueryLog, RecordingPoster, recorded_queries

# Tables that grow with every day the bot runs: never read whole, never through the state alone.
HISTORY = (
    "outbox",
    "deliveries",
    "delivered",
    "posted_messages",
    "listings",
    "papers",
    "fetches",
    "explanations",
    "llm_calls",
    "radar_entries",
    "paper_embeddings",
)
# What the schema's bookkeeping reads (its own small tables), not the bot's data.
BOOKKEEPING = ("sqlite_master", "_sqlite_migrations", "CONSTANT ROW")


def _fan_out_twice() -> dict[str, list[str]]:
    """Two days of a 3-channel fan-out: each distinct statement run, with its query plan."""
    return asyncio.run(_two_days())


async def _two_days() -> dict[str, list[str]]:
    days = [FEED_MORNING, FEED_MORNING + timedelta(days=1)]
    fake = FakeArxiv()
    clock = {"now": days[0]}
    engine = make_engine(fake, now=lambda: clock["now"])
    for n in range(3):
        channel = ChannelRef("test", "T1", f"c{n}")
        engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML", time="09:00", timezone="UTC"))
    poster = RecordingPoster(engine.store)
    logs: list[QueryLog] = []
    for now in days:
        clock["now"] = now
        fake.day = now.date()
        scheduler = DigestScheduler(engine, {"test": poster}, now=lambda: clock["now"])
        with recorded_queries(engine.store.db.conn) as log:
            await scheduler.run_slot(("09:00", "UTC"))
            # The reads a restart or a `/paper digest` adds to the same path.
            channel = ChannelRef("test", "T1", "c0")
            Outbox(engine.store).sent_feeds(channel, now.date())
            engine.store.latest_listing_day("stat.ML", now.date())
        logs.append(log)
    assert poster.digests, "the fan-out posted nothing: the test would check no posting query"
    conn = engine.store.db.conn
    # Inserts have no plan to check, but are listed.
    every: dict[str, list[str]] = {shape: [] for log in logs for shape in log.statements}
    return {**every, **logs[0].plans(conn), **logs[1].plans(conn)}


def test_every_fan_out_query_uses_an_index_on_what_it_filters_on() -> None:
    plans = _fan_out_twice()
    problems = []
    for sql, plan in plans.items():
        for line in plan:
            scanned = line.startswith("SCAN ") and not any(b in line for b in BOOKKEEPING)
            if scanned and any(f" {table}" in f" {line.split()[1]}" for table in HISTORY):
                problems.append(f"{line}: {sql[:160]}")
            if "idx_outbox_state_updated_at" in line:
                problems.append(f"state-only index: {sql[:160]}")
    assert not problems, "\n".join(problems)


def test_the_delivery_path_queries_are_all_checked() -> None:
    # The check above is only as good as what the fan-out ran: the queries that grew with history are in it.
    shapes = " | ".join(_fan_out_twice())
    for needed in (
        "SELECT categories FROM outbox WHERE platform",  # Outbox.sent_feeds
        "FROM delivery_channels c JOIN delivered d",  # Store.delivered_ids
        "FROM outbox WHERE key",  # Outbox.get
        "FROM listings l JOIN papers p",  # Store.listed_papers
        "SELECT max(announced) FROM listings",  # Store.latest_listing_day
        "FROM fetches WHERE category",  # Store.last_fetch
        "INSERT OR REPLACE INTO posted_messages",  # what the adapters record
    ):
        assert needed in shapes, needed


def test_sent_feeds_is_found_by_channel_and_day() -> None:
    engine = make_engine()
    Outbox(engine.store)  # its migrations
    plan = engine.store.db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT categories FROM outbox WHERE platform = ? AND workspace = ? AND channel = ?"
        " AND announced = ? AND kind IN (?, ?) AND state = 'sent'",
        ("test", "T1", "c0", date(2024, 3, 26).isoformat(), "digest", "requested"),
    ).fetchall()
    assert "outbox_channel_day (platform=? AND workspace=? AND channel=? AND announced=?" in str(plan)
