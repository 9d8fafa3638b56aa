"""A model's structured answer as explanation sections: sanitised, bounded, each claim with its source.

An equation the model cites by one of the given labels is shown from the paper's own TeX (as Unicode),
with the model's meaning beside it; its link goes in the section's ``links``, never in the text. A
formula of the model's own is shown only as background, with the reason it gave. A label the model
invented (one not sent) is background too: the paper's "Eq. (n)" is never put beside the model's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.cards import ExplanationSection, Link
from bot.explain.answer_schema import Claim, StructuredAnswer
from bot.explain.prompt import SECTIONS
from bot.explain.sanitize import fit_lines, safe_llm_text
from bot.fulltext import PaperEquation
from bot.text import clean_text

__all__ = ["bare_label", "render_sections"]

SOURCE_CHARS = 48  # "[3 Method]", "[Eq. (A.4)]": a source is a pointer, not a sentence
_LIMITS = {s.key: s.max_chars for s in SECTIONS}
_SAFE_ANCHOR = re.compile(r"[A-Za-z0-9._-]{1,40}")  # LaTeXML ids (S3.E2); anything else gets no link
_CITED = re.compile(r"\b(?:Eqs?\.?|equations?)\s*\(?\s*([A-Za-z0-9.]{1,16}?)\s*\)?(?=$|[\s,;)])", re.IGNORECASE)

Find = Callable[[str], PaperEquation | None]  # a label the answer gives → the paper's equation sent, if any
LinkOf = Callable[[PaperEquation], str]


def bare_label(label: str) -> str:
    """ "Eq. (3)", "(3)", "3" all name equation 3."""
    bare = label.strip().removeprefix("Eq.").removeprefix("eq.").strip()
    return bare.removeprefix("(").removesuffix(")").strip()


def render_sections(answer: StructuredAnswer, find: Find, link_of: LinkOf | None) -> tuple[ExplanationSection, ...]:
    """The answer's sections in SECTIONS' order, empty ones left out."""
    claims: dict[str, tuple[Claim, ...]] = {
        "problem": (answer.problem,),
        "main_result": (answer.main_result,),
        "novelty": (answer.novelty,),
        "idea": (answer.idea,),
        "stated_assumptions": answer.stated_assumptions,
        "caveats": answer.caveats,
    }
    sections: dict[str, tuple[str, tuple[Link, ...]]] = {}
    for key, items in claims.items():
        bullets = key in ("stated_assumptions", "caveats")
        links = _links((c.source for c in items), find, link_of)
        sections[key] = (_claims(items, _LIMITS[key], bullets=bullets), links)
    notation = [_with_source(f"• {s.symbol}: {s.meaning}", s.source, _LIMITS["notation"]) for s in answer.notation]
    sections["notation"] = (
        fit_lines(notation, _LIMITS["notation"]),
        _links((s.source for s in answer.notation), find, link_of),
    )
    sections["equations"] = _equations(answer, find, link_of, _LIMITS["equations"])
    prerequisites = [safe_llm_text(f"• {p}", _LIMITS["prerequisites"]) for p in answer.prerequisites]
    sections["prerequisites"] = (fit_lines(prerequisites, _LIMITS["prerequisites"]), ())
    return tuple(
        ExplanationSection(spec.title, sections[spec.key][0], sections[spec.key][1])
        for spec in SECTIONS
        if sections[spec.key][0]
    )


def _equations(
    answer: StructuredAnswer, find: Find, link_of: LinkOf | None, limit: int
) -> tuple[str, tuple[Link, ...]]:
    lines: list[str] = []
    links: list[Link] = []
    for cited in answer.equations:
        equation = find(cited.label) if cited.label else None
        if equation is not None and link_of is not None:
            label = clean_text(equation.label)[:20]
            head = f"• Eq. ({label}): "
            paper_form = clean_text(f"\\({equation.tex}\\)")
            lines.append(head + safe_llm_text(f"{paper_form} — {cited.meaning}", max(40, limit - len(head))))
            link = _link(equation, link_of)
            if link is not None and link not in links:
                links.append(link)
        elif cited.formula.strip():
            why = cited.background.strip() or "not one of the paper's numbered equations"
            lines.append(_with_source(f"• {cited.formula} — {cited.meaning}", f"background: {why}", limit, 120))
    return fit_lines(lines, limit), tuple(links)


def _claims(items: Iterable[Claim], limit: int, *, bullets: bool) -> str:
    lines = [_with_source(("• " if bullets else "") + c.text, c.source, limit) for c in items]
    return fit_lines([line for line in lines if line], limit)


def _with_source(text: str, source: str, limit: int, source_chars: int = SOURCE_CHARS) -> str:
    """``text [source]``, each sanitised; the source shown whole, the text cut to leave room for it."""
    shown = safe_llm_text(" ".join(source.split()), source_chars)
    tag = f" [{shown}]" if shown else ""
    said = safe_llm_text(" ".join(text.split()), max(40, limit - len(tag)))
    return f"{said}{tag}" if said else ""


def _link(equation: PaperEquation, link_of: LinkOf) -> Link | None:
    if not _SAFE_ANCHOR.fullmatch(equation.anchor):
        return None
    return Link(f"Eq. ({clean_text(equation.label)[:20]})", link_of(equation))


def _links(sources: Iterable[str], find: Find, link_of: LinkOf | None) -> tuple[Link, ...]:
    """Links to the given equations a section's sources name ("Eq. (3)")."""
    if link_of is None:
        return ()
    links: list[Link] = []
    for source in sources:
        for label in _CITED.findall(source):
            equation = find(label)
            link = _link(equation, link_of) if equation is not None else None
            if link is not None and link not in links:
                links.append(link)
    return tuple(links)

