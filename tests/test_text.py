"""Text hygiene: TeX to Unicode, whitespace, author lists and teasers (bot/text.py)."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.text import clean_text, latex_to_unicode, shorten_authors, strip_unsafe_chars, teaser
from tests.support_work import grows_linearly

DATA = Path(__file__).parent / "data"
DC = "{http://purl.org/dc/elements/1.1/}"
ARXIV = "{http://arxiv.org/schemas/atom}"

# (TeX as arXiv authors write it, what a chat message should show)
CASES = [
    # the required conversions
    (r"$\mathcal{O}(n^{2})$", "𝒪(n²)"),
    (r"$\mathbb{R}^d$", "ℝᵈ"),
    (r"$\frac{a}{b}$", "a/b"),
    (r"$\frac{1}{n+1}$", "1/(n+1)"),
    (r"$\|x\|$", "‖x‖"),
    (r"$\alpha$-masses", "α-masses"),
    (r"$\sum_i m_i\delta_{x_i}$", "∑ᵢ mᵢδ_(xᵢ)"),  # ᵢ has no subscript form: bracketed fallback
    (r"$H^{GN}$", "Hᴳᴺ"),
    (r"$H^{XYZ}$", "H^(XYZ)"),  # no superscript X: never the ambiguous "H^XYZ"
    (r"$n^{-1/2}$", "n^(-1/2)"),
    (r"$\sqrt{x}$", "√x"),
    (r"$\sqrt{x+1}$", "√(x+1)"),
    (r"$\sqrt[3]{x}$", "∛x"),
    (r"$a \leq b \geq c \neq d \approx e$", "a ≤ b ≥ c ≠ d ≈ e"),
    (r"$\infty$, $\nabla f$, $\partial_t u$", "∞, ∇f, ∂ₜu"),
    (r"$\int f$, $\sum x$, $\prod y$", "∫ f, ∑ x, ∏ y"),
    (r"$x \in A \subset B$", "x ∈ A ⊂ B"),
    (r"$f\colon X \to Y$, $x \mapsto x \times y \cdot z$", "f: X → Y, x ↦ x × y · z"),
    (r"$X \sim P$, $\ell_1$, $\varepsilon$", "X ∼ P, ℓ₁, ε"),
    (r"$\mathfrak{g}$, $\mathbf{x}$, $\mathcal{L}$, $\mathbb{E}[X]$", "𝔤, 𝐱, ℒ, 𝔼[X]"),
    (r"\emph{x} \textbf{y} \textit{z} \texttt{w}", "x y z w"),
    (
        r"Journal de l'\'Ecole polytechnique - Math\'ematiques, Tome 11 (2024), pp. 431-472",
        "Journal de l'École polytechnique - Mathématiques, Tome 11 (2024), pp. 431-472",
    ),
    (r"50\% \& more", "50% & more"),
    (r"Fig.~3", "Fig. 3"),
    (r"Jensen--Shannon --- yes", "Jensen–Shannon — yes"),
    (r"costs \$5 and \$10", "costs $5 and $10"),
    (r"unknown \macro{with arg} kept; \ours}).", "unknown macro with arg kept; ours)."),
    # quotes
    (r"``Ladder of Causation''", "“Ladder of Causation”"),
    (r"`immune' or `cured' subjects don't", "‘immune’ or ‘cured’ subjects don't"),
    # accents in author names
    (
        r"Knollm\"uller, Rodr\'iguez, Cand\`es, Fran\c{c}ois, \v{S}koda, Erd\H{o}s, Bj\o rn, G\'{\i}sli",
        "Knollmüller, Rodríguez, Candès, François, Škoda, Erdős, Bjørn, Gísli",
    ),
    # scripts, accents and delimiters from the recorded feed
    (r"$\alpha_i^*$ and $x_i^\top\beta$", "αᵢ* and xᵢᵀβ"),
    (r"$\{\theta_i^*\}_{i=1}^n$", "{θᵢ*}ᵢ₌₁ⁿ"),  # set braces stay braces
    (r"$p\in\{1,2\}$", "p∈{1,2}"),
    (r"$\lVert\alpha_n-\alpha\rVert\overset{a.s.}\longrightarrow 0$", "‖αₙ-α‖⟶^(a.s.) 0"),
    (r"$X \perp \!\!\! \perp Y \mid Z$", "X ⫫ Y ∣ Z"),
    (r"$n \geq \wt O (r^2 (d_1\vee d_2))$", "n ≥ Õ (r² (d₁ ∨ d₂))"),  # \wt: the author's \widetilde
    (r"$M \in \RR^{d_1\times d_2}$", "M ∈ ℝ^(d₁×d₂)"),
    (r"$\frac{\partial f}{\partial x}$", "∂f/∂x"),
    (r"$\log n$, $\log\alpha$, $f'(x)$", "log n, log α, f′(x)"),
    (r"$\Gamma$-converge", "Γ-converge"),
    (r"$$\alpha=\beta$$ and \(x^2\) and \[y_1\]", "α=β and x² and y₁"),
    (r"\alpha-stable laws without dollars", "α-stable laws without dollars"),
    (r"$\not= \not\in$ $\binom{n}{k}$ \textsuperscript{th}", "≠ ∉ C(n, k) ᵗʰ"),
    # URLs are not TeX: their ~, -- and _ survive
    (r"code: \url{https://github.com/dbsxodud-11/ls_gfn}.", "code: https://github.com/dbsxodud-11/ls_gfn."),
    (r"\href{https://a.org/x}{https://a.org/x}", "https://a.org/x"),
    (r"\href{https://a.org/~u}{our code}", "our code (https://a.org/~u)"),
    ("see https://example.org/~user/a--b_c now", "see https://example.org/~user/a--b_c now"),
    # malformed input degrades, never raises
    ("1.41 times$that of", "1.41 times that of"),  # a lost $ in a real abstract
    ("unbalanced { brace and $x", "unbalanced brace and x"),
    ("}} stray closers", "stray closers"),
    ("trailing backslash \\", "trailing backslash"),
    ("$ x $ is one word", "x is one word"),
    ("it costs $5 and $10", "it costs $5 and $10"),  # unescaped money stays money
    # platform escaping happens elsewhere
    ("a < b & c > d @user", "a < b & c > d @user"),
    ("$a<b$ & \\&", "a<b & &"),
]


@pytest.mark.parametrize(("tex", "expected"), CASES)
def test_clean_text_converts_tex(tex: str, expected: str) -> None:
    assert clean_text(tex) == expected


@pytest.mark.parametrize(("tex", "expected"), CASES)
def test_clean_text_is_idempotent(tex: str, expected: str) -> None:
    assert clean_text(expected) == expected
    assert clean_text(clean_text(tex)) == clean_text(tex)


def test_the_case_table_is_large() -> None:
    assert len(CASES) >= 30


def test_whitespace_runs_and_newlines_collapse_in_titles() -> None:
    title = "  Conformal\n  online   model\taggregation\r\n"
    assert clean_text(title) == "Conformal online model aggregation"
    assert clean_text("Mass concentration\nin $\\mathbb{R}^N$\n") == "Mass concentration in ℝᴺ"
    assert clean_text("non\u00a0breaking") == "non breaking"
    assert clean_text("") == ""
    assert clean_text(" \n\t ") == ""


def test_latex_to_unicode_keeps_whitespace_and_returns_plain_text_untouched() -> None:
    assert latex_to_unicode("two  spaces\nand a newline") == "two  spaces\nand a newline"
    assert latex_to_unicode("$x$,\n $y$") == "x,\n y"


def test_unknown_macros_keep_their_name_and_argument() -> None:
    assert clean_text(r"$\foo{x}$") == "foo x"
    assert clean_text(r"the \naive\ estimator") == "the naive estimator"


def test_pathological_input_is_fast_and_does_not_crash() -> None:
    """Unclosed delimiters are looked for once, not once per opener (that was quadratic)."""
    inputs = ["\\( " * 8000, "$ " * 8000, "{" * 5000 + "x", "$" + "x^{" * 2000 + "$", "\\frac" * 3000]
    for text in inputs:
        out = clean_text(text)
        assert "\\" not in out and "{" not in out
    # Counted, not timed (bench/bench_text_speed.py times it): ten times the input, about ten times the calls.
    for text in inputs:
        assert grows_linearly(lambda n, text=text: clean_text(text[: len(text) // 10 * n // 100]), 10), text[:10]


def test_random_tex_never_crashes_or_leaks_markup() -> None:
    pieces = [
        "$", "$$", "{", "}", "^", "_", "~", "'", "`", "-", " ", "\n", "a", "x", "2", "(", ")", "[", "]",
        ".", "\\alpha", "\\frac", "\\sqrt", "\\mathbb", "\\'", '\\"', "\\left", "\\right", "\\{", "\\}",
        "\\$", "\\\\", "\\", "\\text", "\\url", "\\href", "http://a.b/~c", "\\not", "\\c", "\\i", "%",
        "&", "\\emph", "\\overset", "\\(", "\\)", "\\[", "\\]", "\\!", "\\perp", "\\foo",
    ]  # fmt: skip
    rng = random.Random(2024)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        out = clean_text(text)
        assert not re.search(r"\\[A-Za-z]|\s\s", out), (text, out)
        # a brace that shows is a set brace: written \{ or \}, or one of a closed pair
        assert out.count("{") + out.count("}") <= text.count("{") + text.count("}"), (text, out)
        assert out == out.strip()


# -- the recorded feeds ------------------------------------------------------------------------


def _feed_texts() -> list[tuple[str, str]]:
    """(what, text) for every title, abstract, author list and journal ref in the recorded feeds."""
    texts = []
    for name in ("rss-stat-2024-03-26.xml", "rss-spec-example-math.OC.xml"):
        for item in ET.parse(DATA / name).getroot().iter("item"):
            link = item.findtext("link") or ""
            description = item.findtext("description") or ""
            # description = "arXiv:<id>v<N> Announce Type: <type> \nAbstract: <text>"
            texts.append((f"abstract {link}", description.split("Abstract:", 1)[1]))
            texts.append((f"title {link}", item.findtext("title") or ""))
            texts.append((f"authors {link}", item.findtext(f"{DC}creator") or ""))
            if (journal := item.findtext(f"{ARXIV}journal_reference")) is not None:
                texts.append((f"journal ref {link}", journal))
    return texts


FEED_TEXTS = _feed_texts()
TEX_LEFTOVER = re.compile(r"\$|\\[A-Za-z]|  ")


def test_the_recorded_feed_is_all_there() -> None:
    assert sum(what.startswith("abstract") for what, _ in FEED_TEXTS) == 124  # 123 stat + 1 math.OC


@pytest.mark.parametrize(("what", "text"), FEED_TEXTS, ids=[what for what, _ in FEED_TEXTS])
def test_recorded_feed_text_comes_out_clean(what: str, text: str) -> None:
    cleaned = clean_text(text)
    leftover = TEX_LEFTOVER.search(cleaned)
    assert leftover is None, f"{what}: {cleaned[max(leftover.start() - 60, 0) : leftover.end() + 60]!r}"
    # the feeds write every set brace \{ ... \}: any other brace in the output is TeX grouping left behind
    assert cleaned.count("{") == text.count("\\{") and cleaned.count("}") == text.count("\\}"), what
    assert cleaned == cleaned.strip() and "\n" not in cleaned
    assert clean_text(cleaned) == cleaned


def test_recorded_feed_spot_checks() -> None:
    cleaned = {clean_text(text) for _, text in FEED_TEXTS}
    everything = " ".join(cleaned)
    for expected in (
        "computational complexity of 𝒪(n³), which",
        "Mat\u00e9rn correlation function",
        "A short proof of the Dvoretzky–Kiefer–Wolfowitz–Massart inequality",
        "the “Ladder of Causation” within",
        "Borja Rodríguez-Gálvez",
        "Journal de l'École polytechnique - Mathématiques",
        "defined for atomic measures ∑ᵢ mᵢδ_(xᵢ) as ∑ᵢ H(mᵢ).",
        "Source code is available: https://github.com/dbsxodud-11/ls_gfn.",
        "leveraging seen distribution shifts",  # bare TeX grouping braces: {seen}
        "1.41 times that of the results",
    ):
        assert expected in everything, expected


def test_every_recorded_abstract_gets_a_sentence_teaser() -> None:
    for what, text in FEED_TEXTS:
        if not what.startswith("abstract"):
            continue
        abstract = clean_text(text)
        short = teaser(abstract)
        assert len(short) <= 280
        assert abstract.startswith(short.removesuffix("…"))
        assert short.endswith((".", "?", "!", "…", ")")) or short == abstract, short[-40:]


# -- authors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authors", "expected"),
    [
        ([], "Unknown authors"),
        (["", "  "], "Unknown authors"),
        (["Ada"], "Ada"),
        (["Ada", "Bob"], "Ada, Bob"),
        (["A", "B", "C", "D"], "A, B, C, D"),  # "… and 1 more" would save nothing
        (["A", "B", "C", "D", "E"], "A, B, C … and 2 more"),
        ([f"Author {k}" for k in range(2950)], "Author 0, Author 1, Author 2 … and 2,947 more"),
        (("A", " B ", "C", "D", "E", "F"), "A, B, C … and 3 more"),
        ("Single Author", "Single Author"),  # a bare string is one name, not letters
    ],
)
def test_shorten_authors(authors: list[str], expected: str) -> None:
    assert shorten_authors(authors) == expected


def test_shorten_authors_shown() -> None:
    names = ["A", "B", "C", "D", "E"]
    assert shorten_authors(names, shown=1) == "A … and 4 more"
    assert shorten_authors(names, shown=4) == "A, B, C, D, E"
    assert shorten_authors(names, shown=0) == "A … and 4 more"  # at least one name


# -- teasers -----------------------------------------------------------------------------------

ABSTRACT = "We study X. Results hold for Y, e.g. Gaussian noise. The end is near and far away from here."


@pytest.mark.parametrize(
    ("max_chars", "expected"),
    [
        (200, ABSTRACT),  # fits whole
        (60, "We study X. Results hold for Y, e.g. Gaussian noise."),  # not cut after "e.g."
        (45, "We study X."),
        (11, "We study X."),
        (10, "We study…"),  # the first sentence alone is too long: word boundary + "…"
    ],
)
def test_teaser_ends_at_sentence_boundaries(max_chars: int, expected: str) -> None:
    assert teaser(ABSTRACT, max_chars) == expected


def test_teaser_skips_abbreviations_and_decimals() -> None:
    text = (
        "Chen et al. (2019) proved it. We extend Fig. 3 and Eq. 5 to cf. Smith vs. Jones at rate 3.5 "
        "and i.e. More. Next sentence here."
    )
    second_end = text.index("More.") + len("More.")
    # every ". " in the second sentence fits, yet none of them ends it
    assert teaser(text, second_end - 1) == "Chen et al. (2019) proved it."
    assert teaser(text, second_end) == text[:second_end]


def test_teaser_question_exclamation_and_quotes() -> None:
    text = "Is it true? Yes! It is. “Quoted” start. 2024 was good. and lower case is not a start."
    assert teaser(text, 12) == "Is it true?"
    assert teaser(text, 17) == "Is it true? Yes!"
    assert teaser(text, 30) == "Is it true? Yes! It is."  # a quote starts a sentence
    assert teaser(text, 40) == "Is it true? Yes! It is. “Quoted” start."  # so does a digit
    assert teaser(text, 80) == "Is it true? Yes! It is. “Quoted” start."  # "good. and" is no end


def test_teaser_never_cuts_mid_word() -> None:
    text = "A very long first sentence without any boundary that keeps going well past the limit"
    for limit in range(5, len(text)):
        short = teaser(text, limit)
        assert len(short) <= limit and short.endswith("…")
        assert text.startswith(short[:-1]) and text[len(short) - 1] == " ", short


def test_teaser_edge_cases() -> None:
    assert teaser("  padded.  ", 280) == "padded."
    assert teaser("Anything.", 0) == ""
    long_word = "x" * 300
    assert teaser(long_word, 280) == "x" * 279 + "…"  # nothing else fits the limit


# -- invisible and control characters --------------------------------------------------------------

UNSAFE_CASES = [
    ("\u202elpmaxe.live//:sptth", "lpmaxe.live//:sptth"),  # right-to-left override
    ("a\u202ab\u202bc\u202cd\u202de", "abcde"),  # embeddings and overrides U+202A-202E
    ("\u2066x\u2067y\u2068z\u2069", "xyz"),  # isolates U+2066-2069
    ("\u200ex\u200f\u061c", "x"),  # directional marks
    ("h\u200bt\u200ct\u200dp\u2060s\ufeff", "https"),  # zero-width characters, BOM
    ("soft\u00adhyphen \U000e0041\U000e0042tags", "softhyphen tags"),  # invisible format characters
    ("bell\x07 nul\x00 del\x7f c1\x85end\x1fx", "bell nul del c1\nend\nx"),  # NEL, US separate; the rest goes
    ("a\r\nb\rc\u2028d\u2029e\x0bf", "a\nb\nc\nd\ne\nf"),
    ("keep\ttab\nand newline", "keep\ttab\nand newline"),
    ("\x1b[31mred\x1b[0m \x1b[2J", "red "),  # CSI: colours, erase
    ("\x1b]8;;https://evil.example\x07click\x1b]8;;\x07", "click"),  # OSC 8 hyperlink, BEL-terminated
    ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),  # ... ST-terminated
    ("\x1b]0;title\x07x \x9d0;t\x9cy \x1bP1$r\x1b\\z", "x y z"),  # window title, 8-bit OSC, DCS
    ("\x1b(Bx\x1b7", "x"),  # short escape sequences
    ("\x1b]8;;unterminated", "8;;unterminated"),  # only the introducer of an unterminated string goes
    ("lone \ud800 surrogate \udfff", "lone  surrogate "),
    (
        "@\u2060everyone <\u200b@1> https:\u2060//x [a]\u2060(b)",
        "@\u2060everyone <\u200b@1> https:\u2060//x [a]\u2060(b)",
    ),
    ("x\u2060y\u200bz @\u202e\u2060here", "xyz @here"),  # a joiner not right after @ < : ] is not ours
    ("👨\u200d👩\u200d👧 ❤\ufe0f\u200d🔥", "👨\u200d👩\u200d👧 ❤\ufe0f\u200d🔥"),  # emoji sequences stay whole
    ("a\u200d👩 👨\u200db", "a👩 👨b"),
    ("plain ascii, Mathématiques, 𝒪(n²), α ≤ β", "plain ascii, Mathématiques, 𝒪(n²), α ≤ β"),
]


@pytest.mark.parametrize(("raw", "expected"), UNSAFE_CASES)
def test_strip_unsafe_chars(raw: str, expected: str) -> None:
    assert strip_unsafe_chars(raw) == expected
    assert strip_unsafe_chars(expected) == expected  # idempotent


def test_strip_unsafe_chars_removes_every_format_and_control_character() -> None:
    """Every Cf/Cc/Cs code point Python knows (other than tab and newline) is removed, or kept as a joiner."""
    import unicodedata

    for code in range(0x110000):
        ch = chr(code)
        if unicodedata.category(ch) in ("Cf", "Cc", "Cs") and ch not in "\t\n":
            assert strip_unsafe_chars("x" + ch + "é") in ("xé", "x\né"), hex(code)  # é: ends no escape sequence


def test_strip_unsafe_chars_is_linear_on_hostile_input() -> None:
    inputs = ["\x1b]" * 50_000, "\x90" * 50_000 + "x", "\x1b[" + "1;" * 50_000, "\u202e" * 100_000]
    for text in inputs:
        assert "\x1b" not in strip_unsafe_chars(text)
        # Counted, not timed (bench/bench_text_speed.py): ten times the input, about ten times the calls.
        assert grows_linearly(lambda n, text=text: strip_unsafe_chars(text[: len(text) // 100 * n]), 1), text[:3]


@pytest.mark.parametrize(
    "raw",
    ["\u202eevil", "h\u200bttps://evil.example", "\x1b]8;;http://evil/\x07text", "a\x00b", "<\u2066!channel>"],
)
def test_clean_text_strips_unsafe_characters_at_ingest(raw: str) -> None:
    out = clean_text(raw)
    assert not re.search("[\x00-\x08\x1b\u200b\u202a-\u202e\u2066-\u2069]", out), out
