"""Hostile feed fields, timed, run by hand: `python bench/bench_feed_hardening.py` from the repository root.

Parses the recorded arXiv feed with each hostile author field of tests/support_hostile_feed.py injected
(100 KB one-word authors and the like: feedparser's e-mail expression alone took 37 s on one), next to the
untouched feed; likewise the fields our own parsing reads with regular expressions, a title full of
`<skipDays>` tags and an API answer with a 100 KB author name. Target: each within 1 s, about what the
untouched feed costs (~0.1 s). The tests check the outcome (every item kept, fields bounded); this script
says what it costs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sources.arxiv import parse_api, parse_rss  # noqa: E402
from tests.fakes import recorded_feed  # noqa: E402
from tests.support import api_body  # noqa: E402
from tests.support_hostile_feed import (  # noqa: E402
    FIRST_TITLE,
    HOSTILE_AUTHOR_FIELDS,
    HOSTILE_FOR_US,
    hostile_feed,
    without_skip_days,
    word,
)

TARGET_S = 1.0


def timed(raw: bytes, parse: Callable[[bytes], object] = lambda raw: parse_rss(raw, ["stat"])) -> float:
    started = time.perf_counter()
    parse(raw)
    return time.perf_counter() - started


def report(case: str, seconds: float) -> None:
    print(f"{case}: {seconds:.3f} s{'' if seconds < TARGET_S else f'  (over the {TARGET_S:g} s target)'}")


def main() -> None:
    print(f"untouched feed: {timed(recorded_feed()):.3f} s")
    for case in HOSTILE_AUTHOR_FIELDS:
        report(case, timed(hostile_feed(case)))
    raw = recorded_feed()
    for case, (old, new) in HOSTILE_FOR_US.items():  # fields our own parsing reads with expressions
        report(f"ours, {case}", timed(raw.replace(old, new, 1)))
    many_tags = b"<title><![CDATA[" + b"<skipDays>" * 20_000 + b"]]></title>"
    report("skipDays tags in a title", timed(without_skip_days(raw).replace(FIRST_TITLE, many_tags, 1)))
    _, body = api_body("id_1605.08386_s0_m100_199195aa31ad.json")
    report("API author name", timed(body.replace(b"<name>", b"<name>" + word(), 1), parse_api))


if __name__ == "__main__":
    main()
