"""Database paths and files a newcomer meets: "~" in the path, a folder that does not exist (a typo must
not start an empty database somewhere new), and a database last used by a newer paperbot. Each either
works as the user meant or is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.store import Store, database_file

ROOT = Path(__file__).parent.parent


def _fresh(path: Path | str) -> Store:
    store = Store(str(path))
    store.migrate()
    return store


def test_a_path_starting_with_tilde_is_in_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    (home / ".local/share/paperbot").mkdir(parents=True)
    _fresh("~/.local/share/paperbot/paperbot.db").close()
    assert (home / ".local/share/paperbot/paperbot.db").is_file()
    assert not (work / "~").exists()  # not a folder literally named "~" next to the config
    assert database_file("~/x.db") == home / "x.db"


def test_a_missing_folder_is_refused_in_one_line_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "data" / "state"
    with pytest.raises(
        ConfigError, match=r"^\[database\] path = .*/data/state/paperbot.db': the folder .* does not exist"
    ):
        Store(str(missing / "paperbot.db"))
    assert not (tmp_path / "data").exists()


def test_the_cli_refuses_a_database_in_a_missing_folder_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\npath = "/nonexistent/dir/x.db"\n')
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG" and not k.endswith(("_TOKEN", "_API_KEY"))}
    for command in (["status"], ["usage"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), *command],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in result.stderr
    assert not Path("/nonexistent").exists()


def test_a_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"^\[database\] path = .*/file/sub/p.db' cannot be used: Not a directory$"):
        Store(str(tmp_path / "file" / "sub" / "p.db"))


def _from_the_future(path: Path, migration_set: str = "paperbot") -> None:
    store = _fresh(path)
    store.db["_sqlite_migrations"].insert(
        {"migration_set": migration_set, "name": "m099_a_later_version", "applied_at": "2030-01-01T00:00:00"}
    )
    store.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    # Its tables may have changed in ways this version cannot read or would undo: using it could lose
    # subscriptions or repeat digests, so it is refused and left exactly as it is.
    db = tmp_path / "p.db"
    _from_the_future(db)
    before = db.read_bytes()
    store = Store(str(db))
    with pytest.raises(ConfigError) as info:
        store.migrate()
    store.close()
    message = str(info.value)
    assert message.startswith(f"[database] path = {str(db)!r} was used by a newer paperbot")
    assert "m099_a_later_version" in message and "upgrade paperbot" in message
    assert info.value.exit_code == 2
    assert db.read_bytes() == before


def test_migrations_of_other_programs_in_the_same_file_are_ignored(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    _from_the_future(db, migration_set="someone-else")
    _fresh(db).close()


def test_the_cli_refuses_a_newer_database_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    _from_the_future(db)
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\npath = "{db}"\n')
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG" and not k.endswith(("_TOKEN", "_API_KEY"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "was used by a newer paperbot" in lines[0], result.stderr


def test_an_unknown_home_folder_is_one_line() -> None:
    with pytest.raises(ConfigError, match="its home folder is unknown"):
        database_file("~no-such-user-of-this-machine/paperbot.db")


def test_the_console_seeds_of_a_newer_version_are_refused(tmp_path: Path) -> None:
    from bot.runner import seed_console_subscriptions
    from tests.support import make_engine

    store = _fresh(tmp_path / "p.db")
    seed_console_subscriptions(make_engine(store=store))
    store.db["_sqlite_migrations"].insert(
        {"migration_set": "paperbot.console", "name": "m002_later", "applied_at": "2030-01-01T00:00:00"}
    )
    with pytest.raises(ConfigError, match=r"was used by a newer paperbot .*m002_later"):
        seed_console_subscriptions(make_engine(store=store))


def test_a_newer_outbox_schema_is_refused_too(tmp_path: Path) -> None:
    from bot.outbox import Outbox

    db = tmp_path / "p.db"
    _from_the_future(db, migration_set="paperbot.outbox")
    store = Store(str(db))
    store.migrate()
    with pytest.raises(ConfigError, match="was used by a newer paperbot"):
        Outbox(store)
    store.close()
