"""A JATS formula's TeX: its tex-math, the TeX annotation of its MathML, or its MathML converted to TeX
(:func:`mathml_to_tex`: the common presentation elements; anything else becomes its text content).
Bounded in depth, nodes and length: a hostile formula may hold megabytes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

from bot.fulltext_model import MAX_TEX_CHARS

__all__ = ["MAX_MATHML_DEPTH", "MAX_MATHML_NODES", "formula_tex", "local_name", "mathml_to_tex"]

MAX_MATHML_DEPTH = 40
MAX_MATHML_NODES = 3_000  # per formula

_TEX_DOCUMENT = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.DOTALL)
_TEX_FENCES = re.compile(
    r"^(?:\$\$|\$|\\\[|\\begin\{(?:equation|displaymath|align|gather)\*?\})"
    r"|(?:\$\$|\$|\\\]|\\end\{(?:equation|displaymath|align|gather)\*?\})$"
)
_TEX_LABEL = re.compile(r"\\(?:label|tag)\{[^{}]{0,80}\}")


def local_name(tag: object) -> str:
    """An element's name without its namespace ("" for comments and processing instructions)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def formula_tex(formula: ElementTree.Element) -> str:
    """The TeX of a disp-formula or inline-formula ("" when it is only a picture, or too long)."""
    tex_math = annotation = None
    math = None
    for node in _bounded_iter(formula, MAX_MATHML_NODES):
        name = local_name(node.tag)
        if name == "tex-math" and tex_math is None:
            tex_math = node
        elif name == "annotation" and annotation is None and "tex" in (node.get("encoding") or "").casefold():
            annotation = node
        elif name == "math" and math is None:
            math = node
    tex = ""
    if tex_math is not None:
        tex = _unwrap_tex("".join(tex_math.itertext()))
    if not tex and annotation is not None:
        tex = _unwrap_tex(annotation.text or "")
    if not tex and math is not None:
        tex = mathml_to_tex(math)
    tex = " ".join(tex.split())
    return tex if len(tex) <= MAX_TEX_CHARS else ""


def _bounded_iter(root: ElementTree.Element, limit: int) -> Iterator[ElementTree.Element]:
    for count, node in enumerate(root.iter()):
        if count >= limit:
            return
        yield node


def _unwrap_tex(text: str) -> str:
    """The formula of a tex-math: inside ``\\begin{document}`` when it is a whole document, without
    ``$$``/``\\[``/equation fences, labels or tags."""
    text = text[: MAX_TEX_CHARS * 8]
    document = _TEX_DOCUMENT.search(text)
    if document is not None:
        text = document.group(1)
    text = text.strip()
    for _ in range(3):  # "$$\begin{equation}…" has nested fences
        text = _TEX_FENCES.sub("", text).strip()
    return _TEX_LABEL.sub("", text).strip()


# -- MathML to TeX

_GREEK = dict(
    zip(
        "αβγδεϵζηθϑικλμνξπϖρϱσςτυφϕχψωΓΔΘΛΞΠΣΥΦΨΩ",
        (
            "alpha beta gamma delta varepsilon epsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi "
            "varpi rho varrho sigma varsigma tau upsilon varphi phi chi psi omega Gamma Delta Theta Lambda Xi "
            "Pi Sigma Upsilon Phi Psi Omega"
        ).split(),
        strict=True,
    )
)
_SYMBOLS = {
    "∑": "sum", "∏": "prod", "∫": "int", "∮": "oint", "⋃": "bigcup", "⋂": "bigcap", "≤": "leq", "≥": "geq",
    "≠": "neq", "≈": "approx", "∼": "sim", "≡": "equiv", "∝": "propto", "→": "rightarrow", "←": "leftarrow",
    "⇒": "Rightarrow", "⇔": "Leftrightarrow", "↦": "mapsto", "∈": "in", "∉": "notin", "⊂": "subset",
    "⊆": "subseteq", "∪": "cup", "∩": "cap", "∞": "infty", "±": "pm", "∓": "mp", "×": "times", "·": "cdot",
    "⋅": "cdot", "∘": "circ", "∂": "partial", "∇": "nabla", "∀": "forall", "∃": "exists", "¬": "neg",
    "∧": "wedge", "∨": "vee", "⊗": "otimes", "⊕": "oplus", "…": "ldots", "⋯": "cdots", "‖": "|", "∅": "emptyset",
    "ℓ": "ell", "ℏ": "hbar", "⟨": "langle", "⟩": "rangle", "√": "surd", "≪": "ll", "≫": "gg", "÷": "div",
}  # fmt: skip
_PLAIN_OPERATORS = {"−": "-", "∗": "*", "′": "'", "\u2061": "", "\u2062": "", "\u2063": ",", "\u2064": "+"}
_FUNCTIONS = frozenset(
    "sin cos tan cot sec csc sinh cosh tanh log ln exp lim max min sup inf det dim arg deg gcd Pr ker".split()
)
_BIG_OPERATORS = frozenset(r"\sum \prod \int \oint \bigcup \bigcap \lim \max \min \sup \inf".split())
_ACCENTS = {
    "^": "hat", "ˆ": "hat", "¯": "bar", "‾": "bar", "−": "bar", "~": "tilde", "˜": "tilde", "˙": "dot",
    "¨": "ddot", "→": "vec", "⃗": "vec",
}  # fmt: skip
_VARIANTS = {"bold": "mathbf", "double-struck": "mathbb", "script": "mathcal", "fraktur": "mathfrak"}
_TEX_SPECIALS = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$",
                 "_": r"\_", "^": r"\^{}"}  # fmt: skip
