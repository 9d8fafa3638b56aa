"""The CLI end to end, in a subprocess, against the fake arXiv on 127.0.0.1: JSON contracts, exit codes,
one-line errors, and `paperbot run` on the terminal channel."""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.fulltext import FullText, PaperEquation, Passage
from tests.fakes import FakeArxivServer, recorded_feed
from tests.fakes.biorxiv_server import FakePreprintServer, recorded_items
from tests.fakes.huggingface_server import FakeHuggingFaceServer
from tests.support import redate, today_eastern
from tests.support_questions import remember_full_text
from tests.support_waiting import read_until

ROOT = Path(__file__).parent.parent


@pytest.fixture
def config(tmp_path: Path, arxiv_server: FakeArxivServer) -> Iterator[Path]:
    # Every source on a local fake: `paperbot doctor` asks each of them once, and tests never go online.
    with FakeHuggingFaceServer() as hf, FakePreprintServer() as preprints:
        preprints.add("biorxiv", recorded_items())
        path = tmp_path / "config.toml"
        path.write_text(
            f'[database]\npath = "{tmp_path / "p.db"}"\n'
            f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\ntimeout_s = 2\n'
            f'retries = 1\nhtml_url = "{arxiv_server.html_url}"\n'
            f'[sources.huggingface]\napi_url = "{hf.api_url}"\n'
            f'[sources.biorxiv]\napi_url = "{preprints.base_url}"\ncontent_url = "{preprints.base_url}"\n'
        )
        yield path


