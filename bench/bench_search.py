"""Local search over a large store, run by hand: `python bench/bench_search.py [PAPERS]` from the repository
root (default 500,000). Prints one line per figure; copy them into README.md.

The papers are synthetic but speak the recorded feed's language: titles drawn from the words of the 123
real `stat` titles (2026-style frequencies kept), abstracts of five to eight sentences drawn from the real
abstracts, two to five real author names, arXiv ids spread over 2019–2025, categories from the real ones.
They are stored through `Store.save_papers` in batches of 5,000, as a feed would store them, so the
index is built by its triggers (the ingest figure includes that).

Measured, through `PaperIndex.search` (what `/paper search` and `paperbot search` call; a page of five
asks for six, to know whether there is more), on a warm cache, one query at a time:
- local search: 300 queries (one to three words and "phrases" taken from real titles, rare and common
  words alike); p50, p95 and max. Target: p50 <= 20 ms, p95 <= 100 ms over 500,000 papers.
- the same with `in:<feed>` and with `since:`;
- `PaperIndex.scores` of 2,000 recent papers (a day) for a two-word query, as the radar asks;
- index size per 100,000 papers: the index's pages in the file (dbstat), else the file's growth.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.models import Paper  # noqa: E402
from bot.search_index import PaperIndex  # noqa: E402
from bot.sources.arxiv import parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402

FEED = ROOT / "tests" / "data" / "rss-stat-2024-03-26.xml"
BATCH = 5_000
QUERIES = 300


def vocabulary() -> tuple[list[str], list[str], list[str], list[str], list[tuple[str, ...]]]:
    feed = parse_rss(FEED.read_bytes(), ["stat"])
    papers = [item.paper for item in feed.items]
    title_words = [w for p in papers for w in re.findall(r"[A-Za-z][A-Za-z-]+", p.title)]
    sentences = [s.strip() for p in papers for s in re.split(r"(?<=\.)\s+", p.abstract) if len(s) > 30]
    authors = sorted({a for p in papers for a in p.authors})
    categories = [p.categories for p in papers]
    titles = [p.title for p in papers]
    return title_words, sentences, authors, titles, categories


def synthetic(count: int, seed: int = 7) -> list[list[Paper]]:
    title_words, sentences, authors, _, categories = vocabulary()
    rng = random.Random(seed)
    batches: list[list[Paper]] = []
    batch: list[Paper] = []
    numbers: Counter[str] = Counter()
    for n in range(count):
        months = n * 84 // count  # oldest first, over 2019-2025, as a store fills
        yymm = f"{19 + months // 12:02d}{1 + months % 12:02d}"
        numbers[yymm] += 1
        cats = rng.choice(categories)
        batch.append(
            Paper(
                id=f"{yymm}.{numbers[yymm]:05d}",
                version=1,
                title=" ".join(rng.choices(title_words, k=rng.randint(6, 12))).capitalize(),
                authors=tuple(rng.sample(authors, rng.randint(2, 5))),
                categories=cats,
                primary_category=cats[0],
                abstract=" ".join(rng.sample(sentences, rng.randint(5, 8))),
            )
        )
        if len(batch) == BATCH:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


def queries(count: int, seed: int = 11) -> list[str]:
    title_words, _, authors, titles, _ = vocabulary()
    rng = random.Random(seed)
    made: list[str] = []
    frequent = [w for w, _ in Counter(w.lower() for w in title_words).most_common(40)]
    for n in range(count):
        words = re.findall(r"[A-Za-z][A-Za-z-]+", rng.choice(titles))
        start = rng.randrange(max(1, len(words) - 2))
        kind = n % 5
        if kind == 0:
            made.append(" ".join(words[start : start + 2]))  # a two-word topic
        elif kind == 1:
            made.append(f'"{" ".join(words[start : start + 2])}"')  # a quoted phrase
        elif kind == 2:
            made.append(" ".join(words[start : start + 3]))  # three words
        elif kind == 3:
            made.append(rng.choice(frequent))  # one common word: the slowest kind
        else:
            made.append(rng.choice(authors).split()[-1])  # an author's surname
    return made


def timed(index: PaperIndex, texts: list[str], **options: object) -> list[float]:
    times: list[float] = []
    for text in texts:
        started = time.perf_counter()
        try:
            index.search(text, limit=6, **options)  # type: ignore[arg-type]
        except Exception as err:  # a bench query made only of common words
            if type(err).__name__ != "UsageError":
                raise
            continue
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float], target: str = "") -> None:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms over {len(ordered)} queries{target}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = Store(path)
        store.migrate()
        batches = synthetic(count)
        before = path.stat().st_size
        started = time.perf_counter()
        for batch in batches:
            store.save_papers(batch)
        ingest = time.perf_counter() - started
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        index = PaperIndex(store)
        size = index.size_bytes()
        how = "its pages (dbstat)"
        if size == 0:
            with_index = path.stat().st_size - before
            store.db.conn.execute("DROP TABLE papers_fts")
            store.db.conn.execute("VACUUM")
            size = with_index - (path.stat().st_size - before)
            how = "file growth with and without it"
            store.close()
            store = Store(path)
            store.migrate()  # nothing to do: measured above; reopened for a clean cache below
            store.db.conn.execute("INSERT INTO papers_fts(papers_fts) VALUES ('rebuild')")
            index = PaperIndex(store)
        print(f"papers: {count:,} stored in {ingest:.1f} s ({count / ingest:,.0f}/s, index kept by triggers)")
        print(f"index size: {size / count * 100_000 / 1e6:.1f} MB per 100,000 papers ({how})")
        texts = queries(QUERIES)
        timed(index, texts[:50])  # warm the cache
        report("local search", timed(index, texts), " (target p50 <= 20 ms, p95 <= 100 ms)")
        report("local search in:stat.ME", timed(index, texts, feed="stat.ME"))
        report("local search since:2025-01-01", timed(index, texts, since=date(2025, 1, 1)))
        recent = [row[0] for row in store.db.conn.execute("SELECT id FROM papers ORDER BY rowid DESC LIMIT 2000")]
        scored = []
        for text in texts[:50:5]:
            started = time.perf_counter()
            index.scores(text, recent)
            scored.append((time.perf_counter() - started) * 1000)
        report("scores of 2,000 recent papers", scored)
        store.close()


if __name__ == "__main__":
    main()
