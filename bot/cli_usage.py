"""`paperbot usage`: LLM calls, tokens and estimated cost, read from the database and the config alone.

No engine and no explainer: the report is the ledger's sums, and importing the explainer (prompts,
renderers, the ranking's numpy) would be most of the wait.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from bot.explain.usage import configured_llm, usage_report
    from bot.store import Store

    store = Store(config.database_path)  # opened and migrated as the engine opens it (a new file is made)
    try:
        store.migrate()
        provider, model = configured_llm(config) or ("none", "offline")
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # the budget's day
        print(usage_report(store.db.conn, config, provider=provider, model=model, day=day).text())
    finally:
        store.close()
    return 0
