"""Slack adapter benchmarks, run by hand: `python bench/bench_slack.py` (from the repository root, installed
with `pip install -e '.[test]'`). Everything runs on loopback against the fake Slack Web API
(tests/fakes/slack_server.py); prints one line per figure.

1. acks: 50 concurrent `/paper explain` of papers whose explanation is cached (an OpenAI-compatible fake
   LLM explained them once beforehand), as signed HTTP-mode requests from a separate thread and loop.
   Targets: every ack < 3 s, ack p99 <= 300 ms. Run twice: cold (the first requests after start, bolt
   still has to call auth.test) and warm.
2. fan-out: a digest to 200 channels, the fake enforcing 1 message/s per channel (429 + Retry-After
   beyond that). Target: done within 1.2x the time that limit forces, i.e. (messages per channel - 1) s.
   A digest is a header message and one message per card (11 messages for the default 10 papers).
   Channels are delivered concurrently (`deliver_digest` per channel under `asyncio.gather`), plus the
   scheduler's own `run_slot` (channels in parallel, bounded per platform) for the default digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from adapters.slack import SlackAdapter  # noqa: E402
from adapters.slack_blocks import render_digest  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.delivery import Outcome, deliver_digest  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.providers import build_provider  # noqa: E402
from bot.explain.service import Explainer  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402
from tests.fakes.slack_server import BOT_TOKEN, SLASH_COMMAND_BODY, TEAM_ID, FakeSlack  # noqa: E402
from tests.support import make_engine  # noqa: E402

SECRET = "bench-signing-secret"
CONCURRENT = 50
CHANNELS = 200


def config(api_url: str, **sections: dict[str, Any]) -> Config:
    raw = {"slack": {"mode": "http", "api_url": api_url}, **sections}
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET}
    return Config(values=validate(raw), source="bench", env=env)


def signed(text: str, response_url: str, channel: str) -> tuple[bytes, dict[str, str]]:
    fields = dict(parse_qsl(SLASH_COMMAND_BODY, keep_blank_values=True))
    fields.update(command="/paper", text=text, channel_id=channel, response_url=response_url)
    body = urlencode(fields)
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body.encode(), headers


def fire(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, float]]:
    """Send all requests at once from another thread and loop (a client is not the server's loop)."""

    async def one(session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status, time.perf_counter() - started

    async def all_at_once() -> list[tuple[int, float]]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            return list(await asyncio.gather(*(one(session, b, h) for b, h in requests)))

    results: list[list[tuple[int, float]]] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(all_at_once())))
    thread.start()
    thread.join()
    return results[0]


def answered(slack: FakeSlack) -> int:
    return slack.count("response") + slack.count("chat.postMessage")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def bench_acks() -> None:
    with FakeSlack() as slack, FakeLLMServer() as llm:
        cfg = config(slack.api_url, llm={"provider": "openai", "base_url": llm.openai_url})
        engine = make_engine(config=cfg)
        engine.explainer = Explainer(cfg, engine.store, build_provider(cfg), now=engine.now)
        await engine.refresh(["stat"])
        ids = [row[0] for row in engine.store.db.conn.execute("SELECT id FROM papers LIMIT ?", (CONCURRENT,))]
        for paper_id in ids:  # explain each once: the benchmark's requests are cache hits
            await engine.explain(paper_id)
        llm_calls = llm.count("/v1/chat/completions")
        adapter = SlackAdapter(engine, cfg, host="127.0.0.1", port=0)
        await adapter.start()
        url = f"http://127.0.0.1:{adapter.port}/slack/events"
        try:
            for label in ("cold", "warm"):
                # A public explanation is the bot's own message (chat.postMessage, so that it can be reacted
                # to and asked about in its thread); anything private goes to the response_url.
                before = answered(slack)
                requests = [signed(f"explain {pid}", slack.response_url(), f"C{n:03d}") for n, pid in enumerate(ids)]
                started = time.perf_counter()
                results = await asyncio.to_thread(fire, url, requests)
                acked = time.perf_counter() - started
                await slack.wait_async(lambda b=before: answered(slack) >= b + CONCURRENT, timeout=60)
                await adapter.idle()
                done = time.perf_counter() - started
                latencies = [elapsed for _, elapsed in results]
                statuses = {status for status, _ in results}
                answers = [c for c in slack.calls() if c.method in ("response", "chat.postMessage")][before:]
                cached = sum("(cached)" in str(a.args.get("blocks")) for a in answers)
                ok = max(latencies) < 3.0 and p99(latencies) <= 0.300 and statuses == {200}
                print(
                    f"acks ({label}): {CONCURRENT} concurrent /paper explain: ack p50 "
                    f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99(latencies) * 1000:.0f} ms, "
                    f"max {max(latencies) * 1000:.0f} ms (all acks in {acked:.2f} s, HTTP {sorted(statuses)}); "
                    f"all {len(answers)} explanations answered in {done:.2f} s, {cached} from the cache "
                    f"[target: every ack < 3 s, p99 <= 300 ms: {'OK' if ok else 'MISSED'}]"
                )
            assert llm.count("/v1/chat/completions") == llm_calls, "the benchmark's explanations hit the LLM"
        finally:
            await adapter.stop()
            await engine.aclose()


