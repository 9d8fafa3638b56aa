"""The stand-ins the fan-out benchmarks measure the bot against must post what the bot posts and cost what a
good platform and a good adapter cost, no more: the benchmarks' replay (bench/slack_fanout.py) posts exactly
the chat.postMessage calls the Slack adapter makes for a digest, in every layout, paced as the adapter paces
them; the keyed poster (the crash tests' adapter) paces each channel from the fake platform's answers (no 429
it could have foreseen) and reuses its connections; and the loopback fakes answer a reused connection at
once (no Nagle / delayed-ACK stall)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import socketserver
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.slack import SlackAdapter
from bench.slack_fanout import PacedPoster, bench_config, digest_payloads, duplicates, store_layouts
from bot.cards import DigestMessage, Layout, make_card
from bot.layouts import layout_of
from bot.models import ChannelRef, Subscription
from bot.sources.arxiv import parse_rss
from tests.fakes.chat_platform import FakeChatPlatform
from tests.fakes.keyed_poster import CARDS_PER_MESSAGE, KeyedHttpPoster
from tests.fakes.loopback import LoopbackHandler, LoopbackServer
from tests.fakes.slack_server import TEAM_ID, FakeSlack
from tests.support import STAT_FEED, make_engine

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
    # That it waits no longer than told is a matter of speed: bench/bench_loopback.py times the fakes it
    # talks to.


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


SLACK_INTERVAL_S = 0.05  # the fake Slack's limit for these tests: one message per 50 ms per channel


def _calls(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The chat.postMessage calls the fake received for ``channel``, less what differs between the two
    posters (the channel, the token, and a thread's ts, which is said as "the channel's first message")."""
    first = slack.history[channel][0]["ts"]
    calls = []
    for call in slack.posts(channel):
        args = {k: v for k, v in call.args.items() if k not in ("channel", "token")}
        if "thread_ts" in args:
            args["thread_ts"] = "the first message" if args["thread_ts"] == first else args["thread_ts"]
        calls.append(args)
    return calls


@pytest.mark.parametrize("layout", list(Layout))
async def test_the_benchmarks_replay_posts_what_the_slack_adapter_posts(layout: Layout) -> None:
    """bench_fanout and bench_slack compare the bot with a replay of its posts: the replay must send the
    very calls the adapter sends for the same digest (the same number of messages, text, blocks, metadata
    and options, the thread layout's cards in the header's thread, in order), paced as the adapter paces
    them, so that neither meets a 429."""
    digest = replace(_digest(3), layout=layout)
    with FakeSlack(per_channel_interval_s=SLACK_INTERVAL_S) as slack:
        config = bench_config(slack.api_url)
        engine = make_engine(config=config)
        adapter = SlackAdapter(engine, config, host="127.0.0.1", port=0, post_interval_s=SLACK_INTERVAL_S)
        await adapter.start()
        try:
            await adapter.post_digest_keyed(ChannelRef("slack", TEAM_ID, "C1"), digest, "key-1")
        finally:
            await adapter.stop()
        async with PacedPoster(slack.api_url, interval_s=SLACK_INTERVAL_S) as poster:
            await poster.post_channel("R1", digest_payloads(digest, "key-1"))
        by_adapter, by_replay = _calls(slack, "C1"), _calls(slack, "R1")
        ratelimited = slack.ratelimited_posts
        received = {channel: slack.history[channel] for channel in ("C1", "R1")}
    expected = {Layout.CARDS: 1 + 3, Layout.COMPACT: 1, Layout.THREAD: 1 + 3}[layout]  # messages
    assert len(by_adapter) == expected
    in_thread = [call.get("thread_ts") for call in by_adapter]
    assert in_thread == ([None] + ["the first message"] * 3 if layout == Layout.THREAD else [None] * expected)
    assert by_replay == by_adapter
    assert ratelimited == 0 and poster.ratelimited == 0
    assert duplicates(received) == 0


def test_the_duplicate_count_sees_a_digest_part_posted_twice() -> None:
    def part(key: str, index: int) -> dict[str, Any]:
        return {
            "text": "x",
            "metadata": {"event_type": "paperbot_digest", "event_payload": {"key": key, "part": index}},
        }

    once = {"C1": [part("k", 0), part("k", 1)], "C2": [part("k2", 0), {"text": "a note"}]}
    assert duplicates(once) == 0
    assert duplicates({**once, "C3": [part("k3", 0), part("k3", 1), part("k3", 1)]}) == 1


async def test_the_benchmarks_store_each_channels_layout_as_the_command_does() -> None:
    """The fan-out's layout is each channel's stored setting (what `/paper layout` writes), which the engine
    draws every digest of the channel in: no digest of the benchmark is laid out another way."""
    engine = make_engine()
    channel = ChannelRef("slack", TEAM_ID, "C1")
    engine.store.subscribe(Subscription(id=0, channel=channel, category="stat"))
    await engine.refresh(["stat"])
    selection = await engine.plan_digest(channel, engine.store.channel_subscriptions(channel))
    assert engine.digest_message(selection).layout == Layout.CARDS
    store_layouts(engine.store, Layout.THREAD)
    assert layout_of(engine.store, channel) == Layout.THREAD
    drawn = engine.digest_message(selection)
    assert drawn.layout == Layout.THREAD and drawn.cards
    await engine.aclose()


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
