"""The offline explanation: the formulas and glossary concepts found in a paper's title and abstract.

Used when no LLM is configured, when the LLM fails, or when the day's budget is spent. It is deterministic
and costs well under a millisecond per paper, so it can stand in anywhere an LLM answer would go: the
formulas, rendered as Unicode; a one-line definition and a reference for each concept the paper names;
and the abstract itself, so the reader always gets something useful.

Given the paper's full text (its arXiv HTML version, :mod:`bot.fulltext`), it shows the paper's own key
numbered equations instead of the abstract's formulas: each as numbered in the paper, in Unicode, with
the sentence that introduces it, a link to its place in the HTML version, and the glossary concepts
those sentences and formulas name. A badge in the note says what the explanation was built from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from bot.cards import Explanation, ExplanationEquation, ExplanationSection
from bot.explain.glossary import Concept, find_concepts
from bot.explain.prompt import ONE_LINER_MAX
from bot.fulltext import HTML_BADGE, FullText, key_equations
from bot.models import Paper
from bot.text import clean_text, teaser

__all__ = [
    "DEFAULT_NOTE",
    "FULL_TEXT_BADGE",
    "NO_HTML_BADGE",
    "SECTION_MAX",
    "UNFETCHED_BADGE",
    "math_in_a_sentence_offline",
    "offline_explanation",
    "paper_equations",
]

DEFAULT_NOTE = "Offline explanation: formulas and concepts found in the title and abstract; no LLM was used."
SECTION_MAX = 900  # as the LLM sections: fits a Discord embed field and a Slack section
MAX_FORMULAS = 8
MAX_CONCEPTS = 6
ONE_LINER_CONCEPTS = 4

FORMULAS_TITLE = "Formulas in the abstract"
EQUATIONS_TITLE = "Key equations of the paper"
EQUATION_CONCEPTS_TITLE = "Concepts these equations use"
FULL_TEXT_BADGE = HTML_BADGE  # "from the paper's full text (v{version})", as bot.fulltext words it
NO_HTML_BADGE = "from the abstract only (no HTML version)"
UNFETCHED_BADGE = "from the abstract only (the HTML version could not be fetched)"
EQUATION_CHARS = 300  # one equation's Unicode in the section; the JSON keeps it whole
INTRO_CHARS = 160
CONCEPTS_TITLE = "Concepts it mentions"
ABSTRACT_TITLE = "Abstract"
NOTHING_TO_SHOW = "This paper has no abstract, and no formulas or glossary concepts in its title."


def offline_explanation(
    paper: Paper, *, note: str = "", full_text: FullText | None = None, abstract_badge: str = ""
) -> Explanation:
    """Formulas, concepts and the abstract, as sections (only the non-empty ones) and as plain text.

    ``note`` says why this is offline (no LLM, a failure, the budget); empty means the default note.
    With ``full_text``, the paper's key numbered equations replace the abstract's formulas and the badge
    says so; without it, ``abstract_badge`` (NO_HTML_BADGE, UNFETCHED_BADGE) says why, when a full text
    was looked for.
    """
    equations = paper_equations(full_text) if full_text is not None else ()
    concepts = find_concepts(_prose(paper), limit=MAX_CONCEPTS)
    equation_concepts: tuple[Concept, ...] = ()
    if equations:
        equation_concepts = find_concepts(_equations_prose(full_text, equations), limit=MAX_CONCEPTS)
        named = {c.term for c in equation_concepts}
        concepts = tuple(c for c in concepts if c.term not in named)
    sections = tuple(
        ExplanationSection(title, text)
        for title, text in (
            (EQUATIONS_TITLE, _equations_section(full_text, equations)),
            (EQUATION_CONCEPTS_TITLE, _concepts_section(equation_concepts)),
            (FORMULAS_TITLE, "" if equations else _formulas_section(paper)),
            (CONCEPTS_TITLE, _concepts_section(concepts)),
            (ABSTRACT_TITLE, teaser(paper.abstract, SECTION_MAX)),
        )
        if text
    )
    badge = full_text.badge if full_text is not None else abstract_badge  # arXiv's HTML (v2) or a JATS file
    note = note or DEFAULT_NOTE
    return Explanation(
        source="offline",
        text=_plain_text(sections),
        sections=sections,
        cached=False,
        # The badge is part of the note every renderer (and the JSON) shows: what it was built from.
        note=f"{note} Built {badge}.".strip() if badge else note,
        grounding="full_text" if full_text is not None else "abstract",
        equations=equations,
        badge=badge,
    )


def paper_equations(full_text: FullText) -> tuple[ExplanationEquation, ...]:
    """The paper's key equations (bot.fulltext's heuristic), with Unicode and a link to each."""
    return tuple(
        ExplanationEquation(
            label=clean_text(equation.label),
            tex=equation.tex,
            unicode=_render(equation.tex),
            url=full_text.link(equation),
        )
        for equation in key_equations(full_text)
    )


def math_in_a_sentence_offline(paper: Paper) -> str | None:
    """A line for digest cards naming the paper's glossary concepts, or None when it names none."""
    names: list[str] = []
    for concept in find_concepts(_prose(paper), limit=ONE_LINER_CONCEPTS):
        if len(_one_liner([*names, concept.term])) > ONE_LINER_MAX:
            break
        names.append(concept.term)
    return _one_liner(names) if names else None


