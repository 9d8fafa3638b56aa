"""Math cleaner benchmark, run by hand: `python -m bench.bench_math_cleaner` from the repository root.

Runs the math corpus (tests/data/math_corpus.txt: ≥ 300 snippets, TeX as abstracts write it and Unicode
with bits of TeX as models write it) through both cleaners, clean_text for titles and abstracts and
safe_llm_text for model answers, and prints the share kept as the same mathematics (read structurally,
as tests/test_math_survives.py does; target 100 %) and the time per snippet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.explain.sanitize import safe_llm_text  # noqa: E402
from bot.text import clean_text  # noqa: E402
from tests.support_mathread import read_tex, read_unicode  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "math_corpus.txt"


def main() -> None:
    lines = [
        line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")
    ]
    snippets = [tuple(line.split("\t", 1)) for line in lines]
    kept = {"tex": 0, "model": 0}
    total = {"tex": 0, "model": 0}
    lost: list[str] = []
    started = time.perf_counter()
    for kind, snippet in snippets:
        out = clean_text(f"${snippet}$") if kind == "tex" else safe_llm_text(snippet, 4000)
        total[kind] += 1
        if read_unicode(out) == read_tex(snippet, model=kind == "model"):
            kept[kind] += 1
        else:
            lost.append(f"  {kind}: {snippet!r} -> {out!r}")
    elapsed = time.perf_counter() - started
    for kind, cleaner in (("tex", "clean_text"), ("model", "safe_llm_text")):
        share = 100 * kept[kind] / max(total[kind], 1)
        print(
            f"{cleaner:14} {kept[kind]:4}/{total[kind]:<4} kept as the same mathematics: {share:5.1f} % (target 100 %)"
        )
    print(f"time: {1e6 * elapsed / len(snippets):.0f} µs a snippet ({len(snippets)} snippets, {elapsed * 1e3:.0f} ms)")
    print("\n".join(lost))


if __name__ == "__main__":
    main()
