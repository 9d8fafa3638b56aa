"""Hostile feed fields, timed, run by hand: `python bench/bench_feed_hardening.py` from the repository root.

Parses the recorded arXiv feed with each hostile author field of tests/test_feed_hardening.py injected
(100 KB one-word authors and the like: feedparser's e-mail expression alone took 37 s on one), next to the
untouched feed. Target: each hostile feed within 1 s, about what the untouched one costs (~0.1 s). The
test checks why it is cheap (no long run reaches feedparser); this script says what it costs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sources.arxiv import parse_rss  # noqa: E402
from tests.fakes import recorded_feed  # noqa: E402
from tests.test_feed_hardening import HOSTILE_AUTHOR_FIELDS, hostile_feed  # noqa: E402

TARGET_S = 1.0


def timed(raw: bytes) -> float:
    started = time.perf_counter()
    parse_rss(raw, ["stat"])
    return time.perf_counter() - started


def main() -> None:
    print(f"untouched feed: {timed(recorded_feed()):.3f} s")
    for case in HOSTILE_AUTHOR_FIELDS:
        seconds = timed(hostile_feed(case))
        print(f"{case}: {seconds:.3f} s{'' if seconds < TARGET_S else f'  (over the {TARGET_S:g} s target)'}")


if __name__ == "__main__":
    main()
