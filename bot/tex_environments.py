"""TeX's array-like environments (``cases``, matrices, ``aligned``...) as one line of Unicode.

Chat cannot lay out rows and columns, and the raw ``&`` and ``\\\\`` of the source read as garbage
("x²&x ≥ 0 -x&x<0"). Each family gets one readable, unambiguous line:

- cases: ``{ x² if x ≥ 0; −x if x < 0 }`` (a condition that starts with a word, "otherwise", "for all
  x", is joined with a comma instead of "if");
- matrices: rows separated by ``;``, cells by ``,``, in the environment's own delimiters: ``(a, b; c, d)``
  for ``pmatrix``, ``[a, b; c, d]`` for ``bmatrix``, bare for ``matrix`` and ``array`` (their delimiters
  are written around them, ``\\left(`` … ``\\right)``);
- alignments (``aligned``, ``align*``, ``split``, ``gathered``, ``eqnarray``...): the rows, joined by ``;``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["ENVIRONMENTS", "body_end", "render_environment"]

_CASES = frozenset("cases dcases rcases cases*".split())
_MATRIX_DELIMITERS = {
    "pmatrix": ("(", ")"), "bmatrix": ("[", "]"), "Bmatrix": ("{", "}"), "vmatrix": ("|", "|"),
    "Vmatrix": ("‖", "‖"), "matrix": ("", ""), "smallmatrix": ("", ""), "array": ("", ""),
    "psmallmatrix": ("(", ")"), "bsmallmatrix": ("[", "]"), "subarray": ("", ""),
}  # fmt: skip
_ALIGNMENTS = frozenset(
    "aligned align align* alignat alignat* alignedat split gathered gather gather* eqnarray eqnarray* "
    "multline multline* flalign flalign* equation equation* displaymath math".split()
)
ENVIRONMENTS = _CASES | _MATRIX_DELIMITERS.keys() | _ALIGNMENTS

# Row and cell separators at the top level of the body; "\\[2pt]" carries an optional row gap.
_SEPARATOR = re.compile(
    r"\\\\\*?(?:\s*\[[^\]]*\])?|&|\\(?:begin|end)\s*\{[^{}]*\}|\\[{}]|[{}]|\\(?:cr|tabularnewline)(?![A-Za-z])"
)
_RULES = re.compile(r"\\(?:hline|midrule|toprule|bottomrule|nonumber|notag)\b|\\(?:cline|label)\s*\{[^{}]*\}")
_CONDITION_WORD = re.compile(r"[^\W\d_]{2,}")


def body_end(source: str) -> tuple[int, int]:
    """Where the body of an environment opened just before ``source`` ends: (body length, length up to
    and including its ``\\end{name}``). Without an ``\\end``, the body is everything."""
    depth = 0
    for m in re.finditer(r"\\(begin|end)\s*\{[^{}]*\}", source):
        depth += 1 if m.group(1) == "begin" else -1
        if depth < 0:
            return m.start(), m.end()
    return len(source), len(source)


def _table(body: str) -> list[list[str]]:
    """Rows of cells (sources) split at the top level: braces and inner environments are kept whole."""
    rows: list[list[str]] = [[]]
    start = depth = 0
    for m in _SEPARATOR.finditer(body):
        tok = m.group()
        if tok == "{" or tok.startswith("\\begin"):
            depth += 1
        elif tok == "}" or tok.startswith("\\end"):
            depth = max(depth - 1, 0)
        elif depth == 0 and (tok == "&" or tok.startswith(("\\\\", "\\cr", "\\tabularnewline"))):
            rows[-1].append(body[start : m.start()])
            if tok != "&":
                rows.append([])
            start = m.end()
    rows[-1].append(body[start:])
    return rows


def render_environment(name: str, body: str, render: Callable[[str], str]) -> str:
    """One line for the environment ``name`` whose source between ``\\begin`` and ``\\end`` is ``body``;
    ``render`` turns one cell of math source into Unicode."""
    cells = [[" ".join(render(_RULES.sub(" ", cell)).split()) for cell in row] for row in _table(body)]
    rows = [row for row in cells if any(row)]
    if name in _CASES:
        return "{ " + "; ".join(_case(row) for row in rows) + " }"
    if name in _MATRIX_DELIMITERS and not _is_alignment(rows):
        opener, closer = _MATRIX_DELIMITERS[name]
        return opener + "; ".join(", ".join(row) for row in rows) + closer
    # A row's own trailing comma ("u = zΦw,") is the source's punctuation before the line break: ";" says it.
    lines = [" ".join(cell for cell in row if cell) for row in rows]
    return "; ".join(line.rstrip(",") if i < len(lines) - 1 else line for i, line in enumerate(lines))


# A cell that is, or starts with, a relation: the array aligns equations ({rcl}: "u & = & zΦw"), it is no
# matrix, and its cells are one formula each row ("u = zΦw"), never "u, =, zΦw".
_RELATION = re.compile(r"^(?:=|≤|≥|<|>|≠|≈|≡|∼|≃|≅|∝|:=|⊂|⊆|⊃|⊇|∈|→|⟶|↦|⇒|⇔|⟹|⟺)")


def _is_alignment(rows: list[list[str]]) -> bool:
    return any(_RELATION.match(cell) for row in rows for cell in row[1:])


def _case(row: list[str]) -> str:
    value, condition = row[0], " ".join(cell for cell in row[1:] if cell)
    if not condition:
        return value
    if not value:
        return condition
    first = condition.split()[0]
    if _CONDITION_WORD.fullmatch(first.rstrip(",:")):  # "if x > 0", "otherwise", "for all x"
        return f"{value}, {condition}" if first.lower() != "if" else f"{value} {condition}"
    return f"{value} if {condition}"
