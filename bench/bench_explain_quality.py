"""Explanation quality benchmark, run by hand: `python -m bench.bench_explain_quality [--baseline DIR]`.

Over the real pages made by LaTeXML (tests/data/latexml) and the recorded arXiv HTML page, measures what an
explanation is built from, as `paperbot explain` builds it with default settings:

- the math cleaner: the share of the math corpus (tests/data/math_corpus.txt) kept as the same mathematics
  by clean_text (titles, abstracts) and safe_llm_text (model answers); target 100 %;
- the grounded prompt: its estimated tokens (system prompt, schema and user message, ~4 characters a token,
  as the ledger counts offline) and its coverage, the share of the page's key equations sent with both the
  sentence that introduces them and the sentence after them; target ≥ 90 %;
- the offline primer: notation entries per page, and over every recorded abstract with formulas the share
  of formulas shown with the words around them (target ≥ 90 %);
- the cost of one grounded explanation at the default model's prices (input at the prompt's size, output at
  the answer cap).

With ``--baseline DIR`` (a checkout of an earlier version, e.g. `git worktree add ../old d0a8624`), the same
prompt and cleaner figures are measured for that version in a subprocess, in the same run, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from bot.explain.abstract_formulas import abstract_formulas  # noqa: E402
from bot.explain.offline import offline_explanation  # noqa: E402
from bot.explain.pricing import price_of  # noqa: E402
from bot.explain.prompt import ANSWER_SCHEMA, MAX_OUTPUT_TOKENS, SYSTEM_PROMPT, ground, user_message  # noqa: E402
from bot.explain.sanitize import safe_llm_text  # noqa: E402
from bot.fulltext import FullText, key_equations, parse_full_text  # noqa: E402
from bot.models import Paper  # noqa: E402
from bot.sources.arxiv import parse_api, parse_rss  # noqa: E402
from bot.text import clean_text  # noqa: E402
from tests.support_mathread import read_tex, read_unicode  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "math_corpus.txt"
PAGES = sorted((ROOT / "tests" / "data" / "latexml").glob("*.html")) + sorted(
    (ROOT / "tests" / "data" / "html").glob("*.html")
)
DEFAULT_MODEL = "claude-haiku-5-5"
CHARS_PER_TOKEN = 4


@dataclass
class PageFigures:
    name: str
    equations: int
    passages: int
    tokens: int
    coverage: float
    key: int
    notation: int


def _paper_of(html: bytes, name: str) -> Paper:
    """Title and abstract as the page shows them (what arXiv's API would give)."""
    tree = LexborHTMLParser(html)
    title = tree.css_first("h1.ltx_title_document")
    abstract = tree.css_first("div.ltx_abstract p")
    return Paper(
        id="2501.00017",
        version=1,
        title=clean_text(title.text() if title else name),
        authors=("A. Author",),
        categories=("math.OC",),
        primary_category="math.OC",
        abstract=clean_text(abstract.text() if abstract else ""),
    )


def _corpus() -> list[tuple[str, str]]:
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]
    return [(kind, snippet) for kind, snippet in (line.split("\t", 1) for line in lines)]


def _kept(snippets: list[tuple[str, str]], cleaned: list[str]) -> tuple[int, int]:
    pairs = zip(snippets, cleaned, strict=True)
    same = sum(read_unicode(out) == read_tex(s, model=kind == "model") for (kind, s), out in pairs)
    return same, len(snippets)


def _page(path: Path) -> PageFigures:
    html = path.read_bytes()
    paper = _paper_of(html, path.stem)
    full_text: FullText = parse_full_text(html, paper.id, 1, "https://arxiv.org/html/2501.00017v1")
    grounding = ground(paper, full_text)
    prompt_chars = len(SYSTEM_PROMPT) + len(json.dumps(ANSWER_SCHEMA)) + len(user_message(paper, grounding))
    offline = offline_explanation(paper, full_text=full_text)
    notation = next((s.text.count("•") for s in offline.sections if s.title.startswith("Notation")), 0)
    return PageFigures(
        name=path.stem[:40],
        equations=len(full_text.equations),
        passages=len(full_text.passages),
        tokens=prompt_chars // CHARS_PER_TOKEN,
        coverage=grounding.coverage if grounding is not None else 0.0,
        key=len(key_equations(full_text)),
        notation=notation,
    )


def _recorded_abstract_papers() -> list[Paper]:
    data = ROOT / "tests" / "data"
    papers = list(parse_rss((data / "rss-stat-2024-03-26.xml").read_bytes(), ["stat"]).items)
    found = [item.paper for item in papers]
    for path in sorted((data / "api").glob("*.json")):
        recorded = json.loads(path.read_text())
        if recorded.get("status_code") == 200:
            try:
                found += parse_api(recorded["body"].encode())
            except Exception:  # a recorded error answer: nothing to measure
                continue
    return found


