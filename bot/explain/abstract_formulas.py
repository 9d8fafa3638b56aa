"""The formulas of an abstract, each shown in the words around it, the most telling first.

A formula alone says little ("M", "→ ∞"); in its sentence it reads ("as the number of training steps
→ ∞"). So each formula of the abstract's TeX is found, rendered as Unicode, located in the clean
abstract the reader sees, and shown in its sentence (cut around it with "…" when the sentence is long).

What is not a formula: a number or a percentage typeset in math mode ("$1.13\\times$", "$>98\\%$",
"$10^{6}$") and a word ("$e.g.$"). What comes first (importance, not order): a formula in a sentence
stating the main result ("we prove", "achieves", "rate", "bound", "converges", …), then relations and
asymptotic statements (=, ≤, →, 𝒪(·)) over lone symbols; ties keep the abstract's order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.models import Paper
from bot.text import clean_text

__all__ = ["FormulaInContext", "abstract_formulas", "is_number", "math_sources", "render_math"]

CONTEXT_CHARS = 220  # one formula's line: its sentence, or the part of it around the formula
MAX_LINES = 6


@dataclass(frozen=True, slots=True)
class FormulaInContext:
    formulas: tuple[str, ...]  # the formulas (Unicode) this line shows, most telling first
    context: str  # the words around them, as in the clean abstract; "…" marks a cut
    in_context: bool  # False when a formula could not be found in the abstract: shown alone


def abstract_formulas(paper: Paper, limit: int = MAX_LINES) -> tuple[FormulaInContext, ...]:
    """Up to ``limit`` lines, one per sentence holding formulas, the most telling sentence first."""
    sources = dict.fromkeys(source for text in (paper.title, paper.abstract_tex) for source in math_sources(text))
    rendered = [f for f in dict.fromkeys(render_math(s) for s in sources) if f and not _is_not_a_formula(f)]
    if not rendered:
        return ()
    meaningful = [f for f in rendered if not is_trivial(f)] or rendered  # "α" alone only when nothing else
    sentences = _sentences(paper.abstract)
    groups: dict[int, list[tuple[int, str]]] = {}  # sentence index (-1 - i: not found) -> (score, formula)
    for order, formula in enumerate(meaningful):
        where = _locate(formula, sentences)
        key = where if where >= 0 else -1 - order
        sentence = sentences[where][1] if where >= 0 else ""
        groups.setdefault(key, []).append((_score(formula, sentence), formula))
    lines = []
    for key, scored in groups.items():
        scored.sort(key=lambda pair: -pair[0])  # stable: the abstract's order among equals
        formulas = tuple(f for _, f in scored)
        if key >= 0:
            context = _window(sentences[key][1], formulas, CONTEXT_CHARS)
            lines.append((scored[0][0], key, FormulaInContext(formulas, context, True)))
        else:
            lines.append((scored[0][0], len(sentences), FormulaInContext(formulas, cut_at_word(formulas[0]), False)))
    lines.sort(key=lambda item: (-item[0], item[1]))
    return tuple(line for _, _, line in lines[: max(0, limit)])


# ---------------------------------------------------------------------------------------------
# What is a formula, and how telling it is
# ---------------------------------------------------------------------------------------------

# Digits, their super/subscripts, signs, separators, comparison and approximation, and the units a
# number carries in an abstract (percent, "×" for a speed-up): what is left when none of it is math.
_NUMBER_PARTS = re.compile(r"[\d⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉⁻⁺.,:\s%×+\-−±<>≤≥≈∼~^()]|(?<=[\d\s])(?:x|times)(?!\w)")
_WORD_ONLY = re.compile(r"(?:[A-Za-z]{1,4}\.)+|[A-Za-z]{3,}")
_COMBINING = re.compile(r"[\u0300-\u036f\u20d0-\u20ff]")
_RELATION = re.compile(r"[=≤≥<>≠≈≍∼→↦⇒⟶∈∉⊂⊆⊃≲≳≪≫∝]|\bto\b")
_ASYMPTOTIC = re.compile(r"(?<!\w)(?:𝒪|O|o|Ω|Θ|ω|Õ)[\u0303]?\s*\(")
_MAIN_RESULT = re.compile(
    r"\b(?:we (?:prove|show|establish|derive|obtain|demonstrate)|main result|theorem|prove[sn]?|proved)\b",
    re.IGNORECASE,
)
_RESULT_WORDS = re.compile(
    r"\b(?:achiev\w*|attain\w*|rates?|bound\w*|converge\w*|guarantee\w*|minimax|optimal\w*|complexity|"
    r"suffic\w*|consisten\w*|regret|faster|improv\w*|outperform\w*|recover\w*|error)\b",
    re.IGNORECASE,
)


def is_number(formula: str) -> bool:
    """A number, a percentage or a speed-up ("1.13×", ">98%", "10⁶", "∼ 30"): never listed as a formula."""
    return any(c.isdigit() for c in formula) and not _NUMBER_PARTS.sub("", formula)


def _is_not_a_formula(formula: str) -> bool:
    return is_number(formula) or _WORD_ONLY.fullmatch(formula.strip()) is not None


def is_trivial(formula: str) -> bool:
    """A single symbol (accents allowed: x̂) says nothing on its own."""
    compact = formula.replace(" ", "")
    return len(_COMBINING.sub("", unicodedata.normalize("NFD", compact))) <= 1


def _score(formula: str, sentence: str) -> int:
    score = 0
    if _MAIN_RESULT.search(sentence):
        score += 6
    if _RESULT_WORDS.search(sentence):
        score += 4
    if _RELATION.search(formula):
        score += 2
    if _ASYMPTOTIC.search(formula):
        score += 2
    if is_trivial(formula):
        score -= 3
    return score


# ---------------------------------------------------------------------------------------------
# Sentences and the window around a formula
# ---------------------------------------------------------------------------------------------

_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[^\sa-z])")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|et al|cf|vs|resp|approx|Fig|Eq|Eqs|Sec|Thm|no|ca)\.|\b[A-Z]\.)$")


def _sentences(text: str) -> list[tuple[int, str]]:
    """(start, sentence) for each sentence of clean text; "e.g." and initials do not end one."""
    sentences = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        if _ABBREVIATION.search(text, 0, boundary.start()):
            continue
        sentences.append((start, text[start : boundary.start()]))
        start = boundary.end()
    if text[start:].strip():
        sentences.append((start, text[start:].rstrip()))
    return sentences


def _locate(formula: str, sentences: list[tuple[int, str]]) -> int:
    return next((i for i, (_, sentence) in enumerate(sentences) if formula in sentence), -1)


def _window(sentence: str, formulas: tuple[str, ...], limit: int) -> str:
    """The sentence, or the stretch of whole words around its first (most telling) formula."""
    if len(sentence) <= limit:
        return sentence
    start = sentence.find(formulas[0])
    end = start + len(formulas[0])
    if end - start >= limit - 2:
        return cut_at_word(formulas[0], limit)
    # All of the sentence's formulas when their stretch fits, else the most telling one.
    spans = [(at, at + len(f)) for f in formulas if (at := sentence.find(f)) >= 0]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    if last - first <= limit - 2:
        start, end = first, last
    # Grow word by word, alternately right and left, while the stretch (with its "…" marks) fits.
    left, right = start, end
    grew = True
    while grew:
        grew = False
        for side in ("right", "left"):
            if side == "right" and right < len(sentence):
                nxt = _next_blank(sentence, right)
                if nxt - left + 2 <= limit:
                    right, grew = nxt, True
            elif side == "left" and left > 0:
                prv = _previous_blank(sentence, left)
                if right - prv + 2 <= limit:
                    left, grew = prv, True
    head = "" if left == 0 else "…"
    tail = "" if right >= len(sentence) else "…"
    return f"{head}{sentence[left:right].strip()}{tail}"


def _next_blank(text: str, pos: int) -> int:
    """The end of the word after ``pos`` (the next blank after the next non-blank, or the end)."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    blank = text.find(" ", pos)
    return len(text) if blank < 0 else blank


