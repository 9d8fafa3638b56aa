"""The stand-ins the fan-out benchmark measures the bot against must cost what a good platform and a good
adapter cost, no more: the keyed poster paces each channel from the fake platform's answers (no 429 it
could have foreseen) and reuses its connections, and the loopback fakes answer a reused connection at
once (no Nagle / delayed-ACK stall)."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from bot.cards import DigestMessage, make_card
from bot.models import ChannelRef
from bot.sources.arxiv import parse_rss
from tests.fakes.chat_platform import FakeChatPlatform
from tests.fakes.keyed_poster import CARDS_PER_MESSAGE, KeyedHttpPoster
from tests.fakes.loopback import LoopbackHandler, LoopbackServer
from tests.support import STAT_FEED

CHANNELS = 20
PER_CHANNEL_PER_S = 4.0  # a window of 0.25 s: fast, yet long enough for a guessing client to trip on
POOL = 5  # fewer connections than channels: posts queue for a connection, as in a large fan-out


def _digest(cards: int) -> DigestMessage:
    feed = parse_rss(STAT_FEED, ["stat.ML"])
    return DigestMessage(
        categories=("stat.ML",),
        announced=feed.announced,
        cards=tuple(make_card(item.paper) for item in feed.items[:cards]),
    )


async def test_a_small_fanout_through_the_keyed_poster_meets_no_429_and_reuses_connections() -> None:
    digest = _digest(3 * CARDS_PER_MESSAGE)  # three messages per channel: two waits for the window
    with FakeChatPlatform(per_channel_per_s=PER_CHANNEL_PER_S) as platform:
        poster = KeyedHttpPoster(platform.url, connections=POOL)
        start = time.perf_counter()
        await asyncio.gather(
            *(poster.post_digest_keyed(ChannelRef("chat", "", f"c{n}"), digest, f"k{n}") for n in range(CHANNELS))
        )
        elapsed = time.perf_counter() - start
        await poster.aclose()
        stats = platform.stats()

    assert stats["posted"] == 3 * CHANNELS
    assert stats["rejected"] == 0 and poster.ratelimited == 0, "the poster should wait as the answers say"
    # A client that reads each answer to the end returns the connection to its pool and opens no more
    # than the pool holds; more means answers were left unread and their connections thrown away.
    assert stats["connections"] <= POOL, f"{stats['connections']} connections for {stats['posted']} posts"
    floor = 2 / PER_CHANNEL_PER_S
    assert elapsed < floor + 1.0, f"{elapsed:.2f} s for a {floor:.2f} s floor: the poster waits longer than told"


async def test_a_poster_that_does_not_pace_meets_429s_the_fake_counts() -> None:
    """The other side of the same count: the fake does answer 429 to a client that ignores the answers."""
    digest = _digest(2 * CARDS_PER_MESSAGE)
    with FakeChatPlatform(per_channel_per_s=PER_CHANNEL_PER_S) as platform:
        poster = KeyedHttpPoster(platform.url, per_channel_gap_s=0)
        await asyncio.gather(
            *(poster.post_digest_keyed(ChannelRef("chat", "", f"c{n}"), digest, f"k{n}") for n in range(CHANNELS))
        )
        await poster.aclose()
        stats = platform.stats()
    assert stats["posted"] == 2 * CHANNELS
    assert stats["rejected"] == poster.ratelimited >= CHANNELS


@dataclass(frozen=True)
class _Answer:
    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class _EchoHandler(LoopbackHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._send(_Answer(self.rfile.read(int(self.headers.get("Content-Length") or 0))))


class _EchoServer(LoopbackServer):
    """The smallest fake on the shared loopback lifecycle, as the arXiv and LLM fakes use it."""

    handler = _EchoHandler
    server_name = "echo server"


@pytest.fixture(params=["chat platform", "loopback fake"])
def fake_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "chat platform":
        with FakeChatPlatform(per_channel_per_s=1000) as platform:
            yield platform.url
    else:
        with _EchoServer() as server:
            yield server.base_url


def test_a_reused_connection_is_answered_without_a_delayed_ack_stall(fake_url: str) -> None:
    """With Nagle's algorithm on, each answer after the first on a keep-alive connection waits ~40 ms for
    the client's delayed ACK: 20 requests took 0.84 s instead of a few milliseconds."""
    address = urlsplit(fake_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=5)
    start = time.perf_counter()
    for n in range(20):
        body = json.dumps({"nonce": f"n{n}", "text": "hello"})
        connection.request("POST", f"/channels/c{n}/messages", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    elapsed = time.perf_counter() - start
    connection.close()
    assert elapsed < 0.4, f"20 keep-alive requests took {elapsed:.2f} s"


def test_the_platform_reports_its_counts_over_http() -> None:
    """The benchmark runs the platform in its own process and reads the counts from ``/stats``."""
    with FakeChatPlatform(per_channel_per_s=1000) as platform:
        address = urlsplit(platform.url)
        connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=5)
        connection.request("POST", "/channels/c1/messages", body=json.dumps({"text": "a"}))
        connection.getresponse().read()
        connection.request("GET", "/stats")
        stats = json.loads(connection.getresponse().read())
        connection.close()
    assert stats == {"posted": 1, "rejected": 0, "connections": 1}
