"""Explanation benchmarks, run by hand: `python bench/bench_explain.py` from the repository root.

An announcement day for 10 categories (2,000 papers, real items with fresh ids) and 100 channels, each
following 3 of those categories, with the real anthropic SDK against the fake Messages API on loopback:

1. LLM calls for the day's digests = distinct papers, not papers × channels.
2. A cached `/paper explain` answered by the engine (store lookup + cache + rendering): target ≤ 50 ms.
3. Tokens per explanation and the estimated cost per day at the default model's price. There is no
   tokenizer offline: the fake counts about four characters a token, so the figures are estimates; the
   worst case assumes every answer uses the whole output allowance.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CATEGORIES, big_feed  # noqa: E402
from bench.scratch import scratch_dir  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.pricing import cost_usd  # noqa: E402
from bot.explain.prompt import MAX_OUTPUT_TOKENS  # noqa: E402
from bot.explain.providers import DEFAULT_MODELS, AnthropicProvider  # noqa: E402
from bot.explain.service import Explainer  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.sources.arxiv import ArxivClient, parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402


async def run() -> None:
    model = DEFAULT_MODELS["anthropic"]
    store = Store(scratch_dir() / "bench.db")
    store.migrate()
    store.save_feed(parse_rss(big_feed(2000), list(CATEGORIES)))
    rng = random.Random(5)
    channels = [ChannelRef("bench", "w", f"c{n}") for n in range(100)]
    for channel in channels:
        for category in rng.sample(CATEGORIES, 3):
            store.subscribe(Subscription(id=0, channel=channel, category=category))
    config = Config(values=validate({"llm": {"concurrency": 4}}), source="bench", env={})
    with FakeLLMServer() as llm:
        provider = AnthropicProvider("sk-bench", model, base_url=llm.anthropic_url, timeout_s=30)
        arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query")
        engine = Engine(config, store, arxiv, explainer=Explainer(config, store, provider))
        selected = []
        for channel in channels:
            selection = await engine.plan_digest(channel, store.channel_subscriptions(channel))
            selected.extend(selection.papers)
        start = time.perf_counter()
        report = await engine.explainer.prepare(selected)
        prepare_s = time.perf_counter() - start
        calls = llm.count("/v1/messages", exact=True)
        print(
            f"calls: {len(selected)} paper cards in 100 digests, {report.wanted} distinct papers, "
            f"{calls} LLM calls ({prepare_s:.1f} s at concurrency 4 on the fake)"
        )
        timings = []
        for paper in selected[:200]:
            t0 = time.perf_counter()
            _, reply = await engine.explain(paper.id)
            timings.append((time.perf_counter() - t0) * 1000)
            assert reply.explanation is not None and reply.explanation.cached
        timings.sort()
        p99 = timings[int(len(timings) * 0.99) - 1]
        print(
            f"cached explain: median {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms, "
            f"max {timings[-1]:.2f} ms over {len(timings)} papers (target ≤ 50 ms)"
        )
        usage = engine.explainer.usage().today
        per_in = usage.input_tokens / max(1, calls)
        per_out = usage.output_tokens / max(1, calls)
        worst = cost_usd(model, int(per_in), MAX_OUTPUT_TOKENS) * report.wanted
        print(
            f"tokens: ≈ {per_in:.0f} in / {per_out:.0f} out per explanation (≈ 4 chars a token); "
            f"{model}: ≈ ${usage.cost_usd:.4f} for the day, worst case ${worst:.4f} "
            f"(every answer at the {MAX_OUTPUT_TOKENS}-token cap); half that through Message Batches"
        )
        await engine.aclose()


if __name__ == "__main__":
    asyncio.run(run())
