"""Slack adapter benchmarks, run by hand: `python -m bench.bench_slack` (from the repository root, installed
with `pip install -e '.[test]'`). Everything runs on loopback against the fake Slack Web API
(tests/fakes/slack_server.py); prints one line per figure.

1. acks: 50 concurrent `/paper explain` of papers whose explanation is cached (an OpenAI-compatible fake
   LLM explained them once beforehand), as signed HTTP-mode requests from a separate thread and loop.
   Targets: every ack < 3 s, ack p99 <= 300 ms. Run twice: cold (the first requests after start, bolt
   still has to call auth.test) and warm.
2. fan-out: a slot's digests to 200 and to 1,000 channels as the running bot delivers them, at the default
   settings (bench/slack_fanout.py): `DigestScheduler.run_slot` through the engine, outbox and Slack adapter,
   over 30 days of earlier fan-outs, the fake Slack in its own process enforcing 1 message/s per channel
   (429 + Retry-After beyond). The default digest is a header and 10 cards, one message each: 11 messages,
   a 10 s floor (every message after a channel's first waits a second). Target: done within 1.2× the floor,
   every digest delivered, none failed, no duplicate, no 429.
   `--layout cards|compact|thread|all` stores every channel's layout (`bot.cards.Layout`) before the
   fan-out as `/paper layout` stores it (`bot.layouts.set_layout`); the floor follows the messages each
   layout posts per channel.

    python -m bench.bench_slack [--layout cards|compact|thread|all] [--channels 200 1000] [--runs N] [--no-acks]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from adapters.slack import SlackAdapter  # noqa: E402
from bench.fanout_history import CARDS, discard_templates  # noqa: E402
from bench.slack_fanout import Fanout, Replay, deliver_slot, replay, sent_payloads  # noqa: E402
from bot.cards import Layout  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.explain.providers import build_provider  # noqa: E402
from bot.explain.service import Explainer  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402
from tests.fakes.slack_server import BOT_TOKEN, SLASH_COMMAND_BODY, FakeSlack  # noqa: E402
from tests.support import make_engine  # noqa: E402

SECRET = "bench-signing-secret"
CONCURRENT = 50


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


def fan_out(channels: int, layout: Layout) -> tuple[Fanout, Replay]:
    """The bot's fan-out, then its baseline: the same posts replayed over plain HTTP in the same run."""

    async def deliver() -> tuple[Fanout, Replay]:
        bot = await deliver_slot(channels, layout)
        try:
            return bot.result, await replay(bot.slack, sent_payloads(bot.engine))
        finally:
            await bot.close()

    result, baseline = asyncio.run(deliver())
    verdict = "OK" if result.seconds <= 1.2 * result.floor and result.failed == result.duplicates == 0 else "MISSED"
    print(f"fan-out: {result.describe()} [target ≤ 1.2×, none failed or repeated: {verdict}]", flush=True)
    print(
        f"  HTTP-only replay of the same posts (same pacing and pool, no engine, no SDK): "
        f"{baseline.describe(result.floor)}; bot / replay {result.seconds / baseline.seconds:.2f}×",
        flush=True,
    )
    if layout != Layout.CARDS and set(result.per_channel) == {1 + CARDS} and not result.in_threads:
        print(f"  (the Slack adapter drew the {layout} layout as cards)", flush=True)
    return result, baseline


def summary(runs: list[tuple[Fanout, Replay]]) -> str:
    def span(values: list[float], unit: str) -> str:
        return f"{min(values):.2f}–{max(values):.2f}{unit}"

    return (
        f"bot {span([b.seconds for b, _ in runs], ' s')} = {span([b.seconds / b.floor for b, _ in runs], '×')} "
        f"the floor; replay {span([r.seconds for _, r in runs], ' s')} = "
        f"{span([r.seconds / b.floor for b, r in runs], '×')}; bot / replay "
        f"{span([b.seconds / r.seconds for b, r in runs], '×')} (each against its own run's replay)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Slack acks and fan-out against the fake Slack Web API.")
    parser.add_argument("--layout", choices=[*Layout, "all"], default="cards")
    parser.add_argument("--channels", nargs="+", type=int, default=[200, 1000])
    parser.add_argument("--runs", type=int, default=1, help="fan-outs of each size and layout")
    parser.add_argument("--no-acks", action="store_true", help="the fan-out only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.no_acks:
        asyncio.run(bench_acks())
    layouts = list(Layout) if args.layout == "all" else [Layout(args.layout)]
    try:
        for layout in layouts:
            for channels in args.channels:
                runs = [fan_out(channels, layout) for _ in range(args.runs)]
                if len(runs) > 1:
                    print(f"  {len(runs)} runs, {channels} channels, layout {layout}: {summary(runs)}", flush=True)
    finally:
        discard_templates()


if __name__ == "__main__":
    main()
