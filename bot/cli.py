"""The `paperbot` command line. Library first, CLI second: errors become one line on stderr.

Exit codes: 0 ok, 1 not found / a source is down, 2 usage or config mistakes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import secrets
import signal
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any, NoReturn

from bot import __version__
from bot.cards import (
    ExplanationEquation,
    Reply,
    make_card,
    render_card_text,
    render_digest_text,
    render_images_text,
    render_reply_text,
)
from bot.config import Config, load_config
from bot.engine import Engine
from bot.errors import PaperbotError, UsageError
from bot.sources.registry import naming, resolve_feed
from bot.store import database_error

log = logging.getLogger("bot.cli")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"paperbot: {message} (see: {self.prog} --help)\n")


_CONFIG_HELP = "config file (else $PAPERBOT_CONFIG, else ./config.toml)"
_VERBOSE_HELP = "log more, including error details"
_ID_HELP = (
    "an arXiv id or link (2604.11422, arXiv:2604.11422v2), a huggingface.co/papers link, "
    "or a bioRxiv/medRxiv DOI or link (10.1101/2024.12.31.630767)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paperbot", description="Daily paper digests, search and explained math for research teams.")
    parser.add_argument("--config", metavar="PATH", help=_CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"paperbot {__version__}")
    # The same options after the sub-command (`paperbot status --config x.toml`). SUPPRESS leaves the
    # attribute unset when a sub-command does not repeat them, so the value given before it is kept.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(group: Any, name: str, summary: str) -> argparse.ArgumentParser:
        # The summary is both the line in `paperbot --help` and the description of `paperbot NAME --help`.
        made: argparse.ArgumentParser = group.add_parser(name, help=summary, description=summary, parents=[common])
        return made

    command(sub, "run", "Run the bot: every configured chat platform (the terminal when none) and the schedule.")

    digest = command(sub, "digest", "Preview the current digest of feeds (records no delivery).")
    digest.add_argument(
        "--category",
        action="append",
        required=True,
        metavar="FEED",
        help="an arXiv category (cs.LG), hf, biorxiv or biorxiv:<subject>; repeatable",
    )
    digest.add_argument("--limit", type=_limit, default=None, metavar="N", help="at most N papers (0 = all)")
    digest.add_argument("--json", action="store_true", help="print JSON instead of text")
    digest.add_argument(
        "--interest",
        action="append",
        default=[],
        metavar="WORDS",
        help='rank as a radar would: a keyword or phrase ("graph neural networks"); repeatable',
    )
    digest.add_argument("--author", action="append", default=[], metavar="NAME", help="rank by an author; repeatable")

    explain = command(sub, "explain", "Show a paper and explain its mathematics.")
    explain.add_argument("id", metavar="ID", help=_ID_HELP)
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")

    ask = command(sub, "ask", "Ask a question about one paper, answered from its full text where there is one.")
    ask.add_argument("id", metavar="ID", help=_ID_HELP)
    ask.add_argument(
        "question",
        nargs="+",
        metavar="QUESTION",
        help='your question in your own words, e.g. what does λ control in Eq. (3)? (quote it: "…" for the shell)',
    )
    ask.add_argument("--json", action="store_true", help="print JSON instead of text")

    search = command(sub, "search", "Find papers on a topic: stored papers first, then arXiv and Hugging Face.")
    search.add_argument("words", nargs="+", metavar="WORDS", help='words or a "quoted phrase" (quote it for the shell)')
    search.add_argument("--limit", type=_search_limit, default=5, metavar="N", help="at most N papers (default 5)")
    search.add_argument("--in", dest="feed", metavar="FEED", help="only papers of this feed (cs.LG, hf, biorxiv…)")
    search.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="only papers of this day or later")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")

    command(sub, "usage", "Show today's and this month's LLM calls, tokens and estimated cost.")
    command(sub, "doctor", "Check the configuration, arXiv, the LLM key and the chat tokens; creates nothing.")
    discord_cmd = command(sub, "discord", "Discord operations: the invite URL, registering /paper.")
    discord_sub = discord_cmd.add_subparsers(dest="discord_command", metavar="ACTION", parser_class=_Parser)
    discord_sub.required = True
    command(discord_sub, "invite", "Print the URL that adds the bot to a server.")
    sync = command(discord_sub, "sync", "Register /paper with Discord (once per deploy, not every start).")
    sync.add_argument("--guild", type=_snowflake, metavar="ID", help="register in one server only (instant)")
    command(sub, "status", "Show the last fetch per category, deliveries of the last 24 h, paused channels.")
    command(sub, "prune", "Delete the history [retention] no longer keeps now (the bot also does it daily).")
    backup = command(sub, "backup", "Copy the live database to FILE, consistently, even while the bot runs.")
    backup.add_argument("file", metavar="FILE", help="where to write the copy (a new file)")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    return parser


def _snowflake(text: str) -> int:
    if not text.isdigit() or not 15 <= len(text) <= 21:
        raise argparse.ArgumentTypeError(f"--guild wants a Discord server id (a long number), got {text[:25]!r}")
    return int(text)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--limit wants a whole number, got {text[:20]!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("--limit wants 0 (all) or a positive number")
    return value


def _search_limit(text: str) -> int:
    from bot.search import MAX_LIMIT

    value = _limit(text)
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"--limit wants a number from 1 to {MAX_LIMIT}")
    return value


def _day(text: str) -> date:
    try:
        if len(text) == 10:  # fromisoformat also takes 20240301, which nobody means here
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--since wants a date as YYYY-MM-DD, got {text[:20]!r}")


# Writing the output failed for a reason of the output's own (a full disk, a closed descriptor).
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF, errno.EFBIG})


def main(argv: Sequence[str] | None = None) -> int:
    # Started with stdout or stderr closed (`paperbot status >&-`): Python then has no stream at all;
    # write to /dev/null instead of failing on the first print.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    try:
        try:
            return _main(argv)
        finally:
            # Written out here, inside the guard: at interpreter exit a closed pipe could only be
            # reported as an ignored exception.
            sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as err:  # only output errors get here (_main turns the others into one line)
        return _cannot_write(err)


def _closed_pipe() -> int:
    """The reader went away (`paperbot digest … | head -1`): stop quietly, as command-line tools do.
    stdout goes to /dev/null so that Python's own flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def _cannot_write(err: OSError) -> int:
    """One line for output that cannot be written (`> /dev/full`); the rest is thrown away."""
    with contextlib.suppress(OSError):
        print(f"paperbot: cannot write the output: {err.strerror or err}", file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.INFO if args.command == "run" else logging.ERROR),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    config: Config | None = None
    try:
        config = load_config(args.config)
        if args.command == "run":
            from bot.runner import run_bot

            return asyncio.run(run_bot(config))
        if args.command == "backup":
            from bot.backup import backup_database

            print(backup_database(config.database_path, args.file, force=args.force).text())
            return 0
        if args.command == "prune":
            return _prune(config)
        if args.command in ("doctor", "discord"):
            from bot.operations import run_operation

            return asyncio.run(run_operation(args, config))
        return asyncio.run(_one_shot(args, config))
    except PaperbotError as err:
        print(f"paperbot: {err}", file=sys.stderr)
        return err.exit_code
    except sqlite3.Error as err:
        # The database failed after it was opened and checked (the disk filled up, the file was
        # changed underneath): still a line about the file, not an "unexpected error".
        problem = database_error(config.database_path if config else "?", err)
        print(f"paperbot: {problem}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # stdout was closed by its reader: main() ends quietly
    except OSError as err:
        if err.errno in _OUTPUT_ERRNOS:
            raise  # the output itself failed: main() says so in one line
        return _unexpected()
    except Exception:
        return _unexpected()


def _prune(config: Config) -> int:
    from bot.retention import RetentionSettings, prune, size_line
    from bot.store import Store

    store = Store(config.database_path)
    try:
        store.migrate()
        print(prune(store, RetentionSettings.from_config(config)).text())
        print(size_line(store))
    finally:
        store.close()
    return 0


def _unexpected() -> int:
    ref = secrets.token_hex(4)
    log.debug("unexpected error [ref %s]", ref, exc_info=True)
    print(f"paperbot: unexpected error (reference {ref}); run again with --verbose for details", file=sys.stderr)
    return 1


async def _one_shot(args: argparse.Namespace, config: Config) -> int:
    if args.command == "digest":
        categories = [resolve_feed(c).name for c in args.category]
    elif args.command == "search":
        from bot.search_index import parse_query

        parse_query(" ".join(args.words))  # a query that cannot be searched is a usage error before anything opens
        categories = [resolve_feed(args.feed).name] if args.feed else []
    elif args.command in ("explain", "ask"):
        naming().parse_ref(args.id)  # a bad id is a usage error before anything opens
    elif args.command in ("usage", "status"):
        categories = []
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
        if args.command == "usage":
            print(engine.explainer.usage().text())
            return 0
        if args.command == "status":
            from bot.status import status_report

            print(status_report(engine))
            return 0
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
        _print_json(
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
        _print_json(
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
        _print_json({"query": query, "papers": papers, "notes": list(result.notes)})
        return 0
    lines = [f"Papers matching {result.query}, best first:" if result.hits else f"No paper matches {result.query}."]
    lines += [render_card_text(make_card(hit.paper), i) for i, hit in enumerate(result.hits, start=1)]
    lines += [f"ⓘ {note}" for note in result.notes]
    print("\n\n".join(lines))
    return 0


async def _explain(engine: Engine, id_text: str, as_json: bool) -> int:
    paper, reply = await engine.explain(id_text, progress=_progress_line)
    if as_json:
        explanation = reply.explanation
        assert explanation is not None
        _print_json(
            {
                "paper": paper.to_json(),
                "explanation": {
                    "source": explanation.source,
                    "text": explanation.text,
                    "sections": [
                        {"title": s.title, "text": s.text, "links": [{"label": k.label, "url": k.url} for k in s.links]}
                        for s in explanation.sections
                    ],
                    "cached": explanation.cached,
                    "note": explanation.note,
                    "grounding": explanation.grounding,
                    "equations": [_equation_json(e) for e in explanation.equations],
                },
            }
        )
    else:
        print(render_reply_text(reply))
        if reply.images:  # a terminal shows no pictures: where each was drawn
            print("\n" + render_images_text(reply.images))
    return 0


async def _ask(engine: Engine, id_text: str, question: str, as_json: bool) -> int:
    """A question about one paper, answered as `/paper ask` answers it ("Fetching …", then "Asking
    <model>…" on a terminal's stderr); the answer under the paper's card, or as JSON."""
    from bot.questions import ask_paper

    paper, _ = await engine.lookup(id_text, progress=_progress_line)
    answer = await ask_paper(engine, paper, question, progress=_progress_line)
    if as_json:
        _print_json(
            {
                "paper": paper.to_json(),
                "answer": {
                    "source": answer.source,
                    "text": answer.text,
                    "answered_by_paper": answer.answered_by_paper,
                    "equations": [_equation_json(e) for e in answer.equations],
                },
            }
        )
    else:
        print(render_reply_text(Reply(text=answer.text, cards=(make_card(paper),))))
    return 0


def _equation_json(equation: ExplanationEquation) -> dict[str, Any]:
    return {
        "label": equation.label,
        "tex": equation.tex,
        "unicode": equation.unicode,
        "url": equation.url,
        "image": equation.image,
    }


def _print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