def paperbot(*args: str, config: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY"))}
    env.pop("PAPERBOT_CONFIG", None)
    argv = [sys.executable, "-m", "bot", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_digest_json_contract(config: Path, arxiv_server: FakeArxivServer) -> None:
    result = paperbot("digest", "--category", "stat", "--json", config=config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    papers = data["papers"]
    assert len(papers) == 10 and data["more"] == 35 + 27 - 10
    required = {
        "id",
        "version",
        "title",
        "authors",
        "categories",
        "primary_category",
        "abstract",
        "announce_type",
        "url",
        "pdf_url",
    }
    for paper in papers:
        assert required <= paper.keys()
        assert "v" not in paper["id"].split(".")[-1]
        assert paper["announce_type"] in ("new", "cross")
        assert "Announce Type" not in paper["abstract"] and "$" not in paper["abstract"]
        assert paper["url"] == f"https://arxiv.org/abs/{paper['id']}"
    assert papers[0]["id"] == "2403.15527" and papers[0]["authors"] == ["Matteo Gasparin", "Aaditya Ramdas"]
    assert arxiv_server.count("/rss/stat") == 1
    assert "paperbot" in arxiv_server.calls("/rss")[0].headers.get("User-Agent", "")


def test_digest_limit_zero_means_all_and_text_output(config: Path) -> None:
    everything = json.loads(paperbot("digest", "--category", "stat", "--limit", "0", "--json", config=config).stdout)
    assert len(everything["papers"]) == 62 and everything["more"] == 0
    text = paperbot("digest", "--category", "stat", "--limit", "2", config=config)
    assert text.returncode == 0
    digest = text.stdout.split("\n\n", 1)[1]  # after the line saying the 2024 feed is not today's
    assert digest.startswith("arXiv digest · stat · Tue 26 Mar 2024")
    assert "… and 60 more at https://arxiv.org/list/stat/new" in text.stdout


def test_explain_json_contract(config: Path) -> None:
    result = paperbot("explain", "https://arxiv.org/pdf/1605.08386v1", "--json", config=config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["paper"]["id"] == "1605.08386" and data["paper"]["version"] == 1
    assert data["paper"]["title"] == "Heat-bath random walks with Markov bases"
    assert data["paper"]["primary_category"] == "math.CO"
    explanation = data["explanation"]
    assert explanation["source"] == "offline" and explanation["cached"] is False
    assert "Graphs on lattice points" in explanation["text"]
    assert [s["title"] for s in explanation["sections"]][-1] == "Abstract"
    assert "LLM" in explanation["note"]


def test_explain_old_style_id(config: Path) -> None:
    result = paperbot("explain", "astro-ph/0601001", "--json", config=config)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["paper"]["id"] == "astro-ph/0601001"


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("explain", "abc"), 2, "is not an arXiv id"),
        (("explain", "2604.11422"), 1, "not found"),
        (("ask", "abc", "why", "so?"), 2, "is not an arXiv id"),
        (("ask", "2604.11422", "what", "is", "λ?"), 1, "not found"),
        (("ask", "1605.08386"), 2, "QUESTION"),
        (("ask", "1605.08386", "  "), 2, "Ask a question after the paper's id"),
        (("digest", "--category", "cs.LF"), 2, "Did you mean cs.LG"),
        (("digest", "--category", "cs.LG", "--limit", "-3"), 2, "--limit"),
        (("digest",), 2, "--category"),
        (("frobnicate",), 2, "invalid choice"),
    ],
)
def test_mistakes_exit_with_one_line(config: Path, args: tuple[str, ...], code: int, expected: str) -> None:
    result = paperbot(*args, config=config)
    assert result.returncode == code
    assert expected in _one_clean_line(result.stderr)


def test_source_down_exits_1_with_one_line(config: Path, arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/rss", *[(503,)] * 10)
    result = paperbot("digest", "--category", "cs.LG", config=config)
    assert result.returncode == 1
    assert "arXiv" in _one_clean_line(result.stderr)


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[schedule]\ntimezone = 'Berlin'\n")
    result = paperbot("digest", "--category", "cs.LG", config=bad)
    assert result.returncode == 2
    assert "[schedule] timezone" in _one_clean_line(result.stderr)


def test_run_answers_stdin_and_stops_cleanly_on_ctrl_c(
    config: Path, tmp_path: Path, arxiv_server: FakeArxivServer
) -> None:
    # Today's feed, as arXiv serves it now (a digest is never built from a stale one).
    arxiv_server.set_feed("stat", redate(recorded_feed(), today_eastern()))
    # A posting time twelve hours away, so no catch-up digest interleaves with the commands.
    far = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    config.write_text(config.read_text() + f'[schedule]\ntime = "{far}"\ntimezone = "UTC"\n')
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY"))}
    err_path = tmp_path / "err.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"/paper subscribe stat\n/paper digest\n/paper nonsense\n")
        proc.stdin.close()  # EOF: the bot keeps running
        # Read as it comes, until the bot has answered the last command and said it keeps running after EOF.
        seen = read_until(proc, [b"Unknown command 'nonsense'", b"stdin closed; the bot keeps running"])
        assert b"stdin closed; the bot keeps running" in seen, seen.decode(errors="replace")
        assert proc.poll() is None, "EOF on stdin must not stop the bot"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)  # what it says while stopping is a few lines: the pipe's buffer holds them
        rest = proc.stdout.read()
    output, errors = (seen + rest).decode(errors="replace"), err_path.read_text()
    assert proc.returncode == 0, errors
    assert "This channel now follows stat (Statistics)" in output
    assert output.count(f"arXiv digest · stat · {today_eastern():%a %d %b %Y}") == 1
    assert "Unknown command 'nonsense'" in output
    assert "Traceback" not in output + errors


def test_explain_with_claude_and_usage(config: Path) -> None:
    from tests.fakes.llm_server import FakeLLMServer

    with FakeLLMServer() as llm:
        config.write_text(config.read_text() + f'[llm]\nbase_url = "{llm.anthropic_url}"\ntimeout_s = 5\n')
        env = {"ANTHROPIC_API_KEY": "sk-ant-test"}
        first = paperbot_env(env, "explain", "1605.08386", "--json", config=config)
        assert first.returncode == 0, first.stderr
        data = json.loads(first.stdout)["explanation"]
        assert data["source"] == "anthropic" and data["cached"] is False
        assert data["sections"][0]["title"] == "The problem"
        second = json.loads(paperbot_env(env, "explain", "arXiv:1605.08386v1", "--json", config=config).stdout)
        assert second["explanation"]["cached"] is True
        assert llm.count("/v1/messages", exact=True) == 1
        usage = paperbot_env(env, "usage", config=config)
        assert usage.returncode == 0
        assert "anthropic (claude-haiku-5-5)" in usage.stdout and "Today: 1 calls" in usage.stdout


def paperbot_env(extra: dict[str, str], *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY"))}
    env.pop("PAPERBOT_CONFIG", None)
    env.pop("ANTHROPIC_BASE_URL", None)
    env.update(extra)
    argv = [sys.executable, "-m", "bot", "--config", str(config), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_status_and_doctor(config: Path) -> None:
    paperbot("digest", "--category", "stat", config=config)
    status = paperbot("status", config=config)
    assert status.returncode == 0, status.stderr
    assert "Feeds:" in status.stdout and "Digests in the last 24 h: 0 sent" in status.stdout
    doctor = paperbot("doctor", config=config)
    assert doctor.returncode == 0 and "uses this terminal as its channel" in doctor.stdout
    broken = paperbot_env({"LLM_PROVIDER": "anthropic"}, "doctor", config=config)
    assert broken.returncode == 1 and "ANTHROPIC_API_KEY is not set" in broken.stdout


# ---------------------------------------------------------------- options, help, pipes, progress


def _sub_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every sub-command as the words that reach it: ("digest",), ("discord", "sync"), ..."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((*path, name))
                found += _sub_parsers(child, (*path, name))
    return found


def test_every_sub_command_help_has_a_one_line_description(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _sub_parsers(build_parser())
    assert {("run",), ("digest",), ("explain",), ("status",), ("doctor",), ("discord", "sync")} <= set(commands)
    for words in commands:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([*words, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        description = " ".join(text.split("\n\n")[1].split())  # after the usage paragraph, unwrapped
        assert description.endswith(".") and description.count(". ") == 0 and len(description) < 120, (words, text)
        assert "--config PATH" in text and "--verbose" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "x.toml", "-v", "digest", "--category", "cs.LG"],
        ["digest", "--category", "cs.LG", "--config", "x.toml", "-v"],
        ["-v", "digest", "--config", "x.toml", "--category", "cs.LG"],
        ["--config", "x.toml", "digest", "-v", "--category", "cs.LG"],
    ],
)
def test_config_and_verbose_work_before_and_after_the_sub_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.config, args.verbose, args.category) == ("x.toml", True, ["cs.LG"])


def test_options_left_out_keep_their_defaults_or_the_main_level_value() -> None:
    args = build_parser().parse_args(["status"])
    assert (args.config, args.verbose) == (None, False)
    args = build_parser().parse_args(["--config", "a.toml", "discord", "sync", "-v"])
    assert (args.config, args.verbose, args.discord_command) == ("a.toml", True, "sync")
    assert build_parser().parse_args(["--config", "a.toml", "status", "--config", "b.toml"]).config == "b.toml"


def test_config_after_the_sub_command_end_to_end(config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    for argv in (["status", "--config", str(config)], ["status", "--config", str(config), "-v"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
        )
        assert result.returncode == 0, result.stderr
        assert "Feeds:" in result.stdout
    assert (config.parent / "p.db").is_file()  # the database the file names, not ./paperbot.db


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("digest", "--category", "stat", "--limit", "0"),
        ("digest", "--category", "stat", "--json"),
        ("--help",),
        ("digest", "--help"),
    ],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(config: Path, args: tuple[str, ...]) -> None:
    # `paperbot … | head -1` with head already gone: every write meets a closed pipe.
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert errors == ""


def test_progress_line_on_a_terminal_only(config: Path, arxiv_server: FakeArxivServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY")) and k != "PAPERBOT_CONFIG"}
    argv = [sys.executable, "-m", "bot", "--config", str(config), "explain", "arXiv:1605.08386v1", "--json"]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=follower, timeout=60, env=env, cwd=ROOT)
        os.close(follower)
        terminal = _read_all(leader)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert "Fetching 1605.08386 from arXiv…" in terminal
    assert json.loads(proc.stdout)["paper"]["id"] == "1605.08386"  # stdout stays clean JSON
    # Now stored: nothing is fetched and nothing said. Not a terminal: nothing said either.
    again = paperbot("explain", "1605.08386", "--json", config=config)
    assert again.returncode == 0 and again.stderr == ""
    piped = paperbot("digest", "--category", "stat", "--json", config=config)
    assert piped.returncode == 0 and piped.stderr == ""


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed (EIO on Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_preview_of_an_older_announcement_says_so(config: Path) -> None:
    """The recorded feed is from 2024: the preview shows it, and says it is not today's."""
    data = json.loads(paperbot("digest", "--category", "stat", "--json", config=config).stdout)
    assert data["stale"] == ["stat"] and data["papers"]
    text = paperbot("digest", "--category", "stat", "--limit", "1", config=config)
    assert text.returncode == 0 and text.stderr == ""
    assert text.stdout.startswith("ⓘ arXiv's feed for stat still shows an earlier announcement")


def test_output_that_cannot_be_written_is_one_line(config: Path) -> None:
    """`> /dev/full`: one line saying why, not "unexpected error"; a closed stdout (`>&-`): quiet."""
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    argv = [sys.executable, "-m", "bot", "--config", str(config), "digest", "--category", "stat", "--limit", "0"]
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert _one_clean_line(proc.stderr) == "paperbot: cannot write the output: No space left on device"
    closed = subprocess.run(
        [*argv[:5], "status"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 0 and closed.stderr == ""


def test_digest_preview_ranked_by_interests_and_authors(config: Path) -> None:
    result = paperbot(
        "digest", "--category", "stat", "--interest", "conformal prediction", "--author", "A. Ramdas",
        "--limit", "3", "--json", config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    papers = json.loads(result.stdout)["papers"]
    assert papers[0]["id"] == "2403.15527"  # conformal, and by Aaditya Ramdas
    assert papers[0]["why"] == "matches: conformal prediction · author: Aaditya Ramdas"
    assert [p["score"] for p in papers] == sorted((p["score"] for p in papers), reverse=True)
    assert all(isinstance(p["score"], (int, float)) and isinstance(p["why"], str) for p in papers)
    bad = paperbot("digest", "--category", "stat", "--interest", '"', config=config)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- paperbot ask

# Made up for the tests in the shape of the paper's full text (arXiv has no HTML version of 1605.08386).
HEAT_BATH = FullText(
    paper_id="1605.08386",
    version=1,
    url="https://arxiv.org/html/1605.08386v1",
    sections=("2 Graphs on fibers", "3 Mixing of heat-bath random walks"),
    equations=(
        PaperEquation(
            label="1", anchor="S2.E1", tex=r"\mathcal{F}_b=\{u\in\mathbb{N}^n : Au=b\}", section="2 Graphs on fibers",
            appendix=False, intro="The fiber of b is", references=4, after="where A is a fixed integer matrix.",
        ),
    ),
    passages=(
        Passage("paragraph", "1 Introduction", "Markov bases connect the fibers of an integer matrix."),
        Passage("paragraph", "2 Graphs on fibers", "The diameter of the fiber graph in (1) is bounded from "
                "above by a constant that depends only on the matrix A and the set of moves."),
        Passage("theorem", "3 Mixing of heat-bath random walks", "The heat-bath random walk is an expander in "
                "fixed dimension when the moves satisfy the augmentation condition.", label="Theorem 3.4"),
    ),
)  # fmt: skip


def test_ask_json_contract_quotes_the_full_text_offline(config: Path) -> None:
    remember_full_text(config.parent / "p.db", HEAT_BATH)
    result = paperbot("ask", "arXiv:1605.08386v1", "what", "bounds", "the", "diameter", "in", "Eq.", "(1)?", "--json",
                      config=config)  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["paper"]["id"] == "1605.08386" and data["paper"]["title"] == "Heat-bath random walks with Markov bases"
    answer = data["answer"]
    assert set(answer) == {"source", "text", "answered_by_paper", "equations"}
    assert answer["source"] == "offline" and answer["answered_by_paper"] is True
    assert "• 2 Graphs on fibers: “The diameter of the fiber graph in (1) is bounded" in answer["text"]
    [equation] = answer["equations"]
    assert set(equation) == {"label", "tex", "unicode", "url", "image"}
    assert (equation["label"], equation["image"]) == ("1", None)
    assert equation["url"] == "https://arxiv.org/html/1605.08386v1#S2.E1" and equation["tex"].startswith("\\mathcal{F}")
    text = paperbot("ask", "1605.08386", "is the heat-bath walk an expander?", config=config)
    assert text.returncode == 0 and "Theorem 3.4 (3 Mixing of heat-bath random walks): “" in text.stdout
    assert "Heat-bath random walks with Markov bases" in text.stdout  # the paper's card under the answer


def test_ask_tells_asking_the_model_on_a_terminal(config: Path) -> None:
    from tests.fakes.llm_server import FakeLLMServer, ToolInput

    remember_full_text(config.parent / "p.db", HEAT_BATH)
    with FakeLLMServer() as llm:
        said = {"answer": "Not stated in the given text.", "equations": [], "answered_by_paper": False}
        llm.script("/v1/messages", ToolInput(said))
        config.write_text(config.read_text() + f'[llm]\nbase_url = "{llm.anthropic_url}"\ntimeout_s = 5\n')
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY")) and k != "PAPERBOT_CONFIG"}
        env.pop("ANTHROPIC_BASE_URL", None)
        env["ANTHROPIC_API_KEY"] = "sk-ant-test"
        argv = [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(config),
            "ask",
            "1605.08386",
            "what hardware runs the walk?",
            "--json",
        ]
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=follower, timeout=60, env=env, cwd=ROOT)
            os.close(follower)
            terminal = _read_all(leader)
        finally:
            os.close(leader)
        [call] = llm.calls("/v1/messages", exact=True)
    assert proc.returncode == 0, terminal
    assert "Fetching 1605.08386 from arXiv…" in terminal and "Asking claude-haiku-5-5…" in terminal
    answer = json.loads(proc.stdout)["answer"]
    assert (answer["source"], answer["answered_by_paper"], answer["equations"]) == ("anthropic", False, [])
    assert answer["text"].startswith("The paper does not answer this directly")
    assert "<passage>" in str(call.body["messages"])


def test_ask_on_a_terminal_prints_the_equation_links_whole(config: Path, arxiv_server: FakeArxivServer) -> None:
    """The bot's own links in an answer are drawn, not defanged, on the terminal too."""
    from tests.support_latexml import latexml_page

    arxiv_server.set_html("1605.08386v1", latexml_page("structures"))
    result = paperbot("ask", "1605.08386", "what is alpha in Eq. (1)?", config=config)
    assert result.returncode == 0, result.stderr
    assert f"↗ Eq. (1): {arxiv_server.html_url}/1605.08386v1#S2.E1" in result.stdout
    assert "\u2060" not in "".join(line for line in result.stdout.splitlines() if "↗" in line)
