"""The `paperbot` commands that work through the engine: digest, search, explain, ask.

Imported by bot.cli only once one of them is chosen (see bot.cli.COMMANDS): importing the engine is
most of such a command's start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cards import Reply, make_card, render_card_text, render_digest_text, render_reply_text
from bot.cli_output import equation_json, print_explanation, print_json
from bot.config import Config
from bot.engine import Engine
from bot.errors import UsageError
from bot.sources.registry import naming, resolve_feed


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_one_shot(args, config))


async def _one_shot(args: argparse.Namespace, config: Config) -> int:
    if args.command == "digest":
        categories = [resolve_feed(c).name for c in args.category]
    elif args.command == "search":
        from bot.search_index import parse_query

        parse_query(" ".join(args.words))  # a query that cannot be searched is a usage error before anything opens
        categories = [resolve_feed(args.feed).name] if args.feed else []
    elif args.command in ("explain", "ask"):
        naming().parse_ref(args.id)  # a bad id is a usage error before anything opens
    else:  # pragma: no cover - argparse only lets known commands through
        raise UsageError(f"unknown command {args.command}")
    engine = Engine.from_config(config)
    try:
        if args.command == "digest":
            if args.interest or args.author:
                return await _ranked_digest(engine, categories, args)
            return await _digest(engine, categories, args.limit, args.json)
        if args.command == "search":
            return await _search(engine, args, categories[0] if categories else None)
        if args.command == "ask":
            return await _ask(engine, args.id, " ".join(args.question), args.json)
        return await _explain(engine, args.id, args.json)
    finally:
        await engine.aclose()


def _progress_line(message: str) -> None:
    """The engine's "Fetching … from arXiv…" before a network wait, on stderr for a person at a terminal.

    Only on a terminal: a script reading stderr gets exactly the contract's error lines, and stdout
    stays the command's output either way.
    """
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


async def _digest(engine: Engine, categories: list[str], limit: int | None, as_json: bool) -> int:
    selection = await engine.preview(categories, limit, progress=_progress_line)
    if as_json:
        print_json(
            {
                "categories": list(selection.categories),
                "announced": selection.announced.isoformat() if selection.announced else None,
                "papers": [p.to_json() for p in selection.papers],
                "more": selection.more_count,
                # Feeds whose latest announcement is older than today's: the preview shows that one.
                "stale": list(selection.stale),
            }
        )
    else:
        if selection.stale_note:
            print(f"ⓘ {selection.stale_note}\n")
        print(render_digest_text(engine.digest_message(selection)))
    return 0


async def _ranked_digest(engine: Engine, categories: list[str], args: argparse.Namespace) -> int:
    """The preview ranked by the radar the options describe: each paper with its score and why."""
    from bot.radar import rank_preview

    selection = await engine.preview(categories, 0, progress=_progress_line)
    ranked = rank_preview(engine, selection, list(args.interest), list(args.author))
    limit = engine.default_limit if args.limit is None else args.limit
    shown = ranked if limit == 0 else ranked[:limit]
    if args.json:
        print_json(
            {
                "categories": list(selection.categories),
                "announced": selection.announced.isoformat() if selection.announced else None,
                "papers": [r.to_json() for r in shown],
                "more": len(ranked) - len(shown),
                "stale": list(selection.stale),
            }
        )
        return 0
    if selection.stale_note:
        print(f"ⓘ {selection.stale_note}\n")
    cards = [render_card_text(make_card(r.paper, why=r.why), i) for i, r in enumerate(shown, start=1)]
    print("\n\n".join([f"Ranked by {', '.join([*args.interest, *args.author])}:", *cards]))
    return 0


async def _search(engine: Engine, args: argparse.Namespace, feed: str | None) -> int:
    from bot.search import search

    query = " ".join(args.words)
    result = await search(
        engine, query, limit=args.limit, feed=feed, since=args.since, interactive=True, progress=_progress_line
    )
    if args.json:
        papers = [{**hit.paper.to_json(), "score": round(hit.score, 4)} for hit in result.hits]
        print_json({"query": query, "papers": papers, "notes": list(result.notes)})
        return 0
    lines = [f"Papers matching {result.query}, best first:" if result.hits else f"No paper matches {result.query}."]
    lines += [render_card_text(make_card(hit.paper), i) for i, hit in enumerate(result.hits, start=1)]
    lines += [f"ⓘ {note}" for note in result.notes]
    print("\n\n".join(lines))
    return 0


async def _explain(engine: Engine, id_text: str, as_json: bool) -> int:
    paper, reply = await engine.explain(id_text, progress=_progress_line)
    print_explanation(paper, reply, as_json)
    return 0


async def _ask(engine: Engine, id_text: str, question: str, as_json: bool) -> int:
    """A question about one paper, answered as `/paper ask` answers it ("Fetching …", then "Asking
    <model>…" on a terminal's stderr); the answer under the paper's card, or as JSON."""
    from bot.questions import ask_paper

    paper, _ = await engine.lookup(id_text, progress=_progress_line)
    answer = await ask_paper(engine, paper, question, progress=_progress_line)
    if as_json:
        print_json(
            {
                "paper": paper.to_json(),
                "answer": {
                    "source": answer.source,
                    "text": answer.text,
                    "answered_by_paper": answer.answered_by_paper,
                    "equations": [equation_json(e) for e in answer.equations],
                },
            }
        )
    else:
        print(render_reply_text(Reply(text=answer.text, cards=(make_card(paper),), links=answer.links)))
    return 0
