"""Fan-out benchmark, run by hand: `python -m bench.bench_fanout [CHANNELS] [--runs N]` from the repository root
(default 1,000 channels, one run).

The bot as users run it: a slot's digests delivered by `DigestScheduler.run_slot` through the real engine,
outbox and Slack adapter (slack_sdk) at the default settings (no `[delivery] concurrency` bound, the default
`[digest] limit` of 10: a header and one message per card, 11 messages a channel), selecting over 30 days of
earlier fan-outs, to the fake Slack Web API in its own process allowing one message per second per channel
(bench/slack_fanout.py). The floor that limit forces is 10 s (every message after a channel's first waits a
second); target ≤ 1.2× the floor, peak memory ≤ 200 MB, every digest delivered once, no 429.

The same run then replays the very same posts (the adapter's payloads, drawn again from the outbox) to fresh
channels of the same fake with the same pacing and connection pool: once over plain HTTP (aiohttp, no engine,
no SDK: the baseline, what loopback HTTP and the fake cost on this machine) and once through slack_sdk's
client (no engine). The bot's time over the HTTP replay's is what the bot adds; the SDK replay splits that
between slack_sdk and the engine with the adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout_history import discard_templates  # noqa: E402
from bench.slack_fanout import HISTORY_DAYS, deliver_slot, replay, sent_payloads  # noqa: E402

PEAK_MB_TARGET = 200.0


async def run(channels: int) -> tuple[float, float, float, float]:
    """One run; returns the bot's, the HTTP replay's and the SDK replay's seconds, and the floor."""
    bot = await deliver_slot(channels)
    try:
        result = bot.result
        posts = sent_payloads(bot.engine)
        http = await replay(bot.slack, posts)
        sdk = await replay(bot.slack, posts, sdk=True)
    finally:
        await bot.close()
    sent = sum(len(p) for p in posts.values())
    floor = result.floor
    print(f"fan-out over {HISTORY_DAYS} days of history, default settings: {result.describe()}")
    print(f"  HTTP-only replay of the same {sent} posts: {http.describe(floor)}")
    print(f"  slack_sdk replay of the same {sent} posts:  {sdk.describe(floor)}")
    memory = "met" if result.peak_mb <= PEAK_MB_TARGET else "MISSED"
    bot_s = result.seconds
    print(
        f"  bot / HTTP replay {bot_s / http.seconds:.2f}×, bot / SDK replay {bot_s / sdk.seconds:.2f}×, "
        f"SDK / HTTP replay {sdk.seconds / http.seconds:.2f}×; bot {bot_s / floor:.2f}× the floor "
        f"(target ≤ 1.2×); peak RSS of the bot {result.peak_mb:.0f} MB (target ≤ {PEAK_MB_TARGET:.0f} MB: {memory})",
        flush=True,
    )
    return bot_s, http.seconds, sdk.seconds, floor


def span(values: list[float], unit: str = " s") -> str:
    return f"{min(values):.2f}–{max(values):.2f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out of a slot's digests through the Slack adapter.")
    parser.add_argument("channels", nargs="?", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = []
    try:
        for _ in range(args.runs):
            runs.append(asyncio.run(run(args.channels)))
    finally:
        discard_templates()
    if len(runs) > 1:
        bot, http, sdk, floors = ([r[i] for r in runs] for i in range(4))
        print(
            f"{len(runs)} runs: bot {span(bot)} ({span([b / f for b, f in zip(bot, floors, strict=True)], '×')} "
            f"the floor), HTTP replay {span(http)}, SDK replay {span(sdk)}; bot / HTTP replay "
            f"{span([b / h for b, h in zip(bot, http, strict=True)], '×')} (each against its own run's replay)"
        )


if __name__ == "__main__":
    main()
