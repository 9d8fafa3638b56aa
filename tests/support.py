"""Shared helpers for engine-level tests: a real ArxivClient over an httpx MockTransport that serves the
recorded feeds in tests/data, and an Engine on an in-memory store."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bot.config import Config, validate
from bot.engine import Engine
from bot.sources.arxiv import ArxivClient
from bot.store import Store

DATA = Path(__file__).parent / "data"
# Real rss.arxiv.org feed of `stat` for 2024-03-26 (see data/PROVENANCE.md).
STAT_FEED = (DATA / "rss-stat-2024-03-26.xml").read_bytes()
# A Tuesday morning after the 2024-03-25 announcement, in UTC.
FEED_MORNING = datetime(2024, 3, 26, 9, 0, tzinfo=UTC)


_ITEM = re.compile(rb"\s*<item>.*?</item>", re.S)


def feed_for(categories: str, source: bytes = STAT_FEED) -> bytes:
    """What arXiv would serve for `cat1+cat2`: the recorded feed's items of those categories only."""
    wanted = categories.split("+")

    def keep(match: re.Match[bytes]) -> bytes:
        cats = re.findall(rb"<category>([^<]+)</category>", match.group(0))
        hit = any(c.decode() == w or c.decode().startswith(w + ".") for c in cats for w in wanted)
        return match.group(0) if hit else b""

    return _ITEM.sub(keep, source)


def redate(feed: bytes, day: date) -> bytes:
    """The feed as arXiv would serve it on ``day``: its channel pubDate moved to that date."""
    stamp = f"{day:%a, %d %b %Y} 00:00:00 -0500".encode()
    return re.sub(rb"<pubDate>[^<]*</pubDate>", b"<pubDate>" + stamp + b"</pubDate>", feed, count=1)


def today_eastern() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()


def api_body(name: str) -> tuple[int, bytes]:
    recorded = json.loads((DATA / "api" / name).read_text())
    return recorded["status_code"], recorded["body"].encode()


@dataclass
class FakeArxiv:
    """Routes: /rss/<cats> -> feeds[cats] (default: the recorded stat feed cut to those categories);
    /api/query -> api[id_list] (default: the recorded "no such paper" answer)."""

    feeds: dict[str, bytes] = field(default_factory=dict)
    api: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path prefix -> forced HTTP status
    requests: list[httpx.Request] = field(default_factory=list)
    day: date | None = None  # serve the default feeds as if published on this day

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for prefix, status in self.status.items():
            if request.url.path.startswith(prefix):
                return httpx.Response(status, text="unavailable")
        if request.url.path.startswith("/rss/"):
            cats = request.url.path.removeprefix("/rss/")
            feed = self.feeds.get(cats) or feed_for(cats)
            return httpx.Response(200, content=redate(feed, self.day) if self.day else feed)
        if request.url.path == "/api/query":
            id_list = request.url.params.get("id_list", "")
            status, body = self.api.get(id_list, api_body("id_0000.0000_s0_m100_8b51d9633a68.json"))
            return httpx.Response(status, content=body)
        return httpx.Response(404)

    def count(self, prefix: str) -> int:
        return sum(1 for r in self.requests if r.url.path.startswith(prefix))


def make_config(**sections: dict[str, object]) -> Config:
    return Config(values=validate(sections), source="test", env={})


def make_engine(
    fake: FakeArxiv | None = None,
    *,
    config: Config | None = None,
    store: Store | None = None,
    now: Callable[[], datetime] = lambda: FEED_MORNING,
) -> Engine:
    fake = fake or FakeArxiv()
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler), base_url="http://arxiv.test")
    client = ArxivClient(
        "http://arxiv.test/rss",
        "http://arxiv.test/api/query",
        http=http,
        min_interval_s=0,
        backoff_s=0,
        retries=1,
        empty_retries=0,
        now=now,
    )
    if store is None:
        store = Store(":memory:")
        store.migrate()
    return Engine(config or make_config(), store, client, now=now)
