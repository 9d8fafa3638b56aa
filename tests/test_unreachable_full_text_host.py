"""An unreachable full-text host costs one timeout, not one per explanation: after a fetch there fails or
times out, explanations for a few minutes are built from the abstract at once, with a badge saying why, and
the host is asked again afterwards. Real arXiv client against the local fake, whose HTML route hangs."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.engine import HOST_DOWN_S, Engine
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.support import FEED_MORNING, make_config


class Clock:
    def __init__(self) -> None:
        self.at = FEED_MORNING

    def __call__(self) -> datetime:
        return self.at


def _engine(server: FakeArxivServer, clock: Clock) -> Engine:
    store = Store(":memory:")
    store.migrate()
    client = ArxivClient(
        server.rss_url, server.api_url, html_url=server.html_url, min_interval_s=0, retries=0, timeout_s=30, now=clock
    )
    config = make_config(**{"sources.arxiv": {"html_url": server.html_url}})
    return Engine(config, store, client, now=clock, interactive_deadline_s=0.3)


async def test_one_timeout_then_the_abstract_at_once_until_the_host_is_asked_again(
    arxiv_server: FakeArxivServer,
) -> None:
    arxiv_server.hang_s = 5.0
    arxiv_server.script("/html/", "hang", "hang", "hang")
    clock = Clock()
    engine = _engine(arxiv_server, clock)
    _, first = await engine.explain("1605.08386v1")
    assert first.explanation is not None and "could not be fetched" in first.explanation.note
    for _ in range(3):  # other papers, other people: nobody waits on that host again
        _, again = await engine.explain("1605.08386v1")
        assert again.explanation is not None and "did not answer a few minutes ago" in again.explanation.note
    assert arxiv_server.count("/html/") == 1
    clock.at += timedelta(seconds=HOST_DOWN_S + 1)
    _, later = await engine.explain("1605.08386v1")  # the host is tried again (the fetch still in flight, here)
    assert later.explanation is not None and "could not be fetched" in later.explanation.note
    await engine.aclose()
