"""`paperbot doctor`: one request to each arXiv service, to Hugging Face and to api.biorxiv.org against
the local fakes, a clear line for each (working, refused, silent, garbled), the LLM line, no secret from a
URL in any line, and never a database file created."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config
from bot.operations import PROBE_DOI, doctor
from tests.fakes import FakeArxivServer
from tests.fakes.biorxiv_server import Body, FakePreprintServer, recorded_items
from tests.fakes.huggingface_server import RECORDED_DAY, FakeHuggingFaceServer, recorded_daily_papers
from tests.support import make_config
from tests.support_waiting import until

ROOT = Path(__file__).parent.parent
# With the default settle hour (06:00 UTC), the latest settled Hugging Face day is then the recorded one.
NOW = datetime(2024, 10, 26, 7, 0, tzinfo=UTC)
PROBE_PATH = f"/details/biorxiv/{PROBE_DOI}"


@pytest.fixture
def hf_server() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        yield server


@pytest.fixture
def preprint_server() -> Iterator[FakePreprintServer]:
    with FakePreprintServer() as server:
        server.add("biorxiv", recorded_items())  # holds PROBE_DOI
        yield server


def _config(
    tmp_path: Path, rss_url: str, api_url: str, *, hf_url: str, preprint_url: str, timeout_s: float = 2.0
) -> Config:
    return make_config(
        database={"path": str(tmp_path / "data" / "p.db")},
        sources={
            "arxiv": {"rss_url": rss_url, "api_url": api_url, "timeout_s": timeout_s},
            "huggingface": {"api_url": hf_url},
            "biorxiv": {"api_url": preprint_url},
        },
    )


def _working(
    tmp_path: Path, arxiv: FakeArxivServer, hf: FakeHuggingFaceServer, preprints: FakePreprintServer
) -> Config:
    return _config(tmp_path, arxiv.rss_url, arxiv.api_url, hf_url=hf.api_url, preprint_url=preprints.base_url)


def _toml_sources(arxiv: FakeArxivServer, hf: FakeHuggingFaceServer, preprints: FakePreprintServer) -> str:
    return (
        f'[sources.arxiv]\nrss_url = "{arxiv.rss_url}"\napi_url = "{arxiv.api_url}"\n'
        f'[sources.huggingface]\napi_url = "{hf.api_url}"\n'
        f'[sources.biorxiv]\napi_url = "{preprints.base_url}"\ncontent_url = "{preprints.base_url}"\n'
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, lines
    return found[0]


async def test_doctor_checks_every_source_service_once_each(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    lines, ok = await doctor(_working(tmp_path, arxiv_server, hf_server, preprint_server), now=NOW)
    assert ok, lines
    assert _line(lines, "arXiv feeds: ").startswith(f"arXiv feeds: OK at {arxiv_server.rss_url} (")
    assert _line(lines, "arXiv API: ").startswith(f"arXiv API: OK at {arxiv_server.api_url} (found paper")
    assert _line(lines, "Hugging Face: ").startswith(
        f"Hugging Face: OK at {hf_server.api_url} (5+ papers on 2024-10-25, "
    )
    assert _line(lines, "bioRxiv/medRxiv: ").startswith(
        f"bioRxiv/medRxiv: OK at {preprint_server.base_url} (found {PROBE_DOI}, "
    )
    assert _line(lines, "LLM: ")
    assert "not created yet" in _line(lines, "Database: ")
    assert (arxiv_server.count("/rss/"), arxiv_server.count("/api/query")) == (1, 1)  # polite: no retries
    # One small page of the settled day, and one details-by-DOI request to the bioRxiv server only.
    [hf_call] = hf_server.calls()
    assert hf_call.path == "/api/daily_papers" and hf_call.query == {"date": [RECORDED_DAY], "limit": ["5"], "p": ["0"]}
    assert "paperbot" in hf_call.headers.get("User-Agent", "")
    assert [call.path for call in preprint_server.calls()] == [PROBE_PATH]
    assert not (tmp_path / "data").exists()


async def test_doctor_reads_a_short_or_empty_hugging_face_day_as_an_answer(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    config = _working(tmp_path, arxiv_server, hf_server, preprint_server)
    hf_server.set_day(RECORDED_DAY, recorded_daily_papers()[:2])
    lines, ok = await doctor(config, now=NOW)
    assert ok, lines
    assert "(2 papers on 2024-10-25, " in _line(lines, "Hugging Face: OK")
    hf_server.set_day(RECORDED_DAY, [])  # a weekend, or a day nobody picked anything
    lines, ok = await doctor(config, now=NOW)
    assert ok, lines
    assert "(no papers listed on 2024-10-25, " in _line(lines, "Hugging Face: OK")
    assert hf_server.count() == 2


HF_FAILURES = [
    ((503, "unavailable"), "Hugging Face is not answering (HTTP 503)"),
    ((404, '{"error": "Not found"}'), "Hugging Face answered HTTP 404"),
    ((200, "<!DOCTYPE html><html>maintenance</html>"), "a web page instead of JSON"),
    ((200, '{"error": "Invalid date"}'), "Hugging Face answered with an error"),
    ((200, '{"papers": []}'), "a JSON object instead of a list"),
    ((200, '[{"paper": {"id": "not an id"}}]'), "none of its 1 entries is a paper we can read"),
]


@pytest.mark.parametrize(("answer", "expected"), HF_FAILURES)
async def test_doctor_reports_a_failing_hugging_face_after_one_request(
    tmp_path: Path,
    arxiv_server: FakeArxivServer,
    hf_server: FakeHuggingFaceServer,
    preprint_server: FakePreprintServer,
    answer: tuple[int, str],
    expected: str,
) -> None:
    hf_server.script("/api", answer, answer)  # a retry would get the same
    lines, ok = await doctor(_working(tmp_path, arxiv_server, hf_server, preprint_server), now=NOW)
    assert not ok
    line = _line(lines, "Hugging Face: ")
    assert line.startswith(f"Hugging Face: failed at {hf_server.api_url}: ") and expected in line, line
    assert "Traceback" not in line and "Invalid date" not in line  # the service's own words stay in the log
    assert hf_server.count() == 1
    assert _line(lines, "bioRxiv/medRxiv: ").startswith("bioRxiv/medRxiv: OK")


PREPRINT_FAILURES = [
    ((503, "unavailable"), "bioRxiv/medRxiv API is not answering (HTTP 503)"),
    ((404, "not found"), "bioRxiv answered HTTP 404"),
    ((200, "<html>gateway</html>"), "We could not read the answer for bioRxiv preprint"),
    ((200, {"messages": [{"status": "no posts found"}], "collection": []}), '"no posts found"'),
    ((200, {"messages": [{"status": "ok"}], "collection": recorded_items()[1:]}), "does not list that preprint"),
]


@pytest.mark.parametrize(("answer", "expected"), PREPRINT_FAILURES)
async def test_doctor_reports_a_failing_biorxiv_after_one_request(
    tmp_path: Path,
    arxiv_server: FakeArxivServer,
    hf_server: FakeHuggingFaceServer,
    preprint_server: FakePreprintServer,
    answer: tuple[int, Body],
    expected: str,
) -> None:
    preprint_server.script("/", answer, answer)  # a retry or medRxiv would get the same
    lines, ok = await doctor(_working(tmp_path, arxiv_server, hf_server, preprint_server), now=NOW)
    assert not ok
    line = _line(lines, "bioRxiv/medRxiv: ")
    assert line.startswith(f"bioRxiv/medRxiv: failed at {preprint_server.base_url}: ") and expected in line, line
    assert [call.path for call in preprint_server.calls()] == [PROBE_PATH]  # not medRxiv too, no retry
    assert _line(lines, "Hugging Face: ").startswith("Hugging Face: OK")


async def test_doctor_says_which_service_cannot_be_reached(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    config = _config(tmp_path, f"{base}/rss", f"{base}/api/query", hf_url=f"{base}/api", preprint_url=base)
    lines, ok = await doctor(config, now=NOW)
    assert not ok
    assert _line(lines, "arXiv feeds: ").startswith(f"arXiv feeds: failed at {base}/rss: arXiv is not answering")
    assert _line(lines, "arXiv API: ").startswith(f"arXiv API: failed at {base}/api/query: arXiv is not answering")
    assert _line(lines, "Hugging Face: ").startswith(
        f"Hugging Face: failed at {base}/api: Hugging Face is not answering (connection failed)"
    )
    assert _line(lines, "bioRxiv/medRxiv: ").startswith(
        f"bioRxiv/medRxiv: failed at {base}: bioRxiv/medRxiv API is not answering (connection failed)"
    )
    # Each line names the refusal, none the doctor's deadline ("no answer from … within 12 s"): a refused
    # connection is reported at once, not retried until the deadline.
    assert not any("no answer from" in line for line in lines)


async def test_doctor_never_prints_credentials_written_into_a_url(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer
) -> None:
    # A proxy URL may carry a user and password; the lines name the service, never the secret.
    closed = f"http://proxy:hunter2@127.0.0.1:{_closed_port()}"
    hf_url = hf_server.api_url.replace("http://", "http://proxy:hunter2@")
    config = _config(tmp_path, f"{closed}/rss", arxiv_server.api_url, hf_url=hf_url, preprint_url=closed)
    lines, ok = await doctor(config, now=NOW)
    assert not ok
    assert "hunter2" not in "\n".join(lines) and "proxy@" not in "\n".join(lines)
    assert _line(lines, "Hugging Face: ").startswith(f"Hugging Face: OK at {hf_server.api_url} (")
    assert _line(lines, "bioRxiv/medRxiv: ").startswith(
        f"bioRxiv/medRxiv: failed at {closed.replace('proxy:hunter2@', '')}:"
    )
    assert hf_server.count() == 1


async def test_doctor_gives_up_on_a_silent_arxiv_and_reports_errors(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    arxiv_server.script("/rss", "hang")
    arxiv_server.script("/api", (503, "unavailable"))
    lines, ok = await doctor(
        _config(
            tmp_path,
            arxiv_server.rss_url,
            arxiv_server.api_url,
            hf_url=hf_server.api_url,
            preprint_url=preprint_server.base_url,
            timeout_s=0.5,
        )
    )
    assert not ok
    # The client's 0.5 s timeout ended the silence ("no answer in time"), once: no retry, and not the
    # doctor's 12 s deadline ("no answer from … within 12 s").
    assert "no answer in time" in _line(lines, "arXiv feeds: failed")
    assert "HTTP 503" in _line(lines, "arXiv API: failed")
    assert arxiv_server.count("/api") == 1 and arxiv_server.count("/rss") == 1


def _doctor_cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY")) and k != "PAPERBOT_CONFIG"}
    argv = [sys.executable, "-m", "bot", "doctor", "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_doctor_never_creates_the_database(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    db = tmp_path / "state" / "paperbot.db"
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\npath = "{db}"\n' + _toml_sources(arxiv_server, hf_server, preprint_server))
    result = _doctor_cli(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "arXiv feeds: OK" in result.stdout and "arXiv API: OK" in result.stdout
    assert "Hugging Face: OK" in result.stdout and "bioRxiv/medRxiv: OK" in result.stdout
    assert not db.exists() and not db.parent.exists()


def test_doctor_reports_a_path_that_cannot_be_a_database(
    tmp_path: Path, arxiv_server: FakeArxivServer, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[database]\npath = "/dev/null"\n' + _toml_sources(arxiv_server, hf_server, preprint_server))
    result = _doctor_cli(config)
    assert result.returncode == 1
    assert "Database: [database] path = '/dev/null' is not a regular file" in result.stdout


async def test_doctor_checks_everything_at_once_so_silence_costs_one_timeout(
    tmp_path: Path, hf_server: FakeHuggingFaceServer, preprint_server: FakePreprintServer
) -> None:
    # arXiv's two services and the LLM all silent: a person waits for the slowest check, not their sum.
    # Every silence outlasts the test (no timeout or deadline ends one first), so the three silent requests
    # are all open at once only if the checks run at once; one after another, the second never comes.
    with FakeArxivServer(hang_s=60) as arxiv, FakeArxivServer(hang_s=60) as llm:
        arxiv.script("/", "hang", "hang")
        llm.script("/", "hang")
        config = make_config(
            database={"path": str(tmp_path / "p.db")},
            sources={
                "arxiv": {"rss_url": arxiv.rss_url, "api_url": arxiv.api_url, "timeout_s": 50},
                "huggingface": {"api_url": hf_server.api_url},
                "biorxiv": {"api_url": preprint_server.base_url},
            },
            llm={"provider": "openai", "base_url": llm.base_url, "timeout_s": 50},
        )
        checking = asyncio.create_task(doctor(config, deadline_s=55, now=NOW))
        await until(lambda: arxiv.count() == 2 and llm.count() == 1, what="the three silent requests open at once")
        assert not checking.done()
        arxiv.stop()  # the silences end (connections closed): the checks fail and the doctor reports
        llm.stop()
        lines, ok = await asyncio.wait_for(checking, 60)
    assert not ok
    order = ["Chat", "arXiv feeds", "arXiv API", "Hugging Face", "bioRxiv/medRxiv", "LLM", "Embeddings"]
    assert [line.split(":")[0] for line in lines[2:]] == order  # order kept


async def test_doctor_bounds_every_check_by_its_deadline(tmp_path: Path) -> None:
    # Every source silent, each with a client timeout longer than the deadline: the deadline answers, at
    # once for all of them (one after another would take four deadlines).
    with FakeArxivServer(hang_s=10) as arxiv, FakeArxivServer(hang_s=10) as silent:
        arxiv.script("/", "hang", "hang")
        silent.script("/", "hang", "hang")
        rss_url, api_url = arxiv.rss_url, arxiv.api_url
        hf_url, preprint_url = f"{silent.base_url}/api", silent.base_url
        config = _config(tmp_path, rss_url, api_url, hf_url=hf_url, preprint_url=preprint_url, timeout_s=8)
        lines, ok = await doctor(config, deadline_s=1.0, now=NOW)
    # The deadline's wording on every line (the client's 8 s timeout would say "no answer in time"); that
    # the checks run at once, so one deadline covers them all, is the test above.
    assert not ok
    assert _line(lines, "arXiv feeds: ") == f"arXiv feeds: no answer from {rss_url} within 1 s"
    assert _line(lines, "arXiv API: ") == f"arXiv API: no answer from {api_url} within 1 s"
    assert _line(lines, "Hugging Face: ") == f"Hugging Face: no answer from {hf_url} within 1 s"
    assert _line(lines, "bioRxiv/medRxiv: ") == f"bioRxiv/medRxiv: no answer from {preprint_url} within 1 s"
