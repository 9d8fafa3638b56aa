"""Work shared by several people survives any one of them giving up: two people explaining one slow paper,
the first cancelled (its command's deadline, a closed connection) while the page is still downloading, the
second still gets the explanation built from that one download. Through the engine, with the real arXiv
client over an httpx transport whose HTML answer waits for the test's signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.engine import Engine
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.support import FEED_MORNING, FakeArxiv, api_body, make_config

PAGE = (Path(__file__).parent / "data" / "html" / "2501.11120v1.html").read_bytes()
PAPER = "1605.08386"


class SlowHtml:
    """The recorded API answer at once; the HTML page only when ``release`` is set."""

    def __init__(self) -> None:
        self.api = FakeArxiv(api={PAPER: api_body("id_1605.08386_s0_m100_199195aa31ad.json")})
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.html_requests = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/html/"):
            self.html_requests += 1
            self.asked.set()
            await self.release.wait()
            return httpx.Response(200, content=PAGE, headers={"Content-Type": "text/html"})
        return self.api.handler(request)


def _engine(fake: SlowHtml) -> Engine:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler), base_url="http://arxiv.test")
    client = ArxivClient(
        "http://arxiv.test/rss",
        "http://arxiv.test/api/query",
        html_url="http://arxiv.test/html",
        http=http,
        min_interval_s=0,
        retries=0,
        now=lambda: FEED_MORNING,
    )
    store = Store(":memory:")
    store.migrate()
    config = make_config(**{"sources.arxiv": {"html_url": "http://arxiv.test/html"}})
    return Engine(config, store, client, now=lambda: FEED_MORNING)


async def test_the_second_asker_gets_the_explanation_when_the_first_gives_up() -> None:
    fake = SlowHtml()
    engine = _engine(fake)
    first = asyncio.ensure_future(engine.explain(PAPER))
    await fake.asked.wait()  # the page is downloading for the first asker
    second = asyncio.ensure_future(engine.explain(PAPER))
    for _ in range(50):  # let the second reach the shared download (it needs no request of its own)
        await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    fake.release.set()
    paper, reply = await second
    assert paper.id == PAPER and reply.explanation is not None
    assert reply.explanation.grounding == "full_text" or "full text" in reply.explanation.badge
    assert fake.html_requests == 1  # one download, shared, not thrown away with the first asker
    await engine.aclose()


async def test_a_page_nobody_waits_for_any_more_is_still_kept_for_the_next_asker() -> None:
    fake = SlowHtml()
    engine = _engine(fake)
    only = asyncio.ensure_future(engine.explain(PAPER))
    await fake.asked.wait()
    only.cancel()
    await asyncio.gather(only, return_exceptions=True)
    fake.release.set()
    while engine._reading:  # the download finishes on its own
        await asyncio.sleep(0)
    _, reply = await engine.explain(PAPER)
    assert reply.explanation is not None and fake.html_requests == 1
    await engine.aclose()
