"""Radar ranking benchmark, run by hand: `python bench/bench_radar.py [CHANNELS]` from the repository root.

A busy day of 2,000 arXiv papers (the recorded `stat` items repeated with fresh ids over ten categories, as
in bench_engine.py) and 1,000 channels, each with its own 20-entry radar: 12 keywords (4 of them phrases
taken from titles), 3 authors (2 printed on papers, one as initials), 3 liked papers, 1 disliked paper and
1 mute, drawn at random from the day's own words, names and ids so that they match what real radars match.

1. ranking: every channel's 2,000 candidates ranked by its radar as a digest does (``bot.ranking.top``: the
   corpus and each entry's effect computed once, then per channel the best 10 with their why lines and
   the count of the rest); target <= 1 s. Then the same with every paper put in order (``rank``, what the
   CLI preview prints). Each recorded text is repeated about 16 times in this corpus, so every word is
   used by 16 times as many papers as in one real day: a harsh case for postings-based scoring.
2. selection: ``select_digest`` for the same 1,000 channels (following all ten categories, so 2,000
   candidates each, revisions included, cap 10) first without radars, then with the radars stored (``bot.radar``): the
   difference is what the radar adds to a fan-out's planning, loading each channel's radar included.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CATEGORIES, big_feed  # noqa: E402
from bench.scratch import scratch_dir  # noqa: E402
from bot.digest import candidates, select_digest  # noqa: E402
from bot.models import ChannelRef, Paper, Subscription  # noqa: E402
from bot.radar import Radar  # noqa: E402
from bot.ranking import Corpus, Like, RadarProfile, keyword_terms, rank, terms, top  # noqa: E402
from bot.sources.arxiv import parse_rss  # noqa: E402
from bot.store import Store  # noqa: E402


def radars(papers: list[Paper], count: int, seed: int = 5) -> list[RadarProfile]:
    rng = random.Random(seed)
    words = sorted({t for p in papers[:200] for t in keyword_terms(p.abstract) if len(t) > 5})
    titles = [terms(p.title) for p in papers[:200]]
    names = sorted({a for p in papers[:200] for a in p.authors})
    ids = [p.id for p in papers]
    profiles = []
    for _ in range(count):
        phrases = []
        while len(phrases) < 4:
            title = rng.choice(titles)
            if len(title) >= 2:
                start = rng.randrange(len(title) - 1)
                phrase = " ".join(title[start : start + 2])
                if keyword_terms(phrase):
                    phrases.append(phrase)
        first, second, third = rng.sample(names, 3)
        initials = f"{third.split()[0][0]}. {third.split()[-1]}"
        profiles.append(
            RadarProfile(
                keywords=tuple(rng.sample(words, 8)) + tuple(phrases),
                authors=(first, second, initials),
                likes=(*(Like(pid, 1.0) for pid in rng.sample(ids, 3)), Like(rng.choice(ids), -1.0)),
                mutes=(rng.choice(words),),
            )
        )
    return profiles


def bench_ranking(papers: list[Paper], profiles: list[RadarProfile], limit: int) -> tuple[float, int]:
    """Cold: the corpus and every radar entry's effect are computed inside the timing, as in a fan-out."""
    by_id = {p.id: p for p in papers}
    candidates_ = tuple(papers)
    start = time.perf_counter()
    corpus = Corpus(candidates_)
    explained = 0
    for profile in profiles:
        liked = {like.paper_id: by_id[like.paper_id] for like in profile.likes}
        if limit:
            ranked, _ = top(candidates_, profile, liked, limit, corpus=corpus)
        else:
            ranked = rank(candidates_, profile, liked, corpus=corpus)
        explained += sum(1 for r in ranked[:10] if r.why)
    return time.perf_counter() - start, explained


def bench_selection(store: Store, channels: list[ChannelRef]) -> float:
    start = time.perf_counter()
    for channel in channels:
        subs = [Subscription(id=0, channel=channel, category=c, include_replacements=True) for c in CATEGORIES]
        selection = select_digest(store, channel, subs, limit=10)
        selection.message()
    return time.perf_counter() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    store = Store(scratch_dir() / "bench.db")
    store.migrate()
    store.save_feed(parse_rss(big_feed(2000), list(CATEGORIES)))
    subs = [
        Subscription(id=0, channel=ChannelRef("bench", "w", "c"), category=c, include_replacements=True)
        for c in CATEGORIES
    ]
    papers = list(candidates(store, subs))
    assert len(papers) == 2000, len(papers)
    profiles = radars(papers, count)

    seconds, explained = bench_ranking(papers, profiles, 10)
    print(
        f"ranking: {seconds:.3f} s for {len(papers):,} papers × {count:,} channels with 20-entry radars, "
        f"as a digest does (top 10 and the count; {explained:,} of {count * 10:,} cards with a why; target <= 1 s)"
    )
    seconds, _ = bench_ranking(papers, profiles, 0)
    print(f"ranking, every paper ordered (the CLI preview's --json): {seconds:.3f} s for the same")

    channels = [ChannelRef("bench", "w", f"c{n}") for n in range(count)]
    unranked = bench_selection(store, channels)
    radar = Radar(store)
    for channel, profile in zip(channels, profiles, strict=True):
        radar.add_many(channel, "keyword", profile.keywords)
        radar.add_many(channel, "author", profile.authors)
        radar.add_many(channel, "mute", profile.mutes)
        for like in profile.likes:
            radar.like(channel, like.paper_id, like.weight)
    store.derived.clear()  # the fan-out starts cold: candidates and corpus built once inside the timing
    ranked = bench_selection(store, channels)
    print(
        f"selection: {unranked:.3f} s unranked, {ranked:.3f} s ranked by radars "
        f"(+{ranked - unranked:.3f} s) for {count:,} channels over {len(papers):,} candidates, cap 10"
    )


if __name__ == "__main__":
    main()
