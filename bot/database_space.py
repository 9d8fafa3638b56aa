"""How much disk the database takes, and giving pruned space back.

A DELETE in SQLite leaves the freed pages inside the file, on its free list: the next rows reuse them
before the file grows again. So with a daily prune the file stops growing once the prune keeps up with
what a day adds, at the size of the kept history plus a day's worth. In incremental auto-vacuum mode
(every database made since this module exists; an older one after ``paperbot prune --vacuum``) SQLite can
also truncate free pages off the end of the file: after each prune, free space beyond a headroom is handed
back, so shortening a ``[retention]`` setting shrinks the file the next morning too.

Only the stdlib ``sqlite3`` here: ``paperbot status`` reads the size without the engine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "HEADROOM",
    "INCREMENTAL",
    "auto_vacuum_mode",
    "database_line",
    "file_size",
    "release_free_pages",
    "vacuum_to_incremental",
]

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for incremental mode (0 none, 1 full)
# Free pages kept for the next days' rows (reused before the file grows): a day adds about 1% of a
# steady-state database, so a daily prune frees less than this and hands nothing back; only a backlog
# or a shortened [retention] setting does.
HEADROOM = 0.05
STEP_PAGES = 2048  # pages truncated per transaction (8 MB of 4 KiB pages): the loop keeps its turns


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def auto_vacuum_mode(conn: sqlite3.Connection) -> int:
    return _pragma(conn, "auto_vacuum")


def file_size(conn: sqlite3.Connection, path: str) -> tuple[int, int]:
    """The database's bytes on disk (the file and its write-ahead log) and the bytes of free pages in it
    (left by pruning, reused before the file grows again)."""
    page_size = _pragma(conn, "page_size")
    on_disk = page_size * _pragma(conn, "page_count")
    if path not in ("", ":memory:") and not path.startswith("file:"):
        wal = Path(path + "-wal")
        on_disk = Path(path).stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return on_disk, _pragma(conn, "freelist_count") * page_size


def database_line(conn: sqlite3.Connection, path: str) -> str:
    on_disk, free = file_size(conn, path)
    return f"Database: {on_disk / 1e6:.1f} MB on disk ({free / 1e6:.1f} MB free for reuse)"


def release_free_pages(conn: sqlite3.Connection, headroom: float = HEADROOM) -> Iterator[None]:
    """In incremental auto-vacuum mode, truncate the free pages beyond ``headroom`` of the file off its end,
    ``STEP_PAGES`` at a time, yielding between transactions. Nothing in any other mode."""
    if auto_vacuum_mode(conn) != INCREMENTAL:
        return
    excess = _pragma(conn, "freelist_count") - int(_pragma(conn, "page_count") * headroom)
    while excess > 0:
        step = min(excess, STEP_PAGES)
        # It frees one page per step of the statement, and execute() steps a statement without result
        # columns once: executescript runs it to the end (between transactions, as here).
        conn.executescript(f"PRAGMA incremental_vacuum({step});")
        excess -= step
        yield


def vacuum_to_incremental(conn: sqlite3.Connection) -> None:
    """Rewrite the whole file in incremental auto-vacuum mode, without its free pages (``VACUUM``: it takes
    as long as copying the file, needs as much free disk again, and holds writers off meanwhile)."""
    conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
    conn.execute("VACUUM")
