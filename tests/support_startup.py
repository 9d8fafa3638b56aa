"""A fresh `paperbot` process and what it imported: for the start-up checks (tests/test_startup_imports.py)
and the start-up benchmark (bench/bench_startup.py).

Each run is a new interpreter: a test process has imported the engine long ago, so only a new one can
show what a command imports on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.explain.ledger import ExplanationCache
from bot.explain.prompt import PROMPT_VERSION, parse_answer
from bot.models import Paper
from bot.store import Store
from tests.fakes.llm_server import CANNED_ANSWER

ROOT = Path(__file__).resolve().parent.parent
MODEL = "claude-haiku-4-5"
CACHED = Paper(
    id="2401.01234",
    version=2,
    title="Sinkhorn's algorithm converges in Õ(n²/ε²) operations",
    authors=("Ada Lovelace",),
    categories=("math.OC",),
    primary_category="math.OC",
    abstract="We prove that Sinkhorn's algorithm reaches ε accuracy for entropic optimal transport.",
)

# Heavy to import and needed by no command that only reads the database or prints help: numpy (vectors),
# the HTTP stack, the LLM and chat SDKs, the scheduler, feed parsing.
SDKS = ("anthropic", "openai", "discord", "slack_sdk", "slack_bolt", "aiohttp", "apscheduler")


def prepare(folder: Path) -> dict[str, str]:
    """A database holding one paper with a cached Claude explanation, and a config whose every remote
    address refuses at once (nothing listens on port 9): a command that reached the network would fail,
    not wait. Returns the environment a user would run `paperbot` in."""
    database = folder / "paperbot.db"
    store = Store(str(database))
    store.migrate()
    store.save_papers([CACHED])
    ExplanationCache(store).put(
        CACHED.id, CACHED.version, PROMPT_VERSION, MODEL, "anthropic", parse_answer(CANNED_ANSWER), datetime.now(UTC)
    )
    store.close()
    config = folder / "config.toml"
    config.write_text(
        f'[database]\npath = "{database}"\n\n'
        '[sources.arxiv]\nhtml_url = "http://127.0.0.1:9/html"\nretries = 0\n\n'
        f'[llm]\nprovider = "anthropic"\nmodel = "{MODEL}"\nbase_url = "http://127.0.0.1:9"\ntimeout_s = 5\n'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "LLM_", "PAPERBOT_", "PYTHON")) and not k.endswith("_TOKEN")
    }
    return {**env, "PAPERBOT_CONFIG": str(config), "ANTHROPIC_API_KEY": "sk-ant-test"}


@dataclass(frozen=True, slots=True)
class Started:
    returncode: int
    stdout: str
    stderr: str
    modules: frozenset[str]  # sys.modules as the command ended (for --help: right after parsing)

    def imported(self, name: str) -> bool:
        return name in self.modules


def run_paperbot(argv: Sequence[str], env: dict[str, str], code: Path = ROOT) -> Started:
    """`python -m bot ARGV` with the code in ``code``, as `paperbot` runs it, and the modules it imported.

    Run through runpy so that SystemExit (argparse's, after `--help`) is caught and sys.modules read
    after it; the list goes to a file, leaving stdout and stderr the command's own."""
    listing = Path(env.get("TMPDIR", "/tmp")) / f"paperbot-modules-{os.getpid()}-{id(argv)}.json"
    script = textwrap.dedent(
        f"""
        import json, runpy, sys
        sys.argv = ["paperbot", *{list(argv)!r}]
        try:
            runpy.run_module("bot", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        with open({str(listing)!r}, "w") as out:
            json.dump(sorted(sys.modules), out)
        sys.exit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "PYTHONPATH": str(code)},
        cwd=code,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        modules = frozenset(json.loads(listing.read_text()))
    finally:
        listing.unlink(missing_ok=True)
    return Started(done.returncode, done.stdout, done.stderr, modules)
