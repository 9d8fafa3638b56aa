"""A database file that cannot serve is refused at start with one line naming the file and what is wrong:
read-only, damaged, not a database, not a file, a NUL in the path; config refuses paths that keep nothing.

Read-only as root: the tests run as root, for whom file modes do not stop writes. The end-to-end runs
drop the capabilities that let root ignore file modes (``setpriv --bounding-set=-dac_override,...``), so
the CLI meets a read-only file exactly as an ordinary user would; without setpriv (and as root) they are
skipped. The in-process test produces SQLite's own read-only error with a connection opened ``mode=ro``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.models import Paper
from bot.store import Store, check_writable, database_error, migrations

ROOT = Path(__file__).parent.parent


def _paper(paper_id: str, abstract: str, abstract_tex: str) -> Paper:
    return Paper(
        id=paper_id,
        version=1,
        title="T",
        authors=("A",),
        categories=("math.CO",),
        primary_category="math.CO",
        abstract=abstract,
        abstract_tex=abstract_tex,
    )


def _good_database(path: Path) -> Path:
    store = Store(path)
    store.migrate()
    store.save_papers([_paper(f"2604.{n:05d}", "An abstract. " * 40, "") for n in range(1, 200)])
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def _truncated(path: Path) -> None:
    data = _good_database(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damaged_inside(path: Path) -> None:
    # The header is intact, so SQLite opens it; pages further in are overwritten.
    data = bytearray(_good_database(path).read_bytes())
    data[4096 * 2 : 4096 * 5] = b"\xab" * (4096 * 3)
    path.write_bytes(bytes(data))


def _text_file(path: Path) -> None:
    path.write_text("subscriptions: cs.LG\n" * 100)


def _folder(path: Path) -> None:
    path.mkdir()


DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes": (_random_bytes, "is not a paperbot database"),
    "truncated": (_truncated, "is damaged"),
    "damaged inside": (_damaged_inside, "is damaged"),
    "a text file": (_text_file, "is not a paperbot database"),
    "a folder": (_folder, "is a folder"),
}


def _only_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("case", DAMAGED, ids=list(DAMAGED))
def test_unusable_files_are_refused_with_one_line(tmp_path: Path, case: str) -> None:
    make, expected = DAMAGED[case]
    path = tmp_path / "p.db"
    make(path)
    with pytest.raises(ConfigError) as info:
        Store(path).migrate()
    message = _only_line(str(info.value))
    assert message.startswith(f"[database] path = {str(path)!r} ") and expected in message
    assert info.value.exit_code == 2


def test_devices_and_nul_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'/dev/null' is not a regular file"):
        Store("/dev/null")
    with pytest.raises(ConfigError, match="contains a NUL character"):
        Store(str(tmp_path / "a\x00b.db"))
    assert list(tmp_path.iterdir()) == []


def test_uri_options_in_a_path_are_only_a_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite reads "file:…?immutable=1" as a URI with options; the store never lets a path do that.
    monkeypatch.chdir(tmp_path)
    store = Store("file:p.db?immutable=1")
    store.migrate()  # writable: the options were not applied
    store.close()
    assert (tmp_path / "file:p.db?immutable=1").is_file() and not (tmp_path / "p.db").exists()


def test_read_only_error_names_the_file(tmp_path: Path) -> None:
    path = _good_database(tmp_path / "p.db")
    # What a read-only file, folder or disk, or an immutable file, gives SQLite: opened read-only.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.Error) as raised:
        check_writable(conn)
    assert not conn.in_transaction  # the probe left nothing behind
    message = _only_line(str(database_error(str(path), raised.value)))
    assert message == (
        f"[database] path = {str(path)!r} is read-only: paperbot writes to it, so make the file and its folder"
        " writable by this user, or choose another path"
    )


def test_write_probe_leaves_a_writable_database_unchanged(tmp_path: Path) -> None:
    path = _good_database(tmp_path / "p.db")
    store = Store(path)
    tables = store.db.table_names()
    check_writable(store.db.conn)
    assert store.db.table_names() == tables and "_paperbot_write_probe" not in tables


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "use the path of a file"),
        ("   ", "use the path of a file"),
        (":memory:", "in-memory database or SQLite URI keeps nothing"),
        ("file:paperbot.db?immutable=1", "in-memory database or SQLite URI keeps nothing"),
        ("FILE::memory:", "in-memory database or SQLite URI keeps nothing"),
        ("a\\u0000b.db", "without a NUL character"),
    ],
)
def test_config_refuses_paths_that_keep_nothing(tmp_path: Path, path: str, expected: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\npath = "{path}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(config), env={})
    message = _only_line(str(info.value))
    assert message.startswith("config: [database] path = ") and expected in message


# ---------------------------------------------------------------- abstract_tex stored once


def test_abstract_tex_is_stored_only_when_it_differs() -> None:
    store = Store(":memory:")
    store.migrate()
    same = _paper("2604.00001", "Plain words.", "Plain words.")
    differs = _paper("2604.00002", "Loss ℒ(θ).", r"Loss $\mathcal{L}(\theta)$.")
    unknown = _paper("2604.00003", "Plain words.", "")
    store.save_papers([same, differs, unknown])
    stored = dict(store.db.conn.execute("SELECT id, abstract_tex FROM papers").fetchall())
    assert stored == {"2604.00001": None, "2604.00002": r"Loss $\mathcal{L}(\theta)$.", "2604.00003": ""}
    for paper in (same, differs, unknown):
        assert store.get_paper(paper.id) == paper  # NULL reads back as the abstract


def test_migration_nulls_duplicates_of_an_old_database_and_reruns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Store(path)
    migrations.apply(store.db, stop_before="m006_abstract_tex_only_when_different")
    # Rows as the store wrote them before: the TeX abstract always, equal to the abstract or not.
    store.db.conn.executemany(
        "INSERT INTO papers (id, version, title, authors, categories, primary_category, abstract, abstract_tex)"
        " VALUES (?, 1, 'T', '[]', '[]', 'cs.LG', ?, ?)",
        [("a", "Same.", "Same."), ("b", "Loss ℒ.", r"Loss $\mathcal{L}$."), ("c", "Text.", "")],
    )
    store.close()
    store = Store(path)
    store.migrate()
    rows = dict(store.db.conn.execute("SELECT id, abstract_tex FROM papers").fetchall())
    assert rows == {"a": None, "b": r"Loss $\mathcal{L}$.", "c": ""}
    a = store.get_paper("a")
    assert a is not None and a.abstract_tex == "Same."
    store.migrate()  # recorded: nothing runs twice
    from bot.store import m006_abstract_tex_only_when_different

    m006_abstract_tex_only_when_different(store.db)  # and running it again changes nothing
    assert dict(store.db.conn.execute("SELECT id, abstract_tex FROM papers").fetchall()) == rows


# ---------------------------------------------------------------- the CLI, end to end


def _drop_root_powers() -> list[str]:
    """A command prefix under which file modes bind, even for root; [] when they already do."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to bind")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _status(config: Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    argv = [*(prefix or []), sys.executable, "-m", "bot", "--config", str(config), "status"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def _config(tmp_path: Path, db: str) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\npath = "{db}"\n')
    return config


def _assert_refused(result: subprocess.CompletedProcess[str], named: str, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and expected in lines[0]


@pytest.mark.parametrize("case", DAMAGED, ids=list(DAMAGED))
def test_cli_refuses_unusable_files(tmp_path: Path, case: str) -> None:
    make, expected = DAMAGED[case]
    path = tmp_path / "p.db"
    make(path)
    _assert_refused(_status(_config(tmp_path, str(path))), str(path), expected)


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("/dev/null", "is not a regular file"),
        (":memory:", "keeps nothing"),
        ("", "use the path of a file"),
        ("file:p.db?immutable=1", "keeps nothing"),
        ("p\\u0000.db", "NUL"),
    ],
)
def test_cli_refuses_paths_that_cannot_be_a_database(tmp_path: Path, db: str, expected: str) -> None:
    _assert_refused(_status(_config(tmp_path, db)), "[database] path", expected)


def test_cli_refuses_a_read_only_file(tmp_path: Path) -> None:
    prefix = _drop_root_powers()
    path = _good_database(tmp_path / "p.db")
    path.chmod(0o444)
    _assert_refused(_status(_config(tmp_path, str(path)), prefix), str(path), "is read-only")


def test_cli_refuses_a_database_in_a_read_only_folder(tmp_path: Path) -> None:
    prefix = _drop_root_powers()
    folder = tmp_path / "ro"
    folder.mkdir()
    path = _good_database(folder / "p.db")
    for leftover in folder.glob("p.db-*"):
        leftover.unlink()
    folder.chmod(0o555)  # the file is writable, but SQLite's journal cannot be created next to it
    try:
        _assert_refused(_status(_config(tmp_path, str(path)), prefix), str(path), "is read-only")
        _assert_refused(_status(_config(tmp_path, str(folder / "new.db")), prefix), "new.db", "cannot be opened")
    finally:
        folder.chmod(0o755)


def test_cli_names_the_file_when_the_database_fails_after_opening(tmp_path: Path) -> None:
    # Sound and writable, but a table was removed by hand: the first query fails mid-command.
    path = _good_database(tmp_path / "p.db")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE fetches")
    store = Store(path)
    store.migrate()  # recorded as applied: nothing recreates the table
    store.close()
    subscribed = Store(path)
    subscribed.db.conn.execute(
        "INSERT INTO subscriptions (platform, workspace, channel, category, options, created_at)"
        " VALUES ('console', '', 'terminal', 'cs.LG', '{}', '2026-01-01')"
    )
    subscribed.close()
    _assert_refused(_status(_config(tmp_path, str(path))), str(path), "cannot be used: no such table: fetches")
