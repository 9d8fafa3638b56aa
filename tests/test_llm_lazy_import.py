"""The anthropic SDK (about a second to import) is imported only when an explanation is asked of it:
building the engine with provider anthropic, or serving a cached explanation, leaves it unimported.

Each check runs in a fresh interpreter, since this test process has imported the SDK long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.explain.ledger import ExplanationCache
from bot.explain.prompt import PROMPT_VERSION, parse_answer
from bot.models import Paper
from bot.store import Store
from tests.fakes.llm_server import CANNED_ANSWER, FakeLLMServer

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
UNCACHED = Paper(
    id="2401.05678",
    version=1,
    title="Mirror descent on the simplex",
    authors=("Carl Friedrich Gauss",),
    categories=("math.OC",),
    primary_category="math.OC",
    abstract="We study mirror descent with the entropy as its mirror map.",
)


def _setup(tmp_path: Path, llm_url: str) -> dict[str, str]:
    """A database holding both papers and a cached explanation of the first; a config with provider
    anthropic; the environment a user would have. Returns that environment."""
    database = tmp_path / "paperbot.db"
    store = Store(str(database))
    store.migrate()
    store.save_papers([CACHED, UNCACHED])
    answer = parse_answer(CANNED_ANSWER)
    ExplanationCache(store).put(
        CACHED.id, CACHED.version, PROMPT_VERSION, MODEL, "anthropic", answer, datetime.now(UTC)
    )
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{database}"\n\n'
        # No HTML version to be had, at once: nothing listens there and nothing is retried.
        '[sources.arxiv]\nhtml_url = "http://127.0.0.1:9/html"\nretries = 0\n\n'
        f'[llm]\nprovider = "anthropic"\nmodel = "{MODEL}"\nbase_url = "{llm_url}"\ntimeout_s = 5\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "LLM_", "PAPERBOT_"))}
    return {**env, "PAPERBOT_CONFIG": str(config), "ANTHROPIC_API_KEY": "sk-ant-test", "PYTHONPATH": str(ROOT)}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_engine_and_a_cached_explanation_leave_the_sdk_unimported(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        env = _setup(tmp_path, llm.anthropic_url)
        done = _python(
            f"""
            import asyncio, json, sys
            from bot.config import load_config
            from bot.engine import Engine
            import bot.runner, adapters.console  # what `paperbot run` loads before it is ready

            async def main():
                seen = {{}}
                engine = Engine.from_config(load_config())
                seen["provider"] = type(engine.explainer.provider).__name__
                seen["after_build"] = "anthropic" in sys.modules
                _, reply = await engine.explain("{CACHED.id}")
                seen["cached"] = [reply.explanation.source, reply.explanation.cached]
                seen["after_cached"] = "anthropic" in sys.modules
                _, reply = await engine.explain("{UNCACHED.id}")  # a real request, to the fake API
                seen["asked"] = [reply.explanation.source, reply.explanation.cached]
                seen["after_asking"] = "anthropic" in sys.modules
                await engine.aclose()
                print(json.dumps(seen))

            asyncio.run(main())
            """,
            env,
        )
        asked = llm.count("/v1/messages", exact=True)

    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    assert seen["provider"] == "AnthropicProvider"
    assert seen["after_build"] is False
    assert seen["cached"] == ["anthropic", True] and seen["after_cached"] is False
    # The check can see an import: the first real request does load the SDK, and it works.
    assert seen["asked"] == ["anthropic", False] and seen["after_asking"] is True and asked == 1


def test_cli_explain_from_the_cache_leaves_the_sdk_unimported(tmp_path: Path) -> None:
    env = _setup(tmp_path, "http://127.0.0.1:9")  # nothing listens: a request would fail, not hang
    done = _python(
        f"""
        import sys
        from bot.cli import main
        code = main(["explain", "{CACHED.id}", "--json"])
        print("anthropic imported" if "anthropic" in sys.modules else "anthropic not imported", file=sys.stderr)
        sys.exit(code)
        """,
        env,
    )

    assert done.returncode == 0, done.stderr
    explanation = json.loads(done.stdout)["explanation"]
    assert (explanation["source"], explanation["cached"]) == ("anthropic", True)
    assert "anthropic not imported" in done.stderr
