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
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import CANNED_ANSWER, FakeLLMServer
from tests.support_latexml import LATEXML_PAGES, latexml_page

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
# Papers explained before as `paperbot explain` explains them (prepare runs it once against fake arXiv and
# Claude servers), so the caches beside the database hold what a real first explanation leaves there.
# GROUNDED: from its full text (a LaTeXML page), with its equations drawn as images.
GROUNDED = Paper(
    id=LATEXML_PAGES["structures"].paper_id,
    version=LATEXML_PAGES["structures"].version,
    title="Structures of a LaTeXML page: equations, theorems and notation",
    authors=("Grace Hopper",),
    categories=("math.OC",),
    primary_category="math.OC",
    abstract="We state a convergence theorem for a regularised objective and prove it under two assumptions.",
)
# NO_HTML: arXiv has no HTML version of it, so it is explained from its abstract (the cache remembers that).
NO_HTML = Paper(
    id="2401.05678",
    version=1,
    title="Entropic transport without a page",
    authors=("Emmy Noether",),
    categories=("math.OC",),
    primary_category="math.OC",
    abstract="We bound the iterations of Sinkhorn's algorithm for entropic optimal transport.",
)

# Heavy to import and needed by no command that only reads the database or prints help: numpy (vectors),
# the HTTP stack, the LLM and chat SDKs, the scheduler, feed parsing.
SDKS = ("anthropic", "openai", "discord", "slack_sdk", "slack_bolt", "aiohttp", "apscheduler")


def prepare(folder: Path) -> dict[str, str]:
    """A database holding CACHED (a Claude explanation in the database, its full text never fetched),
    GROUNDED and NO_HTML (explained before by `paperbot explain`), and a config whose every remote address
    refuses at once (nothing listens on port 9): a command that reached the network would fail, not wait.
    Returns the environment a user would run `paperbot` in."""
    database = folder / "paperbot.db"
    store = Store(str(database))
    store.migrate()
    store.save_papers([CACHED, GROUNDED, NO_HTML])
    ExplanationCache(store).put(
        CACHED.id, CACHED.version, PROMPT_VERSION, MODEL, "anthropic", parse_answer(CANNED_ANSWER), datetime.now(UTC)
    )
    store.close()
    config = folder / "config.toml"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "LLM_", "PAPERBOT_", "PYTHON")) and not k.endswith("_TOKEN")
    }
    env = {**env, "PAPERBOT_CONFIG": str(config), "ANTHROPIC_API_KEY": "sk-ant-test"}
    with FakeArxivServer() as arxiv, FakeLLMServer() as llm:
        arxiv.set_html(GROUNDED.versioned_id, latexml_page("structures"))
        _write_config(config, database, html_url=arxiv.html_url, llm_url=llm.anthropic_url)
        for paper in (GROUNDED, NO_HTML):
            first = run_paperbot(["explain", paper.id], env)
            if first.returncode != 0:
                raise RuntimeError(f"explaining {paper.id} failed: {first.stderr[-2000:]}")
    _write_config(config, database, html_url="http://127.0.0.1:9/html", llm_url="http://127.0.0.1:9")
    return env


def _write_config(config: Path, database: Path, *, html_url: str, llm_url: str) -> None:
    config.write_text(
        f'[database]\npath = "{database}"\n\n'
        f'[sources.arxiv]\nhtml_url = "{html_url}"\nretries = 0\n\n'
        f'[llm]\nprovider = "anthropic"\nmodel = "{MODEL}"\nbase_url = "{llm_url}"\ntimeout_s = 5\n'
    )


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
