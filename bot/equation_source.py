"""One run of a paper's TeX (no environments) turned into the dialect matplotlib's mathtext reads.

mathtext is a TeX subset (matplotlib ``_mathtext.py``): it has ``\\frac`` (always text style), ``\\dfrac``,
``\\hspace{<em>}``, ``\\phantom``, ``\\rlap``, ``\\left…\\right`` with delimiters grown to their content,
``\\overset``/``\\underset``; it lacks ``\\big…\\Bigg``, ``\\kern``/``\\mkern``/``\\mskip``, ``\\rule``,
``\\underbrace``, ``\\tfrac`` and LaTeX's environments (those are laid out by bot.equation_layout).
Each rewrite here keeps the formula's meaning and its look as TeX draws it in display style:

- a fraction where TeX would draw it in display style (not inside another fraction, a script or a
  cases/matrix cell) becomes ``\\dfrac``: numerators at body size, not ~60 % of it;
- ``\\big(`` … ``\\Bigg]`` keep their size: each becomes ``\\left(\\rlap{\\phantom{S}}\\right.``, a lone
  delimiter grown to an invisible strut ``S`` as tall as TeX's size (1.2, 1.8, 2.4, 3 em);
- spacing (``\\hspace``, ``\\kern``, ``\\mkern``, ``\\mskip``, ``\\rule``) becomes ``\\hspace`` clamped to
  ``[-MAX_NEGATIVE_SPACE_EM, MAX_SPACE_EM]``: a crafted ``\\hspace{1000000}`` would otherwise ask for a
  bitmap millions of pixels wide;
- ``\\underbrace{x}_{n}`` / ``\\overbrace{x}^{n}`` nested in a group become ``\\underset{n}{x}`` /
  ``\\overset{n}{x}`` (the brace dropped, the label kept); at the top level bot.equation_layout draws them.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SPACE_EM", "display_fractions", "group_end", "mathtext_run", "normalise", "sized_delimiters"]

MAX_SPACE_EM = 4.0  # twice \qquad: wider space in a formula is layout, not mathematics
MAX_NEGATIVE_SPACE_EM = 1.0
MAX_SIZED_DELIMITERS = 24  # each grows the source by ~40 characters

# Spellings mathtext lacks, in the order applied, each keeping the meaning; what is left that mathtext does
# not know fails its parse and falls back to Unicode.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<!\\)%[^\n]*\n?"), ""),  # TeX comments (not \%, a percent sign)
    (re.compile(r"\\(?:label|tag\*?)\s*\{[^{}]{0,80}\}"), ""),
    (
        re.compile(
            r"\\(?:displaystyle|textstyle|scriptstyle|scriptscriptstyle|limits|nolimits|nonumber|notag"
            r"|allowbreak|mathstrut|strut|hline|medskip|smallskip|bigskip|centering)(?![a-zA-Z])"
        ),
        "",
    ),
    (re.compile(r"\\(?:lVert|rVert|Vert)(?![a-zA-Z])"), r"\\|"),
    (re.compile(r"\\(?:lvert|rvert|vert)(?![a-zA-Z])"), "|"),
    (re.compile(r"\\bm(?![a-zA-Z])"), r"\\boldsymbol"),
    (re.compile(r"\\mathbbm(?![a-zA-Z])"), r"\\mathbb"),
    (re.compile(r"\\textbf(?![a-zA-Z])"), r"\\mathbf"),
    (re.compile(r"\\textit(?![a-zA-Z])"), r"\\mathit"),
    (re.compile(r"\\textrm(?![a-zA-Z])"), r"\\mathrm"),
    (re.compile(r"\\mbox(?![a-zA-Z])"), r"\\text"),
    (re.compile(r"\\mathop(?![a-zA-Z])"), ""),
    (re.compile(r"\\coloneqq(?![a-zA-Z])"), ":="),
    (re.compile(r"\\eqqcolon(?![a-zA-Z])"), "=:"),
    (re.compile(r"\\operatorname\*"), r"\\operatorname"),
    (re.compile(r"\\mathrlap(?![a-zA-Z])"), r"\\rlap"),
    (re.compile(r"\\mathllap(?![a-zA-Z])"), r"\\llap"),
    (re.compile(r"\\hphantom(?![a-zA-Z])"), r"\\phantom"),
    (re.compile(r"\\(?:medspace|thinspace)(?![a-zA-Z])"), r"\\:"),
    (re.compile(r"\\thickspace(?![a-zA-Z])"), r"\\;"),
    (re.compile(r"\\(?:negthinspace|negmedspace|negthickspace)(?![a-zA-Z])"), r"\\!"),
    (re.compile(r"\\\\(?:\s*\[[^\[\]]{0,20}\])?"), r" \\quad "),  # a row break outside an environment
    (re.compile(r"(?<!\\)&"), " "),  # alignment points outside an environment
)

_UNIT_EM = {
    "em": 1.0,
    "ex": 0.43,
    "pt": 0.1,
    "bp": 0.1004,
    "pc": 1.2,
    "mm": 0.2845,
    "cm": 2.845,
    "in": 7.227,
    "mu": 1 / 18,
    "sp": 0.1 / 65536,
}
_DIMENSION = r"(-?\s*(?:\d{1,9}(?:\.\d{0,6})?|\.\d{1,6}))\s*(em|ex|pt|bp|pc|mm|cm|in|mu|sp)?"
_GLUE = r"(?:\s*plus\s*-?[\d.]{1,10}\s*(?:fil+|[a-z]{2})?)?(?:\s*minus\s*-?[\d.]{1,10}\s*(?:fil+|[a-z]{2})?)?"
_KERN = re.compile(r"\\(?:kern|mkern|mskip|hskip)\s*" + _DIMENSION + _GLUE)
_HSPACE = re.compile(r"\\hspace\*?\s*\{\s*" + _DIMENSION + r"\s*\}")
_RULE = re.compile(r"\\rule\s*(?:\[[^\[\]]{0,20}\])?\s*\{\s*" + _DIMENSION + r"\s*\}\s*\{[^{}]{0,20}\}")

# Delimiters mathtext grows (its ``_delims``), as they are spelt after the rewrites above.
_DELIMITER = (
    r"(\\\{|\\\}|\\\||\\langle|\\rangle|\\lfloor|\\rfloor|\\lceil|\\rceil|\\lbrace|\\rbrace|\\lbrack|\\rbrack"
    r"|\\backslash|\\uparrow|\\downarrow|[()\[\]|/.<>])"
)
_SIZED = re.compile(r"\\(Bigg|bigg|Big|big)[lrm]?\s*" + _DELIMITER)
_SIZE_HINT = re.compile(r"\\(?:Bigg|bigg|Big|big)[lrm]?(?![a-zA-Z])")
# An invisible strut of each size, measured in mathtext's Computer Modern: the delimiter grown to it is
# 1.37, 2.0, 2.43 and 3.27 em tall (TeX's \big … \Bigg are 1.2, 1.8, 2.4 and 3.0 em).
_STRUTS = {
    "big": r"\sum",
    "Big": r"\dfrac{1}{1}",
    "bigg": r"\genfrac{}{}{0}{}{(}{\int}",
    "Bigg": r"\genfrac{}{}{0}{}{\int}{\int}",
}

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.S)
_FRACTIONS = {r"\frac", r"\dfrac", r"\tfrac", r"\cfrac", r"\binom", r"\dbinom", r"\tbinom"}
_TEXT_STYLE_FRACTIONS = {r"\tfrac", r"\tbinom"}
# Commands whose arguments TeX sets smaller: None keeps the style around, False is text or script style.
_ARGUMENT_STYLES: dict[str, tuple[bool | None, ...]] = {
    **{name: (False, False) for name in _FRACTIONS},
    r"\genfrac": (None, None, None, None, False, False),
    r"\overset": (False, None),
    r"\underset": (False, None),
    r"\stackrel": (False, None),
    r"\substack": (False,),
}


def normalise(tex: str) -> str:
    """The rewrites every run gets before anything else looks at it (comments, labels, spellings)."""
    text = tex
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text


def _em(number: str, unit: str | None, scale_mu: bool = False) -> float:
    value = float(number.replace(" ", "") or 0)
    em = value * _UNIT_EM.get(unit or ("mu" if scale_mu else "em"), 0.0)
    return max(-MAX_NEGATIVE_SPACE_EM, min(MAX_SPACE_EM, em))


def bounded_spacing(text: str) -> str:
    """Every explicit space as mathtext's ``\\hspace{em}``, clamped (see the module docstring)."""

    def hspace(em: float) -> str:
        return rf"\hspace{{{em:.3f}}}"

    text = _KERN.sub(lambda m: hspace(_em(m[1], m[2], scale_mu=m[0].startswith(r"\m"))), text)
    text = _HSPACE.sub(lambda m: hspace(_em(m[1], m[2])), text)
    return _RULE.sub(lambda m: hspace(max(0.0, _em(m[1], m[2]))), text)


