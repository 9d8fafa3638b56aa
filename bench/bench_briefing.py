"""Briefing benchmark, run by hand: `python bench/bench_briefing.py` from the repository root.

An announcement day for 10 categories (2,000 papers, real items with fresh ids, as bench_explain.py) and
100 channels with the briefing on, the real anthropic SDK against the fake Messages API on loopback. Two
ways of spreading the channels over the 10 feeds:

- "3 random feeds each": every channel follows 3 of the 10 categories at random (as bench_explain.py);
  most channels then get a paper set of their own, the worst case for sharing.
- "clustered": channels follow one of 10 common choices (one category, or a popular pair), 10 per
  choice, and a quarter of them rank by a radar of their own, which reorders their cards (the card
  numbers are part of the set: a reordered digest is another briefing).
- "own radar each": as "3 random feeds each", and every channel ranks by two keywords of its own: the
  upper bound, nearly one set per channel.

For each it runs what the scheduler runs: ``plan_digest`` per channel, the prepare job's
``prepare_briefings`` (one call per distinct (day, ordered paper set)), then the briefing of every channel
at posting time (which must ask nothing more). A distinct set is (day, ordered papers, radar terms): the
radar's terms are in the prompt. It prints the LLM calls against the distinct sets, the
tokens, and the estimated cost per day at the default model's price (bot/explain/pricing.py): as the fake
counted the tokens (about four characters a token: no tokenizer offline) and in the worst case, every
answer using the whole output allowance. Goal: calls = distinct sets, total ≤ $0.05 a day.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CATEGORIES, big_feed  # noqa: E402
from bench.scratch import scratch_dir  # noqa: E402
from bot import briefing  # noqa: E402
from bot.briefing_answer import MAX_OUTPUT_TOKENS, MAX_PROMPT_PAPERS  # noqa: E402
from bot.briefing_prompt import radar_terms  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.explain.pricing import cost_usd  # noqa: E402
from bot.explain.providers import DEFAULT_MODELS, AnthropicProvider  # noqa: E402
from bot.explain.service import Explainer  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.radar import Radar  # noqa: E402
from bot.sources.arxiv import ArxivClient, parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, ToolInput  # noqa: E402

CHANNELS = 100
# A realistic answer's size: 3 themes, 3 must-reads, 2 connections of one sentence each.
ANSWER: dict[str, Any] = {
    "themes": [
        {"title": "Efficient training of large models", "summary": "Three papers cut the cost of training " * 2,
         "cards": [1, 4, 7]},
        {"title": "Uncertainty and calibration", "summary": "Two papers ask how far to trust a prediction " * 2,
         "cards": [2, 5]},
        {"title": "Optimisation theory", "summary": "Rates for first-order methods under weak assumptions " * 2,
         "cards": [3, 8]},
    ],
    "must_reads": [{"card": n, "why": "It states a clean result that the others lean on, with code. " * 2}
                   for n in (4, 2, 8)],
    "connections": [{"text": "The variance bound in #4 is the tool #5 uses for calibration, across fields. " * 2,
                     "cards": [4, 5]}] * 2,
}  # fmt: skip
WORDS = "learning model graph bayesian convex neural kernel sparse robust causal optimal random".split()
POPULAR = [(c,) for c in CATEGORIES[:6]] + [("cs.LG", "stat.ML"), ("cs.CL", "cs.AI"), ("cs.CV", "cs.LG"), ("math.OC",)]


def spread(store: Store, how: str) -> list[ChannelRef]:
    rng = random.Random(5)
    channels = [ChannelRef("bench", "w", f"{how[:3]}{n}") for n in range(CHANNELS)]
    for n, channel in enumerate(channels):
        feeds = POPULAR[n % len(POPULAR)] if how == "clustered" else rng.sample(CATEGORIES, 3)
        for feed in feeds:
            store.subscribe(Subscription(id=0, channel=channel, category=feed))
        briefing.set_on(store, channel, True)
        if how == "clustered" and n % 4 == 0:
            Radar(store).add_many(channel, "keyword", [rng.choice(["learning", "bayesian", "graph", "convex"])])
        if how == "own radar each":  # two words of the day's own titles: each channel its own order
            Radar(store).add_many(channel, "keyword", rng.sample(WORDS, 2))
    return channels


async def scenario(how: str, llm: FakeLLMServer, model: str) -> str:
    store = Store(scratch_dir() / "bench.db")
    store.migrate()
    store.save_feed(parse_rss(big_feed(2000), list(CATEGORIES)))
    channels = spread(store, how)
    config = Config(values=validate({"llm": {"concurrency": 4}}), source="bench", env={})
    provider = AnthropicProvider("sk-bench", model, base_url=llm.anthropic_url, timeout_s=30)
    arxiv = ArxivClient("http://127.0.0.1:9/rss", "http://127.0.0.1:9/api/query")
    engine = Engine(config, store, arxiv, explainer=Explainer(config, store, provider))
    selections = [await engine.plan_digest(c, store.channel_subscriptions(c)) for c in channels]
    radar = Radar(store)
    distinct = {
        (s.announced, tuple(p.id for p in s.papers[:MAX_PROMPT_PAPERS]), radar_terms(radar.profile(s.channel)))
        for s in selections
    }
    before = llm.count("/v1/messages", exact=True)
    start = time.perf_counter()
    asked = await briefing.prepare_briefings(engine, selections)
    prepare_s = time.perf_counter() - start
    prepared_calls = llm.count("/v1/messages", exact=True) - before
    start = time.perf_counter()
    notes = [await briefing.briefing_note(engine, s) for s in selections]
    post_s = time.perf_counter() - start
    calls = llm.count("/v1/messages", exact=True) - before
    assert all(n.startswith("Briefing") for n in notes) and asked == len(distinct)
    usage = engine.explainer.ledger.totals(datetime(2000, 1, 1, tzinfo=UTC), purpose="briefing")
    per_in = usage.input_tokens / max(1, usage.calls)
    worst = sum(cost_usd(model, int(per_in), MAX_OUTPUT_TOKENS) for _ in range(usage.calls))
    await engine.aclose()
    return (
        f"| {how} | {len(distinct)} | {prepared_calls} | {calls - prepared_calls} | "
        f"{per_in:,.0f} / {usage.output_tokens / max(1, usage.calls):,.0f} | ${usage.cost_usd:.4f} | ${worst:.4f} | "
        f"{prepare_s:.2f} s / {post_s:.2f} s |"
    )


async def run() -> None:
    model = DEFAULT_MODELS["anthropic"]
    print(f"{CHANNELS} channels over {len(CATEGORIES)} feeds, briefings on, model {model}")
    print(
        "| spread | distinct sets | calls (prepare) | calls (posting) | tokens in / out per call | cost/day "
        "(counted) | cost/day (worst: full output) | prepare / all briefings drawn |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with FakeLLMServer() as llm:
        for how in ("random", "clustered", "own radar each"):
            llm.script("/v1/messages", *([ToolInput(ANSWER)] * (CHANNELS + 10)))
            print(await scenario(how, llm, model))


if __name__ == "__main__":
    asyncio.run(run())
