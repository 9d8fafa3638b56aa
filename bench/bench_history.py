"""History benchmark, run by hand: `python bench/bench_history.py [--channels N] [--baseline DIR]`.

1. Fan-out over history: 1,000 channels (each following one of ten arXiv categories) get today's digest
   through the real scheduler, engine and outbox, posted as the adapters post it (a header, then one
   message per card, each recorded in posted_messages), over 1, 10, 30 and 60 days of history written as
   a fan-out writes it (outbox rows, deliveries, posted messages, 2,000 papers and their listings a day).
   The time should stay flat. ``--baseline DIR`` runs the same in a subprocess on the code in DIR (e.g.
   a `git worktree` of main), in the same run.
2. Database size with retention: the same days simulated one after another (``--days``, default 270)
   with the default [retention] pruned daily; the file's size after 30, 90, 180 and 270 days (per
   1,000 channels), what fills it (papers, each channel's history, the dedupe record kept forever) and
   the bytes per row of that record. It levels off once the longest window (papers, 180 days) is full;
   after that only the dedupe record grows. ``--size-only`` skips the fan-out part.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(os.environ.get("PAPERBOT_CODE", ROOT))
sys.path.insert(0, str(CODE))

from bench.scratch import scratch_dir  # noqa: E402
from bot import posted_messages  # noqa: E402
from bot.cards import DigestMessage  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.models import ChannelRef, Feed, FeedItem, Subscription  # noqa: E402
from bot.posted_messages import MessageKind  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from bot.sources.arxiv import ArxivClient, parse_rss  # noqa: E402
from bot.store import Store, outbox_key  # noqa: E402

CATEGORIES = ("cs.LG", "cs.AI", "cs.CL", "cs.CV", "stat.ML", "math.OC", "math.ST", "stat.ME", "eess.SP", "q-bio.QM")
NOW = datetime(2024, 3, 26, 9, 0, tzinfo=UTC)
TEMPLATES = parse_rss((ROOT / "tests" / "data" / "rss-stat-2024-03-26.xml").read_bytes(), ["stat"]).items
PAPERS_PER_DAY = 2000


class AdapterLikePoster:
    """Posts what Slack and Discord post: a header and one message per card, each recorded."""

    platform = "chat"

    def __init__(self, store: Store) -> None:
        self.store, self.n = store, 0

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        for kind, paper in [(MessageKind.HEADER, None), *((MessageKind.CARD, c.paper_id) for c in digest.cards)]:
            self.n += 1
            posted_messages.record(self.store, channel, f"m{self.n}", kind, paper_id=paper)


def day_feed(day_index: int, day: date) -> Feed:
    """A day's 2,000 papers (the recorded abstracts with fresh ids), 200 per category."""
    items = []
    for n in range(PAPERS_PER_DAY):
        template = TEMPLATES[n % len(TEMPLATES)].paper
        category = CATEGORIES[n % len(CATEGORIES)]
        paper = replace(
            template,
            id=f"{day_index + 2000:04d}.{n:05d}",
            categories=(category,),
            primary_category=category,
            announce_type="new",
            announced=day,
        )
        items.append(FeedItem(paper, n // len(CATEGORIES), (category,)))
    return Feed(categories=CATEGORIES, announced=day, items=tuple(items))


def channel(n: int) -> ChannelRef:
    return ChannelRef("chat", "T1", f"C{n:05d}")


def write_day(
    store: Store,
    channels: int,
    day_index: int,
    day: date,
    at: datetime,
    channel_of: Callable[[int], ChannelRef] = channel,
) -> None:
    """What one fan-out leaves behind, written in bulk with that day's times (``channel_of``: the n-th channel)."""
    feed = day_feed(day_index, day)
    store.save_feed(feed, fetched_at=at)
    stamp = at.isoformat()
    conn = store.db.conn
    with store.db.atomic():
        prefix = f"{day_index + 2000:04d}"  # the day's ids, as a range the primary key serves (LIKE scans)
        conn.execute("UPDATE papers SET updated_at = ? WHERE id > ? AND id < ?", (stamp, prefix + ".", prefix + "/"))
        outbox, deliveries, messages = [], [], []
        for n in range(channels):
            ch = channel_of(n)
            category = CATEGORIES[n % len(CATEGORIES)]
            ids = [f"{day_index + 2000:04d}.{k * len(CATEGORIES) + n % len(CATEGORIES):05d}" for k in range(10)]
            key = outbox_key(ch, day, (category,))
            outbox.append(
                (
                    key,
                    ch.platform,
                    ch.workspace,
                    ch.channel,
                    day.isoformat(),
                    category,
                    str(ids).replace("'", '"'),
                    stamp,
                )
            )
            deliveries += [(ch.platform, ch.workspace, ch.channel, pid, day.isoformat(), stamp) for pid in ids]
            messages += [
                (
                    ch.platform,
                    ch.workspace,
                    ch.channel,
                    f"{key}:{k}",
                    "card" if k else "header",
                    ids[k - 1] if k else None,
                    stamp,
                )
                for k in range(11)
            ]
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
            " paper_ids, attempts, created_at, updated_at) VALUES (?,?,?,?,?,?,'digest','sent',?,1,?,?)",
            [(*row, row[-1]) for row in outbox],
        )
        conn.executemany("INSERT OR IGNORE INTO deliveries VALUES (?,?,?,?,?,?)", deliveries)
        if "delivered" in store.db.table_names():  # the compact dedupe record, where the code has one
            conn.executemany(
                "INSERT OR IGNORE INTO delivery_channels (platform, workspace, channel) VALUES (?,?,?)",
                {(p, w, c) for p, w, c, *_ in deliveries},
            )
            conn.execute(
                "INSERT OR IGNORE INTO delivered SELECT c.id, d.paper_id FROM deliveries d JOIN delivery_channels c"
                " ON c.platform = d.platform AND c.workspace = d.workspace AND c.channel = d.channel"
                " WHERE d.announced = ?",
                (day.isoformat(),),
            )
        conn.executemany(
            "INSERT OR REPLACE INTO posted_messages (platform, workspace, channel, message_id, kind, paper_id,"
            " posted_at) VALUES (?,?,?,?,?,?,?)",
            messages,
        )


def add_history(
    store: Store, channels: int, today: datetime, channel_of: Callable[[int], ChannelRef], days: int = 30
) -> None:
    """``days`` of history before ``today`` as fan-outs leave it (the other benchmarks select over this)."""
    posted_messages.migrate(store)
    from bot.outbox import Outbox

    Outbox(store)  # its migrations
    for d in range(days, 0, -1):
        at = today - timedelta(days=d)
        write_day(store, channels, d, at.date(), at, channel_of)
    store.clear_caches()


def fresh_store(channels: int) -> Store:
    store = Store(scratch_dir() / "history.db")
    store.migrate()
    posted_messages.migrate(store)
    from bot.outbox import Outbox

    Outbox(store)  # its migrations
    for n in range(channels):
        store.subscribe(
            Subscription(id=0, channel=channel(n), category=CATEGORIES[n % 10], time="09:00", timezone="UTC")
        )
    return store


async def fan_out(store: Store) -> float:
    config = Config(values=validate({}), source="bench", env={})
    engine = Engine(
        config, store, ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query"), now=lambda: NOW
    )
    scheduler = DigestScheduler(engine, {"chat": AdapterLikePoster(store)}, now=lambda: NOW)
    start = time.perf_counter()
    await scheduler.run_slot(("09:00", "UTC"))
    seconds = time.perf_counter() - start
    await engine.arxiv.aclose()
    return seconds


def undo_today(store: Store, today_ids: str) -> None:
    """Forget today's fan-out, so the next measurement posts the same digests again."""
    conn = store.db.conn
    with store.db.atomic():
        conn.execute("DELETE FROM outbox WHERE announced = ?", (NOW.date().isoformat(),))
        conn.execute("DELETE FROM deliveries WHERE announced = ?", (NOW.date().isoformat(),))
        conn.execute("DELETE FROM posted_messages WHERE message_id LIKE 'm%'")
        if "delivered" in store.db.table_names():
            conn.execute("DELETE FROM delivered WHERE paper_id LIKE ?", (today_ids,))


def bench_fan_out(channels: int, marks: tuple[int, ...]) -> list[tuple[int, float]]:
    store = fresh_store(channels)
    today = 999  # today's papers: ids 2999.*
    store.save_feed(day_feed(today, NOW.date()), fetched_at=NOW)
    results, written = [], 0
    for mark in marks:
        while written < mark:
            written += 1
            day = NOW.date() - timedelta(days=written)
            write_day(store, channels, written, day, NOW - timedelta(days=written))
        seconds = asyncio.run(fan_out(store))
        posted = store.db.conn.execute("SELECT count(*) FROM posted_messages WHERE message_id LIKE 'm%'").fetchone()
        assert posted[0] == channels * 11, posted
        results.append((mark, seconds))
        undo_today(store, f"{today + 2000:04d}.%")
    return results


# What fills the file, by table family: papers (with their search index) scale with the feeds followed,
# the history with the channels, and the dedupe record with both and with time.
FAMILIES = {
    "papers": ("papers", "papers_fts", "listings", "explanations", "paper_embeddings"),
    "channel history": ("outbox", "deliveries", "posted_messages", "digest_posts", "briefings"),
    "dedupe record": ("delivered", "delivery_channels"),
}


def _family(name: str) -> str:
    for family, prefixes in FAMILIES.items():
        if any(name == p or name.startswith(p + "_") or name == f"sqlite_autoindex_{p}_1" for p in prefixes):
            return family
    return "other"


def space(store: Store) -> dict[str, float]:
    """MB per family of tables (with their indexes), from SQLite's own page accounting (dbstat)."""
    found: dict[str, float] = {}
    for name, size in store.db.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        found[_family(name)] = found.get(_family(name), 0.0) + size / 1e6
    return found


def bench_size(channels: int, days: int, marks: tuple[int, ...]) -> tuple[list[tuple[int, float, float]], Store]:
    """(day, MB on disk, MB of it free) at each mark, and the store as the last day left it."""
    from bot.retention import RetentionSettings, database_size, prune  # this code's retention

    store = fresh_store(channels)
    start = datetime.now(UTC) - timedelta(days=days)
    sizes = []
    for d in range(1, days + 1):
        at = start + timedelta(days=d)
        write_day(store, channels, d, at.date(), at)
        prune(store, RetentionSettings(), now=at)
        if d in marks:
            store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            on_disk, free = database_size(store)
            sizes.append((d, on_disk / 1e6, free / 1e6))
    return sizes, store


def report_size(channels: int, days: int) -> None:
    started = time.perf_counter()
    marks = tuple(d for d in (30, 60, 90, 180, 270, days) if d <= days)
    sizes, store = bench_size(channels, days, tuple(sorted(set(marks))))
    took = time.perf_counter() - started
    print(f"database with the default [retention], {channels} channels, 2,000 papers a day ({took:.0f} s):")
    print("  " + ", ".join(f"after {d} days {mb:.0f} MB ({free:.0f} free)" for d, mb, free in sizes))
    parts = space(store)
    print("  after the last day: " + ", ".join(f"{family} {mb:.0f} MB" for family, mb in sorted(parts.items())))
    rows = store.db.conn.execute("SELECT count(*) FROM delivered").fetchone()[0]
    record = store.db.conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'delivered'").fetchone()[0] or 0
    per_row = record / max(rows, 1)
    per_year = per_row * 10 * channels * 365 / 1e6
    print(
        f"  dedupe record (kept forever): {rows} rows, {per_row:.1f} bytes a row;"
        f" at 10 papers a channel a day, {per_year:.0f} MB a year per {channels} channels"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--baseline", help="a checkout to measure the same way, in the same run")
    parser.add_argument("--fan-out-only", action="store_true")
    parser.add_argument("--size-only", action="store_true")
    parser.add_argument("--days", type=int, default=270, help="days simulated for the size (default 270)")
    args = parser.parse_args()
    if args.size_only:
        report_size(args.channels, args.days)
        return
    marks = (1, 10, 30, 60)
    label = "this code" if CODE == ROOT else f"baseline {CODE}"
    baseline = None
    if args.baseline:
        env = {**os.environ, "PAPERBOT_CODE": args.baseline}
        command = [sys.executable, __file__, "--channels", str(args.channels), "--fan-out-only"]
        baseline = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    ours = bench_fan_out(args.channels, marks)
    print(f"fan-out of {args.channels} channels (header + 10 cards each), {label}:")
    print("  " + ", ".join(f"{days} days of history {s:.2f} s" for days, s in ours), flush=True)
    if baseline is not None:
        out, _ = baseline.communicate()
        print(out.rstrip(), flush=True)
    if not args.fan_out_only:
        report_size(args.channels, args.days)


if __name__ == "__main__":
    main()
