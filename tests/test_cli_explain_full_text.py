"""`paperbot explain` as a newcomer runs it on a paper with a LaTeXML full text: the paper's own numbered
equations with their sentences, the notation, the image paths on the terminal, the set-up hint for the
operator on the terminal (never in the JSON sections chat users would see), and the bot's links intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fakes import FakeArxivServer
from tests.support_latexml import latexml_page

ROOT = Path(__file__).parent.parent
PAPER = "1605.08386"  # recorded in the API fixtures; its "HTML version" here is a LaTeXML page


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY")) and k != "PAPERBOT_CONFIG"}
    argv = [sys.executable, "-m", "bot", "--config", str(config), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def _config(tmp_path: Path, arxiv: FakeArxivServer) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "p.db"}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv.rss_url}"\napi_url = "{arxiv.api_url}"\ntimeout_s = 5\n'
        f'retries = 1\nhtml_url = "{arxiv.html_url}"\n'
    )
    return config


def test_explain_prints_the_papers_equations_notation_and_image_paths(
    tmp_path: Path, arxiv_server: FakeArxivServer
) -> None:
    arxiv_server.set_html(f"{PAPER}v1", latexml_page("structures"))
    config = _config(tmp_path, arxiv_server)
    result = _run(config, "explain", PAPER, "-v")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Eq. (" in out and "from the paper's full text (v1)" in out, result.stderr[-3000:]
    assert "Equation images:" in out
    paths = [line.split("image: ", 1)[1] for line in out.splitlines() if "image: " in line]
    assert paths and all(Path(p).is_file() and p.endswith(".png") for p in paths)
    assert "ANTHROPIC_API_KEY" in out  # the terminal is the operator's: the set-up hint is shown there
    assert "\u2060" not in "".join(line for line in out.splitlines() if arxiv_server.html_url in line)

    data = json.loads(_run(config, "explain", PAPER, "--json").stdout)
    explanation = data["explanation"]
    assert explanation["grounding"] == "full_text"
    assert all("ANTHROPIC_API_KEY" not in s["text"] for s in explanation["sections"])
    links = [link for s in explanation["sections"] for link in s["links"]]
    assert any(link["label"].startswith("Eq. (") and link["url"].startswith(arxiv_server.html_url) for link in links)
    assert any(e["image"] for e in explanation["equations"])