def _previous_blank(text: str, pos: int) -> int:
    while pos > 0 and text[pos - 1].isspace():
        pos -= 1
    blank = text.rfind(" ", 0, pos)
    return 0 if blank < 0 else blank + 1


def cut_at_word(text: str, limit: int = CONTEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    blank = head.rfind(" ")
    if blank > limit // 2:  # a formula without blanks is cut where it must be
        head = head[:blank]
    return head.rstrip() + "…"


# ---------------------------------------------------------------------------------------------
# Finding formulas in TeX
# ---------------------------------------------------------------------------------------------

# "$$" before "$", so "$$x$$" is one display formula and not two empty ones around "x".
_OPENER = re.compile(r"\$\$|\$|\\\[|\\\(")
_CLOSER = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_ESCAPED_DOLLAR = "\\$"
_DOLLAR_STAND_IN = "\x00"  # hides \$ (a dollar sign) from the scanner
_TEX_SIGNS = frozenset("\\^_{")


def math_sources(text: str) -> list[str]:
    """The TeX sources of the formulas in ``text``, in order of appearance.

    Linear in the text: a closer found missing once stays missing for the rest of it, so malformed
    input ("\\[x" repeated) cannot make each opener scan to the end again.
    """
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        return []
    text = text.replace(_ESCAPED_DOLLAR, _DOLLAR_STAND_IN)
    sources: list[str] = []
    missing: set[str] = set()
    pos = 0
    while (opener := _OPENER.search(text, pos)) is not None:
        closer = _CLOSER[opener.group()]
        end = -1 if closer in missing else text.find(closer, opener.end())
        if end < 0:
            missing.add(closer)
            pos = opener.start() + 1  # "$$x$" still has "$x$"
            continue
        source = text[opener.end() : end]
        if closer == "$" and not _is_inline_math(source, text[end + 1 : end + 2]):
            pos = opener.start() + 1  # "$5 and $10": the second dollar may open a real formula
            continue
        if source.strip():
            sources.append(source.replace(_DOLLAR_STAND_IN, _ESCAPED_DOLLAR))
        pos = end + len(closer)
    return sources


def _is_inline_math(content: str, after: str) -> bool:
    """Whether ``$content$`` is math rather than two dollar amounts (the rule bot.text applies).

    TeX-looking content always counts. Otherwise (Pandoc's rule) no blank just inside the dollars,
    unless the content is one word, and no digit right after the closing one.
    """
    if not content.strip():
        return False
    if _TEX_SIGNS.intersection(content):
        return True
    if after.isdigit():
        return False
    return not (content[0].isspace() or content[-1].isspace()) or len(content.split()) == 1


def render_math(source: str) -> str:
    # \( \) rather than $ $: a stray dollar inside display math cannot end the formula early.
    return clean_text(f"\\({source}\\)")


def distinct(items: Iterable[str]) -> list[str]:
    return [item for item in dict.fromkeys(items) if item]
