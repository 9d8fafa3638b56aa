"""What the Slack fan-out benchmarks share (`bench/bench_fanout.py`, `bench/bench_slack.py`): a slot's digests
delivered as the running bot delivers them, at the default settings, and counted from the platform's side.

- The bot: `DigestScheduler.run_slot` over the real engine, outbox and Slack adapter (slack_sdk's
  AsyncWebClient), default `[delivery]` and `[digest]` settings; only the connection is set (`[slack]
  api_url`, HTTP mode), against a database with 30 days of earlier fan-outs (`bench.fanout_history`).
- The platform: the fake Slack Web API (tests/fakes/slack_server.py) in a process of its own, as Slack is,
  enforcing one message per second per channel (429 + Retry-After beyond).
- The counts: digests delivered and failed (the outbox), messages per channel, duplicates (the same part of
  a digest twice in a channel, read back with conversations.history), 429s, and the time against the floor
  that limit forces: (messages per channel - 1) s, the first message of every channel going at once; a
  one-message digest is held to 1 s, one window of the limit.
- The layout (`bot.cards.Layout`): stored for every channel before the fan-out with
  `bot.layouts.set_layout`, as `/paper layout` stores it; the engine draws each digest in its channel's.
- The replay: the same chat.postMessage calls without the engine (``digest_payloads``: the adapter's
  ``lay_out`` and ``part_metadata``; the thread layout's cards in the thread of the header just posted),
  paced as the adapter paces them (tests/test_fanout_standins.py holds the two together).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.slack import SlackAdapter  # noqa: E402
from adapters.slack_client import build_client  # noqa: E402
from adapters.slack_layouts import lay_out  # noqa: E402
from adapters.slack_posting import POST_INTERVAL_S, part_metadata  # noqa: E402
from bench.bench_history import NOW  # noqa: E402
from bench.fanout_history import discard, history_database  # noqa: E402
from bot.cards import DigestMessage, Layout  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.delivery import message_for  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.glossary import find_concepts  # noqa: E402
from bot.layouts import set_layout  # noqa: E402
from bot.outbox import Kind, Outbox  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from bot.sources.arxiv import ArxivClient  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.slack_server import BOT_TOKEN  # noqa: E402

HISTORY_DAYS = 30
SIGNING_SECRET = "bench-signing-secret"
Payload = dict[str, Any]  # one chat.postMessage call's arguments


class RemoteFakeSlack:
    """The fake Slack Web API in a process of its own, as Slack is: it does not compete with the bot for
    the GIL. Counters come from its /_fake/stats route, messages from conversations.history."""

    def __init__(self, per_channel_interval_s: float = 1.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.slack_server", "--per-channel-interval", str(per_channel_interval_s)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        self.api_url = self.base_url + "/api/"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url + "/_fake/stats") as response:
            return dict(json.load(response))

    def posts(self, stats: dict[str, Any]) -> tuple[int, int]:
        """chat.postMessage calls answered 200 and 429."""
        calls = stats["calls"].get("chat.postMessage", {})
        return int(calls.get("200", 0)), int(calls.get("429", 0))

    async def messages(self, channels: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Every channel's messages, oldest first, with their metadata: the history, and after a thread
        layout's header the cards in its thread (conversations.replies: the history leaves replies out)."""
        headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def read(method: str, **params: str) -> list[dict[str, Any]]:
                params.update(limit="1000", include_all_metadata="true")
                async with session.get(self.api_url + method, params=params) as response:
                    data = await response.json()
                return list(data.get("messages") or [])

            async def one(channel: str) -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = []
                for message in reversed(await read("conversations.history", channel=channel)):
                    found.append(message)
                    if (message.get("metadata") or {}).get("event_payload", {}).get("layout") == Layout.THREAD:
                        replies = await read("conversations.replies", channel=channel, ts=str(message["ts"]))
                        found += [m for m in replies if m.get("ts") != message["ts"]]
                return found

            found = await asyncio.gather(*(one(c) for c in channels))
        return dict(zip(channels, found, strict=True))

    def cpu_seconds(self) -> float:
        """CPU the fake's process has used so far (Linux /proc): the platform's share of the machine."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bench_config(api_url: str) -> Config:
    """The default settings; only where Slack is and how it reaches the bot (HTTP mode needs no app token)."""
    raw = {"slack": {"mode": "http", "api_url": api_url}}
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return Config(values=validate(raw), source="bench", env=env)


def store_layouts(store: Store, layout: Layout) -> None:
    """Every subscribed channel's layout set to ``layout``, as each channel's `/paper layout` stores it."""
    for channel in {s.channel for s in store.all_subscriptions()}:
        set_layout(store, channel, layout)


@dataclass(frozen=True)
class Fanout:
    channels: int
    layout: Layout
    seconds: float
    delivered: int  # digests the outbox holds as sent
    failed: int  # digests not sent (failed, or still planned or sending)
    per_channel: Counter[int]  # messages per channel -> channels
    posted: int  # chat.postMessage answered 200
    ratelimited: int  # answered 429
    duplicates: int  # the same digest part twice in a channel
    in_threads: int  # messages posted in a thread (the thread layout's cards)
    peak_mb: float  # the bot's peak RSS so far (VmHWM)
    cpu_s: float  # CPU the bot's process spent on the fan-out
    fake_cpu_s: float  # CPU the fake Slack's process spent meanwhile

    @property
    def floor(self) -> float:
        """What one message a second per channel forces: every message after a channel's first waits 1 s."""
        most = max(self.per_channel, default=1)
        return max(1.0, (most - 1) * POST_INTERVAL_S)

    def describe(self) -> str:
        shape = ", ".join(f"{n} messages × {c} channels" for n, c in sorted(self.per_channel.items()))
        return (
            f"{self.channels} channels, layout {self.layout}: {self.delivered} delivered, {self.failed} failed, "
            f"{self.duplicates} duplicates, {self.posted} posts ({shape}, {self.in_threads} in threads), "
            f"{self.ratelimited} × 429; "
            f"{self.seconds:.2f} s for a {self.floor:.0f} s floor = {self.seconds / self.floor:.2f}×; "
            f"CPU {self.cpu_s:.1f} s ({self.cpu_s / max(1, self.posted) * 1000:.2f} ms a post), "
            f"the fake's {self.fake_cpu_s:.1f} s"
        )


