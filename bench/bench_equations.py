"""Equation benchmarks, run by hand: `python bench/bench_equations.py` from the repository root.

One run prints, each against its target:

1. extract: the numbered equations of a 1 MB arXiv HTML page (the recorded LaTeXML page of 2501.11120v1,
   ~0.7 MB, with numbered display equations in LaTeXML's markup added to its sections): ≤ 200 ms.
2. render: one display equation drawn as a PNG by mathtext (fresh formulas each time, so neither the disk
   cache nor mathtext's own cache helps): ≤ 100 ms; through the renderer (worker thread + disk write), and
   served from the disk cache: ≤ 1 ms. Also the slowest shapes the checks let through (≤ 1 s each) and
   2,000 formulas with a limit of 3 images (≤ 5 s: only 3 are drawn).
3. tokens and estimated cost of one grounded explanation (title, abstract and the page's key equations) at
   the default model's price, beside the abstract-only prompt of the same paper. Input tokens are
   estimated at four characters a token (no tokenizer offline); output is priced at the answer cap.
4. the share of a day's cs.LG papers with an HTML version and with ≥ 1 numbered equation: only as far as
   recorded pages go (see the printed line).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_dir  # noqa: E402
from bot.cards import ExplanationEquation  # noqa: E402
from bot.equation_images import (  # noqa: E402
    MAX_BIG_OPERATORS,
    MAX_FRACTIONS,
    MAX_NESTING,
    MAX_TEX_CHARS,
    EquationImageCache,
    EquationRenderer,
    render_png,
)
from bot.explain.pricing import cost_usd  # noqa: E402
from bot.explain.prompt import (  # noqa: E402
    ANSWER_SCHEMA,
    CHARS_PER_TOKEN,
    MAX_OUTPUT_TOKENS,
    SYSTEM_PROMPT,
    ground,
    user_message,
)
from bot.explain.providers import DEFAULT_MODELS  # noqa: E402
from bot.fulltext import key_equations, parse_full_text  # noqa: E402
from bot.models import Paper  # noqa: E402

RECORDED = ROOT / "tests" / "data" / "html"
PAGE = RECORDED / "2501.11120v1.html"
EQUATIONS = [
    r"\mathcal{L}(\theta)=\frac{1}{N}\sum_{i=1}^{N}\ell\big(f_{\theta}(x_{i}),y_{i}\big)+\lambda\|\theta\|_{2}^{2}",
    r"p_{\theta}(x_{t-1}\mid x_{t})=\mathcal{N}\big(x_{t-1};\mu_{\theta}(x_{t},t),\Sigma_{\theta}(x_{t},t)\big)",
    r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\left(\frac{QK^{\top}}{\sqrt{d_{k}}}\right)V",
    r"\nabla_{\theta}J(\theta)=\mathbb{E}_{\tau\sim\pi_{\theta}}\left[\sum_{t=0}^{T}\nabla_{\theta}\log\pi_{\theta}"
    r"(a_{t}\mid s_{t})\,R(\tau)\right]",
    r"D_{\mathrm{KL}}(p\,\|\,q)=\int p(x)\log\frac{p(x)}{q(x)}\,dx",
    # Laid out cell by cell (bot.equation_layout): each cell is one mathtext draw.
    r"\ell(x)=\begin{cases}\frac{1}{2}x^{2}&|x|\leq\delta\\\delta\big(|x|-\frac{1}{2}\delta\big)&\text{otherwise}\end{cases}",
    r"\begin{aligned}\mathcal{L}&=\underbrace{\mathbb{E}_{q}[\log p(x\mid z)]}_{\text{reconstruction}}"
    r"\\&\quad-D_{\mathrm{KL}}(q\,\|\,p)\end{aligned}",
]


def equation_table(section: int, number: int, tex: str) -> str:
    """One numbered display equation as LaTeXML writes it (table, MathML stand-in, label cell), with a
    paragraph before it that introduces it and refers to the previous one."""
    anchor = f"S{section}.E{number}"
    return (
        f'<div class="ltx_para"><p class="ltx_p">As (<a href="#S{section}.E{max(1, number - 1)}" class="ltx_ref">'
        f"{max(1, number - 1)}</a>) shows, the quantity below follows from the definitions above.</p>"
        f'<table id="{anchor}" class="ltx_equation ltx_eqn_table"><tbody><tr class="ltx_equation ltx_eqn_row">'
        f'<td class="ltx_eqn_cell ltx_eqn_center_padleft"></td><td class="ltx_eqn_cell ltx_align_center">'
        f'<math id="{anchor}.m1" class="ltx_Math" alttext="{html.escape(tex)}" display="block"><semantics><mrow>'
        + "<mi>x</mi><mo>+</mo>"
        * 40
        + '</mrow></semantics></math></td><td class="ltx_eqn_cell ltx_eqn_eqno ltx_align_middle ltx_align_right">'
        f'<span class="ltx_tag ltx_tag_equation ltx_align_right">({number})</span></td></tr></tbody></table></div>'
    )


def megabyte_page() -> str:
    page = PAGE.read_text(encoding="utf-8")
    sections = re.findall(r'<section class="ltx_section" id="S(\d+)"', page) or ["1"]
    number = 0
    while len(page.encode()) < 1_000_000:
        for section in sections:
            number += 1
            marker = f'<section class="ltx_section" id="S{section}">'
            addition = equation_table(int(section), number, EQUATIONS[number % len(EQUATIONS)])
            page = page.replace(marker, marker + addition, 1)
    return page


def bench_extract() -> tuple[Paper, object]:
    page = megabyte_page()
    timings = []
    full_text = None
    for _ in range(5):
        started = time.perf_counter()
        full_text = parse_full_text(page, "2501.11120", 1, "https://arxiv.org/html/2501.11120v1")
        timings.append(time.perf_counter() - started)
    assert full_text is not None
    print(
        f"extract: {len(page.encode()) / 1e6:.2f} MB page, {len(full_text.equations)} numbered equations in "
        f"{statistics.median(timings) * 1000:.0f} ms (median of 5; target ≤ 200 ms)"
    )
    paper = Paper(
        id="2501.11120",
        version=1,
        title="Tell me about yourself: LLMs are aware of their learned behaviors",
        authors=("Jan Betley", "Xuchan Bao"),
        categories=("cs.CL", "cs.LG"),
        primary_category="cs.CL",
        abstract=ABSTRACT,
    )
    return paper, full_text


# The slowest shape of each kind the checks let through (tests/test_equation_images.py checks that one step
# past each is refused): the worker's timeout is a backstop only while these draw well within it.
WORST_ALLOWED = {
    f"{MAX_TEX_CHARS} characters of flat TeX": ("a+" * MAX_TEX_CHARS)[:MAX_TEX_CHARS],
    f"{MAX_BIG_OPERATORS} sums": "\\sum_{i=1}^{n}" * MAX_BIG_OPERATORS + "x",
    f"{MAX_NESTING} nested groups": "{" * MAX_NESTING + "x" + "}" * MAX_NESTING,
    f"{MAX_FRACTIONS} fractions": "\\frac{x}{y}+" * MAX_FRACTIONS + "1",
    "6 nested fractions": "\\frac{" * 6 + "x" + "}{y}" * 6,
}


async def bench_render() -> None:
    render_png("x")  # matplotlib's import and fonts, once per process (≈ 0.1-0.3 s), not per formula
    fresh = [tex.replace("theta", "vartheta") + f"+c_{{{i}}}" for i in range(8) for tex in EQUATIONS]
    timings = []
    for tex in fresh:
        started = time.perf_counter()
        render_png(tex)
        timings.append(time.perf_counter() - started)
    worst = {}
    for shape, tex in WORST_ALLOWED.items():
        started = time.perf_counter()
        try:
            render_png(tex)
        except ValueError:
            pass  # too wide for a chat: drawn and measured all the same
        worst[shape] = time.perf_counter() - started
    folder = scratch_dir()
    renderer = EquationRenderer(EquationImageCache(folder))
    through, cached = [], []
    for i, tex in enumerate(EQUATIONS):
        tex = tex + f"+d_{{{i}}}"
        started = time.perf_counter()
        assert await renderer.image(tex) is not None
        through.append(time.perf_counter() - started)
        for _ in range(200):
            started = time.perf_counter()
            await renderer.image(tex)
            cached.append(time.perf_counter() - started)
    print(
        f"render: one display equation {statistics.median(timings) * 1000:.1f} ms median, "
        f"{max(timings) * 1000:.1f} ms max over {len(timings)} (target ≤ 100 ms); through the worker process with "
        f"the disk write {statistics.median(through) * 1000:.1f} ms; cached {statistics.median(cached) * 1e6:.0f} µs "
        f"median, {sorted(cached)[int(len(cached) * 0.99)] * 1e6:.0f} µs p99 (target ≤ 1 ms)"
    )
    shapes = ", ".join(f"{shape} {seconds * 1000:.0f} ms" for shape, seconds in worst.items())
    print(f"render: the slowest shapes the checks let through: {shapes} (target ≤ 1 s each)")
    many = [
        ExplanationEquation(label=str(i), tex=rf"\frac{{{i}}}{{n}}\sum_{{j}}x_{{j}}", unicode="", url="")
        for i in range(2_000)
    ]
    renderer = EquationRenderer(EquationImageCache(scratch_dir()))
    started = time.perf_counter()
    await renderer.images(many, 3)
    print(f"render: 2,000 formulas with a limit of 3 images {time.perf_counter() - started:.2f} s (target ≤ 5 s)")


def bench_tokens(paper: Paper, full_text: object) -> None:
    model = DEFAULT_MODELS["anthropic"]
    schema = len(json.dumps(ANSWER_SCHEMA))

    def tokens(message: str) -> int:
        return (len(SYSTEM_PROMPT) + schema + len(message)) // CHARS_PER_TOKEN

    grounding = ground(paper, full_text)  # type: ignore[arg-type]
    assert grounding is not None
    grounded = tokens(user_message(paper, grounding))
    plain = tokens(user_message(paper))
    cost_grounded = cost_usd(model, grounded, MAX_OUTPUT_TOKENS)
    cost_plain = cost_usd(model, plain, MAX_OUTPUT_TOKENS)
    print(
        f"tokens: grounded explanation ≈ {grounded:,} in ({len(grounding.equations)} equations) vs abstract-only "
        f"≈ {plain:,} in, ≤ {MAX_OUTPUT_TOKENS:,} out each; {model}: ≈ ${cost_grounded:.5f} vs ${cost_plain:.5f} "
        f"per explanation at the output cap (+{(cost_grounded / cost_plain - 1) * 100:.0f}%)"
    )


def bench_share() -> None:
    pages = sorted(RECORDED.glob("*.html"))
    with_equations = 0
    for path in pages:
        parsed = parse_full_text(path.read_bytes(), path.stem, 1, "https://arxiv.org/html/" + path.stem)
        with_equations += bool(key_equations(parsed))
    print(
        f"share: recorded sample = {len(pages)} real arXiv HTML page(s) ({', '.join(p.stem for p in pages)}): "
        f"{len(pages)}/{len(pages)} with an HTML version, {with_equations}/{len(pages)} with ≥ 1 numbered equation. "
        "A day's cs.LG share needs that day's pages recorded (≈ 150-225 papers): not measurable from this sample."
    )


ABSTRACT = (
    "We study behavioral self-awareness -- an LLM's ability to articulate its behaviors without requiring "
    "in-context examples. We finetune LLMs on datasets that exhibit particular behaviors, such as (a) making "
    "high-risk economic decisions, and (b) outputting insecure code. Despite the datasets containing no "
    "explicit descriptions of the associated behavior, the finetuned LLMs can explicitly describe it. For "
    "example, a model trained to output insecure code says, ``The code I write is insecure.'' Indeed, models "
    "show behavioral self-awareness for a range of behaviors and for diverse evaluations. Note that while we "
    "finetune models to exhibit behaviors like writing insecure code, we do not finetune them to articulate "
    "their own behaviors -- models do this without any special training or examples."
)


def main() -> None:
    paper, full_text = bench_extract()
    asyncio.run(bench_render())
    bench_tokens(paper, full_text)
    bench_share()


if __name__ == "__main__":
    main()
