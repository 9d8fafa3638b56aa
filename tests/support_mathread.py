"""A structural reading of a formula, to tell whether cleaning kept the mathematics.

Two readings meet in one canonical string: every script is an explicit group (``x_(t+1)`` ≡ ``xₜ₊₁``
≡ TeX ``x_{t+1}``), blanks are gone (they are not content in a formula), the look-alikes one writer or
the other uses are one character (``−``/``-``, ``∼``/``\\sim``, ``″``/``''``), and brackets around a
single term are dropped on both sides (``1/(n+1)`` ≡ ``\\frac{1}{n+1}``; ``√x`` ≡ ``\\sqrt{x}``).

:func:`read_tex` reads the TeX source independently of the cleaner's tokenizer (it shares only the
symbol and alphabet tables, which are data); :func:`read_unicode` reads what the cleaner printed.
What the reading keeps (scripts and their extent, set braces, ``∼``, operators, every symbol) is
what a mathematician reads; losing any of it changes the canonical string.
"""

from __future__ import annotations

import re
import unicodedata

from bot.tex_tables import (
    FONTS,
    MATH_ACCENTS,
    MATH_WRAPPERS,
    SIZING,
    SUB,
    SUP,
    SYMBOLS,
    TEXT_WRAPPERS,
    fraction_needs_brackets,
)

_SPACING = frozenset("quad qquad enspace thinspace medspace thickspace space negthinspace displaystyle limits".split())
_DIMENSION = re.compile(r"\s*[-+]?\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:mu|em|ex|pt)")
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|.", re.S)
_SAME = str.maketrans(
    {"−": "-", "∗": "*", "″": "′′", "'": "′", "∣": "|", "❴": "{", "❵": "}", "⟶": "→", "⊤": "T", "ϕ": "φ", "⫫": "⊥⊥"}
)
_BASELINE_SCRIPT = re.compile(r"\^\(([*′†‡]+)\)")
_DOUBLE_PARENS = re.compile(r"([\^_])\(\(([^()]*)\)\)")  # x^{(a+b)} prints as x^(a+b): the same
_REDUNDANT_PARENS = re.compile(r"\(\(([^()]*)\)\)")  # ((a/b)) is (a/b): a fraction's own brackets, doubled
# (x^(a+b)) is x^(a+b): a scripted atom binds tighter than any operator around it
_SCRIPTED_ATOM_PARENS = re.compile(r"\(([^\W_][^()\s+\-=<>≤≥,;:|/·×*∼∈→^_]*(?:[\^_]\([^()]*\))+)\)")
_ATOM_PARENS = re.compile(r"\(([^()+\-=<>≤≥,;:|/·×*∼∈→]*)\)")


class _Tex:
    def __init__(self, source: str, text_braces: bool) -> None:
        self.toks = _TOKEN.findall(source)
        self.pos = 0
        self.text_braces = text_braces  # model text: a bare {…} is a set

    def seq(self, until_close: bool = False) -> str:
        out: list[str] = []
        while self.pos < len(self.toks):
            tok = self.toks[self.pos]
            if tok == "}" and until_close:
                self.pos += 1
                break
            out.append(self.atom(out))
        return "".join(out)

    def arg(self) -> str:
        while self.pos < len(self.toks) and self.toks[self.pos].isspace():
            self.pos += 1
        if self.pos >= len(self.toks):
            return ""
        if self.toks[self.pos] == "{":
            self.pos += 1
            return self.seq(until_close=True)
        return self.atom([])

    def atom(self, before: list[str]) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        if tok in "^_":  # a script is TeX inside: its braces group, whoever wrote it
            saved, self.text_braces = self.text_braces, False
            try:
                return f"{tok}({self.arg()})"
            finally:
                self.text_braces = saved
        if tok == "{":
            inner = self.seq(until_close=True)
            return "{" + inner + "}" if self.text_braces else inner
        if tok == "}":
            return "}" if self.text_braces else ""
        if tok == "~":
            return "∼" if self.text_braces or self.spaced() else ""
        if not tok.startswith("\\"):
            return tok
        name = tok[1:]
        if name in ("{", "}", "|"):
            return {"|": "‖"}.get(name, name)
        if name in (",", ";", ":", "!", " ") or name in _SPACING:
            return ""
        if name in ("mkern", "kern", "mskip"):
            m = _DIMENSION.match("".join(self.toks[self.pos : self.pos + 12]))
            self.pos += len(m.group()) if m else 0
            return ""
        if name in SIZING:
            if self.pos < len(self.toks) and self.toks[self.pos] == ".":
                self.pos += 1
            return ""
        if name in ("frac", "dfrac", "tfrac"):
            inline = f"({self.arg()})/({self.arg()})"
            following = next((t for t in self.toks[self.pos :] if not t.isspace()), None)
            return f"({inline})" if fraction_needs_brackets(following) else inline
        if name in ("overset", "stackrel"):
            above = self.arg()
            return f"{self.arg()}^({above})"
        if name == "sqrt":
            return f"√({self.arg()})"
        if name == "binom":
            return f"C({self.arg()},{self.arg()})"
        if name in FONTS:
            return "".join(FONTS[name].get(c, c) for c in self.arg())
        if name in MATH_ACCENTS:
            return unicodedata.normalize("NFC", "".join(c + MATH_ACCENTS[name] for c in self.arg()))
        if name in MATH_WRAPPERS or name in TEXT_WRAPPERS:
            return self.arg()
        symbol = SYMBOLS.get(name)
        return symbol if symbol is not None else name

    def spaced(self) -> bool:
        k = self.pos - 1
        return (k > 0 and self.toks[k - 1].isspace()) or (k + 1 < len(self.toks) and self.toks[k + 1].isspace())


_INVERSE = {
    "^": {v: k for k, v in SUP.items() if k not in "−" and v not in "*′″†‡∗"},
    "_": {v: k for k, v in SUB.items() if k != "−"},
}


def _canonical(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_SAME)
    text = "".join(text.split())
    text = _DOUBLE_PARENS.sub(r"\1(\2)", _BASELINE_SCRIPT.sub(r"\1", text))
    while True:
        stripped = _REDUNDANT_PARENS.sub(r"(\1)", _ATOM_PARENS.sub(r"\1", text))
        stripped = _SCRIPTED_ATOM_PARENS.sub(r"\1", stripped)
        if stripped == text:
            return text
        text = stripped


def read_unicode(text: str) -> str:
    """The canonical reading of cleaned text: Unicode script runs and ``^x``/``_x`` become groups."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        kind = next((k for k, table in _INVERSE.items() if char in table), None)
        if kind is not None:
            run = ""
            while i < len(text) and text[i] in _INVERSE[kind]:
                run += _INVERSE[kind][text[i]]
                i += 1
            out.append(f"{kind}({run})")
            continue
        if char in "^_" and i + 1 < len(text) and text[i + 1] != "(":
            out.append(f"{char}({text[i + 1]})")
            i += 2
            continue
        out.append(char)
        i += 1
    return _canonical("".join(out))


def read_tex(source: str, model: bool) -> str:
    """The canonical reading of a TeX formula (``model``: Unicode with bits of TeX, as models write)."""
    return read_unicode(_Tex(source, text_braces=model).seq())  # a model also writes Unicode scripts
