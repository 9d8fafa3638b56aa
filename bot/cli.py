"""The `paperbot` command line. Library first, CLI second: errors become one line on stderr.

Exit codes: 0 ok, 1 not found / a source is down, 2 usage or config mistakes.

This module only parses: each sub-command's module (``COMMANDS``) is imported after the arguments are
parsed, so `paperbot --help`, `--version` and a usage mistake cost argparse alone, and `status` or
`usage` never import what `run` needs (chat SDKs, the scheduler). bot.cli_execute turns what a command
raises into the one line and the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, NoReturn

from bot import __version__

# Each sub-command and the module whose ``run(args, config) -> int`` carries it out. The modules are
# imported only once a command is chosen, for start-up time alone (there is no import cycle to break
# here): the engine, numpy and the HTTP clients take ten times as long to import as Python to start.
COMMANDS: Mapping[str, str] = {
    "run": "bot.cli_run",
    "digest": "bot.cli_engine",
    "explain": "bot.cli_explain",
    "ask": "bot.cli_engine",
    "search": "bot.cli_engine",
    "usage": "bot.cli_usage",
    "doctor": "bot.cli_operations",
    "discord": "bot.cli_operations",
    "status": "bot.cli_status",
    "prune": "bot.cli_database",
    "backup": "bot.cli_database",
}


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
    prune = command(sub, "prune", "Delete the history [retention] no longer keeps now (the bot also does it daily).")
    prune.add_argument(
        "--vacuum",
        action="store_true",
        help="then rewrite the file without its free space, so later prunes shrink it too (once, bot stopped best)",
    )
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
    from bot.search import MAX_LIMIT  # only when --limit is given to search: bot.search imports the engine

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
    except OSError as err:  # only output errors get here (bot.cli_execute turns the others into one line)
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
    # Imported only now, for start-up time (see COMMANDS): logging, the config and the error lines.
    from bot.cli_execute import execute

    return execute(args, COMMANDS[args.command])
