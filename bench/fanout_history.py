"""A database as a running bot has it on the morning of a fan-out: CHANNELS Slack channels (each following one
of ten arXiv categories, at the default time), DAYS days of earlier fan-outs behind them (outbox rows,
deliveries, posted messages, 2,000 papers and their listings a day, as `bench/bench_history.py` writes
them) and today's 2,000 papers fetched.

Built once per (channels, days) in a process of its own, so that its memory is not counted as the bot's,
then copied for each run: `python -m bench.fanout_history PATH CHANNELS DAYS` builds one by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_history import CATEGORIES, NOW, day_feed  # noqa: E402
from bot import posted_messages  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.outbox import Outbox  # noqa: E402
from bot.store import Store, outbox_key  # noqa: E402
from tests.fakes.slack_server import TEAM_ID  # noqa: E402

TODAY = 999  # today's papers have ids 2999.*; day d before has 2000+d.*
CARDS = 10  # the default [digest] limit: a header and 10 cards a channel and day


def slack_channel(n: int) -> ChannelRef:
    return ChannelRef("slack", TEAM_ID, f"C{n:05d}")


def write_day(store: Store, refs: list[ChannelRef], day_index: int, day: date, at: datetime) -> None:
    """What one day's fan-out to ``refs`` leaves behind, written in bulk with that day's times."""
    store.save_feed(day_feed(day_index, day), fetched_at=at)
    stamp = at.isoformat()
    prefix = f"{day_index + 2000:04d}"
    conn = store.db.conn
    with store.db.atomic():
        conn.execute("UPDATE papers SET updated_at = ? WHERE id LIKE ?", (stamp, f"{prefix}.%"))
        outbox, deliveries, messages = [], [], []
        for n, ref in enumerate(refs):
            category = CATEGORIES[n % len(CATEGORIES)]
            ids = [f"{prefix}.{k * len(CATEGORIES) + n % len(CATEGORIES):05d}" for k in range(CARDS)]
            key = outbox_key(ref, day, (category,))
            row = (key, ref.platform, ref.workspace, ref.channel, day.isoformat(), category)
            outbox.append((*row, str(ids).replace("'", '"'), stamp, stamp))
            deliveries += [(ref.platform, ref.workspace, ref.channel, pid, day.isoformat(), stamp) for pid in ids]
            messages += [
                (ref.platform, ref.workspace, ref.channel, f"{day_index}.{n}.{k}", "card" if k else "header",
                 ids[k - 1] if k else None, stamp)
                for k in range(CARDS + 1)
            ]  # fmt: skip
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
            " paper_ids, attempts, created_at, updated_at) VALUES (?,?,?,?,?,?,'digest','sent',?,1,?,?)",
            outbox,
        )
        conn.executemany("INSERT OR IGNORE INTO deliveries VALUES (?,?,?,?,?,?)", deliveries)
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


def build(path: Path, channels: int, days: int) -> None:
    store = Store(path)
    store.migrate()
    posted_messages.migrate(store)
    Outbox(store)  # its migrations
    refs = [slack_channel(n) for n in range(channels)]
    for n, ref in enumerate(refs):  # no time of their own: the default slot, as most channels have
        store.subscribe(Subscription(id=0, channel=ref, category=CATEGORIES[n % len(CATEGORIES)]))
    for d in range(days, 0, -1):  # oldest first, as the days came
        write_day(store, refs, d, NOW.date() - timedelta(days=d), NOW - timedelta(days=d))
    store.save_feed(day_feed(TODAY, NOW.date()), fetched_at=NOW)
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.conn.close()


_templates: dict[tuple[int, int], Path] = {}


def history_database(channels: int, days: int) -> Path:
    """A fresh copy of the database for ``channels`` and ``days`` (the template is built once per process)."""
    template = _templates.get((channels, days))
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="paperbot-bench-")) / f"history-{channels}-{days}.db"
        command = [sys.executable, "-m", "bench.fanout_history", str(template), str(channels), str(days)]
        subprocess.run(command, cwd=ROOT, check=True)
        _templates[(channels, days)] = template
    copy = Path(tempfile.mkdtemp(prefix="paperbot-bench-")) / "fanout.db"
    shutil.copyfile(template, copy)
    return copy


def discard(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


def discard_templates() -> None:
    for template in _templates.values():
        discard(template)
    _templates.clear()


if __name__ == "__main__":
    build(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
