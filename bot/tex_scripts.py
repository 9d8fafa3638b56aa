"""The readings of TeX that decide whether mathematics survives cleaning: scripts, braces, ``~`` and dimensions.

Model answers are mostly Unicode mathematics with bits of TeX outside any ``$``: ``θ_{t+1}``, ``2^{n+1}``,
``x ~ N(0, I)``, ``{x : f(x) ≤ 0}``. TeX's text mode would read those as grouping braces and ties, and drop
them: "θ_t+1" is another formula. The rules here read them as a mathematician wrote them, while the TeX of
titles and abstracts (``{B}ayesian``, ``Fig.~3``, ``$n$~samples``) keeps its TeX meaning:

- ``_{...}`` / ``^{...}`` (also ``_\\alpha``, and a script right after one) are scripts in text as in math;
  a script becomes Unicode sub/superscripts when every character has one, else ``_(...)``/``^(...)``.
- A ``{...}`` in text is a set (kept, with its braces) unless it is TeX grouping: empty, a font switch or
  accent (``{\\em x}``, ``{\\"i}``), one macro (``{\\ours}``), or letters only that form a word
  (``{seen}``, ``{B}ayesian``).
- ``~`` is a tie (a space) only where TeX authors tie: glued between a word and what follows (``Fig.~3``,
  ``et~al.``, ``$n$~samples``, ``see~\\cite``); anywhere else it is the relation ``∼``.
"""

from __future__ import annotations

import re
import unicodedata

from bot.tex_tables import SYMBOLS

__all__ = [
    "is_grouping_brace",
    "is_wrapped",
    "skip_dimension",
    "tilde_reading",
    "to_script",
]


def _is_single(text: str) -> bool:
    return len(text) == 1 or all(unicodedata.combining(c) for c in text[1:])


def is_wrapped(text: str) -> bool:
    """True for ``(...)`` where the first parenthesis closes at the very end."""
    if len(text) < 2 or text[0] != "(" or text[-1] != ")":
        return False
    depth = 0
    for k, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return k == len(text) - 1
    return False


# TeX ignores blanks in math, so "d_1\\times d_2" may come out "d₁× d₂"; inside a script fallback we
# drop blanks next to symbols.
_SPACE_AROUND_SYMBOL = re.compile(r"\s*([^\w\s])\s*")
# Script characters that sit on the baseline (β*, f′, A†): a following term must not touch them, or
# "a^*b" would read as the product "a*b".
_BASELINE = frozenset("*∗†‡′″")


def to_script(text: str, table: dict[str, str], mark: str, after: str = "") -> str:
    """Superscript/subscript via Unicode when possible, else ``^x`` or ``^(...)``.

    ``after`` is what the script is attached to: a script right after Unicode scripts of the same kind
    (``{x^2}^3``, ``\\sum_{i}_{j}``) is bracketed, since "x²³" would read as x to the 23rd."""
    compact = "".join(text.split())  # spaces inside a TeX script are not content
    if not compact:
        return ""
    glued = bool(after) and after[-1] in table.values() and after[-1] not in _BASELINE
    if not glued and all(c in table for c in compact):
        return "".join([table[c] for c in compact])
    if not glued and (_is_single(compact) or is_wrapped(compact)):
        return mark + compact
    # Never "H^GN": without brackets the reader cannot tell where the exponent ends.
    inner = _SPACE_AROUND_SYMBOL.sub(r"\1", " ".join(text.split()))
    return f"{mark}({inner})"


# --- braces in text ---------------------------------------------------------------------------------------

_WORD_GROUP = re.compile(r"[A-Za-z][A-Za-z\s-]*")
_LONG_WORD = re.compile(r"[A-Za-z]{3,}")


def _is_switch(tok: str) -> bool:
    """``\\em``, ``\\bf`` (declarations that typeset only) and accents ``\\"``, ``\\'``: TeX grouping."""
    if len(tok) == 2 and not tok[1].isalpha():
        return tok[1] in "'`^\"~=.uvHckrdb"
    return SYMBOLS.get(tok[1:]) == ""


def is_grouping_brace(toks: list[str], pos: int, end: int) -> bool:
    """Whether the ``{`` at ``toks[pos]``, closed at ``toks[end]`` (-1: never), in text, is TeX grouping
    (dropped) rather than set braces (kept). An unclosed ``{`` is grouping: only a closed pair is a set."""
    if end < 0:
        return True
    inner = [tok for tok in toks[pos + 1 : end] if not tok.isspace()]
    if not inner or all(tok in "{}" for tok in inner):
        return True
    first = inner[0]
    if first[0] == "\\":  # a set of symbols ({\alpha, \beta}) is kept; {\em x}, {\mathbf x} are grouping
        return _is_switch(first) or len(inner) == 1 or SYMBOLS.get(first[1:]) is None
    content = "".join(toks[pos + 1 : end])
    if not _WORD_GROUP.fullmatch(content.strip()):
        return False
    glued = end + 1 < len(toks) and toks[end + 1][:1].isascii() and toks[end + 1][:1].isalpha()
    return glued or _LONG_WORD.search(content) is not None  # {B}ayesian, {seen}; not the set {x}


# --- the tilde --------------------------------------------------------------------------------------------

_TIE_TARGETS = ("\\cite", "\\ref", "\\eqref", "\\autoref", "\\cref", "\\Cref", "\\pageref")
_TRAILING_WORD = re.compile(r"[^\W\d_]+$")


def tilde_reading(before: str, after: str, math: bool) -> str:
    """A space (TeX's tie) or ``∼`` for a ``~`` between ``before`` (rendered so far) and the next token."""
    if after.startswith(_TIE_TARGETS):
        return " "
    spaced_before = not before or before[-1].isspace()
    spaced_after = not after or after[0].isspace() or after[0] in ",.;)"
    if spaced_before and spaced_after:
        return "∼" if before.strip() or after.strip() else " "
    if not before and not math:
        return " "  # "$n$~samples": tied to the formula before it
    if spaced_before or spaced_after:
        return "∼"  # "~10%", " ~N(0, I)", "x~ p": nobody ties to a blank
    if math:
        return " "  # TeX's own spacing inside a formula
    word = _TRAILING_WORD.search(before)
    if before[-1] in ".,;:" or before[-1].isdigit() or (word is not None and len(word.group()) >= 2):
        return " "  # "Fig.~3", "et~al.", "100~GB", "Theorem~1"
    return "∼"  # "x~N(0, I)", "θ~p"


# --- dimensions -------------------------------------------------------------------------------------------

_DIMENSION = re.compile(
    r"\s*=?\s*([-+]?)\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:mu|em|ex|pt|pc|in|cm|mm|bp|dd|cc|sp|px)"
    r"(?:\s*(?:plus|minus)\s*[-+]?\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:mu|em|ex|pt|fill|fil))*"
)


def skip_dimension(text: str) -> tuple[int, str]:
    """The length of a TeX dimension (``-2mu``, ``3mu plus 1mu``) at the start of ``text``, and the space
    it stands for: a negative kern only tightens, so it is nothing."""
    m = _DIMENSION.match(text)
    if m is None:
        return 0, ""
    return m.end(), "" if m.group(1) == "-" else " "
