"""`paperbot doctor`: one request to each arXiv service against the fake arXiv, a clear line for each
(working, refused, silent), the LLM line, and never a database file created."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.config import Config
from bot.operations import doctor
from tests.fakes import FakeArxivServer
from tests.support import make_config

ROOT = Path(__file__).parent.parent


def _config(tmp_path: Path, rss_url: str, api_url: str, timeout_s: float = 2.0) -> Config:
    return make_config(
        database={"path": str(tmp_path / "data" / "p.db")},
        sources={"arxiv": {"rss_url": rss_url, "api_url": api_url, "timeout_s": timeout_s}},
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, lines
    return found[0]


async def test_doctor_checks_both_arxiv_services_once_each(tmp_path: Path, arxiv_server: FakeArxivServer) -> None:
    lines, ok = await doctor(_config(tmp_path, arxiv_server.rss_url, arxiv_server.api_url))
    assert ok, lines
    assert _line(lines, "arXiv feeds: ").startswith(f"arXiv feeds: OK at {arxiv_server.rss_url} (")
    assert _line(lines, "arXiv API: ").startswith(f"arXiv API: OK at {arxiv_server.api_url} (found paper")
    assert _line(lines, "LLM: ")
    assert "not created yet" in _line(lines, "Database: ")
    assert (arxiv_server.count("/rss/"), arxiv_server.count("/api/query")) == (1, 1)  # polite: no retries
    assert not (tmp_path / "data").exists()


async def test_doctor_says_which_arxiv_service_cannot_be_reached(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    lines, ok = await doctor(_config(tmp_path, f"{base}/rss", f"{base}/api/query"))
    assert not ok
    assert _line(lines, "arXiv feeds: ").startswith(f"arXiv feeds: failed at {base}/rss: arXiv is not answering")
    assert _line(lines, "arXiv API: ").startswith(f"arXiv API: failed at {base}/api/query: arXiv is not answering")
    assert time.monotonic() - started < 5


async def test_doctor_gives_up_on_a_silent_arxiv_and_reports_errors(
    tmp_path: Path, arxiv_server: FakeArxivServer
) -> None:
    arxiv_server.script("/rss", "hang")
    arxiv_server.script("/api", (503, "unavailable"))
    started = time.monotonic()
    lines, ok = await doctor(_config(tmp_path, arxiv_server.rss_url, arxiv_server.api_url, timeout_s=0.5))
    assert not ok
    assert "no answer in time" in _line(lines, "arXiv feeds: failed")
    assert "HTTP 503" in _line(lines, "arXiv API: failed")
    assert time.monotonic() - started < 4
    assert arxiv_server.count("/api") == 1


def _doctor_cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY")) and k != "PAPERBOT_CONFIG"}
    argv = [sys.executable, "-m", "bot", "doctor", "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_doctor_never_creates_the_database(tmp_path: Path, arxiv_server: FakeArxivServer) -> None:
    db = tmp_path / "state" / "paperbot.db"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\npath = "{db}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\n'
    )
    result = _doctor_cli(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "arXiv feeds: OK" in result.stdout and "arXiv API: OK" in result.stdout
    assert not db.exists() and not db.parent.exists()


def test_doctor_reports_a_path_that_cannot_be_a_database(tmp_path: Path, arxiv_server: FakeArxivServer) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[database]\npath = "/dev/null"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\n'
    )
    result = _doctor_cli(config)
    assert result.returncode == 1
    assert "Database: [database] path = '/dev/null' is not a regular file" in result.stdout


async def test_doctor_checks_everything_at_once_so_silence_costs_one_timeout(tmp_path: Path) -> None:
    # arXiv's two services and the LLM all silent: a person waits for the slowest check, not their sum.
    with FakeArxivServer() as arxiv, FakeArxivServer() as llm:
        arxiv.script("/", "hang", "hang")
        llm.script("/", "hang")
        config = make_config(
            database={"path": str(tmp_path / "p.db")},
            sources={"arxiv": {"rss_url": arxiv.rss_url, "api_url": arxiv.api_url, "timeout_s": 1.5}},
            llm={"provider": "openai", "base_url": llm.base_url, "timeout_s": 1.5},
        )
        started = time.monotonic()
        lines, ok = await doctor(config)
        elapsed = time.monotonic() - started
    assert not ok
    assert [line.split(":")[0] for line in lines[2:]] == ["Chat", "arXiv feeds", "arXiv API", "LLM"]  # order kept
    assert elapsed < 3.5, (elapsed, lines)


async def test_doctor_bounds_every_check_by_its_deadline(tmp_path: Path) -> None:
    with FakeArxivServer(hang_s=10) as arxiv:
        arxiv.script("/", "hang", "hang")
        started = time.monotonic()
        rss_url, api_url = arxiv.rss_url, arxiv.api_url
        lines, ok = await doctor(_config(tmp_path, rss_url, api_url, timeout_s=8), deadline_s=1.0)
        elapsed = time.monotonic() - started
    assert not ok
    assert _line(lines, "arXiv feeds: ") == f"arXiv feeds: no answer from {rss_url} within 1 s"
    assert _line(lines, "arXiv API: ") == f"arXiv API: no answer from {api_url} within 1 s"
    assert elapsed < 3, elapsed
