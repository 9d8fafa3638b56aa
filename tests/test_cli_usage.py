"""`paperbot usage` reads the ledger without the explainer: the same report as `/paper usage`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Config, load_config, validate
from bot.explain.ledger import Ledger
from bot.explain.llm import build_provider
from bot.explain.service import Explainer
from bot.explain.usage import configured_llm
from bot.store import Store


@pytest.mark.parametrize(
    ("llm", "env"),
    [
        ({}, {}),
        ({}, {"ANTHROPIC_API_KEY": "sk-test"}),
        ({"provider": "anthropic"}, {}),
        ({"provider": "anthropic", "model": "claude-haiku-4-5"}, {"ANTHROPIC_API_KEY": "sk-test"}),
        ({"provider": "openai", "base_url": "http://127.0.0.1:9/v1"}, {}),
        ({"provider": "none"}, {"ANTHROPIC_API_KEY": "sk-test"}),
        ({}, {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test"}),
    ],
)
def test_the_llm_told_without_making_it_is_the_one_build_provider_makes(
    llm: dict[str, object], env: dict[str, str]
) -> None:
    config = Config(values=validate({"llm": llm}), source="test", env=env)
    provider = build_provider(config)
    made = (provider.name, provider.model) if provider is not None else None
    if provider is not None:
        asyncio.run(provider.aclose())

    assert configured_llm(config) == made


def test_paperbot_usage_prints_what_the_explainer_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LLM_PROVIDER", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PAPERBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[database]\npath = "{tmp_path / "p.db"}"\n\n[llm]\ndaily_budget_usd = 2.5\n')
    store = Store(tmp_path / "p.db")
    store.migrate()
    ledger, now = Ledger(store), datetime.now(UTC)
    for at, purpose, outcome in (
        (now, "explain", "ok"),
        (now, "question", "error"),
        (now - timedelta(days=40), "explain", "ok"),
    ):
        ledger.record(
            at=at, provider="anthropic", model="claude-haiku-4-5", paper_id="2403.15527", input_tokens=1200,
            output_tokens=300, cost_usd=0.0027, batch=False, outcome=outcome, purpose=purpose,
        )  # fmt: skip
    config = load_config(str(config_file))
    expected = Explainer(config, store, build_provider(config)).usage().text()
    store.close()

    assert main(["usage", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n") == expected
    assert "of a $2.50 daily budget" in out and "Questions in threads" in out
