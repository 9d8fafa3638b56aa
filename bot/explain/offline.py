"""The offline explanation: a primer built from the paper's own words, without an LLM.

Used when no LLM is configured, when the LLM fails, or when the day's budget is spent. It is deterministic
and costs about a millisecond per paper, so it can stand in anywhere an LLM answer would go.

From the title and abstract: the abstract's formulas, each in the words around it and the most telling
first (:mod:`bot.explain.abstract_formulas`); a one-line definition of each glossary concept the paper
names; and the abstract itself, whole or with its cut marked "…".

Given the paper's full text (arXiv's HTML version or a preprint's JATS, :mod:`bot.fulltext`), also: the
paper's key numbered equations, each with the sentence that introduces it and the one after it; the
paper's notation, symbol → meaning, from its where-clauses and definitions (:mod:`bot.explain.notation`);
its first theorem statements; and the concepts those name. The badge says the full text was used only
when one of these is shown.

The bot's own links (each equation's place in the paper, each concept's reference) go in the sections'
``links``, never in their text: the text is paper text, which renderers defang.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.cards import Explanation, ExplanationEquation, ExplanationSection, Link
from bot.explain.abstract_formulas import FormulaInContext, abstract_formulas, cut_at_word, render_math
from bot.explain.glossary import Concept, find_concepts
from bot.explain.notation import NotationEntry, notation
from bot.explain.prompt import ONE_LINER_MAX
from bot.fulltext import HTML_BADGE, FullText, PaperEquation, Passage, key_equations
from bot.models import Paper
from bot.text import clean_text, teaser

__all__ = [
    "DEFAULT_NOTE",
    "FULL_TEXT_BADGE",
    "NOTHING_USED_BADGE",
    "NO_HTML_BADGE",
    "SECTION_MAX",
    "UNFETCHED_BADGE",
    "math_in_a_sentence_offline",
    "offline_explanation",
    "paper_equations",
]

DEFAULT_NOTE = "Offline explanation: formulas and concepts found in the title and abstract; no LLM was used."
SECTION_MAX = 900  # as the LLM sections: fits a Discord embed field and a Slack section
MAX_CONCEPTS = 6
MAX_STATEMENTS = 2
ONE_LINER_CONCEPTS = 4

FORMULAS_TITLE = "Formulas in the abstract"
EQUATIONS_TITLE = "Key equations of the paper"
NOTATION_TITLE = "Notation"
STATEMENTS_TITLE = "What the paper states"
EQUATION_CONCEPTS_TITLE = "Concepts these equations use"
FULL_TEXT_BADGE = HTML_BADGE  # "from the paper's full text (v{version})", as bot.fulltext words it
NO_HTML_BADGE = "from the abstract only (no HTML version)"
UNFETCHED_BADGE = "from the abstract only (the HTML version could not be fetched)"
NOTHING_USED_BADGE = "from the abstract only (no equations, notation or statements found in the full text)"
EQUATION_CHARS = 300  # one equation's Unicode in the section; the JSON keeps it whole
INTRO_CHARS = 160
STATEMENT_CHARS = 320
CONCEPTS_TITLE = "Concepts it mentions"
ABSTRACT_TITLE = "Abstract"
NOTHING_TO_SHOW = "This paper has no abstract, and no formulas or glossary concepts in its title."
_SAFE_ANCHOR = re.compile(r"[A-Za-z0-9._-]{1,40}")  # LaTeXML ids (S3.E2); anything else gets no link


def offline_explanation(
    paper: Paper, *, note: str = "", full_text: FullText | None = None, abstract_badge: str = ""
) -> Explanation:
    """The primer, as sections (only the non-empty ones) and as plain text.

    ``note`` says why this is offline (no LLM, a failure, the budget); empty means the default note.
    With ``full_text``, the paper's key equations, notation and statements replace the abstract's formulas
    and the badge says so; when it yields none of them, or without it, the explanation is the abstract's and
    ``abstract_badge`` (NO_HTML_BADGE, UNFETCHED_BADGE) says why, when a full text was looked for.
    """
    chosen = key_equations(full_text) if full_text is not None else ()
    equations = paper_equations(full_text) if full_text is not None else ()
    entries = notation(full_text, chosen) if full_text is not None else ()
    statements = _statements(full_text.passages) if full_text is not None else ()
    used = bool(equations or entries or statements)
    concepts = find_concepts(_prose(paper), limit=MAX_CONCEPTS)
    equation_concepts: tuple[Concept, ...] = ()
    if equations:
        equation_concepts = find_concepts(_equations_prose(chosen, equations), limit=MAX_CONCEPTS)
        named = {c.term for c in equation_concepts}
        concepts = tuple(c for c in concepts if c.term not in named)
    candidates = (
        _equations_section(full_text, chosen, equations) if full_text is not None else None,
        _section(NOTATION_TITLE, [_notation_line(e) for e in entries]),
        _section(STATEMENTS_TITLE, [_statement_line(p) for p in statements]),
        _concepts_section(EQUATION_CONCEPTS_TITLE, equation_concepts),
        None if used else _section(FORMULAS_TITLE, [_formula_line(f) for f in abstract_formulas(paper)]),
        _concepts_section(CONCEPTS_TITLE, concepts),
        ExplanationSection(ABSTRACT_TITLE, _abstract(paper.abstract)),
    )
    sections = tuple(s for s in candidates if s is not None and s.text)
    if used and full_text is not None:
        badge = full_text.badge  # arXiv's HTML (v2) or a JATS file
    else:
        badge = NOTHING_USED_BADGE if full_text is not None else abstract_badge
    note = note or DEFAULT_NOTE
    return Explanation(
        source="offline",
        text=_plain_text(sections),
        sections=sections,
        cached=False,
        # The badge is part of the note every renderer (and the JSON) shows: what it was built from.
        note=f"{note} Built {badge}.".strip() if badge else note,
        grounding="full_text" if used else "abstract",
        equations=equations,
        badge=badge,
    )


def paper_equations(full_text: FullText) -> tuple[ExplanationEquation, ...]:
    """The paper's key equations (bot.fulltext's heuristic), with Unicode and a link to each."""
    return tuple(
        ExplanationEquation(
            label=clean_text(equation.label),
            tex=equation.tex,
            unicode=render_math(equation.tex),
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


def _section(title: str, lines: list[str], links: Iterable[Link] = ()) -> ExplanationSection | None:
    text, kept = _fit_lines(lines, SECTION_MAX)
    if not text:
        return None
    return ExplanationSection(title, text, tuple(links)[:kept])


def _formula_line(line: FormulaInContext) -> str:
    return f"• {line.context}"


def _equations_section(
    full_text: FullText, chosen: tuple[PaperEquation, ...], equations: tuple[ExplanationEquation, ...]
) -> ExplanationSection | None:
    lines, links = [], []
    for source, equation in zip(chosen, equations, strict=True):
        where = f" (in {cut_at_word(source.statement, 40)})" if source.statement else ""
        said = f" — “{cut_at_word(source.intro, INTRO_CHARS)}”" if source.intro else ""
        after = f" Then: “{cut_at_word(source.after, INTRO_CHARS)}”" if source.after else ""
        lines.append(f"• Eq. ({equation.label}){where} {cut_at_word(equation.unicode, EQUATION_CHARS)}{said}{after}")
        if _SAFE_ANCHOR.fullmatch(source.anchor):  # a hostile id must not shape a link the bot draws live
            links.append(Link(f"Eq. ({equation.label})", equation.url))
    text, kept = _fit_lines(lines, SECTION_MAX)
    shown = {f"Eq. ({e.label})" for e in equations[:kept]}
    return ExplanationSection(EQUATIONS_TITLE, text, tuple(link for link in links if link.label in shown))


def _equations_prose(chosen: tuple[PaperEquation, ...], equations: tuple[ExplanationEquation, ...]) -> str:
    return " · ".join([*(e.intro for e in chosen if e.intro), *(e.unicode for e in equations)])


def _notation_line(entry: NotationEntry) -> str:
    qualifier = f" ({entry.qualifier})" if entry.qualifier else ""
    return f"• {entry.symbol}: {entry.meaning}{qualifier}"


def _statements(passages: tuple[Passage, ...]) -> tuple[Passage, ...]:
    return tuple(p for p in passages if p.kind == "theorem" and p.text.strip())[:MAX_STATEMENTS]


def _statement_line(passage: Passage) -> str:
    label = cut_at_word(passage.label, 40) or "Theorem"
    return f"• {label}: {cut_at_word(' '.join(passage.text.split()), STATEMENT_CHARS)}"


def _concepts_section(title: str, concepts: Iterable[Concept]) -> ExplanationSection | None:
    concepts = tuple(concepts)
    return _section(
        title, [f"• {c.term}: {c.definition}" for c in concepts], (Link(c.term, c.url) for c in concepts)
    )


def _abstract(abstract: str) -> str:
    """The whole abstract, or as many sentences as fit with the cut marked "…"."""
    abstract = abstract.strip()
    if len(abstract) <= SECTION_MAX:
        return abstract
    cut = teaser(abstract, SECTION_MAX - 2)
    return cut if cut.endswith("…") else f"{cut} …"


def _fit_lines(lines: list[str], limit: int) -> tuple[str, int]:
    """As many whole lines as fit in ``limit`` and how many; a first line too long alone is cut at a word."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line) + (1 if kept else 0)
        if size > limit:
            break
        kept.append(line)
    if not kept and lines:
        return cut_at_word(lines[0], limit), 1
    return "\n".join(kept), len(kept)