@dataclass
class BotRun:
    """A fan-out done by the bot; the engine and the platform stay up for what the caller measures next."""

    result: Fanout
    engine: Engine
    slack: RemoteFakeSlack
    database: Path
    channels: list[str]

    async def close(self) -> None:
        await self.engine.aclose()
        self.slack.close()
        discard(self.database)


async def deliver_slot(channels: int, layout: Layout = Layout.CARDS, *, days: int = HISTORY_DAYS) -> BotRun:
    """One slot's digests to ``channels`` Slack channels, timed from the scheduler's start to its end."""
    database = history_database(channels, days)
    slack = RemoteFakeSlack(per_channel_interval_s=POST_INTERVAL_S)
    store = Store(database)
    store.migrate()
    store_layouts(store, layout)
    config = bench_config(slack.api_url)
    engine = Engine(config, store, ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api"), now=lambda: NOW)
    adapter = SlackAdapter(engine, config, host="127.0.0.1", port=0)
    await adapter.start()
    scheduler = DigestScheduler(engine, {"slack": adapter}, now=lambda: NOW)
    find_concepts("warm-up")  # the glossary's matcher, built once per process: a running bot has long done it
    try:
        start, cpu, fake_cpu = time.perf_counter(), cpu_seconds(), slack.cpu_seconds()
        await scheduler.run_slot(scheduler.default_slot)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        fake_cpu = slack.cpu_seconds() - fake_cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await adapter.stop()
    ids = sorted({s.channel.channel for s in store.all_subscriptions()})
    today = NOW.date().isoformat()
    states = Counter(row[0] for row in store.db.conn.execute("SELECT state FROM outbox WHERE announced = ?", (today,)))
    posted, ratelimited = slack.posts(slack.stats())
    received = await slack.messages(ids)
    result = Fanout(
        channels=channels,
        layout=layout,
        seconds=seconds,
        delivered=states.get("sent", 0),
        failed=sum(n for state, n in states.items() if state != "sent") + channels - sum(states.values()),
        per_channel=Counter(len(m) for m in received.values()),
        posted=posted,
        ratelimited=ratelimited,
        duplicates=duplicates(received),
        in_threads=sum(1 for messages in received.values() for m in messages if m.get("thread_ts")),
        peak_mb=peak_mb,
        cpu_s=cpu,
        fake_cpu_s=fake_cpu,
    )
    return BotRun(result, engine, slack, database, ids)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def duplicates(received: dict[str, list[dict[str, Any]]]) -> int:
    """Messages that repeat a part of a digest already in their channel (by the outbox key and part in the
    metadata the adapter attaches; by text for a message without it)."""
    extra = 0
    for messages in received.values():
        seen = Counter(_identity(m) for m in messages)
        extra += sum(n - 1 for n in seen.values())
    return extra


def _identity(message: dict[str, Any]) -> str:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    if "key" in payload:
        return f"{payload['key']}#{payload.get('part')}"
    return f"text:{message.get('thread_ts')}:{message.get('text')}"


# --- the HTTP-only replay: the same posts, the same pacing and pool, no engine and no SDK ----------------


@dataclass(frozen=True)
class Post:
    """One chat.postMessage call of a digest: its arguments less the channel, and whether it goes in the
    thread of the digest's first message (the thread layout's cards: that message's ts comes with its answer)."""

    args: Payload
    in_thread: bool = False


def digest_payloads(digest: DigestMessage, key: str) -> list[Post]:
    """The chat.postMessage calls the adapter makes for a digest posted under an outbox key, in its layout:
    the same parts (``lay_out``), text, blocks, options and metadata (``part_metadata``)."""
    parts = lay_out(digest)
    return [
        Post(
            {
                "text": part.message.text,
                "blocks": list(part.message.blocks),
                "unfurl_links": False,
                "unfurl_media": False,
                "metadata": part_metadata(key, index, len(parts), part, digest.layout),
            },
            part.in_thread,
        )
        for index, part in enumerate(parts)
    ]


def sent_payloads(engine: Engine) -> dict[str, list[Post]]:
    """What the bot posted today, channel by channel, drawn again from its outbox rows."""
    outbox = Outbox(engine.store)
    today = NOW.date().isoformat()
    found: dict[str, list[Post]] = {}
    for (key,) in engine.store.db.conn.execute("SELECT key FROM outbox WHERE announced = ?", (today,)):
        row = outbox.get(key)
        if row is not None and row.kind == Kind.DIGEST and row.state == "sent":
            found[row.channel.channel] = digest_payloads(message_for(engine, row), row.key)
    return found


class PacedPoster:
    """Posts chat.postMessage payloads as the adapter paces them (a channel's next message a second after
    the previous answer), over one keep-alive aiohttp session with the default pool, as the adapter's.
    ``sdk``: through slack_sdk's AsyncWebClient as the adapter builds it (its retry handlers included)
    instead of plain HTTP: the replay then differs from the bot only by the engine and the adapter."""

    def __init__(
        self,
        api_url: str,
        *,
        sdk: bool = False,
        interval_s: float = POST_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url
        self.sdk = sdk
        self.interval_s = interval_s  # the adapter's post_interval_s (shorter only in tests)
        self.clock = clock
        self.ratelimited = 0
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None

    async def __aenter__(self) -> PacedPoster:
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {BOT_TOKEN}"})
        if self.sdk:
            self._client = build_client(bench_config(self.api_url))
            self._client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._client.timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in (self._session, self._client.session if self._client else None):
            if session is not None:
                await session.close()

    async def post_channel(self, channel: str, posts: list[Post]) -> None:
        last: float | None = None
        parent: str | None = None  # the ts of the channel's first message: the thread layout's thread
        for post in posts:
            args = {**post.args, "thread_ts": parent} if post.in_thread else post.args
            while True:
                if last is not None and (wait := last + self.interval_s - self.clock()) > 0:
                    await asyncio.sleep(wait)
                status, ts = await self._send(channel, args)
                last = self.clock()
                if status != 429:
                    break
                self.ratelimited += 1
            parent = parent or ts

    async def _send(self, channel: str, payload: Payload) -> tuple[int, str]:
        """One call: its status and the message's ts."""
        if self._client is not None:
            response = await self._client.chat_postMessage(channel=channel, **payload)
            return 200, str(response.get("ts") or "")
        assert self._session is not None
        async with self._session.post(self.api_url + "chat.postMessage", json={"channel": channel, **payload}) as r:
            body = await r.read()  # read to the end, or the connection is closed instead of going back to the pool
            if r.status == 429:
                return 429, ""
            r.raise_for_status()
            return r.status, str(json.loads(body).get("ts") or "")


@dataclass(frozen=True)
class Replay:
    seconds: float
    cpu_s: float
    fake_cpu_s: float
    posted: int  # answered 200
    ratelimited: int  # answered 429 (the SDK's client retries them itself)

    def describe(self, floor: float) -> str:
        per_post_ms = self.cpu_s / max(1, self.posted) * 1000
        return (
            f"{self.seconds:.2f} s = {self.seconds / floor:.2f}× the floor, {self.posted} posts, "
            f"{self.ratelimited} × 429; CPU {self.cpu_s:.1f} s ({per_post_ms:.2f} ms a post), the fake's "
            f"{self.fake_cpu_s:.1f} s"
        )


async def replay(slack: RemoteFakeSlack, posts: dict[str, list[Post]], *, sdk: bool = False) -> Replay:
    """The same posts to fresh channels of the same fake, timed and counted."""
    prefix = "S" if sdk else "R"
    before = slack.posts(slack.stats())
    async with PacedPoster(slack.api_url, sdk=sdk) as poster:
        start, cpu, fake_cpu = time.perf_counter(), cpu_seconds(), slack.cpu_seconds()
        await asyncio.gather(*(poster.post_channel(prefix + channel, p) for channel, p in posts.items()))
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        fake_cpu = slack.cpu_seconds() - fake_cpu
    after = slack.posts(slack.stats())
    return Replay(seconds, cpu, fake_cpu, after[0] - before[0], after[1] - before[1])
