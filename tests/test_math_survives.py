"""Math survives the text cleaner: what comes out is the same mathematics that went in.

Titles and abstracts (TeX inside $…$) go through clean_text; model answers (Unicode with bits of TeX)
through safe_llm_text. Both are read structurally (tests/support_mathread.py) and compared.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.explain.sanitize import safe_llm_text
from bot.text import clean_text
from tests.support_mathread import read_tex, read_unicode

CORPUS_FILE = Path(__file__).parent / "data" / "math_corpus.txt"
CORPUS = [
    tuple(line.split("\t", 1))
    for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def cleaned(kind: str, snippet: str) -> str:
    return clean_text(f"${snippet}$") if kind == "tex" else safe_llm_text(snippet, 4000)


def test_the_corpus_is_large_and_has_both_kinds() -> None:
    assert len(CORPUS) >= 300
    assert {kind for kind, _ in CORPUS} == {"tex", "model"}


@pytest.mark.parametrize(("kind", "snippet"), CORPUS)
def test_every_corpus_snippet_comes_out_as_the_same_mathematics(kind: str, snippet: str) -> None:
    out = cleaned(kind, snippet)
    assert read_unicode(out) == read_tex(snippet, model=kind == "model"), out
    # A second pass changes nothing, but for a set of one word ("{task}"): read again, it is TeX grouping.
    if not re.fullmatch(r".*\{[A-Za-z]{3,}\}.*", out):
        assert (cleaned(kind, out) if kind == "model" else clean_text(out)) == out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("θ_{t+1}", "θₜ₊₁"),
        ("2^{n+1}", "2ⁿ⁺¹"),
        ("n^{-1/2}", "n^(-1/2)"),
        ("x ~ N(0, I)", "x ∼ N(0, I)"),
        ("x~N(0,1)", "x∼N(0,1)"),
        ("{x : f(x) ≤ 0}", "{x : f(x) ≤ 0}"),
        ("𝔼_{x∼p}", "𝔼_(x∼p)"),
        ("\\mathbb{E}_{x\\sim p}[f(x)]", "𝔼_(x∼p)[f(x)]"),
        ("x ∈ {0,1}^n", "x ∈ {0,1}^n"),
        ("f''(x) > 0", "f″(x) > 0"),
        ("‖x‖_{2}", "‖x‖₂"),
        ("1_[0,1](x) and <x|y>", "1_[0,1]\u2060(x) and <x|y>"),  # mathematics, not links
    ],
)
def test_model_text_keeps_its_mathematics(raw: str, expected: str) -> None:
    assert safe_llm_text(raw, 500) == expected


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        ("Fig.~3, et~al. and $n$~samples", "Fig. 3, et al. and n samples"),  # ties stay spaces
        ("leveraging {seen} shifts of {B}ayesian models", "leveraging seen shifts of Bayesian models"),
        ("$\\{x : f(x)\\le 0\\}$", "{x : f(x) ≤ 0}"),
        ("$\\left\\{ x \\right\\}$", "{ x }"),
        ("${x^2}^3$", "x²^(3)"),  # never "x²³"
        ("$a^*b$ and $\\theta^*$", "a* b and θ*"),  # not the product a*b
    ],
)
def test_titles_and_abstracts_keep_their_mathematics(tex: str, expected: str) -> None:
    assert clean_text(tex) == expected


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        ("$\\mathcal{E}\\mkern-2mu L$", "ℰL"),
        ("$\\mathcal{E\\mkern-2mu L}$", "ℰℒ"),
        ("$a\\mskip 3mu plus 1mu b \\kern1em c$", "a b c"),
        ("$a\\,b\\;c\\!d\\:e \\quad f\\qquad g \\enspace h \\hspace{1em}i$", "a b cd e f g h i"),
        ("$f(x) = \\begin{cases} x^2 & x \\ge 0 \\\\ -x & x < 0 \\end{cases}$", "f(x) = { x² if x ≥ 0; -x if x < 0 }"),
        (
            "$\\begin{cases} 1 & \\text{if } x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}$",
            "{ 1 if x > 0; 0, otherwise }",
        ),
        ("$\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}$", "(a, b; c, d)"),
        ("$\\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}$", "[1, 0; 0, 1]"),
        ("$\\left(\\begin{array}{cc} a & b \\\\ c & d \\end{array}\\right)$", "( a, b; c, d )"),
        ("$\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}$", "a = b; c = d"),
        ("$\\begin{align*} x &\\le y \\\\[2pt] &= z \\end{align*}$", "x ≤ y; = z"),
        ("$\\begin{split} a &= b\\\\ &= c\\end{split}$", "a = b; = c"),
        ("$\\begin{gathered} a \\\\ b \\end{gathered}$", "a; b"),
        ("$\\begin{pmatrix} \\begin{matrix} a & b \\end{matrix} & c \\end{pmatrix}$", "(a, b, c)"),
    ],
)
def test_spacing_is_spacing_and_environments_read_as_one_line(tex: str, expected: str) -> None:
    assert clean_text(tex) == expected
    assert "&" not in expected and "\\" not in expected


# --- generated formulas --------------------------------------------------------------------------------------

_ATOMS = st.sampled_from(["x", "y", "n", "2", "1", "\\alpha", "\\theta", "t", "i", "k", "\\mathbb{R}", "f(x)"])
_OPS = st.sampled_from(["+", "-", "=", "\\le", ",", " ", "\\sim ", "\\in ", "/"])


def _formulas(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["^", "_"]), children).map(lambda t: f"{t[0]}{t[1]}{{{t[2]}}}"),
        st.tuples(children, _OPS, children).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
        st.tuples(children, children).map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
        children.map(lambda c: f"\\{{{c}\\}}"),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"{{{c}}}"),
    )


FORMULAS = st.recursive(_ATOMS, _formulas, max_leaves=8)
_UNICODE = {"\\alpha": "α", "\\theta": "θ", "\\mathbb{R}": "ℝ", "\\le": "≤", "\\sim ": " ~ ", "\\in ": " ∈ "}


def _as_model_text(tex: str) -> str:
    """The formula as a model writes it: Unicode symbols, braces only after scripts, sets as {…}."""
    for macro, char in _UNICODE.items():
        tex = tex.replace(macro, char)
    tex = tex.replace("\\{", "\x00").replace("\\}", "\x01")
    out, depth_is_script = [], []
    for k, char in enumerate(tex):
        if char == "{":
            script = k > 0 and tex[k - 1] in "^_"
            depth_is_script.append(script)
            out.append(char if script else "")
        elif char == "}":
            out.append(char if depth_is_script and depth_is_script.pop() else "")
        else:
            out.append(char)
    return "".join(out).replace("\x00", "{").replace("\x01", "}")


@settings(max_examples=300, deadline=None)
@given(FORMULAS)
def test_generated_tex_formulas_survive_clean_text(tex: str) -> None:
    out = clean_text(f"${tex}$")
    assert read_unicode(out) == read_tex(tex, model=False), out


@settings(max_examples=300, deadline=None)
@given(FORMULAS.filter(lambda t: "\\frac" not in t))
def test_generated_model_formulas_survive_safe_llm_text(tex: str) -> None:
    text = _as_model_text(tex)
    out = safe_llm_text(text, 4000)
    assert read_unicode(out) == read_tex(text, model=True), (text, out)


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        (r"\frac{1}{T}\sum_{t=1}^{T} x_t", "(1/T)∑ₜ₌₁ᵀ xₜ"),  # not 1/(T∑…)
        (r"\frac{1}{2}x", "(1/2)x"),
        (r"\frac{a}{b}\frac{c}{d}", "(a/b)c/d"),
        (r"\frac{a}{b} + c", "a/b + c"),
        (r"x = \frac{a}{b}", "x = a/b"),
        (r"\frac{a}{b} \leq 1", "a/b ≤ 1"),
    ],
)
def test_an_inline_fraction_followed_by_a_term_is_bracketed(tex: str, expected: str) -> None:
    assert clean_text(f"${tex}$") == expected


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        # LaTeXML writes an empty position argument before an array's columns: neither is content.
        (r"\begin{array}[]{rcl}u&=&z\Phi w,\\ w&=&x-\hat{x}\end{array}", "u = zΦ w; w = x-x̂"),
        (r"\begin{array}{rcl} a & \leq & b \\ c & = & d \end{array}", "a ≤ b; c = d"),  # an alignment, not a matrix
        (r"\begin{array}{cc} a & b \\ c & -d \end{array}", "a, b; c, -d"),  # a matrix's cells stay apart
        (r"\begin{aligned}[t] x &= 1 \\ y &= 2 \end{aligned}", "x = 1; y = 2"),
    ],
)
def test_arrays_read_as_alignments_or_matrices_without_their_arguments(tex: str, expected: str) -> None:
    assert clean_text(f"${tex}$") == expected
