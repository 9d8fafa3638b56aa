"""Config values a newcomer gets slightly wrong: each is refused at start with one line naming the key,
instead of being accepted and failing later (or never) in a way nobody can trace back to the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import config as config_module
from bot.config import is_time_zone, load_config
from bot.errors import ConfigError

ROOT = Path(__file__).parent.parent


def _refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), env={})
    message = str(info.value)
    assert "\n" not in message and len(message) < 300, message
    assert info.value.exit_code == 2
    return message


def _accepted(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    load_config(str(path), env={})


# --- URLs: a URL the HTTP client cannot use is refused, whatever part of it is wrong ---------------


@pytest.mark.parametrize(
    "url",
    [
        "http://:80/rss",  # no host
        "http://[::1/rss",  # unclosed IPv6 bracket
        "http://example.com:99999/rss",  # port out of range
        "http://example.com:http/rss",  # port not a number
        "http://example.com/rss\\u0000",  # NUL
        "http://example.com/rss\\n",  # a trailing newline
        "http://exa\\tmple.com/rss",  # control character
        "wss://rss.arxiv.org/rss",  # a websocket URL where HTTP is fetched
        "HTTP//rss.arxiv.org/rss",
    ],
)
def test_unusable_http_urls_are_refused(tmp_path: Path, url: str) -> None:
    message = _refused(tmp_path, f'[sources.arxiv]\nrss_url = "{url}"\n')
    assert message.startswith("config: [sources.arxiv] rss_url = ") and "URL" in message


@pytest.mark.parametrize("url", ["http://[::1/", "https://discord.com/gateway", "wss://:443/"])
def test_unusable_gateway_urls_are_refused(tmp_path: Path, url: str) -> None:
    assert "[discord] gateway_url" in _refused(tmp_path, f'[discord]\ngateway_url = "{url}"\n')


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/rss", "https://rss.arxiv.org/rss", "http://[::1]:9000/api/query", "http://proxy.internal"],
)
def test_usable_urls_are_accepted(tmp_path: Path, url: str) -> None:
    _accepted(tmp_path, f'[sources.arxiv]\nrss_url = "{url}"\napi_url = "{url}"\n')


# --- numbers: finite and within what the bot can act on ------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[sources.arxiv]\ntimeout_s = inf\n", "[sources.arxiv] timeout_s"),
        ("[sources.arxiv]\ntimeout_s = 1e308\n", "[sources.arxiv] timeout_s"),
        ("[llm]\ntimeout_s = 86400\n", "[llm] timeout_s"),
        ("[sources.arxiv]\nretries = 99999999999\n", "[sources.arxiv] retries"),
        ("[llm]\ndaily_budget_usd = inf\n", "[llm] daily_budget_usd"),
        ("[llm]\ninput_usd_per_mtok = -inf\n", "[llm] input_usd_per_mtok"),
        ("[delivery]\nconcurrency = 10000000000\n", "[delivery] concurrency"),
        ("[llm]\nconcurrency = 100000\n", "[llm] concurrency"),
        ("[llm]\nprepare_minutes = 100000\n", "[llm] prepare_minutes"),
    ],
)
def test_infinite_or_absurd_numbers_are_refused(tmp_path: Path, text: str, key: str) -> None:
    message = _refused(tmp_path, text)
    assert message.startswith(f"config: {key} = ") and "use a number" in message


def test_ordinary_numbers_still_pass(tmp_path: Path) -> None:
    _accepted(
        tmp_path,
        "[sources.arxiv]\ntimeout_s = 30\nretries = 4\n[llm]\ntimeout_s = 120.5\ndaily_budget_usd = 500\n"
        "[delivery]\nconcurrency = 1000\n[digest]\nlimit = 0\n",
    )


# --- times: ASCII HH:MM exactly -------------------------------------------------------------------


@pytest.mark.parametrize("time", ["09:00\\n", "0９:0０", "０９:００", "09:0٥", " 09:00", "09:00 ", "9:30", "24:00"])
def test_times_that_only_look_like_hh_mm_are_refused(tmp_path: Path, time: str) -> None:
    assert "use a 24-hour time" in _refused(tmp_path, f'[schedule]\ntime = "{time}"\n')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:30", "09:30"),
        ("9:30", "09:30"),
        ("23:59", "23:59"),
        ("00:00", "00:00"),
        ("24:00", None),
        ("9:5", None),
        ("09:00:00", None),
        ("0９:0５", None),
        ("09:05\n", None),
        ("٠٩:٠٠", None),
        ("", None),
    ],
)
def test_parse_time_is_ascii_and_exact(text: str, expected: str | None) -> None:
    assert config_module.parse_time(text) == expected


# --- time zones: names of the IANA database only --------------------------------------------------


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin"])
def test_files_of_the_zone_folder_that_are_not_zones_are_refused(tmp_path: Path, zone: str) -> None:
    # "localtime" is the host's clock (a different zone on every server), "Factory" is no zone at all,
    # right/ counts leap seconds: none of them is the time a channel asked for.
    assert is_time_zone(zone) is False
    assert "use an IANA time zone" in _refused(tmp_path, f'[schedule]\ntimezone = "{zone}"\n')


@pytest.mark.parametrize(
    ("zone", "meant"), [("utc", "UTC"), ("europe/berlin", "Europe/Berlin"), ("US/PACIFIC", "US/Pacific")]
)
def test_a_zone_in_the_wrong_case_gets_a_did_you_mean(tmp_path: Path, zone: str, meant: str) -> None:
    message = _refused(tmp_path, f'[schedule]\ntimezone = "{zone}"\n')
    assert f'did you mean "{meant}"?' in message


# --- the file itself -----------------------------------------------------------------------------


def test_a_config_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    # Opening a FIFO without a writer would block forever: run it in a subprocess to bound a failure.
    code = f"from bot.config import load_config\nload_config({str(fifo)!r}, env={{}})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20, cwd=ROOT)
    assert "is not a regular file" in result.stderr
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config("/dev/zero", env={})  # would be read until memory runs out
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(str(tmp_path), env={})


def test_a_huge_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("#" * 2_000_000 + "\n[database]\n")
    with pytest.raises(ConfigError, match="too large"):
        load_config(str(path), env={})


def test_a_config_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe[database]\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(str(path), env={})


@pytest.mark.parametrize("model", ["claude\\nx", "m" * 300, "gpt 4o"])
def test_model_names_are_one_word(tmp_path: Path, model: str) -> None:
    assert "[llm] model" in _refused(tmp_path, f'[llm]\nmodel = "{model}"\n')
