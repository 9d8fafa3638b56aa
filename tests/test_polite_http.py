"""A bounded download stops as soon as the answer is known to be too long: a huge page costs neither its
whole download nor its memory (arXiv HTML pages, JATS files). Among queued requests, a person's goes
before scheduled work's, also when the person joins work begun for the scheduler."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.flights import Flights
from bot.polite_turns import acting_for
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


class HeldFirst:
    """A service whose first request is answered only when ``release`` is set; it records the order."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.release = asyncio.Event()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.order.append(request.url.path)
        if len(self.order) == 1:
            await self.release.wait()
        return httpx.Response(200, content=b"ok")


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def _get(web: PoliteHttp, path: str, *, for_a_person: bool) -> asyncio.Future[httpx.Response]:
    with acting_for(for_a_person):  # the task made here carries who it is for
        return asyncio.ensure_future(web.get(f"http://test{path}", None, path))


async def test_a_persons_request_goes_before_queued_scheduled_ones_and_a_dropped_one_frees_its_place() -> None:
    service = HeldFirst()
    web = _client(httpx.MockTransport(service.handler))
    first = _get(web, "/feed", for_a_person=False)
    await _settle()
    scheduled = [_get(web, f"/scheduled{n}", for_a_person=False) for n in range(3)]
    await _settle()
    person = _get(web, "/person", for_a_person=True)
    await _settle()
    assert web.queued == 4
    scheduled[1].cancel()  # one gives up while queued: its place goes, the queue moves on
    service.release.set()
    await asyncio.gather(first, person, scheduled[0], scheduled[2])
    assert service.order == ["/feed", "/person", "/scheduled0", "/scheduled2"]
    await web.aclose()


async def test_scheduled_work_a_person_joins_goes_before_other_scheduled_requests() -> None:
    # A paper looked up for the scheduler becomes a person's lookup when a person asks for it too.
    service = HeldFirst()
    web = _client(httpx.MockTransport(service.handler))
    flights: Flights[str, httpx.Response] = Flights()
    first = _get(web, "/feed", for_a_person=False)
    await _settle()
    other = _get(web, "/other-feed", for_a_person=False)
    await _settle()
    with acting_for(False):
        for_scheduler = asyncio.ensure_future(
            flights.once("paper", lambda: web.get("http://test/paper", None, "paper"))
        )
    await _settle()
    with acting_for(True):
        for_person = asyncio.ensure_future(flights.once("paper", lambda: web.get("http://test/paper", None, "paper")))
    await _settle()
    service.release.set()
    await asyncio.gather(first, other, for_scheduler, for_person)
    assert service.order == ["/feed", "/paper", "/other-feed"]  # asked once, and before the other feed
    await web.aclose()
