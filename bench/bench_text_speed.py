"""Text-handling speed, run by hand: `python bench/bench_text_speed.py` from the repository root.

The seconds the tests no longer assert (they count calls on n and 10n instead), each against its target:
clean_text on pathological TeX (≤ 2 s for all five), strip_unsafe_chars on hostile escapes (≤ 1 s for all
four), the offline explanation of malformed TeX (≤ 1 s each) and of the recorded stat feed (≤ 5 ms a paper),
the glossary matcher (≤ 2 ms an abstract), and hostile JATS documents (≤ 0.5 s each refused, ≤ 3 s for
thousands of formulas and deep MathML).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.explain.glossary import find_concepts  # noqa: E402
from bot.explain.offline import offline_explanation  # noqa: E402
from bot.jats import UnreadableJats, parse_jats  # noqa: E402
from bot.models import Paper  # noqa: E402
from bot.sources.arxiv import parse_rss  # noqa: E402
from bot.text import clean_text, strip_unsafe_chars  # noqa: E402
from tests.fakes import recorded_feed  # noqa: E402


def seconds(job: Callable[[], object]) -> float:
    started = time.perf_counter()
    try:
        job()
    except UnreadableJats:
        pass
    return time.perf_counter() - started


def report(case: str, took: float, target: float) -> None:
    over = "" if took <= target else f"  (over the {target:g} s target)"
    print(f"{case}: {took * 1000:.1f} ms (target ≤ {target * 1000:g} ms){over}")


def main() -> None:
    papers: list[Paper] = [item.paper for item in parse_rss(recorded_feed(), ["stat"]).items]
    pathological = ["\\( " * 8000, "$ " * 8000, "{" * 5000 + "x", "$" + "x^{" * 2000 + "$", "\\frac" * 3000]
    report("clean_text, five pathological inputs", seconds(lambda: [clean_text(t) for t in pathological]), 2.0)
    hostile = ["\x1b]" * 50_000, "\x90" * 50_000 + "x", "\x1b[" + "1;" * 50_000, "\u202e" * 100_000]
    report("strip_unsafe_chars, four hostile inputs", seconds(lambda: [strip_unsafe_chars(t) for t in hostile]), 1.0)
    offline_explanation(papers[0])  # builds the glossary matcher once per process
    for junk in ["\\[x ", "\\(x ", "$$x ", "$ a $ ", "$5 and ", "{$x^"]:
        tex = junk * 10_000
        paper = replace(papers[0], abstract_tex=tex, abstract=clean_text(tex[:2000]))
        report(f"offline explanation of {junk!r} × 10,000", seconds(lambda p=paper: offline_explanation(p)), 1.0)
    per_paper = seconds(lambda: [offline_explanation(p) for p in papers]) / len(papers)
    report("offline explanation, per recorded paper", per_paper, 0.005)
    texts = [f"{p.title} · {p.abstract}" for p in papers]
    report("glossary matcher, per abstract", seconds(lambda: [find_concepts(t) for t in texts]) / len(texts), 0.002)
    jats_bench()


def jats_bench() -> None:
    mml = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'

    def article(body: str) -> bytes:
        return f'<?xml version="1.0"?><article {mml}><body>{body}</body></article>'.encode()

    def formula(n: int, math: str, label: str | None = None) -> str:
        return f'<disp-formula id="e{n}"><label>({label or n})</label><mml:math>{math}</mml:math></disp-formula>'

    laughs = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;&l;&l;&l;&l;&l;&l;&l;">]>'
    report("JATS: entity declarations refused", seconds(lambda: parse_jats(laughs + b"<a>&l2;</a>", "d", 1, "u")), 0.5)
    big = article("<p>" + "x" * (20 * 1024 * 1024) + "</p>")
    report("JATS: 20 MB refused", seconds(lambda: parse_jats(big, "d", 1, "u")), 0.5)
    many = "".join(formula(n, f"<mml:mi>x</mml:mi><mml:mo>=</mml:mo><mml:mn>{n}</mml:mn>") for n in range(2_500))
    deep = "<mml:mrow>" * 5_000 + "<mml:mi>q</mml:mi>" + "</mml:mrow>" * 5_000
    huge = "<mml:mi>a</mml:mi>" * 30_000
    body = f"<sec><title>Method</title><p>{formula(9_001, deep, 'D')}{formula(9_002, huge, 'H')}{many}</p></sec>"
    report("JATS: 2,500 formulas and deep MathML", seconds(lambda: parse_jats(article(body), "d", 1, "u")), 3.0)


if __name__ == "__main__":
    main()
