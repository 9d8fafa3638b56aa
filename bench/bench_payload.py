"""Hostile-text rendering benchmark, run by hand: `python -m bench.bench_payload`.

A megabyte in one untrusted field (an abstract, a model's answer, a pasted command), in six shapes, put in
every field of a card, a digest, an explanation and a reply and drawn by every renderer (Slack blocks, Discord
embeds, plain text). Target: under 1 s per shape, and within a small multiple of drawing the same field at
its cut length (MAX_UNTRUSTED_CHARS of ordinary text), measured in the same run: bounding first makes a
megabyte cost what the cut costs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.untrusted import MAX_UNTRUSTED_CHARS  # noqa: E402
from tests.support_payload_safety import HOSTILE_SHAPES, render_everything  # noqa: E402


def _best_of(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        render_everything(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    baseline = _best_of(("lorem ipsum " * MAX_UNTRUSTED_CHARS)[:MAX_UNTRUSTED_CHARS])
    print(f"baseline: {MAX_UNTRUSTED_CHARS:,} characters of ordinary text in every field: {baseline * 1000:.0f} ms")
    for shape, text in HOSTILE_SHAPES.items():
        took = _best_of(text)
        verdict = "met" if took < 1.0 else "MISSED"
        print(f"{shape:14} {len(text):>9,} chars: {took * 1000:6.0f} ms = {took / baseline:4.1f}× baseline ({verdict})")


if __name__ == "__main__":
    main()