class RemoteFakeSlack:
    """The fake Slack Web API in a process of its own, as Slack is: it does not compete with the bot for
    the GIL. Counters come from its /_fake/stats route."""

    def __init__(self, per_channel_interval_s: float) -> None:
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

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


async def fan_out(limit: int, how: str) -> None:
    """how: "deliver" (concurrent deliver_digest: plan, draw, post, record), "post" (the adapter alone:
    concurrent post_digest of the already planned digests) or "scheduler" (DigestScheduler.run_slot)."""
    slack = RemoteFakeSlack(per_channel_interval_s=1.0)
    try:
        engine: Engine = make_engine(config=config(slack.api_url, digest={"limit": limit}))
        adapter = SlackAdapter(engine, config(slack.api_url), host="127.0.0.1", port=0)
        await adapter.start()
        channels = [ChannelRef("slack", TEAM_ID, f"C{n:04d}") for n in range(CHANNELS)]
        for channel in channels:
            engine.store.subscribe(Subscription(id=0, channel=channel, category="stat"))
        await engine.refresh(["stat"])
        subs = {c: engine.store.channel_subscriptions(c) for c in channels}
        sample = engine.digest_message(await engine.plan_digest(channels[0], subs[channels[0]]))
        per_channel = len(render_digest(sample))
        forced = float(per_channel - 1)  # 1 message/s per channel: the first goes at once
        digests = {}
        if how == "post":
            digests = {c: engine.digest_message(await engine.plan_digest(c, subs[c])) for c in channels}
        started = time.perf_counter()
        if how == "scheduler":
            scheduler = DigestScheduler(engine, {"slack": adapter})
            await scheduler.run_slot(scheduler.default_slot)
            label = "DigestScheduler.run_slot"
        elif how == "post":
            await asyncio.gather(*(adapter.post_digest(c, digests[c]) for c in channels))
            label = "adapter only: concurrent post_digest of planned digests"
        else:
            # deliver_digest took the adapter's post_digest; with the outbox it takes the adapter itself.
            poster: Any = adapter if "poster" in inspect.signature(deliver_digest).parameters else adapter.post_digest
            outcomes = await asyncio.gather(*(deliver_digest(engine, poster, c, subs[c]) for c in channels))
            assert set(outcomes) == {Outcome.POSTED}
            label = "concurrent deliver_digest: plan + draw + post + record"
        took = time.perf_counter() - started
        stats = slack.stats()
        posts = stats["calls"].get("chat.postMessage", {}).get("200", 0)
        assert posts == CHANNELS * per_channel, stats
        budget = 1.2 * forced
        verdict = ("OK" if took <= budget else "MISSED") if forced else "n/a: one message per channel"
        print(
            f"fan-out ({label}): {CHANNELS} channels x {per_channel} message(s) of {len(sample.cards)} papers: "
            f"{took:.2f} s, {posts} posts, {stats['ratelimited_posts']} answered 429; the 1 msg/s/channel limit "
            f"forces {forced:.0f} s [target <= 1.2x = {budget:.1f} s: {verdict}]"
        )
        await adapter.stop()
        await engine.aclose()
    finally:
        slack.close()


async def main() -> None:
    await bench_acks()
    await fan_out(10, "deliver")
    await fan_out(10, "scheduler")
    await fan_out(0, "post")
    await fan_out(0, "deliver")


if __name__ == "__main__":
    asyncio.run(main())
