"""Text hygiene for paper metadata: TeX to Unicode, whitespace, author lists, teasers.

arXiv titles, abstracts, author names and journal references are uncompiled TeX written by
hand: inline math between dollars, accents (``Poincar\\'e``), TeX quotes and dashes, and
the authors' private macros. Chat platforms cannot render any of it, so we turn it into
plain Unicode that reads well in a message.

The converter is a small table-driven tokenizer plus a recursive renderer rather than
pylatexenc (2.11), which on the recorded stat feed is ~80x slower per TeX abstract (the ingest
path cleans every item), raises IndexError on one of them, and drops ``\\|x\\|`` bars and
the grouping of ``H^{GN}`` ("H^GN").

Mathematics is content: the conversion never changes a formula (bot.tex_scripts reads the scripts,
braces and ``~`` that model answers write outside any ``$``; bot.tex_environments lays out ``cases``
and matrices on one line). Output invariants (they make ``clean_text`` idempotent): no backslash, no
grouping braces (set braces, ``\\{x\\}`` or ``{x : f(x) ≤ 0}``, stay and are read as sets again), no
backticks, no tie ``~`` or ``--``/``''`` outside URLs, and ``$`` only where it is money or was written
``\\$``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import ClassVar

from bot.tex_environments import ENVIRONMENTS, body_end, render_environment
from bot.tex_scripts import is_grouping_brace, is_wrapped, skip_dimension, tilde_reading, to_script
from bot.tex_tables import (
    CONTROL_SYMBOLS,
    FONTS,
    LETTER_ACCENTS,
    LETTERS,
    MATH_ACCENTS,
    MATH_WRAPPERS,
    NEGATED,
    PREFIX,
    SIZING,
    SUB,
    SUP,
    SYMBOL_ACCENTS,
    SYMBOLS,
    TEXT_WRAPPERS,
    fraction_needs_brackets,
)
from bot.untrusted import strip_unsafe_chars

__all__ = ["clean_text", "latex_to_unicode", "shorten_authors", "strip_unsafe_chars", "teaser"]


# ---------------------------------------------------------------------------------------------
# Tokenizer and renderer
# ---------------------------------------------------------------------------------------------

# Plain runs keep single "-" and "'" so hyphenated words and apostrophes stay one token.
_TOKEN = re.compile(r"\\[A-Za-z]+|\\[^A-Za-z]?|-{2,}|``?|''|[{}^_~]|(?:[^\\{}^_~`'\-]+|-(?!-)|'(?!'))+")

_Handler = Callable[["_Renderer", str], str]


class _Renderer:
    """Renders a token list in text or math mode. Never raises on malformed input."""

    __slots__ = ("closers", "eat_space", "math", "pos", "toks")
    HANDLERS: ClassVar[dict[str, _Handler]] = {}

    def __init__(self, tokens: list[str], math: bool) -> None:
        self.toks = tokens
        self.pos = 0
        self.math = math
        self.eat_space = False  # drop leading blanks of the next plain run (TeX eats them)
        self.closers: dict[int, int] | None = None  # "{" index -> its "}", found once (braces never move)

    def next_token(self) -> str | None:
        """What comes next, blanks skipped (None at the end), without consuming it: a macro (``\\sum``) or
        the first character of a plain run (tokens may be runs of text)."""
        for tok in self.toks[self.pos :]:
            stripped = tok.lstrip()
            if stripped:
                return stripped if stripped.startswith("\\") else stripped[0]
        return None

    def render(self, in_group: bool = False) -> str:
        """Render up to the matching ``}`` (consumed) or the end; stray ``}`` are dropped."""
        out: list[str] = []
        toks = self.toks
        word = False  # the previous piece was a macro name: keep it apart from a following letter
        groups: list[bool] = []  # open plain groups, counted, not recursed into; True: set braces, kept
        scripted = False  # the previous piece was a script: in text, "_{i=1}^n" goes on as a script
        while self.pos < len(toks):
            tok = toks[self.pos]
            if tok == "{" or tok == "}":
                self.pos += 1
                self.eat_space = False
                scripted = False
                if tok == "{":
                    groups.append(not self.math and not self.grouping(self.pos - 1))
                    if groups[-1]:
                        out.append("{")
                elif groups:
                    if groups.pop():
                        out.append("}")
                elif in_group:
                    break
                continue
            if (tok == "^" or tok == "_") and (self.math or scripted or self.script_follows()):
                out.append(self.script(out[-1] if out else ""))
                word, scripted = False, True
                continue
            if tok == "~" or tok == "''":
                self.pos += 1
                self.eat_space = False
                before = "".join(out[-2:])
                out.append(tilde_reading(before, self.peek(), self.math) if tok == "~" else _quote(before, self.math))
                word = scripted = False
                continue
            piece, is_word = self.piece()
            if piece:
                if (word or (scripted and out[-1][-1:] in "*∗†‡′″")) and piece[0].isalnum():
                    piece = " " + piece  # "a^*b" is not the product "a*b"
                out.append(piece)
                word, scripted = is_word, False
        return "".join(out)

    def grouping(self, pos: int) -> bool:
        if self.closers is None:
            self.closers, stack = {}, []
            for k, tok in enumerate(self.toks):
                if tok == "{":
                    stack.append(k)
                elif tok == "}" and stack:
                    self.closers[stack.pop()] = k
        return is_grouping_brace(self.toks, pos, self.closers.get(pos, -1))

    def script_follows(self) -> bool:
        """In text, ``_``/``^`` is a script when a group or a macro follows (``θ_{t+1}``, ``x^\\top``)."""
        after = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else ""
        return after == "{" or (after[:1] == "\\" and after[1:2].isalpha())

    def piece(self) -> tuple[str, bool]:
        """Consume one token (and its arguments); return its text and whether it is a word."""
        tok = self.toks[self.pos]
        self.pos += 1
        eat, self.eat_space = self.eat_space, False
        first = tok[0]
        if first == "\\":
            if len(tok) > 1 and tok[1].isalpha():
                return self.control_word(tok[1:])
            return self.control_symbol(tok[1:]), False
        if first == "{":
            return self.render(in_group=True), False
        if tok == "~":
            return tilde_reading("", self.peek(), self.math), False
        if first == "`":
            return ("“" if tok == "``" else "‘"), False
        if tok == "''":
            return ("″" if self.math else "”"), False
        if first == "-" and len(tok) > 1 and tok[1] == "-":
            if self.math:
                return "−" * len(tok), False
            return ("–" if len(tok) == 2 else "—"), False
        if eat:
            tok = tok.lstrip()
        if self.math and "'" in tok:
            tok = tok.replace("'", "′")
        return tok, False  # plain run, or ^ _ in text mode

    def control_word(self, name: str) -> tuple[str, bool]:
        symbol = SYMBOLS.get(name)
        if symbol is not None:
            if not symbol or symbol in PREFIX or (name in LETTERS and not self.math):
                self.eat_space = True
            return symbol, False
        handler = self.HANDLERS.get(name)
        if handler is None:
            if name in LETTER_ACCENTS and not self.math:
                return _accent(self.arg(), LETTER_ACCENTS[name], first_only=True), False
            # Unknown macro (often the author's own): keep its name, like TeX shows an error.
            return name, True
        return handler(self, name), name == "operatorname"

    def control_symbol(self, char: str) -> str:
        mark = SYMBOL_ACCENTS.get(char)
        if mark is not None:
            return _accent(self.arg(), mark, first_only=True)
        return CONTROL_SYMBOLS.get(char, char)

    # -- arguments ---------------------------------------------------------------------------

    def arg(self) -> str:
        """Render one macro argument: a ``{group}``, one control sequence, or one character."""
        toks = self.toks
        while self.pos < len(toks):
            tok = toks[self.pos]
            if tok == "{" or tok[0] == "\\" or tok in ("~", "``", "`", "''") or tok.startswith("--"):
                return self.piece()[0]
            if tok in ("}", "^", "_"):
                return ""
            text = tok.lstrip()
            if not text:
                self.pos += 1
                continue
            self.drop_chars(len(tok) - len(text) + 1)
            char = text[0]
            return "′" if self.math and char == "'" else char
        return ""

    def raw_arg(self) -> str | None:
        """The source of a closed ``{...}`` argument without macros (a URL, a label), else None.

        On None nothing is consumed, so the caller can fall back to rendering the argument.
        """
        toks, pos = self.toks, self.pos
        while pos < len(toks) and toks[pos].isspace():
            pos += 1
        if pos >= len(toks) or toks[pos] != "{":
            return None
        depth, parts = 1, list[str]()
        for pos in range(pos + 1, len(toks)):  # noqa: B020 - pos is deliberately reused
            tok = toks[pos]
            depth += (tok == "{") - (tok == "}")
            if depth == 0:
                self.pos = pos + 1
                return _unescape_url("".join(parts))
            if (tok[0] == "\\" and tok not in _URL_ESCAPES) or tok[0] == "`":
                return None
            if tok != "{" and tok != "}":  # inner groups: TeX drops their braces too
                parts.append(tok)
        return None

    def peek(self) -> str:
        return self.toks[self.pos] if self.pos < len(self.toks) else ""

    def drop_chars(self, count: int) -> None:
        """Consume the first ``count`` characters of the next token (a plain run)."""
        rest = self.toks[self.pos][count:]
        if rest:
            self.toks[self.pos] = rest
        else:
            self.pos += 1

    def optional_arg(self) -> str | None:
        """A ``[...]`` optional argument if it sits inside the next plain run."""
        tok = self.peek()
        start, end = tok.find("["), tok.find("]")
        if start < 0 or tok[:start].strip() or end < start:
            return None
        self.drop_chars(end + 1)
        return tok[start + 1 : end]

    def in_mode(self, math: bool) -> str:
        saved, self.math = self.math, math
        try:
            return self.arg()
        finally:
            self.math = saved

    def script(self, after: str) -> str:
        table, mark = (SUP, "^") if self.toks[self.pos] == "^" else (SUB, "_")
        self.pos += 1
        return to_script(self.in_mode(math=True), table, mark, after)


# -- handlers for control words that take arguments ------------------------------------------


def _frac(r: _Renderer, name: str) -> str:
    numerator, denominator = r.arg(), r.arg()
    inline = f"{_operand(numerator)}/{_operand(denominator)}"
    return f"({inline})" if fraction_needs_brackets(r.next_token()) else inline


def _binom(r: _Renderer, name: str) -> str:
    n, k = r.arg().strip(), r.arg().strip()
    return f"C({n}, {k})"


def _sqrt(r: _Renderer, name: str) -> str:
    index = r.optional_arg()
    radicand = _operand(r.arg())
    if not index:
        return "√" + radicand
    root = {"3": "∛", "4": "∜"}.get(index.strip()) or to_script(_render_snippet(index), SUP, "^") + "√"
    return root + radicand


def _render_snippet(source: str) -> str:
    """Render a snippet of math source (the index of \\sqrt[n])."""
    return _Renderer(_TOKEN.findall(source), math=True).render()


def _font(r: _Renderer, name: str) -> str:
    table = FONTS[name]
    return "".join([table.get(c, c) for c in r.arg()])


def _math_accent(r: _Renderer, name: str) -> str:
    return _accent(r.arg(), MATH_ACCENTS[name], first_only=False)


def _wrapper(r: _Renderer, name: str) -> str:
    if name == "operatorname" and r.peek().startswith("*"):
        r.drop_chars(1)  # \operatorname*{argmin}
    return r.arg()


def _text_wrapper(r: _Renderer, name: str) -> str:
    return r.in_mode(math=False)


def _ensuremath(r: _Renderer, name: str) -> str:
    return r.in_mode(math=True).strip()


def _sizing(r: _Renderer, name: str) -> str:
    tok = r.peek()
    if tok.lstrip().startswith("."):  # \left. is an invisible delimiter
        r.drop_chars(len(tok) - len(tok.lstrip()) + 1)
    return ""


def _overset(r: _Renderer, name: str) -> str:
    above, base = r.arg(), r.arg()
    return base + to_script(above, SUP, "^")


def _underset(r: _Renderer, name: str) -> str:
    below, base = r.arg(), r.arg()
    return base + to_script(below, SUB, "_")


def _arrow(r: _Renderer, name: str) -> str:
    label = r.arg()
    return ("→" if name == "xrightarrow" else "←") + to_script(label, SUP, "^")


def _not(r: _Renderer, name: str) -> str:
    target = r.arg()
    if not target:
        return ""
    return NEGATED.get(target) or unicodedata.normalize("NFC", target + "\u0338")


def _scripted(r: _Renderer, name: str) -> str:
    if name == "textsuperscript":
        return to_script(r.in_mode(math=False), SUP, "^")
    return to_script(r.in_mode(math=False), SUB, "_")


def _environment(r: _Renderer, name: str) -> str:
    env = r.raw_arg()
    if env is None:
        r.arg()  # the environment name is markup, not content
    if name == "end" or env not in ENVIRONMENTS:
        return " "
    if env in ("array", "subarray", "alignat", "alignat*", "alignedat", "aligned", "gathered"):
        r.optional_arg()  # vertical placement: [t] (LaTeXML writes an empty [] before array's columns)
    if env in ("array", "subarray", "alignat", "alignat*", "alignedat"):
        r.raw_arg()  # column specification or count
    rest = "".join(r.toks[r.pos :])
    body, through_end = body_end(rest)
    consumed = 0
    while r.pos < len(r.toks) and consumed < through_end:
        consumed += len(r.toks[r.pos])
        r.pos += 1
    return " " + render_environment(env, rest[:body], _render_snippet) + " "


def _kern(r: _Renderer, name: str) -> str:
    """``\\mkern-2mu``, ``\\kern 1em``, ``\\mskip 3mu plus 1mu``: spacing, never letters."""
    if name == "mspace":
        return " " if r.raw_arg() is not None else ""
    length, space = skip_dimension(r.peek())
    if length:
        r.drop_chars(length)
        r.eat_space = True
    elif r.peek().startswith("\\"):
        r.pos += 1  # a register: \mskip\thinmuskip
    return space


def _quote(before: str, math: bool) -> str:
    """``''``: a double prime in math and after a lone letter (``f''(x)``), else a closing quote."""
    if math or (before[-1:].isalpha() and not before[-2:-1].isalpha()):
        return "″"
    return "”"


def _drop(r: _Renderer, name: str) -> str:
    if r.raw_arg() is None:
        r.arg()
    return ""


def _url(r: _Renderer, name: str) -> str:
    url = r.raw_arg()
    return r.arg() if url is None else url


def _href(r: _Renderer, name: str) -> str:
    url = _url(r, name)
    label = r.in_mode(math=False).strip()
    return url if label in ("", url) else f"{label} ({url})"


def _cite(r: _Renderer, name: str) -> str:
    keys = _url(r, name)
    return f"[{keys}]" if keys else ""


_Renderer.HANDLERS = {
    "frac": _frac, "dfrac": _frac, "tfrac": _frac, "cfrac": _frac, "binom": _binom,
    "sqrt": _sqrt, "not": _not, "overset": _overset, "stackrel": _overset, "underset": _underset,
    "xrightarrow": _arrow, "xleftarrow": _arrow, "ensuremath": _ensuremath,
    "textsuperscript": _scripted, "textsubscript": _scripted, "begin": _environment,
    "end": _environment, "mkern": _kern, "kern": _kern, "mskip": _kern, "hskip": _kern, "mspace": _kern,
    "label": _drop, "hspace": _drop, "vspace": _drop, "url": _url,
    "href": _href, "cite": _cite, "citep": _cite, "citet": _cite,
    **dict.fromkeys(FONTS, _font),
    **dict.fromkeys(MATH_ACCENTS, _math_accent),
    **dict.fromkeys(MATH_WRAPPERS, _wrapper),
    **dict.fromkeys(TEXT_WRAPPERS, _text_wrapper),
    **dict.fromkeys(SIZING, _sizing),
}  # fmt: skip


# -- small pure helpers ------------------------------------------------------------------------


def _accent(base: str, mark: str, first_only: bool) -> str:
    """Put a combining mark on the first character (text) or on every character (math)."""
    if not base:
        return ""
    # Accented dotless i/j are written \'\i; Unicode composes accents with plain i/j.
    base = base.replace("ı", "i").replace("ȷ", "j")
    if first_only:
        marked = base[0] + mark + base[1:]
    else:
        marked = "".join([c + mark if not c.isspace() else c for c in base])
    return unicodedata.normalize("NFC", marked)


# TeX ignores blanks in math, so "a \\le b" may come out "a≤ b": at top level we balance them (below).
_RELATIONS = "=<>≤≥⩽⩾≠≈≡∼≃≅∝≍≪≫≲≳≺≻⪯⪰∈∉∋⊂⊆⊊⊃⊇≔≜⊨⊢∣⫫→⟶←⟵↔⇒⟹⇐⇔⟺↦⟼↪×∨∧∪∩⊗⊕⊙∖"
_RELATION = re.compile(rf"(\s*)([{_RELATIONS}])(\s*)")


def _balance(m: re.Match[str]) -> str:
    """Give a relation blanks on both sides when the author put one on one side only."""
    return f" {m[2]} " if bool(m[1]) != bool(m[3]) else m[0]


_NOT_ATOM = re.compile(r"[\s+\-−±∓=<>≤≥/·×∗,;:|∣∘]")


def _operand(text: str) -> str:
    """Bracket a fraction or root operand unless it is a single term (a/b but 1/(n+1))."""
    text = text.strip()
    if not text or is_wrapped(text) or not _NOT_ATOM.search(text):
        return text
    return f"({text})"


def _unescape_url(url: str) -> str:
    return _URL_ESCAPE.sub(r"\1", url.strip())


# ---------------------------------------------------------------------------------------------
# Segmentation: URLs, math and text
# ---------------------------------------------------------------------------------------------


def _needs_tex(text: str) -> bool:
    """Cheap pre-check (a chain of ``in`` is several times faster than one regex search)."""
    return (
        "\\" in text or "$" in text or "`" in text or "~" in text or "{" in text or "}" in text
        or "--" in text or "''" in text
    )  # fmt: skip


_URL = re.compile(
    r"\\url\s*\{[^{}]*\}|\\href\s*\{[^{}]*\}\s*\{[^{}]*\}"
    r"|(?:(?:https?|ftp)://|www\.)(?:[^\s{}\\'\"`<>$]|\\[_%#&~])+"
)
_URL_ESCAPE = re.compile(r"\\([_%#&~$])")
_URL_ESCAPES = frozenset(["\\_", "\\%", "\\#", "\\&", "\\~", "\\$"])
_DELIMITER = re.compile(r"\$\$?|\\[()\[\]]")
_STRAY_DOLLAR = re.compile(r"(?<!\d)\$(?!\s*\d)")
_INDEPENDENCE = re.compile(r"\\perp\s*(?:\\!\s*)+\\perp")  # the ⫫ hack: \perp\!\!\!\perp
_CRUDE_MARKUP = re.compile(r"[\\{}$`]")
_SINGLE_QUOTES = re.compile(r"‘([^‘’]*?)'(?![A-Za-z])")


def _escaped(text: str, i: int) -> bool:
    """Whether ``text[i]`` follows an odd number of backslashes (``\\$`` is a dollar sign)."""
    k = i
    while k and text[k - 1] == "\\":
        k -= 1
    return (i - k) % 2 == 1


def _next_delimiter(text: str, pos: int) -> tuple[int, str] | None:
    """The next unescaped ``$``, ``$$``, ``\\(``, ``\\)``, ``\\[`` or ``\\]`` from ``pos``."""
    while (m := _DELIMITER.search(text, pos)) is not None:
        i, delimiter = m.start(), m.group()
        if not _escaped(text, i):
            return i, delimiter
        if delimiter == "$$":  # \$$x$: a dollar sign, then math
            return i + 1, "$"
        pos = i + 1
    return None


def _find_close(text: str, pos: int, closer: str) -> int:
    """Index of the next unescaped ``closer`` at or after ``pos``, or -1."""
    while (found := _next_delimiter(text, pos)) is not None:
        i, delimiter = found
        if delimiter == closer or (closer == "$" and delimiter == "$$"):
            return i
        pos = i + 1
    return -1


def _is_math(text: str, start: int, end: int) -> bool:
    """Whether ``$...$`` at [start, end] is math rather than two literal dollars.

    TeX-looking content always counts. Otherwise (roughly) Pandoc's rule: no blank just
    inside either dollar and no digit right after the closing one, so "costs $5 and $10"
    stays money.
    """
    content = text[start + 1 : end]
    if not content.strip():
        return False
    if "\\" in content or "^" in content or "_" in content or "{" in content:
        return True
    if text[end + 1 : end + 2].isdigit():
        return False
    # Blanks just inside the dollars are fine around one word ("$ x $"), not around a phrase.
    return not (content[0].isspace() or content[-1].isspace()) or len(content.split()) == 1


_CLOSERS = {"$$": "$$", "\\(": "\\)", "\\[": "\\]"}


def _split_math(text: str) -> list[tuple[bool, str]]:
    """Split into (is_math, source) segments; delimiters without a partner stay literal."""
    segments: list[tuple[bool, str]] = []
    start = pos = 0
    exhausted: set[str] = set()  # closers known to be absent from here on: keeps this linear

    def close(after: int, closer: str) -> int:
        end = -1 if closer in exhausted else _find_close(text, after, closer)
        if end < 0:
            exhausted.add(closer)
        return end

    while (found := _next_delimiter(text, pos)) is not None:
        begin, opener = found
        end, width = -1, 2
        if opener in _CLOSERS:
            end = close(begin + 2, _CLOSERS[opener])
        if end < 0 and opener[0] == "$":  # also "$$" without a partner: maybe "$$x$"
            width = 1
            end = close(begin + 1, "$")
            if end >= 0 and not _is_math(text, begin, end):
                end = -1
        if end < 0:
            pos = begin + 1
            continue
        segments.append((False, text[start:begin]))
        segments.append((True, text[begin + width : end]))
        start = pos = end + width
    segments.append((False, text[start:]))
    return segments


# Abstracts repeat the same small formulas ($n$, $\alpha$, $\mathbb{R}^d$) within and across
# papers; caching them more than halves the cost of a TeX-heavy abstract.
@lru_cache(maxsize=4096)
def _render_math(source: str) -> str:
    if "\\!" in source:
        source = _INDEPENDENCE.sub(r"\\indep ", source)
    out = _Renderer(_TOKEN.findall(source), math=True).render().strip()
    return _RELATION.sub(_balance, out) if " " in out else out


def _drop_dollar(m: re.Match[str]) -> str:
    """Drop an unpaired math shift; a space keeps glued words apart ("1.41 times$that", real)."""
    text, i = m.string, m.start()
    if _escaped(text, i):  # \$ is a dollar sign
        return "$"
    return " " if text[i - 1 : i].isalnum() and text[i + 1 : i + 2].isalnum() else ""


def _render_text(source: str) -> str:
    if "$" in source:  # a dollar without a partner: money ($5, 5$) or a lost math shift
        source = _STRAY_DOLLAR.sub(_drop_dollar, source)
    if not _needs_tex(source):  # most of the prose between two formulas
        return source
    return _Renderer(_TOKEN.findall(source), math=False).render()


def _render_tex(text: str) -> str:
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        return _render_text(text)
    parts = []
    for is_math, source in _split_math(text):
        if is_math:
            parts.append(_render_math(source))
        elif source:
            parts.append(_render_text(source))
    return "".join(parts)


def _render_url(markup: str) -> str:
    if markup.startswith("\\"):
        return _Renderer(_TOKEN.findall(markup), math=False).render()
    return _unescape_url(markup)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def latex_to_unicode(text: str) -> str:
    """Turn the TeX found in arXiv metadata into readable Unicode.

    ``$\\mathcal{O}(n^{2})$`` → ``𝒪(n²)``, ``Math\\'ematiques`` → ``Mathématiques``. Unknown
    macros lose only their backslash; malformed input never raises. Whitespace is kept as is.
    """
    if not _needs_tex(text):
        return text
    try:
        out = _render_with_urls(text)
    except RecursionError:  # scripts nested hundreds deep: not worth a faithful rendering
        return _CRUDE_MARKUP.sub("", text)
    if "`" in text and "'" in out:
        out = _SINGLE_QUOTES.sub(r"‘\1’", out)  # close `quotes' with the matching mark
    return out


def _render_with_urls(text: str) -> str:
    if "://" in text or "www." in text or "\\url" in text or "\\href" in text:
        # URLs are opaque: their ~, -- and _ are not TeX.
        parts, last = [], 0
        for m in _URL.finditer(text):
            parts.append(_render_tex(text[last : m.start()]))
            parts.append(_render_url(m.group()))
            last = m.end()
        parts.append(_render_tex(text[last:]))
        return "".join(parts)
    return _render_tex(text)


def clean_text(text: str) -> str:
    """Clean any paper text (title, abstract, author, journal ref) for display.

    Bidi controls, invisible and control characters go first (:func:`strip_unsafe_chars`), so that none
    can hide inside what the TeX conversion joins up; then TeX becomes Unicode and every whitespace run,
    newlines included, becomes one space. Idempotent, and leaves ``<``, ``>``, ``&``, ``@`` alone
    (escaping is the adapters' job).
    """
    return " ".join(latex_to_unicode(strip_unsafe_chars(text)).split())


def shorten_authors(authors: Sequence[str], shown: int = 3) -> str:
    """``A, B, C … and 2,947 more`` for long lists; all names when at most ``shown + 1``.

    Naming all but one would save nothing over "and 1 more", hence the ``+ 1``.
    """
    if isinstance(authors, str):  # a bare string is a Sequence[str] too: one author
        authors = [authors]
    names = [name.strip() for name in authors if name and name.strip()]
    if not names:
        return "Unknown authors"
    shown = max(shown, 1)
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} … and {len(names) - shown:,} more"


# Words whose final period does not end a sentence (compared lower-case, leading "(" removed).
_ABBREVIATIONS = frozenset(
    "e.g. i.e. al. fig. figs. eq. eqs. cf. vs. resp. approx. ref. refs. sec. secs. no. nos. "
    "vol. dr. prof. mr. mrs. ms. st. viz. w.r.t. thm. lem. prop. def. ch. pp. ca. incl. "
    "jr. sr. ed. eds. esp. appx. app.".split()
)
_BOUNDARY = re.compile(r"[.?!][\"”’')\]]*(?=\s+(\S))")
_LAST_BLANK = re.compile(r"\s(?=\S*$)")


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    following = m.group(1)[0]
    if following.islower() or following in ",;:)]}":
        return False
    if text[m.start()] != ".":
        return True
    word_start = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
    word = text[word_start : m.start() + 1].lstrip("([“‘\"'").lower()
    return word not in _ABBREVIATIONS


def teaser(abstract: str, max_chars: int = 280) -> str:
    """The longest run of whole sentences that fits ``max_chars``.

    If even the first sentence is too long, cut at a word boundary and add "…". A single
    word longer than the limit (a URL) is the one case cut mid-word, to honour the limit.
    """
    text = abstract.strip()
    if max_chars <= 0:  # a limit of 0 turns teasers off
        return ""
    if len(text) <= max_chars:
        return text
    cut = 0
    for m in _BOUNDARY.finditer(text):
        if m.end() > max_chars:
            break
        if _ends_sentence(text, m):
            cut = m.end()
    if cut:
        return text[:cut]
    limit = max(max_chars - 1, 0)
    head = text[:limit]
    if not text[limit].isspace():
        blank = _LAST_BLANK.search(head)
        if blank is not None and blank.start() > 0:
            head = head[: blank.start()]
    return head.rstrip(" ,;:–—-(") + "…"
