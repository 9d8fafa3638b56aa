"""A day of every source for 1,000 channels, run by hand: `python bench/bench_sources.py` from the
repository root. Prints one line per scenario and the ratio; copy the figures into README.md.

The day: 2,000 arXiv items (the recorded stat items with fresh ids, two of ten categories each), 50
Hugging Face Daily Papers (half of them also in that arXiv listing, half not) and 400 bioRxiv/medRxiv
posts (300 + 100 over every subject, one in seven a revision). 1,000 channels each follow one or two
arXiv categories; half also follow `hf` (a fifth of those with `min:10`), two in five a bioRxiv or
medRxiv feed (a whole server or one subject).

Each scenario runs in a fresh interpreter and measures, through the real engine:
- ingest: `Engine.refresh` of every feed followed (the real source clients over HTTP from the fakes on
  loopback: RSS, JSON and cursor paging parsed, papers merged and stored);
- selection and render: for every channel, `Engine.plan_digest` (what the scheduler calls: the
  refresh check, the stale check and the selection) and the digest drawn as plain text;
- peak memory: the process's peak RSS (VmHWM), the fakes in it included.
Target: ingest + selection + render <= 1.5 s on two cores, peak <= 150 MB. The arXiv-only scenario is
the same channels following only their arXiv categories: today's figure, from the same run.

Politeness waits are off (`min_interval_s=0`): the benchmark measures the bot's work, not the spacing it
keeps between requests to the services (about 1 s per request outside arXiv, 3 s at arXiv).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CATEGORIES, big_feed  # noqa: E402
from bot import calendar  # noqa: E402
from bot.cards import render_digest_text  # noqa: E402
from bot.config import Config, validate  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.sources.arxiv import ArxivClient  # noqa: E402
from bot.sources.biorxiv import preprint_sources  # noqa: E402
from bot.sources.huggingface import HuggingFaceSource, settled_day  # noqa: E402
from bot.sources.registry import ArxivSource, SourceRegistry  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes.arxiv_server import FakeArxivServer  # noqa: E402
from tests.fakes.biorxiv_server import FakePreprintServer, item  # noqa: E402
from tests.fakes.huggingface_server import FakeHuggingFaceServer, many_daily_papers  # noqa: E402
from tests.support import feed_for, redate  # noqa: E402

NOW = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)  # a Tuesday morning: every source has a day to post
CHANNELS = 1000
ARXIV_ITEMS = 2000
HF_PAPERS = 50
PREPRINTS = {"biorxiv": 300, "medrxiv": 100}
SCENARIOS = ("arxiv", "all")


@dataclass(frozen=True)
class Day:
    arxiv_feeds: dict[str, bytes]  # per category, as rss.arxiv.org/rss/<cat> serves it
    hf_day: date
    hf_entries: list[dict[str, Any]]
    preprint_day: date
    preprints: dict[str, list[dict[str, Any]]]  # per server


def make_day() -> Day:
    announced = calendar.feed_date(NOW)
    feed = redate(big_feed(ARXIV_ITEMS), announced)
    arxiv_feeds = {category: feed_for(category, feed) for category in CATEGORIES}
    entries = copy.deepcopy(many_daily_papers(HF_PAPERS))  # ids 2501.00001..: in today's arXiv listing
    for n, entry in enumerate(entries):
        if n % 2:
            entry["paper"]["id"] = f"2412.{90000 + n}"  # trending on Hugging Face, announced on an earlier day
    preprint_day = settled_day(NOW, 0)  # bioRxiv's finished day: yesterday UTC
    written = f"{preprint_day.year}-{preprint_day.month}-{preprint_day.day}"  # as the API writes some dates
    preprints: dict[str, list[dict[str, Any]]] = {}
    serial = 0
    for server, count in PREPRINTS.items():
        source = dict(zip(("biorxiv", "medrxiv"), preprint_sources(), strict=True))[server]
        labels = [f.label.split(": ", 1)[1] for f in source.complete_feeds(f"{server}:", 100)]
        made = []
        for n in range(count):
            serial += 1
            revision = n % 7 == 6
            made.append(
                item(
                    serial,
                    written,
                    labels[n % len(labels)],
                    server="bioRxiv" if server == "biorxiv" else "medRxiv",
                    version="2" if revision else "1",
                )
            )
        preprints[server] = made
    return Day(arxiv_feeds, settled_day(NOW, 6), entries, preprint_day, preprints)


def channel_feeds(scenario: str) -> dict[ChannelRef, list[Subscription]]:
    """The same 1,000 channels in both scenarios; arXiv-only keeps each channel's arXiv categories."""
    rng = random.Random(5)
    biorxiv, medrxiv = preprint_sources()
    preprint_feeds = ["biorxiv", "medrxiv"] + [
        f.name for f in [*biorxiv.complete_feeds("biorxiv:", 12)[1:], *medrxiv.complete_feeds("medrxiv:", 12)[1:]]
    ]
    channels: dict[ChannelRef, list[Subscription]] = {}
    for n in range(CHANNELS):
        channel = ChannelRef("bench", f"w{n % 20}", f"c{n}")
        subs = [Subscription(0, channel, c) for c in rng.sample(CATEGORIES, rng.choice((1, 2)))]
        follows_hf, floor, follows_preprints = rng.random() < 0.5, rng.random() < 0.2, rng.random() < 0.4
        preprint_feed = rng.choice(preprint_feeds)
        if scenario == "all":
            if follows_hf:
                subs.append(Subscription(0, channel, "hf", min_upvotes=10 if floor else None))
            if follows_preprints:
                subs.append(Subscription(0, channel, preprint_feed))
        channels[channel] = subs
    return channels


