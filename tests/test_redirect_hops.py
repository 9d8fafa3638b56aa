"""Every hop of a source request obeys the first URL's rules: a page may move within its service, never to
another host or port (the attack: an HTML page redirecting to http://127.0.0.1:<other port>/, a JATS link
leaving the preprint server), never to a file: URL. Real clients against two local fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.errors import SourceError
from bot.sources.arxiv import ArxivClient
from bot.sources.biorxiv import PreprintSource
from bot.sources.polite import PoliteHttp, RedirectRefused
from tests.fakes import FakeArxivServer
from tests.fakes.biorxiv_server import HANDMADE_JATS, FakePreprintServer, recorded_items

DOI = "10.1101/2024.12.31.630767"
RECORDED_PAGE = "2501.11120v1"
RECORDED_HTML = Path(__file__).parent / "data" / "html" / f"{RECORDED_PAGE}.html"


@pytest.fixture
def elsewhere() -> Iterator[FakeArxivServer]:
    """Another local host:port, which must never be asked."""
    with FakeArxivServer() as server:
        yield server


def _arxiv(server: FakeArxivServer) -> ArxivClient:
    return ArxivClient(server.rss_url, server.api_url, html_url=server.html_url, min_interval_s=0, retries=0)


async def test_an_html_page_redirecting_to_another_port_is_not_followed(
    arxiv_server: FakeArxivServer, elsewhere: FakeArxivServer
) -> None:
    arxiv_server.script("/html/2501.11120v1", (302, "", {"Location": f"{elsewhere.html_url}/{RECORDED_PAGE}"}))
    client = _arxiv(arxiv_server)
    try:
        with pytest.raises(SourceError, match="another host"):
            await client.fetch_html("2501.11120", 1)
    finally:
        await client.aclose()
    assert elsewhere.count("/html") == 0


async def test_a_move_within_the_same_service_is_followed(arxiv_server: FakeArxivServer) -> None:
    arxiv_server.script("/html/2501.11120v1", (301, "", {"Location": f"/html/{RECORDED_PAGE}"}))
    client = _arxiv(arxiv_server)
    try:
        page = await client.fetch_html("2501.11120", 1)
    finally:
        await client.aclose()
    assert page == RECORDED_HTML.read_bytes()
    assert arxiv_server.count(f"/html/{RECORDED_PAGE}") == 2


async def test_a_jats_file_redirecting_off_the_preprint_server_is_not_followed(elsewhere: FakeArxivServer) -> None:
    with FakePreprintServer() as preprints:
        preprints.add("biorxiv", recorded_items())
        path = "/content/early/2025/01/01/2024.12.31.630767.source.xml"
        preprints.script(path, (302, "", {"Location": f"{elsewhere.html_url}/{RECORDED_PAGE}"}))
        source = PreprintSource(
            "biorxiv", preprints.base_url, content_url=preprints.base_url, min_interval_s=0, retries=0
        )
        try:
            with pytest.raises(RedirectRefused):
                await source.fetch_jats(DOI, 1)
        finally:
            await source.aclose()
    assert elsewhere.count() == 0 and HANDMADE_JATS.exists()


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "http://127.0.0.2/page",
        "https://test.evil/page",
        "http://test:8080/page",
        "//other.host/page",
    ],
)
async def test_every_hop_stays_on_the_first_origin(location: str) -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path == "/start":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, content=b"moved here")

    web = PoliteHttp(
        "Test",
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True),
        min_interval_s=0,
        retries=0,
    )
    try:
        with pytest.raises(SourceError):
            await web.get("http://test/start", None, "the page")
        with pytest.raises(SourceError):
            await web.get("http://test/start", None, "the page", max_bytes=1000)
    finally:
        await web.aclose()
    assert asked == ["http://test/start", "http://test/start"]


async def test_an_upgrade_to_https_on_the_same_host_is_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return httpx.Response(301, headers={"Location": "https://test/page"})
        return httpx.Response(200, content=b"secure")

    web = PoliteHttp(
        "Test",
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True),
        min_interval_s=0,
        retries=0,
    )
    try:
        assert (await web.get("http://test/page", None, "the page")).content == b"secure"
    finally:
        await web.aclose()