_SPACE_AFTER_COMMAND = re.compile(r"(\\[A-Za-z]+) (?=[^A-Za-z0-9 ]|$)")
_GROUPS = frozenset({"math", "mrow", "mstyle", "mpadded", "merror", "menclose", "mphantom", "maction"})


def mathml_to_tex(math: ElementTree.Element) -> str:
    """Presentation MathML as TeX: mi, mn, mo, mtext, msub, msup, msubsup, mfrac, msqrt, mroot, mrow,
    munder, mover, munderover, mfenced and their groupings; any other element becomes its text content.
    Bounded in depth and nodes: beyond either, the rest is its text content."""
    budget = [MAX_MATHML_NODES]
    tex = " ".join(_tex(math, 0, budget).split())
    return _SPACE_AFTER_COMMAND.sub(r"\1", tex)  # "\theta )" -> "\theta)": the space only ends a command


def _tex(node: ElementTree.Element, depth: int, budget: list[int]) -> str:
    budget[0] -= 1
    name = local_name(node.tag)
    if depth > MAX_MATHML_DEPTH or budget[0] < 0:
        return _escape(_text(node))
    kids = [child for child in node if local_name(child.tag) not in ("annotation", "annotation-xml")]

    def sub(index: int) -> str:
        return _tex(kids[index], depth + 1, budget) if index < len(kids) else ""

    if name == "mi":
        return _identifier(_text(node), node.get("mathvariant") or "")
    if name == "mn":
        return _escape(_text(node))
    if name == "mo":
        return _operator(_text(node))
    if name in ("mtext", "ms"):
        words = _escape(_text(node)).strip()
        spaced = words.replace(" ", "\\ ")
        return rf"\mathrm{{{spaced}}}" if words else " "
    if name == "mspace":
        return " "
    if name in _GROUPS or name == "msqrt" or (name == "semantics" and kids):
        inner = "".join(sub(i) for i in range(1 if name == "semantics" else len(kids)))
        return rf"\sqrt{{{inner}}}" if name == "msqrt" else inner
    if name == "mfenced":
        separator = (node.get("separators") or ",").strip()[:1] or ","
        inner = separator.join(sub(i) for i in range(len(kids)))
        return _operator(node.get("open", "(")) + inner + _operator(node.get("close", ")"))
    if len(kids) >= 2 and name in ("msub", "msup", "mfrac", "mroot", "munder", "mover"):
        return _two(name, sub(0), sub(1), _text(kids[1]).strip())
    if len(kids) >= 3 and name in ("msubsup", "munderover"):
        base = sub(0)
        if name == "munderover" and base.strip() not in _BIG_OPERATORS:
            return rf"\overset{{{sub(2)}}}{{\underset{{{sub(1)}}}{{{base}}}}}"
        return f"{_base(base)}_{{{sub(1)}}}^{{{sub(2)}}}"
    return _escape(_text(node))


def _two(name: str, first: str, second: str, second_text: str) -> str:
    if name == "msub":
        return f"{_base(first)}_{{{second}}}"
    if name == "msup":
        return f"{_base(first)}^{{{second}}}"
    if name == "mfrac":
        return rf"\frac{{{first}}}{{{second}}}"
    if name == "mroot":
        return rf"\sqrt[{second}]{{{first}}}"
    if name == "munder":
        if first.strip() in _BIG_OPERATORS:
            return f"{first.strip()}_{{{second}}}"
        return rf"\underset{{{second}}}{{{first}}}"
    accent = _ACCENTS.get(second_text)
    if accent is not None:
        return rf"\{accent}{{{first}}}"
    if first.strip() in _BIG_OPERATORS:
        return f"{first.strip()}^{{{second}}}"
    return rf"\overset{{{second}}}{{{first}}}"


def _base(tex: str) -> str:
    """A script's base: bare when it is one symbol or command, else braced."""
    tex = tex.strip()
    if len(tex) == 1 or re.fullmatch(r"\\[A-Za-z]+", tex) or (tex.startswith("{") and tex.endswith("}")):
        return tex
    return f"{{{tex}}}"


def _identifier(text: str, variant: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if text in _FUNCTIONS:
        return rf"\{text} "
    if len(text) > 1 and all(c.isascii() for c in text):
        return rf"\mathrm{{{_escape(text)}}}"
    tex = "".join(_symbol(c) for c in text)
    command = _VARIANTS.get(variant)
    return rf"\{command}{{{tex.strip()}}}" if command else tex


def _operator(text: str) -> str:
    text = text.strip()
    if text in _FUNCTIONS:  # lim, max, … as operators (under munder)
        return rf"\{text} "
    if text in _PLAIN_OPERATORS:
        return _PLAIN_OPERATORS[text]
    if text in ("(", ")", "[", "]", "|", "=", "+", "<", ">", ",", ";", ":", "!", "/", "'", "*", "-", "."):
        return text
    return "".join(_symbol(c) for c in text)


def _symbol(character: str) -> str:
    if character in _GREEK:
        return rf"\{_GREEK[character]} "
    if character in _SYMBOLS:
        name = _SYMBOLS[character]
        return rf"\{name} " if name.isalpha() else rf"\{name}"
    if character in _PLAIN_OPERATORS:
        return _PLAIN_OPERATORS[character]
    return _escape(character)


def _escape(text: str) -> str:
    return "".join(_TEX_SPECIALS.get(c, c) for c in text)


def _text(node: ElementTree.Element) -> str:
    """An element's text content, bounded (a hostile formula may hold megabytes)."""
    parts: list[str] = []
    size = 0
    for part in node.itertext():
        parts.append(part)
        size += len(part)
        if size > MAX_TEX_CHARS * 4:
            break
    return " ".join("".join(parts).split())