def _formulas_in_context() -> tuple[int, int]:
    shown = with_words = 0
    for paper in _recorded_abstract_papers():
        for line in abstract_formulas(paper):
            shown += len(line.formulas)
            if line.in_context and len(line.context) > max(map(len, line.formulas)) + 10:
                with_words += len(line.formulas)
    return with_words, shown


_OLD = r"""
import json, sys
from bot.text import clean_text
from bot.explain.sanitize import safe_llm_text
from bot.explain.prompt import ANSWER_SCHEMA, SYSTEM_PROMPT, ground, user_message
from bot.fulltext import key_equations, parse_full_text
from bot.models import Paper
job = json.load(sys.stdin)
cleaned = [clean_text(f"${s}$") if k == "tex" else safe_llm_text(s, 4000) for k, s in job["corpus"]]
pages = []
for page in job["pages"]:
    paper = Paper(**page["paper"])
    full_text = parse_full_text(open(page["path"], "rb").read(), paper.id, 1, "https://arxiv.org/html/2501.00017v1")
    grounding = ground(paper, full_text)
    chars = len(SYSTEM_PROMPT) + len(json.dumps(ANSWER_SCHEMA)) + len(user_message(paper, grounding))
    key = key_equations(full_text)
    sent = grounding.equations if grounding else ()
    both = sum(1 for e in sent if e.intro and getattr(e, "after", ""))
    pages.append({"tokens": chars // 4, "sent": len(sent), "intro": sum(1 for e in sent if e.intro),
                  "coverage": both / len(key) if key else 0.0})
print(json.dumps({"cleaned": cleaned, "pages": pages}))
"""


def _baseline(folder: Path, snippets: list[tuple[str, str]]) -> dict[str, object]:
    pages = []
    for path in PAGES:
        paper = _paper_of(path.read_bytes(), path.stem)
        fields = {
            k: getattr(paper, k)
            for k in ("id", "version", "title", "authors", "categories", "primary_category", "abstract")
        }
        pages.append({"path": str(path), "paper": fields})
    env = {**os.environ, "PYTHONPATH": str(folder)}
    job = json.dumps({"corpus": snippets, "pages": pages})
    done = subprocess.run(
        [sys.executable, "-c", _OLD], input=job, capture_output=True, text=True, env=env, cwd=folder, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier version to measure beside this one")
    args = parser.parse_args()

    snippets = _corpus()
    cleaned = [clean_text(f"${s}$") if kind == "tex" else safe_llm_text(s, 4000) for kind, s in snippets]
    same, total = _kept(snippets, cleaned)
    print(f"math kept by the cleaners: {same}/{total} = {100 * same / total:.1f} % (target 100 %)")
    old = _baseline(args.baseline, snippets) if args.baseline else None
    if old is not None:
        old_same, _ = _kept(snippets, list(old["cleaned"]))  # type: ignore[call-overload]
        print(f"  baseline ({args.baseline}): {old_same}/{total} = {100 * old_same / total:.1f} %")

    price_in, price_out = price_of(DEFAULT_MODEL)
    print(f"\nper page (default settings, {DEFAULT_MODEL} at ${price_in}/${price_out} per M tokens):")
    header = f"{'page':40} {'eqs':>4} {'pass':>5} {'tokens':>7} {'coverage':>9} {'notation':>9} {'$/expl':>8}"
    print(header + ("   baseline: tokens, eqs sent (with intro), coverage, $/expl" if old else ""))
    figures = [_page(path) for path in PAGES]
    old_pages = list(old["pages"]) if old else []  # type: ignore[call-overload]
    for i, f in enumerate(figures):
        cost = (f.tokens * price_in + MAX_OUTPUT_TOKENS * price_out) / 1e6
        line = f"{f.name:40} {f.equations:4} {f.passages:5} {f.tokens:7} {100 * f.coverage:8.0f}%"
        line += f" {f.notation:9} {cost:8.5f}"
        if old_pages:
            o = old_pages[i]
            old_cost = (o["tokens"] * price_in + 1500 * price_out) / 1e6
            line += f"   {o['tokens']:6} {o['sent']:3} ({o['intro']}) {100 * o['coverage']:4.0f}% {old_cost:8.5f}"
        print(line)
    with_keys = [f for f in figures if f.key]
    mean_coverage = sum(f.coverage for f in with_keys) / max(len(with_keys), 1)
    print(f"coverage over pages with key equations: {100 * mean_coverage:.0f} % (target ≥ 90 %)")
    print(f"notation entries per page: {[f.notation for f in figures]}")
    words, shown = _formulas_in_context()
    print(
        f"offline: formulas of recorded abstracts shown with their words: {words}/{shown} = "
        f"{100 * words / max(shown, 1):.0f} % (target ≥ 90 %)"
    )


if __name__ == "__main__":
    main()
