"""A bounded download stops as soon as the answer is known to be too long: a huge page costs neither its
whole download nor its memory (arXiv HTML pages, JATS files)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.sources.polite import PoliteHttp, ResponseTooLarge

CHUNK = b"x" * 65_536


def _client(handler: httpx.MockTransport) -> PoliteHttp:
    return PoliteHttp("Test", http=httpx.AsyncClient(transport=handler), min_interval_s=0, retries=0)


async def test_an_endless_body_is_cut_after_the_limit() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(10_000):  # 640 MB if read whole
            sent += 1
            yield CHUNK

    web = _client(httpx.MockTransport(lambda request: httpx.Response(200, content=endless())))
    with pytest.raises(ResponseTooLarge, match="larger than 200,000 bytes"):
        await web.get("http://test/page", None, "the page", max_bytes=200_000)
    assert sent <= 5
    await web.aclose()


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "999999999"}, content=b"")

    web = _client(httpx.MockTransport(handler))
    with pytest.raises(ResponseTooLarge, match="999,999,999 declared"):
        await web.get("http://test/page", None, "the page", max_bytes=1_000)
    await web.aclose()


async def test_a_compressed_bomb_is_measured_decoded_and_a_small_page_comes_back_whole() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # about 5 kB on the wire
    page = b"<html>" + b"y" * 1_000 + b"</html>"

    def handler(request: httpx.Request) -> httpx.Response:
        body = bomb if request.url.path == "/bomb" else gzip.compress(page)
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=body)

    web = _client(httpx.MockTransport(handler))
    with pytest.raises(ResponseTooLarge):
        await web.get("http://test/bomb", None, "the bomb", max_bytes=100_000)
    response = await web.get("http://test/page", None, "the page", max_bytes=100_000)
    assert response.content == page and response.status_code == 200
    await web.aclose()
