"""What a person is told names what actually happened: the server a lookup asks (a bare medRxiv DOI is
looked for on bioRxiv and medRxiv, not "from bioRxiv"), and why an explanation rests on the abstract when
a paper's HTML page exists but was set aside (too large, nested too deeply, redirected elsewhere), instead
of "no HTML version". Through `/paper explain` and the engine, against the local fake servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.explain.offline import NO_HTML_BADGE
from bot.models import ChannelRef
from bot.page_refusals import REDIRECTED, TOO_DEEP, TOO_LARGE, abstract_badge
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.fakes.biorxiv_server import FakePreprintServer, item
from tests.support import FEED_MORNING, make_config, make_engine

CHANNEL = ChannelRef("test", "w", "c")
MEDRXIV_DOI = "10.1101/2026.06.30.700002"
PAPER = "1605.08386"
PAGE = (Path(__file__).parent / "data" / "html" / "2501.11120v1.html").read_bytes()


@pytest.fixture
def preprints() -> Iterator[FakePreprintServer]:
    with FakePreprintServer() as server:
        server.add("medrxiv", [item(2, "2026-6-30", "epidemiology", doi=MEDRXIV_DOI, server="medRxiv")])
        yield server


def _preprint_engine(preprints: FakePreprintServer) -> Engine:
    sources = {"api_url": preprints.base_url, "content_url": preprints.base_url}
    return make_engine(config=make_config(**{"sources.biorxiv": sources}))


@pytest.mark.parametrize(
    ("pasted", "named"),
    [
        (MEDRXIV_DOI, "bioRxiv or medRxiv"),  # a DOI names no server: both are asked
        (f"https://doi.org/{MEDRXIV_DOI}", "bioRxiv or medRxiv"),
        (f"https://www.medrxiv.org/content/{MEDRXIV_DOI}v1", "medRxiv"),
    ],
)
async def test_a_preprint_lookup_names_the_servers_it_asks(
    preprints: FakePreprintServer, pasted: str, named: str
) -> None:
    engine = _preprint_engine(preprints)
    told: list[str] = []
    reply = await dispatch(engine, Invocation(CHANNEL, progress=told.append), f"/paper explain {pasted}")
    assert not reply.is_error, reply.text
    assert told[0] == f"Fetching {MEDRXIV_DOI} from {named}…"
    assert "from bioRxiv…" not in " ".join(told)
    await engine.aclose()


def _arxiv_engine(server: FakeArxivServer, tmp_path: Path, **client: int) -> Engine:
    store = Store(tmp_path / "p.db")
    store.migrate()
    arxiv = ArxivClient(
        server.rss_url,
        server.api_url,
        html_url=server.html_url,
        min_interval_s=0,
        retries=0,
        now=lambda: FEED_MORNING,
        **client,  # type: ignore[arg-type]
    )
    config = make_config(**{"sources.arxiv": {"html_url": server.html_url}})
    return Engine(config, store, arxiv, now=lambda: FEED_MORNING)


async def _badge(engine: Engine) -> str:
    reply = await dispatch(engine, Invocation(CHANNEL), f"/paper explain {PAPER}")
    assert reply.explanation is not None, reply.text
    return reply.explanation.badge


async def test_a_page_larger_than_the_cap_is_named_in_the_badge_and_remembered(
    arxiv_server: FakeArxivServer, tmp_path: Path
) -> None:
    arxiv_server.set_html(f"{PAPER}v1", PAGE)
    engine = _arxiv_engine(arxiv_server, tmp_path, html_max_bytes=10_000)
    assert await _badge(engine) == abstract_badge(TOO_LARGE)
    await engine.aclose()
    again = _arxiv_engine(arxiv_server, tmp_path, html_max_bytes=10_000)  # after a restart: from the cache
    full_text, badge = await again.full_text((await again.lookup(PAPER))[0], interactive=True)
    assert full_text is None and badge == abstract_badge(TOO_LARGE)
    assert arxiv_server.count(f"/html/{PAPER}v1") == 1
    await again.aclose()


async def test_a_page_nested_too_deeply_is_named_in_the_badge(arxiv_server: FakeArxivServer, tmp_path: Path) -> None:
    arxiv_server.set_html(f"{PAPER}v1", b"<html><body>" + b"<div>" * 5_000 + b"x" + b"</div>" * 5_000)
    engine = _arxiv_engine(arxiv_server, tmp_path)
    assert await _badge(engine) == abstract_badge(TOO_DEEP)
    await engine.aclose()


async def test_a_page_redirecting_to_another_host_is_named_in_the_badge(
    arxiv_server: FakeArxivServer, tmp_path: Path
) -> None:
    arxiv_server.script(f"/html/{PAPER}v1", (302, "", {"Location": "http://127.0.0.1:9/elsewhere"}))
    engine = _arxiv_engine(arxiv_server, tmp_path)
    assert await _badge(engine) == abstract_badge(REDIRECTED)
    await engine.aclose()


async def test_a_paper_without_an_html_version_still_says_so(arxiv_server: FakeArxivServer, tmp_path: Path) -> None:
    engine = _arxiv_engine(arxiv_server, tmp_path)  # the fake answers 404 for this paper's page
    assert await _badge(engine) == NO_HTML_BADGE
    await engine.aclose()
