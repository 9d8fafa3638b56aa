"""`paperbot backup FILE`, run as a subprocess: a consistent copy of the live database while another
process keeps writing to it, that never replaces an existing file unless asked to."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from bot.models import ChannelRef, Subscription
from bot.store import Store

ROOT = Path(__file__).parent.parent


def _paperbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    command = [sys.executable, "-m", "bot", *args, "--config", str(config)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _config(tmp_path: Path, database: Path) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\npath = "{database}"\n')
    return config


def _subscribe(store: Store, n: int) -> None:
    store.subscribe(Subscription(id=0, channel=ChannelRef("slack", "T1", f"C{n:06d}"), category="cs.LG"))


def _subscriptions(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0])


def test_backup_while_another_writer_commits_is_a_sound_copy_holding_the_rows(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    store = Store(database)
    store.migrate()
    for n in range(200):
        _subscribe(store, n)
    # The bot, as another connection writing all along: the backup must neither wait for it to stop
    # nor copy a half-written page.
    writing, stop = threading.Event(), threading.Event()
    written = [200]

    def writer() -> None:
        live = Store(database)
        try:
            while not stop.is_set():
                with live.db.atomic():
                    for _ in range(10):
                        _subscribe(live, written[0])
                        written[0] += 1
                writing.set()
        finally:
            live.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert writing.wait(30)
    before = written[0] - 10  # committed before the backup started (the last batch may be in flight)
    target = tmp_path / "copy.db"
    try:
        result = _paperbot(_config(tmp_path, database), "backup", str(target))
    finally:
        stop.set()
        thread.join(30)
    store.close()
    assert result.returncode == 0, result.stderr
    assert "Backed up" in result.stdout and str(target) in result.stdout
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    copied = _subscriptions(target)
    assert before <= copied <= written[0]
    assert copied % 10 == 0  # whole transactions only: the writer commits ten rows at a time
    assert not list(tmp_path.glob(".copy.db.*"))  # no temporary file left behind


def test_backup_refuses_to_overwrite_a_file_unless_forced(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    store = Store(database)
    store.migrate()
    _subscribe(store, 1)
    store.close()
    config = _config(tmp_path, database)
    target = tmp_path / "old-backup.db"
    target.write_bytes(b"yesterday's backup")

    refused = _paperbot(config, "backup", str(target))
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert target.read_bytes() == b"yesterday's backup"

    forced = _paperbot(config, "backup", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert _subscriptions(target) == 1


def test_backup_without_a_database_or_onto_itself_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    missing = _paperbot(_config(tmp_path, database), "backup", str(tmp_path / "copy.db"))
    assert missing.returncode == 1
    assert "nothing to back up" in missing.stderr
    assert not database.exists()  # a backup never creates the database

    store = Store(database)
    store.migrate()
    store.close()
    config = _config(tmp_path, database)
    onto_itself = _paperbot(config, "backup", str(database), "--force")
    assert onto_itself.returncode == 2 and "live database itself" in onto_itself.stderr
    no_folder = _paperbot(config, "backup", str(tmp_path / "nowhere" / "copy.db"))
    assert no_folder.returncode == 2 and "does not exist" in no_folder.stderr
