"""`paperbot --help` and the read-only commands import only what they use.

Asserted on what a fresh process imported (sys.modules when it ended), never on a time: the time is
bench/bench_startup.py's to measure.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import COMMANDS, build_parser
from bot.models import Paper
from tests.support_startup import CACHED, GROUNDED, NO_HTML, SDKS, Started, prepare, run_paperbot

# Nothing that parsing arguments needs: the engine and its store, numpy, the HTTP stack, the event loop.
NOT_FOR_PARSING = (
    "bot.engine",
    "bot.store",
    "bot.config",
    "bot.cards",
    "numpy",
    "httpx",
    "sqlite_utils",
    "feedparser",
    "asyncio",
    *SDKS,
)
# What no read-only command needs: the chat platforms, the LLM SDKs (a cached answer asks no model).
NOT_FOR_READING = ("anthropic", "openai", "discord", "slack_sdk", "slack_bolt", "aiohttp", "bot.runner", "adapters")
# Nor the scheduler and APScheduler (status states the retry timing from bot.fetch_retries).
NOT_FOR_READING_EITHER = ("apscheduler", "bot.scheduler")
# `status` and `usage` read the database alone: no engine, no HTTP client, no source, no explainer, and no
# numpy (the command line imports sqlite-utils without its optional numpy and pandas).
NOT_FOR_STATUS = (
    "bot.engine",
    "httpx",
    "bot.sources",
    "bot.explain.service",
    "bot.explain.ledger",
    "bot.ranking",
    "numpy",
    "pandas",
)


# What a cached `paperbot explain` does without: the engine and everything only it needs (the HTTP clients,
# numpy for ranking and drawing, the LLM and chat SDKs, the scheduler, matplotlib).
NOT_FOR_A_CACHED_EXPLANATION = (
    "bot.engine",
    "numpy",
    "httpx",
    "anthropic",
    "openai",
    "discord",
    "slack_bolt",
    "apscheduler",
    "matplotlib",
    "bot.sources",
    "bot.ranking",
    "feedparser",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # Once for the module: preparing explains two papers through the engine (fake servers); the commands
    # checked here only read what it left.
    yield prepare(tmp_path_factory.mktemp("startup"))


def _heavy(started: Started, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if started.imported(name)]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["status", "--help"], 0),
        (["discord", "sync", "--help"], 0),
        (["explain"], 2),  # a usage mistake is told by argparse alone
        (["digest", "--category", "cs.LG", "--limit", "many"], 2),
        ([], 2),  # no command: the help, exit 2
    ],
)
def test_help_and_usage_mistakes_import_nothing_heavy(env: dict[str, str], argv: list[str], code: int) -> None:
    started = run_paperbot(argv, env)

    assert started.returncode == code, started.stderr
    assert _heavy(started, NOT_FOR_PARSING) == []
    assert "Traceback" not in started.stderr
    assert (started.stdout + started.stderr).startswith(("usage: paperbot", "paperbot"))


def test_help_is_the_parsers_help(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    build_parser().print_help()
    expected = capsys.readouterr().out

    assert run_paperbot(["--help"], env).stdout == expected


def test_a_cached_explanation_asks_no_sdk_and_no_chat_platform(env: dict[str, str]) -> None:
    started = run_paperbot(["explain", CACHED.id, "--json"], env)

    assert started.returncode == 0, started.stderr
    explanation = json.loads(started.stdout)["explanation"]
    assert (explanation["source"], explanation["cached"]) == ("anthropic", True)
    assert _heavy(started, NOT_FOR_READING) == []
    assert _heavy(started, NOT_FOR_READING_EITHER) == []


@pytest.mark.parametrize("paper", [GROUNDED, NO_HTML], ids=["full text", "no HTML version"])
@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
def test_a_cached_explanation_is_read_from_the_database_without_the_engine(
    env: dict[str, str], paper: Paper, output: list[str]
) -> None:
    started = run_paperbot(["explain", f"arXiv:{paper.versioned_id}", *output], env)

    assert started.returncode == 0, started.stderr
    assert started.stderr == ""
    assert "claude-haiku-4-5" in started.stdout
    assert _heavy(started, NOT_FOR_A_CACHED_EXPLANATION) == []


def test_a_cached_explanation_with_its_images_lists_them_without_drawing(env: dict[str, str]) -> None:
    started = run_paperbot(["explain", GROUNDED.id, "--json"], env)

    explanation = json.loads(started.stdout)["explanation"]
    assert (explanation["cached"], explanation["grounding"]) == (True, "full_text")
    images = [e["image"] for e in explanation["equations"] if e["image"]]
    assert images and all(Path(image).is_file() for image in images)
    assert _heavy(started, ("matplotlib", "numpy", "bot.isolated_workers")) == []


@pytest.mark.parametrize("bad", ["2401.0123", "arXiv:", "https://example.org/abs/2401.01234"])
def test_a_bad_id_is_one_line_and_exit_2_without_the_engine(env: dict[str, str], bad: str) -> None:
    started = run_paperbot(["explain", bad], env)

    assert started.returncode == 2
    assert started.stdout == ""
    assert len(started.stderr.splitlines()) == 1 and started.stderr.startswith("paperbot: ")
    assert _heavy(started, ("bot.engine", "numpy", *SDKS)) == []


@pytest.mark.parametrize("command", ["status", "usage"])
def test_status_and_usage_import_no_sdk_and_no_chat_platform(env: dict[str, str], command: str) -> None:
    started = run_paperbot([command], env)

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip()
    assert _heavy(started, NOT_FOR_READING) == []
    assert _heavy(started, NOT_FOR_READING_EITHER) == []


@pytest.mark.parametrize(("command", "line"), [("status", "Database: "), ("usage", "LLM usage: anthropic")])
def test_status_and_usage_read_the_database_without_the_engine_or_any_client(
    env: dict[str, str], command: str, line: str
) -> None:
    started = run_paperbot([command], env)

    assert started.returncode == 0, started.stderr
    assert line in started.stdout
    assert _heavy(started, NOT_FOR_STATUS) == []


def test_every_sub_command_has_the_module_that_runs_it() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(actions[0].choices)

    assert set(COMMANDS) == commands
    for module in set(COMMANDS.values()):
        assert callable(importlib.import_module(module).run), module