def sized_delimiters(text: str) -> str:
    """``\\big(`` … ``\\Bigg)`` as delimiters of that size; a size hint before anything else is dropped."""
    count = 0

    def sized(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        if count > MAX_SIZED_DELIMITERS:
            return match[2]
        return rf"\left{match[2]}\rlap{{\phantom{{{_STRUTS[match[1]]}}}}}\right."

    return _SIZE_HINT.sub("", _SIZED.sub(sized, text))


def group_end(text: str, start: int) -> int:
    """The index just past the balanced ``{…}`` opening at ``start`` (or past the one token there)."""
    if start >= len(text):
        return start
    if text[start] != "{":
        token = _TOKEN.match(text, start)
        return token.end() if token else start + 1
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "\\":
            continue
        if text[index] == "{" and (index == 0 or text[index - 1] != "\\"):
            depth += 1
        elif text[index] == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def braces_as_sets(text: str) -> str:
    r"""``\underbrace{x}_{n}`` as ``\underset{n}{x}`` and ``\overbrace{x}^{n}`` as ``\overset{n}{x}``."""
    for command, script, replacement in ((r"\underbrace", "_", r"\underset"), (r"\overbrace", "^", r"\overset")):
        for _ in range(64):  # each pass removes one; bounded however the text nests them
            start = text.find(command)
            if start < 0:
                break
            body_start = _skip_space(text, start + len(command))
            body_end = group_end(text, body_start)
            body = text[body_start:body_end]
            after = _skip_space(text, body_end)
            if after < len(text) and text[after] == script:
                label_start = _skip_space(text, after + 1)
                label_end = group_end(text, label_start)
                label = text[label_start:label_end]
                text = f"{text[:start]}{replacement}{{{label}}}{{{body}}}{text[label_end:]}"
            else:
                text = f"{text[:start]}{{{body}}}{text[body_end:]}"
    return text


def vertical_phantoms(text: str) -> str:
    r"""``\vphantom{x}`` as ``\rlap{\phantom{x}}``: the height of ``x``, none of its width."""
    for _ in range(64):
        start = text.find(r"\vphantom")
        if start < 0:
            break
        body_start = _skip_space(text, start + len(r"\vphantom"))
        body_end = group_end(text, body_start)
        text = f"{text[:start]}\\rlap{{\\phantom{{{text[body_start:body_end]}}}}}{text[body_end:]}"
    return text


def display_fractions(text: str, display: bool = True) -> str:
    """``\\frac`` as ``\\dfrac`` wherever TeX sets it in display style (``display``: the run is)."""
    out: list[str] = []
    styles = [display]  # per open group: display style or not
    pending: list[list[bool | None]] = [[]]  # per open group: the styles of a command's next arguments
    script_next = False
    for token in _TOKEN.findall(text):
        if token.isspace():
            out.append(token)
            continue
        if token == "{":
            style = pending[-1].pop(0) if pending[-1] else (False if script_next else None)
            styles.append(styles[-1] if style is None else style and styles[-1])
            pending.append([])
            script_next = False
        elif token == "}":
            if len(styles) > 1:
                styles.pop()
                pending.pop()
        elif token in ("^", "_"):
            script_next = True
        elif token in _FRACTIONS or token in _ARGUMENT_STYLES:
            here = styles[-1] and not script_next and not pending[-1]
            if token == r"\cfrac" or (token == r"\frac" and here):
                token = r"\dfrac"
            elif token == r"\dbinom" or (token == r"\binom" and here):
                token = r"\genfrac{(}{)}{0}{0}"  # mathtext's \binom is text style; style 0 is display
            elif token in _TEXT_STYLE_FRACTIONS:
                token = r"\frac" if token == r"\tfrac" else r"\binom"
            if pending[-1]:
                pending[-1].pop(0)  # this command is itself the argument of the one before
            pending[-1][:0] = list(_ARGUMENT_STYLES.get(token, (False, False)))
            script_next = False
        else:
            if pending[-1] and token not in ("[", "]"):
                pending[-1].pop(0)  # a one-token argument
            script_next = False
        out.append(token)
    return "".join(out)


def mathtext_run(tex: str, *, display: bool = True) -> str:
    """One environment-free run of TeX in mathtext's dialect (see the module docstring)."""
    text = normalise(tex)
    text = bounded_spacing(text)
    text = braces_as_sets(vertical_phantoms(text))
    text = display_fractions(text, display)
    text = sized_delimiters(text)
    return re.sub(r"\s+", " ", text).strip()
