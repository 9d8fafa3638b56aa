"""`paperbot explain ID`: from the database when the engine would answer from it, else through the engine.

A paper explained before is answered from the store and the caches on disk (bot.cached_explain) without
importing the engine, its HTTP clients, numpy or an LLM SDK; anything else (a paper to fetch, a full text
never read, an answer to ask for, an image to draw) goes to bot.cli_engine, which prints the same way.
"""

from __future__ import annotations

import argparse

from bot.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from bot.cached_explain import arxiv_ref, cached_explanation
    from bot.store import Store

    ref = arxiv_ref(args.id)
    if ref is not None:
        store = Store(config.database_path)  # opened and migrated as the engine opens it
        try:
            store.migrate()
            found = cached_explanation(config, store, ref)
        finally:
            store.close()
        if found is not None:
            from bot.cli_output import print_explanation

            print_explanation(*found, args.json)
            return 0
    else:
        from bot.sources.registry import naming

        naming().parse_ref(args.id)  # a bad id is a usage error, told without importing the engine
    from bot import cli_engine

    return cli_engine.run(args, config)
