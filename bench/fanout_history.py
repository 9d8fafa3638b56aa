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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_history import CATEGORIES, NOW, day_feed, write_day  # noqa: E402
from bot import posted_messages  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.outbox import Outbox  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.slack_server import TEAM_ID  # noqa: E402

CARDS = 10  # the default [digest] limit: a header and 10 cards a channel and day (what write_day writes)
TODAY = 999  # today's papers have ids 2999.*; day d before has 2000+d.*


def slack_channel(n: int) -> ChannelRef:
    return ChannelRef("slack", TEAM_ID, f"C{n:05d}")


def build(path: Path, channels: int, days: int) -> None:
    store = Store(path)
    store.migrate()
    posted_messages.migrate(store)
    Outbox(store)  # its migrations
    refs = [slack_channel(n) for n in range(channels)]
    for n, ref in enumerate(refs):  # no time of their own: the default slot, as most channels have
        store.subscribe(Subscription(id=0, channel=ref, category=CATEGORIES[n % len(CATEGORIES)]))
    for d in range(days, 0, -1):  # oldest first, as the days came
        write_day(store, channels, d, NOW.date() - timedelta(days=d), NOW - timedelta(days=d), slack_channel)
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
