"""The outbox table: its own named migrations, the indexes its queries use, and rows of every kind
holding what draws them again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.commands import Invocation, dispatch
from bot.delivery import message_for, send_reply
from bot.models import ChannelRef, Subscription
from bot.outbox import Kind, Outbox, briefing_key, migrations
from bot.store import Store
from tests.support import make_engine

CHANNEL = ChannelRef("test", "w", "c1")
DAY = date(2024, 3, 26)


def test_the_outbox_migrations_are_named_and_rerunnable(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    Outbox(store)
    migrations.apply(store.db)
    assert [m.name for m in migrations.applied(store.db)] == [
        "m001_outbox_payload",
        "m002_outbox_recent_index",
        "m003_outbox_channel_day_index",
    ]
    assert "payload" in store.db["outbox"].columns_dict
    store.close()
    reopened = Store(tmp_path / "p.db")  # an existing database: nothing applied twice
    reopened.migrate()
    Outbox(reopened)
    assert len(migrations.applied(reopened.db)) == 3


def test_the_status_queries_search_an_index_never_scan_the_table() -> None:
    store = Store(":memory:")
    store.migrate()
    outbox = Outbox(store)
    for n in range(200):  # enough rows for a scan to be a real choice
        row = outbox.plan(ChannelRef("test", "w", f"c{n}"), DAY, ("stat.ML",), ["2403.00001"])
        if n % 3 == 0:
            outbox.failed(row.key, "HTTP 503")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)  # the SQL each method runs, values bound
    since = datetime.now(UTC) - timedelta(hours=24)
    assert outbox.counts_since(since) == {"planned": 133, "failed": 67}
    outbox.failures_since(since)
    outbox.unfinished()
    store.db.conn.set_trace_callback(None)
    assert len(statements) == 3
    for sql in statements:
        plan = " | ".join(str(r[3]) for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH outbox USING" in plan and "INDEX" in plan and "SCAN outbox" not in plan, (sql, plan)


async def test_a_requested_digest_is_counted_once_in_the_status() -> None:
    engine = make_engine()
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat.ML"))
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    posted: list[object] = []

    async def send(r: object) -> None:
        posted.append(r)

    await send_reply(engine, reply, send)
    outbox = Outbox(engine.store)
    assert outbox.counts_since(datetime.now(UTC) - timedelta(hours=1)) == {"sent": 1}
    kinds = {r[0]: r[1] for r in engine.store.db.conn.execute("SELECT kind, state FROM outbox")}
    assert kinds == {"digest": "sent", "requested": "sent"}
    again = await dispatch(engine, Invocation(channel=CHANNEL), "/paper digest")
    assert again.digest is None and "already posted here" in again.text


def test_each_kind_is_drawn_from_its_row() -> None:
    engine = make_engine()
    outbox = Outbox(engine.store)
    quiet = outbox.plan(CHANNEL, DAY, ("stat.ML",), [], Kind.QUIET, note="No arXiv announcement today.")
    report = outbox.plan(CHANNEL, DAY, (), [], Kind.REPORT, note="paperbot: problems", discriminator="09:00 UTC")
    quiet_message, report_message = message_for(engine, quiet), message_for(engine, report)
    assert quiet_message.is_note and quiet_message.note == "No arXiv announcement today."
    assert quiet_message.announced == DAY and quiet_message.categories == ("stat.ML",)
    assert report_message.is_note and report_message.note == "paperbot: problems" and report_message.announced is None
    assert report.key.endswith(":report:09:00 UTC") and quiet.key.endswith(":quiet")


def test_a_briefing_row_holds_its_text_and_the_digest_it_opens() -> None:
    engine = make_engine()
    outbox = Outbox(engine.store)
    digest = outbox.plan(CHANNEL, DAY, ("stat.ML", "hf"), ["2403.00001"])
    row = outbox.plan(CHANNEL, DAY, ("hf", "stat.ML"), [], Kind.BRIEFING, note="Briefing · 1 paper", opens=digest.key)
    again = outbox.get(row.key)
    assert again is not None and again.opens == digest.key and again.note == "Briefing · 1 paper"
    assert row.key == briefing_key(CHANNEL, DAY, ("stat.ML", "hf"), Kind.DIGEST) == f"{digest.key}:briefing"
    assert briefing_key(CHANNEL, DAY, ("hf", "stat.ML"), Kind.REQUESTED).endswith(":briefing:requested")
    message = message_for(engine, row)
    assert message.is_note and message.note == "Briefing · 1 paper" and message.announced == DAY
    replanned = outbox.replan(row.key, [], note="Briefing · 2 papers", opens=digest.key)
    assert replanned.note == "Briefing · 2 papers" and replanned.opens == digest.key and replanned.state == "sending"
