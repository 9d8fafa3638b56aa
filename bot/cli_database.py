"""`paperbot backup` and `paperbot prune`: the database file alone, without the engine."""

from __future__ import annotations

import argparse

from bot.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "backup":
        return _backup(args, config)
    return _prune(config, vacuum=args.vacuum)


def _backup(args: argparse.Namespace, config: Config) -> int:
    from bot.backup import backup_database  # each command imports only its own half of this module

    print(backup_database(config.database_path, args.file, force=args.force).text())
    return 0


def _prune(config: Config, *, vacuum: bool) -> int:
    from bot.database_space import vacuum_to_incremental
    from bot.retention import RetentionSettings, prune, size_line
    from bot.store import Store, database_file

    if not database_file(config.database_path).is_file():  # as backup: never create a database to prune it
        print(f"No database at {config.database_path!r} yet: nothing to prune.")
        return 0
    store = Store(config.database_path)
    try:
        store.migrate()
        print(prune(store, RetentionSettings.from_config(config)).text())
        if vacuum:
            vacuum_to_incremental(store.db.conn)
        print(size_line(store))
    finally:
        store.close()
    return 0