def _one_liner(names: list[str]) -> str:
    return "Concepts: " + ", ".join(names)


def _prose(paper: Paper) -> str:
    # The middle dot keeps a name from spanning title and abstract ("… Gaussian" + "process …").
    return f"{paper.title} · {paper.abstract}"


def _plain_text(sections: tuple[ExplanationSection, ...]) -> str:
    """The sections as plain text, for places that draw no sections (notifications, the terminal)."""
    if not sections:
        return NOTHING_TO_SHOW
    return "\n\n".join(f"{section.title}:\n{section.text}" for section in sections)


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _formulas_section(paper: Paper) -> str:
    sources = dict.fromkeys(source for text in (paper.title, paper.abstract_tex) for source in _math(text))
    formulas = _distinct(_render(source) for source in sources)
    shown = [f for f in formulas if not _is_trivial(f)] or formulas  # "α" alone is better than nothing
    return _fit_lines([f"• {formula}" for formula in shown[:MAX_FORMULAS]], SECTION_MAX)


def _equations_section(full_text: FullText | None, equations: tuple[ExplanationEquation, ...]) -> str:
    if full_text is None or not equations:
        return ""
    intros = {full_text.link(e): e.intro for e in full_text.equations}
    lines = []
    for equation in equations:
        intro = intros.get(equation.url, "")
        said = f" — “{_cut_at_word(intro, INTRO_CHARS)}”" if intro else ""
        lines.append(f"• Eq. ({equation.label}) {_cut_at_word(equation.unicode, EQUATION_CHARS)}{said} {equation.url}")
    return _fit_lines(lines, SECTION_MAX)


def _equations_prose(full_text: FullText | None, equations: tuple[ExplanationEquation, ...]) -> str:
    if full_text is None:
        return ""
    shown = {e.url for e in equations}
    intros = [e.intro for e in full_text.equations if full_text.link(e) in shown]
    return " · ".join([*intros, *(e.unicode for e in equations)])


def _concepts_section(concepts: Iterable[Concept]) -> str:
    return _fit_lines([f"• {c.term}: {c.definition} — {c.url}" for c in concepts], SECTION_MAX)


def _fit_lines(lines: list[str], limit: int) -> str:
    """As many whole lines as fit in ``limit``; a first line too long on its own is cut at a word."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line) + (1 if kept else 0)
        if size > limit:
            break
        kept.append(line)
    if not kept and lines:
        return _cut_at_word(lines[0], limit)
    return "\n".join(kept)


def _cut_at_word(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    blank = head.rfind(" ")
    if blank > limit // 2:  # a formula without blanks is cut where it must be
        head = head[:blank]
    return head.rstrip() + "…"


def _distinct(items: Iterable[str]) -> list[str]:
    return [item for item in dict.fromkeys(items) if item]


# ---------------------------------------------------------------------------------------------
# Formulas
# ---------------------------------------------------------------------------------------------

# "$$" before "$", so "$$x$$" is one display formula and not two empty ones around "x".
_OPENER = re.compile(r"\$\$|\$|\\\[|\\\(")
_CLOSER = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_ESCAPED_DOLLAR = "\\$"
_DOLLAR_STAND_IN = "\x00"  # hides \$ (a dollar sign) from the scanner
_TEX_SIGNS = frozenset("\\^_{")


def _math(text: str) -> list[str]:
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


def _render(source: str) -> str:
    # \( \) rather than $ $: a stray dollar inside display math cannot end the formula early.
    return clean_text(f"\\({source}\\)")


_NUMBER = re.compile(r"[+\-−]?\d+(?:[.,]\d+)*%?")
_COMBINING = re.compile(r"[\u0300-\u036f\u20d0-\u20ff]")


def _is_trivial(formula: str) -> bool:
    """A single symbol (accents allowed: x̂) or a plain number says nothing on its own."""
    compact = formula.replace(" ", "")
    symbol = _COMBINING.sub("", unicodedata.normalize("NFD", compact))
    return len(symbol) <= 1 or _NUMBER.fullmatch(compact) is not None
