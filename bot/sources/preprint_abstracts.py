"""What api.biorxiv.org's abstracts and titles need before people read them: run-in headings, withdrawals.

**Headings.** A structured abstract loses its markup on the way through the API, so a heading runs into
its section ("IntroductionChronic kidney disease…", "…were enrolled.MethodsWe…", "Methods:We…").
Whatever the heading words are, a run-in heading has one shape: at the start of the abstract or of a
sentence, a capitalised word (and at most a few more) glued to the capital or digit that starts the
section. Proper names have that shape too ("AlphaFold", "GitHub"), so a glued heading is separated only
in an abstract that shows the structure (two headings or more, glued or with a colon) or when it is a
word abstracts use as a heading; a heading already followed by a colon only gets its space. The result
reads "Introduction: Chronic kidney disease…"; nothing inside a sentence is touched (formulas neither).

**Withdrawals.** A withdrawn preprint stays in the API as a version whose ``type`` says "withdrawn", or
whose title starts "WITHDRAWN", or whose abstract is the withdrawal notice ("This manuscript has been
withdrawn by the authors…"). Such a version is marked: its title starts with ``WITHDRAWN_MARK``, so a
digest can leave it out and an explanation says so first.
"""

from __future__ import annotations

import re

__all__ = ["WITHDRAWN_MARK", "is_marked_withdrawn", "is_withdrawal", "mark_withdrawn", "separate_headings"]

WITHDRAWN_MARK = "Withdrawn: "

# A heading: a capitalised word and up to four more, capitalised or joining words ("Materials and Methods",
# "Conclusions and Relevance"): a sentence's own words ("The data from GitHub") are mostly lower case.
_HEADING = r"[A-Z][a-z]{2,}(?:[ -](?:[A-Z][a-z]*|and|or|of|for|in|the|to|&)){0,4}"
# Where a section may begin: the start of the abstract, or after a sentence's end (with or without space).
_START = r"(?:^|(?<=[.!?])[ ]?)"
_GLUED = re.compile(rf"{_START}(?P<heading>{_HEADING}?)(?<=[a-z])(?=[A-Z0-9])")
_COLON = re.compile(rf"{_START}(?P<heading>{_HEADING}?)[ ]?:[ ]?(?=\S)")
# Words abstracts use as headings: enough to trust a single glued one in an otherwise unstructured abstract.
_HEADING_WORDS = frozenset(
    (
        "abstract aim aims background case conclusion conclusions context design discussion findings funding "
        "highlights importance interpretation introduction limitations measurements methodology methods motivation "
        "objective objectives outcomes participants purpose rationale results setting significance summary"
    ).split()
)
_WITHDRAWN_TITLE = re.compile(r"^\W*withdrawn\b\W*", re.IGNORECASE)
_WITHDRAWN_NOTICE = re.compile(
    r"\b(?:(?:this|the|our)\s+(?:manuscript|preprint|paper|article|submission|work)\s+(?:has\s+been|was|is(?:\s+being)?)"
    r"\s+withdrawn|authors?\s+(?:have|has)\s+withdrawn\s+(?:this|the|their|our)\s+(?:manuscript|preprint|paper|"
    r"article|submission|work)|withdrawn\s+by\s+the\s+authors?)\b",
    re.IGNORECASE,
)
_NOTICE_WINDOW = 400  # a withdrawal notice is the abstract's first words, not a study about withdrawals


def separate_headings(text: str) -> str:
    """``text`` with run-in headings set apart as "Heading: section…" (see the module docstring)."""
    glued = [m for m in _GLUED.finditer(text) if _heading_ok(m.group("heading"))]
    colons = [m for m in _COLON.finditer(text) if _heading_ok(m.group("heading"))]
    structured = len(glued) + len(colons) >= 2
    wanted = {m.start("heading"): m for m in colons}
    for m in glued:
        if structured or m.group("heading").casefold() in _HEADING_WORDS:
            wanted.setdefault(m.start("heading"), m)
    if not wanted:
        return text
    out: list[str] = []
    last = 0
    for start in sorted(wanted):
        m = wanted[start]
        if m.start() < last:
            continue
        out.append(text[last:start])
        if start and not text[start - 1].isspace():
            out.append(" ")  # "…enrolled.Methods" -> "…enrolled. Methods"
        out.append(f"{m.group('heading')}: ")
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def _heading_ok(heading: str) -> bool:
    # A section heading is short and every word is a word (not "The Mc" of "The McDonald criteria").
    words = heading.replace("-", " ").split()
    return 1 <= len(words) <= 5 and len(words[-1]) >= 3


def is_withdrawal(kind: str, title: str, abstract: str) -> bool:
    """Whether an API item is a withdrawal: by its ``type``, its title or its abstract's first words."""
    if "withdraw" in kind.casefold():
        return True
    return bool(_WITHDRAWN_TITLE.match(title)) or bool(_WITHDRAWN_NOTICE.search(abstract[:_NOTICE_WINDOW]))


def mark_withdrawn(title: str) -> str:
    """The title as shown for a withdrawn version: "Withdrawn: <title>" ("WITHDRAWN: x" read as x)."""
    bare = _WITHDRAWN_TITLE.sub("", title, count=1).strip()
    return f"{WITHDRAWN_MARK}{bare or 'untitled preprint'}"


def is_marked_withdrawn(title: str) -> bool:
    return title.startswith(WITHDRAWN_MARK)
