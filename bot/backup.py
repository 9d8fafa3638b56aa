"""`paperbot backup FILE`: a consistent copy of the live database, safe while the bot runs.

Copying the file with `cp` while the bot writes can catch a page half-way through a transaction, and
misses whatever still sits in the write-ahead log (`paperbot.db-wal`). SQLite's online backup API
copies the database as one reader sees it: in WAL mode a reader holds a snapshot and never blocks the
bot's writers, so the whole copy is taken in one step (a copy in small steps would restart every time
the bot commits, and a busy bot could keep it from ever finishing).

The copy is written next to FILE under a temporary name, checked, and only then renamed to FILE: an
interrupted backup never leaves half a database where a good one (``--force``) used to be.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError, NotFoundError, UsageError
from bot.store import database_error, database_file


@dataclass(frozen=True, slots=True)
class BackupResult:
    source: Path
    target: Path
    size_bytes: int

    def text(self) -> str:
        return f"Backed up {self.source} to {self.target} ({self.size_bytes / 1e6:.1f} MB)."


def backup_database(database_path: str, target: str, *, force: bool = False) -> BackupResult:
    """Copy the database at ``database_path`` (the configured ``[database] path``) to ``target``.

    Typed errors: NotFoundError when there is no database yet; UsageError for a target that exists
    (without ``force``), is a folder, sits in a folder that does not exist, or is the database itself;
    ConfigError for a database SQLite cannot read.
    """
    source = database_file(database_path)
    if not source.is_file():
        raise NotFoundError(f"no database at {database_path!r} yet: nothing to back up")
    destination = _target_file(target, source, force=force)
    try:
        size = _copy(source, destination)
    except sqlite3.Error as err:
        raise database_error(database_path, err) from None
    return BackupResult(source, destination, size)


def _target_file(target: str, source: Path, *, force: bool) -> Path:
    if not target.strip() or "\x00" in target:
        raise UsageError("backup wants the path of the file to write, e.g. paperbot-backup.db")
    file = Path(target).expanduser().absolute()
    if file.is_dir():
        raise UsageError(f"{target!r} is a folder: give a file path, e.g. {target.rstrip('/')}/paperbot-backup.db")
    if not file.parent.is_dir():
        raise UsageError(f"the folder {str(file.parent)!r} does not exist: create it first or fix the path")
    if file.exists() or file.is_symlink():
        if file.exists() and file.resolve() == source.resolve():
            raise UsageError(f"{target!r} is the live database itself: give another file")
        if not force:
            raise UsageError(f"{target!r} already exists: choose another file, or add --force to replace it")
    return file


def _copy(source: Path, destination: Path) -> int:
    """The backup itself, into a temporary file beside ``destination``, renamed over it once checked."""
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent)
    os.close(handle)
    try:
        # Read-only: a backup never changes the live file (nor creates it).
        live = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
        try:
            live.execute("PRAGMA busy_timeout = 5000")
            copy = sqlite3.connect(temporary)
            try:
                live.backup(copy, pages=-1)  # one step: one consistent snapshot (see the module's note)
                # The copy is one self-contained file: no -wal beside it to forget when it is moved.
                copy.execute("PRAGMA journal_mode = DELETE")
                rows = copy.execute("PRAGMA quick_check(1)").fetchall()
                if rows != [("ok",)]:
                    raise ConfigError(f"the copy at {str(destination)!r} did not pass SQLite's check: not kept")
            finally:
                copy.close()
        finally:
            live.close()
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return destination.stat().st_size


__all__ = ["BackupResult", "backup_database"]
