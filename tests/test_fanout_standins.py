"""The stand-ins the fan-out benchmark measures the bot against must cost what a good platform and a good
adapter cost, no more: the keyed poster paces each channel from the fake platform's answers (no 429 it
could have foreseen) and reuses its connections, and the loopback fakes answer a reused connection at
once (no Nagle / delayed-ACK stall)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import socketserver
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
        await asyncio.gather(
            *(poster.post_digest_keyed(ChannelRef("chat", "", f"c{n}"), digest, f"k{n}") for n in range(CHANNELS))
        )
        await poster.aclose()
        stats = platform.stats()

    assert stats["posted"] == 3 * CHANNELS
    assert stats["rejected"] == 0 and poster.ratelimited == 0, "the poster should wait as the answers say"
    # A client that reads each answer to the end returns the connection to its pool and opens no more
    # than the pool holds; more means answers were left unread and their connections thrown away.
    assert stats["connections"] <= POOL, f"{stats['connections']} connections for {stats['posted']} posts"
    # That it waits no longer than told is a matter of speed: bench/bench_fanout.py times this poster (its
    # replay phase) against the floor the platform's limit forces.


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


@dataclass
class _Fake:
    url: str
    nodelay: list[int]  # TCP_NODELAY of each connection the fake accepted, read on its side


def _recording_nodelay(server: socketserver.BaseServer, seen: list[int]) -> None:
    """Make ``server`` note, for each connection it accepts, whether Nagle's algorithm is off on its socket."""
    handler = server.RequestHandlerClass

    class Recording(handler):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            super().setup()
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server.RequestHandlerClass = Recording


@pytest.fixture(params=["chat platform", "loopback fake"])
def fake(request: pytest.FixtureRequest) -> Iterator[_Fake]:
    seen: list[int] = []
    if request.param == "chat platform":
        with FakeChatPlatform(per_channel_per_s=1000) as platform:
            _recording_nodelay(platform._server, seen)
            yield _Fake(platform.url, seen)
    else:
        with _EchoServer() as server:
            assert server._httpd is not None
            _recording_nodelay(server._httpd, seen)
            yield _Fake(server.base_url, seen)


def test_a_reused_connection_is_answered_without_a_delayed_ack_stall(fake: _Fake) -> None:
    """With Nagle's algorithm on, each answer after the first on a keep-alive connection waits ~40 ms for
    the client's delayed ACK: 20 requests took 0.84 s instead of a few milliseconds. The cause is checked
    (Nagle off on the fake's side of the one connection all 20 used); bench/bench_loopback.py times it."""
    address = urlsplit(fake.url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=5)
    for n in range(20):
        body = json.dumps({"nonce": f"n{n}", "text": "hello"})
        connection.request("POST", f"/channels/c{n}/messages", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    connection.close()
    assert len(fake.nodelay) == 1 and fake.nodelay[0] != 0  # one connection, reused, with Nagle off


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
