"""What people paste: arXiv's own DOIs, ids at the end of a sentence, and the sites that show arXiv papers
under their id. Each form is read as the id it names, by the parser and through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import BadIdError
from bot.ids import parse_arxiv_id, tidy_pasted
from bot.sources.registry import naming
from tests.fakes import FakeArxivServer

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("10.48550/arXiv.2508.13219", "2508.13219"),
        ("10.48550/ARXIV.2508.13219", "2508.13219"),
        ("doi:10.48550/arXiv.2508.13219", "2508.13219"),
        ("https://doi.org/10.48550/arXiv.2508.13219", "2508.13219"),
        ("http://dx.doi.org/10.48550/arXiv.2508.13219v2", "2508.13219v2"),
        ("10.48550/arXiv.math/0601001", "math/0601001"),
        ("2508.13219.", "2508.13219"),
        ("2508.13219,", "2508.13219"),
        ("(2508.13219).", "2508.13219"),
        ('"arXiv:2508.13219"', "2508.13219"),
        ("`2508.13219v3`", "2508.13219v3"),
        ("“2508.13219”", "2508.13219"),
        ("https://arxiv.org/abs/2508.13219.", "2508.13219"),
        ("<https://arxiv.org/abs/2508.13219|arxiv.org/abs/2508.13219>.", "2508.13219"),
        ("https://www.alphaxiv.org/abs/2508.13219", "2508.13219"),
        ("https://alphaxiv.org/overview/2508.13219v1", "2508.13219v1"),
        ("alphaxiv.org/pdf/2508.13219", "2508.13219"),
        ("https://ar5iv.labs.arxiv.org/html/2508.13219", "2508.13219"),
        ("https://ar5iv.org/abs/2508.13219", "2508.13219"),
        ("https://www.semanticscholar.org/arxiv/2508.13219", "2508.13219"),
        ("https://scirate.com/arxiv/2508.13219", "2508.13219"),
    ],
)
def test_accepts_what_people_paste(pasted: str, expected: str) -> None:
    assert str(parse_arxiv_id(pasted)) == expected
    assert naming().parse_ref(pasted).key == expected.split("v")[0] or "/" in expected


@pytest.mark.parametrize(
    "pasted",
    [
        "https://evil.example/abs/2508.13219",
        "https://alphaxiv.org.evil.example/abs/2508.13219",
        "10.48550/arXiv.nonsense",
        "10.48551/arXiv.2508.13219",
        "2508.13219..x",
        "2508.132199.",
        ".",
        "()",
    ],
)
def test_still_refuses_what_is_not_an_arxiv_paper(pasted: str) -> None:
    with pytest.raises(BadIdError):
        parse_arxiv_id(pasted)


def test_a_preprint_doi_at_the_end_of_a_sentence_is_still_a_preprint() -> None:
    ref = naming().parse_ref("(10.1101/2024.12.31.630767).")
    assert (ref.source, ref.key) == ("biorxiv", "10.1101/2024.12.31.630767")


def test_tidying_never_touches_the_inside() -> None:
    for text in ("2508.13219v2", "math.GT/0309136", "https://arxiv.org/abs/2508.13219?context=cs"):
        assert tidy_pasted(text) == text


def test_cli_explains_an_arxiv_doi(tmp_path: Path, arxiv_server: FakeArxivServer) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "p.db"}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\ntimeout_s = 2\n'
        f'retries = 1\nhtml_url = "{arxiv_server.html_url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_API_KEY"))}
    env.pop("PAPERBOT_CONFIG", None)
    for pasted in ("https://doi.org/10.48550/arXiv.1605.08386", "1605.08386.", "https://www.alphaxiv.org/abs/1605.08386"):
        argv = [sys.executable, "-m", "bot", "--config", str(config), "explain", pasted, "--json"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["paper"]["id"] == "1605.08386"
