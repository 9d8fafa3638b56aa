"""Engine benchmarks, run by hand: `python bench/bench_engine.py` (from the repository root, installed
with `pip install -e .`). Prints one line per target; copy the figures into README.md.

1. ingest: parse a 2,000-item arXiv RSS feed (real items repeated with fresh ids) and store it;
   target >= 2,000 items/s. Beside it, in the same rounds (best of five): `feedparser.parse` alone and a
   stdlib `xml.etree.ElementTree.iterparse` of the same feed (the fields we read), and the same ingest
   with the feed read whole (before items were read one by one, `split_items` off) and with the search
   index fed by its row trigger (before new rows were indexed a batch at a time).
2. selection: digest selection + card rendering (plain text) for 1,000 subscriptions over the day's
   2,000 papers, after 30 days of history written as fan-outs leave it for those channels
   (bench/bench_history.py: 2,000 papers a day, deliveries, outbox rows, posted messages); target <= 1 s.
3. memory: peak RSS of `paperbot run` with 1,000 subscriptions while it serves a digest from that store
   (bench/run_memory.py in a subprocess, read from /proc); target <= 150 MB.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from xml.etree.ElementTree import iterparse
from zoneinfo import ZoneInfo

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_dir  # noqa: E402
from bot import search_index  # noqa: E402
from bot.cards import render_digest_text  # noqa: E402
from bot.digest import select_digest  # noqa: E402
from bot.models import ChannelRef, Subscription  # noqa: E402
from bot.sources import arxiv as arxiv_module  # noqa: E402
from bot.sources.arxiv import parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402

STAT_FEED = (ROOT / "tests" / "data" / "rss-stat-2024-03-26.xml").read_bytes()
_ITEM = re.compile(rb"\s*<item>.*?</item>", re.S)
CATEGORIES = ("cs.LG", "cs.AI", "cs.CL", "cs.CV", "stat.ML", "math.OC", "math.ST", "stat.ME", "eess.SP", "q-bio.QM")


def big_feed(count: int) -> bytes:
    """``count`` real items with fresh ids, spread over CATEGORIES so listings look like a busy day."""
    items = [m.group(0) for m in _ITEM.finditer(STAT_FEED)]
    head = STAT_FEED[: STAT_FEED.index(items[0])]
    tail = STAT_FEED[STAT_FEED.rindex(items[-1]) + len(items[-1]) :]
    rng = random.Random(7)
    made = []
    for n in range(count):
        item = items[n % len(items)]
        old_id = re.search(rb"oai:arXiv.org:([^<]+?)v\d+", item)
        assert old_id is not None
        new_id = b"2501.%05d" % (n + 1)
        item = item.replace(old_id.group(1), new_id)
        cats = rng.sample(CATEGORIES, 2)
        item = re.sub(
            rb"(\s*<category>[^<]+</category>)+",
            b"".join(b"\n      <category>%s</category>" % c.encode() for c in cats),
            item,
            count=1,
        )
        made.append(item)
    # Dated today (US Eastern), as arXiv would serve it now: a bot never posts a stale feed.
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    head = re.sub(
        rb"<pubDate>[^<]*</pubDate>", f"<pubDate>{today:%a, %d %b %Y} 00:00:00 -0500</pubDate>".encode(), head, count=1
    )
    return head + b"".join(made) + tail


def _fresh_store(name: str) -> Store:
    store = Store(scratch_dir() / name)
    store.migrate()
    return store


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def bench_ingest(count: int = 2000, runs: int = 5) -> tuple[dict[str, float], Store]:
    """Items/s, the best of ``runs`` rounds (a shared machine's noise only ever slows a run down): the ingest
    (parse and store, each round into a fresh store, nothing cached between rounds), and beside it in each
    round, so that the same noise falls on all: feedparser alone, a stdlib iterparse of the fields we read,
    the ingest with the feed read whole (``split_items`` off) and with the search index fed by a row
    trigger (as before batched indexing)."""
    feed_bytes = big_feed(count)
    best: dict[str, float] = {}
    store = _fresh_store("bench.db")
    for _ in range(runs):
        store = _fresh_store("bench.db")
        trigger_store = _fresh_store("trigger.db")
        search_index.m001_papers_fts(trigger_store.db)  # its row trigger back: it alone indexes, as before
        whole_store = _fresh_store("whole.db")
        times = {
            "ingest": _timed(partial(_ingest, store, feed_bytes)),
            "feedparser": _timed(partial(_feedparser_entries, feed_bytes, count)),
            "iterparse": _timed(partial(_iterparse_fields, feed_bytes, count)),
            "whole": _timed(partial(_read_whole, whole_store, feed_bytes)),
            "trigger": _timed(partial(_ingest, trigger_store, feed_bytes)),
        }
        for name, seconds in times.items():
            best[name] = min(best.get(name, float("inf")), seconds)
        assert store.db["papers"].count == count, store.db["papers"].count
    return {name: count / seconds for name, seconds in best.items()}, store


def _ingest(store: Store, feed_bytes: bytes) -> None:
    store.save_feed(parse_rss(feed_bytes, list(CATEGORIES)))


def _feedparser_entries(feed_bytes: bytes, count: int) -> None:
    parsed = feedparser.parse(io.BytesIO(feed_bytes), sanitize_html=False, resolve_relative_uris=False)
    assert len(parsed.entries) == count


def _iterparse_fields(feed_bytes: bytes, count: int) -> None:
    fields = 0
    for _, element in iterparse(io.BytesIO(feed_bytes)):
        if element.tag == "item":
            fields += sum(1 for child in element if child.text)
            element.clear()
    assert fields >= count


def _read_whole(store: Store, feed_bytes: bytes) -> None:
    split = arxiv_module.split_items
    arxiv_module.split_items = lambda _: None  # type: ignore[assignment]  # the whole document, as before
    try:
        _ingest(store, feed_bytes)
    finally:
        arxiv_module.split_items = split


def selection_channel(n: int) -> ChannelRef:
    return ChannelRef("bench", f"w{n % 20}", f"c{n // 2}")  # 500 channels, 2 categories each


def bench_selection(store: Store, subscriptions: int = 1000, history_days: int = 30) -> float:
    from bench.bench_history import add_history

    add_history(store, subscriptions // 2, datetime.now(UTC), selection_channel, history_days)
    rng = random.Random(11)
    subs_by_channel: dict[ChannelRef, list[Subscription]] = {}
    for n in range(subscriptions):
        channel = selection_channel(n)
        subs_by_channel.setdefault(channel, []).append(
            Subscription(id=n, channel=channel, category=rng.choice(CATEGORIES))
        )
    start = time.perf_counter()
    characters = 0
    for channel, subs in subs_by_channel.items():
        selection = select_digest(store, channel, subs, limit=10)
        characters += len(render_digest_text(selection.message()))
    elapsed = time.perf_counter() - start
    assert characters > 0
    return elapsed


def bench_memory(db_path: Path) -> float:
    """Peak RSS (MB) of `paperbot run` with 1,000 subscriptions in a store of 2,000 papers."""
    script = ROOT / "bench" / "run_memory.py"
    out = subprocess.run(
        [sys.executable, str(script), str(db_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    *notes, peak = out.stdout.strip().splitlines()
    for note in notes:
        print(f"memory: {note}")
    return float(peak)


def main() -> None:
    rates, store = bench_ingest()
    rate = rates["ingest"]
    print(f"ingest: {rate:,.0f} items/s for a 2,000-item feed including the store (target >= 2,000)")
    print(
        f"  same feed, same rounds: feedparser.parse alone {rates['feedparser']:,.0f} items/s, iterparse "
        f"{rates['iterparse']:,.0f} items/s; ingest with the feed read whole {rates['whole']:,.0f} items/s, with the "
        f"search index fed by a row trigger {rates['trigger']:,.0f} items/s; ingest / feedparser alone "
        f"{rate / rates['feedparser']:.2f}x, / trigger-fed ingest {rate / rates['trigger']:.2f}x"
    )
    elapsed = bench_selection(store)
    print(
        f"selection: {elapsed:.3f} s for 1,000 subscriptions over the day's 2,000 papers and 30 days of history "
        "(target <= 1 s)"
    )
    peak = bench_memory(Path(store.path))
    print(f"memory: peak RSS {peak:.1f} MB for `paperbot run` with 1,000 subscriptions (target <= 150 MB)")


if __name__ == "__main__":
    main()