def make_engine(store: Store, arxiv: FakeArxivServer, hf: FakeHuggingFaceServer, api: FakePreprintServer) -> Engine:
    config = Config(values=validate({}), source="bench", env={})
    client = ArxivClient(arxiv.rss_url, arxiv.api_url, min_interval_s=0, now=lambda: NOW)
    huggingface = HuggingFaceSource(hf.api_url, min_interval_s=0, now=lambda: NOW)
    biorxiv, medrxiv = preprint_sources(api.base_url, min_interval_s=0)
    sources = SourceRegistry([huggingface, biorxiv, medrxiv, ArxivSource(client)])
    return Engine(config, store, client, now=lambda: NOW, sources=sources)


async def run_scenario(scenario: str) -> dict[str, float]:
    day = make_day()
    with FakeArxivServer() as arxiv, FakeHuggingFaceServer() as hf, FakePreprintServer(page_sizes=(100,)) as api:
        for category, feed in day.arxiv_feeds.items():
            arxiv.set_feed(category, feed)
        hf.set_day(day.hf_day.isoformat(), day.hf_entries)
        for server, items in day.preprints.items():
            api.add(server, items)
        store = Store(Path(tempfile.mkdtemp()) / "bench.db")
        store.migrate()
        channels = channel_feeds(scenario)
        for subs in channels.values():
            for sub in subs:
                store.subscribe(sub)
        channels = {channel: store.channel_subscriptions(channel) for channel in channels}
        feeds = sorted({s.category for subs in channels.values() for s in subs})
        engine = make_engine(store, arxiv, hf, api)

        start = time.perf_counter()
        result = await engine.refresh(feeds)
        ingested = time.perf_counter()
        assert not result.failed, result.failed
        cards = characters = 0
        for channel, subs in channels.items():
            selection = await engine.plan_digest(channel, subs)
            characters += len(render_digest_text(engine.digest_message(selection)))
            cards += len(selection.papers)
        selected = time.perf_counter()

        papers = store.db["papers"].count
        await engine.aclose()
    assert characters > 0
    return {
        "ingest_s": ingested - start,
        "selection_s": selected - ingested,
        "peak_mb": _peak_mb(),
        "feeds": len(feeds),
        "papers": papers,
        "cards": cards,
    }


def _peak_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def _in_fresh_process(scenario: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--scenario", scenario],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if sys.argv[1:2] == ["--scenario"]:
        print(json.dumps(asyncio.run(run_scenario(sys.argv[2]))))
        return
    results = {scenario: _in_fresh_process(scenario) for scenario in SCENARIOS}
    for scenario, r in results.items():
        total = r["ingest_s"] + r["selection_s"]
        what = "arXiv only  " if scenario == "arxiv" else "all sources "
        print(
            f"{what}: {total:.3f} s = ingest {r['ingest_s']:.3f} s + selection and render {r['selection_s']:.3f} s "
            f"for {CHANNELS:,} channels ({r['feeds']:.0f} feeds, {r['papers']:,.0f} papers, {r['cards']:,.0f} cards); "
            f"peak {r['peak_mb']:.1f} MB"
        )
    arxiv, every = results["arxiv"], results["all"]
    ratio = (every["ingest_s"] + every["selection_s"]) / (arxiv["ingest_s"] + arxiv["selection_s"])
    print(f"ratio all/arXiv-only: {ratio:.2f}x time, {every['peak_mb'] / arxiv['peak_mb']:.2f}x peak memory")
    print("targets: all sources <= 1.5 s, peak <= 150 MB")


if __name__ == "__main__":
    main()
