"""`paperbot status`: the report read from the database alone.

No engine: the report needs the store, the config and the clock, and importing the engine (its sources'
HTTP clients, the ranking's numpy, the scheduler) would be most of the wait.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from bot.status import status_text
    from bot.store import Store

    store = Store(config.database_path)  # opened and migrated as the engine opens it (a new file is made)
    try:
        store.migrate()
        print(status_text(store, config, datetime.now(UTC)))
    finally:
        store.close()
    return 0
