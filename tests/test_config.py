"""Config: where it comes from, defaults, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError

ROOT = Path(__file__).parent.parent


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(None, env={}, cwd=tmp_path)
    assert config.source == "built-in defaults"
    assert config.get("sources.arxiv", "rss_url") == "https://rss.arxiv.org/rss"
    assert config.get("sources.arxiv", "api_url") == "https://export.arxiv.org/api/query"
    assert config.get("discord", "api_url") == "https://discord.com/api/v10"
    assert config.get("digest", "limit") == 10
    assert config.llm_provider == "none"


def test_example_config_is_valid_and_matches_the_defaults(tmp_path: Path) -> None:
    example = load_config(str(ROOT / "config.example.toml"), env={})
    defaults = load_config(None, env={}, cwd=tmp_path)
    assert example.values == defaults.values


def test_precedence_cli_then_env_then_cwd(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[database]\npath = "cwd.db"\n')
    env_file = tmp_path / "env.toml"
    env_file.write_text('[database]\npath = "env.db"\n')
    cli_file = tmp_path / "cli.toml"
    cli_file.write_text('[database]\npath = "cli.db"\n')
    env = {"PAPERBOT_CONFIG": str(env_file)}
    assert load_config(str(cli_file), env=env, cwd=tmp_path).database_path == "cli.db"
    assert load_config(None, env=env, cwd=tmp_path).database_path == "env.db"
    assert load_config(None, env={}, cwd=tmp_path).database_path == "cwd.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[schedule]\ntme = '08:00'\n", "unknown key [schedule] tme; allowed: time, timezone"),
        ("[shedule]\ntime = '08:00'\n", "unknown section [shedule]"),
        ("[sources.rss]\nurl = 'x'\n", "unknown section [sources.rss]"),
        ("token = 'xoxb-1'\n", "unknown key token"),
        ("[slack]\nbot_token = 'xoxb-1'\n", "unknown key [slack] bot_token"),
        ("[digest]\nlimit = '10'\n", "[digest] limit must be an integer, got a string"),
        ("[digest]\nlimit = true\n", "[digest] limit must be an integer, got true or false"),
        ("[digest]\nlimit = -1\n", "[digest] limit = -1 is not allowed"),
        ("[schedule]\ntime = '25:00'\n", "[schedule] time = '25:00' is not allowed: use a 24-hour time \"HH:MM\""),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", "[schedule] timezone = 'Mars/Olympus' is not allowed: use an IANA"),
        ("[llm]\nprovider = 'gpt'\n", '[llm] provider = \'gpt\' is not allowed: use one of "", "anthropic"'),
        ("[llm]\ntimeout_s = 0\n", "[llm] timeout_s = 0.0 is not allowed: use a number greater than 0"),
        ("[slack]\nmode = 'webhook'\n", "[slack] mode = 'webhook' is not allowed"),
        ("[slack]\nport = 70000\n", "[slack] port = 70000 is not allowed"),
        ("[discord]\napi_url = 'discord.com'\n", "[discord] api_url = 'discord.com' is not allowed: use an http(s)"),
        ("[console]\ncategories = ['cs.LF']\n", "is not an arXiv category. Did you mean cs.LG"),
        ("[database\npath = 'x'\n", "is not valid TOML"),
    ],
)
def test_mistakes_fail_with_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(_write(tmp_path, text)), env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"), env={})


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    config = load_config(None, env={"ANTHROPIC_API_KEY": "sk-test", "DISCORD_TOKEN": " "}, cwd=tmp_path)
    assert config.secret("ANTHROPIC_API_KEY") == "sk-test"
    assert config.secret("DISCORD_TOKEN") is None  # blank counts as unset
    assert config.llm_provider == "anthropic"


def test_llm_provider_env_beats_the_file_and_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, "[llm]\nprovider = 'anthropic'\n")
    assert load_config(str(path), env={"LLM_PROVIDER": "none"}).llm_provider == "none"
    with pytest.raises(ConfigError, match="LLM_PROVIDER"):
        load_config(str(path), env={"LLM_PROVIDER": "gpt4"})


def test_integers_are_accepted_where_numbers_are_expected(tmp_path: Path) -> None:
    config = load_config(str(_write(tmp_path, "[llm]\ndaily_budget_usd = 3\n")), env={})
    assert config.get("llm", "daily_budget_usd") == 3.0
