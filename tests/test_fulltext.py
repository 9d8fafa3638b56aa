"""The paper's full text (arXiv's HTML version): extraction, the key-equation heuristic, fetching through the
arXiv client from the fake arXiv, the grounded offline explanation and its badge, and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.explain.offline import NO_HTML_BADGE, UNFETCHED_BADGE, offline_explanation
from bot.fulltext import FullTextCache, fetch_full_text, key_equations, parse_full_text
from bot.models import Paper
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.support import make_config

RECORDED = Path(__file__).parent / "data" / "html" / "2501.11120v1.html"

# SYNTHETIC: a minimal page in LaTeXML's shape (no recorded arXiv page with numbered display equations was
# available): a trivial equation in the introduction, a referenced loss in the method, and an aligned group
# whose numbered row is a tbody, as LaTeXML writes them.
SYNTHETIC = """<html><body><article class="ltx_document">
<section id="S1" class="ltx_section"><h2 class="ltx_title ltx_title_section">1 Introduction</h2>
<div id="S1.p1" class="ltx_para"><p class="ltx_p">We study things. A trivial one is</p>
<table id="S1.E1" class="ltx_equation ltx_eqn_table"><tbody><tr class="ltx_equation ltx_eqn_row">
<td class="ltx_eqn_cell"><math alttext="x=1" display="block"><mi>x</mi></math></td>
<td class="ltx_eqn_cell ltx_eqn_eqno"><span class="ltx_tag ltx_tag_equation ltx_align_right">(1)</span></td>
</tr></tbody></table></div></section>
<section id="S3" class="ltx_section"><h2 class="ltx_title ltx_title_section">3 Method</h2>
<div id="S3.p1" class="ltx_para"><p class="ltx_p">Data is noisy. The loss over the noise
<math alttext="\\epsilon" display="inline"><mi>e</mi></math> with gradient descent is</p>
<table id="S3.E2" class="ltx_equation ltx_eqn_table"><tbody><tr class="ltx_equation ltx_eqn_row">
<td class="ltx_eqn_cell"><math alttext="\\mathcal{L}(\\theta)=\\|\\epsilon-\\epsilon_{\\theta}(x_{t},%
t)\\|^{2}" display="block"><mi>L</mi></math></td>
<td class="ltx_eqn_cell ltx_eqn_eqno"><span class="ltx_tag ltx_tag_equation ltx_align_right">(2)</span></td>
</tr></tbody></table>
<p class="ltx_p">By (<a href="#S3.E2" class="ltx_ref">2</a>) and
again (<a href="#S3.E2" class="ltx_ref">2</a>) we get</p>
<table id="S3.EGx1" class="ltx_equationgroup ltx_eqn_align ltx_eqn_table">
<tbody id="S3.E3"><tr class="ltx_equation ltx_eqn_row">
<td><math alttext="\\displaystyle a_{t}" display="inline"></math></td>
<td><math alttext="\\displaystyle=\\sqrt{1-\\beta_{t}}\\,a_{t-1}" display="inline"></math></td>
<td class="ltx_eqn_cell ltx_eqn_eqno"><span class="ltx_tag ltx_tag_equation ltx_align_right">(3)</span></td>
</tr></tbody></table></div></section>
<section id="A1" class="ltx_appendix"><h2 class="ltx_title ltx_title_appendix">Appendix A Proofs</h2>
<div class="ltx_para"><p class="ltx_p">A bound:</p>
<table id="A1.E4" class="ltx_equation ltx_eqn_table"><tbody><tr>
<td><math alttext="\\sum_{i=1}^{n}b_{i}\\leq C\\,n" display="block"></math></td>
<td><span class="ltx_tag ltx_tag_equation ltx_align_right">(A.4)</span></td></tr></tbody></table></div></section>
</article></body></html>"""

PAPER = Paper(
    id="2501.00001",
    version=2,
    title="A synthetic paper",
    authors=("A. Author",),
    categories=("cs.LG",),
    primary_category="cs.LG",
    abstract="We train with gradient descent.",
)


def test_extractor_reads_labels_tex_anchors_intro_and_references() -> None:
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    assert [(e.label, e.anchor) for e in page.equations] == [
        ("1", "S1.E1"),
        ("2", "S3.E2"),
        ("3", "S3.E3"),
        ("A.4", "A1.E4"),
    ]
    loss = page.equations[1]
    assert loss.tex == "\\mathcal{L}(\\theta)=\\|\\epsilon-\\epsilon_{\\theta}(x_{t},t)\\|^{2}"  # "%\n" joined
    assert loss.intro == "The loss over the noise ε with gradient descent is"
    assert loss.references == 2 and loss.section == "3 Method" and not loss.appendix
    assert page.equations[2].tex == "a_{t} =\\sqrt{1-\\beta_{t}}\\,a_{t-1}"
    assert page.equations[3].appendix
    assert page.sections == ("1 Introduction", "3 Method", "Appendix A Proofs")
    assert page.link(loss) == "https://arxiv.org/html/2501.00001v2#S3.E2"


def test_heuristic_prefers_referenced_method_equations_and_drops_trivial_ones() -> None:
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "u")
    assert [e.label for e in key_equations(page)] == ["2", "3", "A.4"]  # "x=1" is trivial
    assert [e.label for e in key_equations(page, limit=1)] == ["2"]  # referenced twice, in the method


def test_recorded_page_without_numbered_equations() -> None:
    page = parse_full_text(RECORDED.read_bytes(), "2501.11120", 1, "u")
    assert page.equations == ()
    assert page.sections[:3] == ("1 Introduction", "2 Out-of-context reasoning", "3 Awareness of behaviors")
    assert "Appendix A Author contributions" in page.sections


def test_bounds_on_hostile_pages() -> None:
    rows = "".join(
        f'<table id="S1.E{i}"><tr><td><math alttext="a_{{{i}}}+b_{{{i}}}=c"></math></td>'
        f'<td><span class="ltx_tag_equation">({i})</span></td></tr></table>'
        for i in range(1, 2_600)
    )
    huge = (
        '<table id="S2.E1"><tr><td><math alttext="'
        + "x+" * 5_000
        + '"></math></td><td><span class="ltx_tag_equation">(9)</span></td>'
        + "</tr></table>"
    )
    page = parse_full_text(f"<section class='ltx_section'>{rows}{huge}<p>unclosed <b>", "1", 1, "u")
    assert len(page.equations) == 2_000
    assert all(e.anchor != "S2.E1" for e in page.equations)


def _client(server: FakeArxivServer, **kwargs: object) -> ArxivClient:
    return ArxivClient(server.rss_url, server.api_url, html_url=server.html_url, min_interval_s=0, retries=0, **kwargs)  # type: ignore[arg-type]


async def test_fetch_html_through_the_arxiv_client(arxiv_server: FakeArxivServer) -> None:
    async with _client(arxiv_server) as client:
        assert await client.fetch_html("2501.11120", 1) == RECORDED.read_bytes()
        assert await client.fetch_html("2501.99999", 1) is None  # 404: no HTML version
        arxiv_server.set_html("2501.00002v1", "<html><body>Conversion to HTML had a Fatal error and exited abruptly.")
        assert await client.fetch_html("2501.00002", 1) is None
    assert arxiv_server.count("/html/2501.11120v1") == 1


async def test_size_cap(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.set_html("2501.00001v2", SYNTHETIC)
    async with _client(arxiv_server, html_max_bytes=1_000) as client:
        assert await client.fetch_html("2501.00001", 2) is None


async def test_cache_per_version(arxiv_server: FakeArxivServer, tmp_path: Path) -> None:
    arxiv_server.set_html("2501.00001v2", SYNTHETIC)
    cache = FullTextCache(tmp_path / "fulltext")
    async with _client(arxiv_server) as client:
        first = await fetch_full_text(client, "2501.00001", 2, arxiv_server.html_url, cache)
        again = await fetch_full_text(client, "2501.00001", 2, arxiv_server.html_url, cache)
        assert await fetch_full_text(client, "2501.99999", 1, "u", cache) is None
        assert await fetch_full_text(client, "2501.99999", 1, "u", cache) is None
    assert first == again and first is not None and len(first.equations) == 4
    assert arxiv_server.count("/html/2501.00001v2") == 1 and arxiv_server.count("/html/2501.99999v1") == 1


def test_offline_explanation_lists_the_papers_equations() -> None:
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    explanation = offline_explanation(PAPER, full_text=page)
    assert explanation.grounding == "full_text"
    assert "Built from the paper's full text (v2)." in explanation.note
    assert [e.label for e in explanation.equations] == ["2", "3", "A.4"]
    loss = explanation.equations[0]
    assert loss.url == "https://arxiv.org/html/2501.00001v2#S3.E2" and loss.image is None
    assert "θ" in loss.unicode and "\\" not in loss.unicode
    assert "• Eq. (2) " in explanation.text and "The loss over the noise ε" in explanation.text
    assert "Concepts these equations use" in explanation.text and "Gradient descent" in explanation.text
    plain = offline_explanation(PAPER, abstract_badge=NO_HTML_BADGE)
    assert plain.grounding == "abstract" and plain.equations == ()
    assert plain.badge == NO_HTML_BADGE and plain.note.endswith("Built from the abstract only (no HTML version).")


def _engine(server: FakeArxivServer, tmp_path: Path) -> Engine:
    store = Store(tmp_path / "p.db")
    store.migrate()
    store.save_papers([PAPER])
    arxiv_keys: dict[str, object] = {"html_url": server.html_url}
    config = make_config(**{"sources.arxiv": arxiv_keys})
    return Engine(config, store, _client(server))


@pytest.mark.parametrize(
    ("answer", "grounding", "badge"),
    [
        ((200, SYNTHETIC), "full_text", "full text (v2)"),
        ((404,), "abstract", NO_HTML_BADGE),
        ((200, "<p>Conversion to HTML had a Fatal error and exited abruptly.</p>"), "abstract", NO_HTML_BADGE),
        ((503,), "abstract", UNFETCHED_BADGE),
    ],
)
async def test_engine_grounds_the_offline_explanation(
    arxiv_server: FakeArxivServer, tmp_path: Path, answer: tuple[int] | tuple[int, str], grounding: str, badge: str
) -> None:
    arxiv_server.script("/html/", answer)
    engine = _engine(arxiv_server, tmp_path)
    try:
        _, reply = await engine.explain("2501.00001v2")
    finally:
        await engine.aclose()
    assert reply.explanation is not None
    assert reply.explanation.grounding == grounding
    assert badge in (reply.explanation.note if grounding == "full_text" else reply.explanation.badge)
    assert (tmp_path / "fulltext").is_dir() == (answer[0] != 503)


def test_cli_explain_json_carries_grounding_and_equations(arxiv_server: FakeArxivServer, tmp_path: Path) -> None:
    from tests.test_cli import paperbot

    arxiv_server.set_html("1605.08386v1", SYNTHETIC)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "p.db"}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\n'
        f'html_url = "{arxiv_server.html_url}"\ntimeout_s = 2\nretries = 1\n'
    )
    result = paperbot("explain", "1605.08386", "--json", config=config)
    assert result.returncode == 0, result.stderr
    explanation = json.loads(result.stdout)["explanation"]
    assert explanation["grounding"] == "full_text"
    assert explanation["equations"][0] == {
        "label": "2",
        "tex": "\\mathcal{L}(\\theta)=\\|\\epsilon-\\epsilon_{\\theta}(x_{t},t)\\|^{2}",
        "unicode": explanation["equations"][0]["unicode"],
        "url": f"{arxiv_server.html_url}/1605.08386v1#S3.E2",
        "image": None,
    }
    assert "θ" in explanation["equations"][0]["unicode"]


def test_the_disk_cache_does_not_serve_a_file_from_an_older_reader_as_complete(tmp_path: Path) -> None:
    cache = FullTextCache(tmp_path)
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    cache.put("2501.00001", 2, page)
    assert cache.get("2501.00001", 2) == page  # passages and every field come back
    written = tmp_path / "2501.00001v2.json"
    old = json.loads(written.read_text(encoding="utf-8"))
    del old["format"]
    del old["passages"]
    written.write_text(json.dumps(old), encoding="utf-8")
    assert cache.get("2501.00001", 2) is None  # unknown: read again, not shown without its passages
    (tmp_path / "2501.00002v1.json").write_text(json.dumps({"missing": True}), encoding="utf-8")
    assert cache.get("2501.00002", 1) is None


def test_the_synthetic_page_has_its_passages_and_where_clause() -> None:
    page = parse_full_text(SYNTHETIC, "2501.00001", 2, "https://arxiv.org/html/2501.00001v2")
    assert [p.section for p in page.passages] == ["1 Introduction", "3 Method", "Appendix A Proofs"]
    assert page.passages[1].text.startswith("Data is noisy. The loss over the noise ε")
    assert page.equations[1].after == "By (2) and again (2) we get"
