"""Tables for the TeX-to-Unicode converter (bot.text): symbols, accents, scripts and math alphabets.

Kept apart from the converter so that the tokenizer and renderer read in one sitting, and so that tests
reading formulas structurally can use the same symbol names as the converter.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "varkappa": "ϰ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "omicron": "ο", "pi": "π",
    "varpi": "ϖ", "rho": "ρ", "varrho": "ϱ", "sigma": "σ", "varsigma": "ς", "tau": "τ",
    "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}  # fmt: skip

# Control words that stand for one symbol, in math or text. "" means "typesetting only".
SYMBOLS: dict[str, str] = {
    **GREEK,
    # relations
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "leqslant": "⩽", "geqslant": "⩾",
    "neq": "≠", "ne": "≠", "approx": "≈", "equiv": "≡", "sim": "∼", "simeq": "≃",
    "cong": "≅", "propto": "∝", "asymp": "≍", "ll": "≪", "gg": "≫", "lesssim": "≲",
    "gtrsim": "≳", "prec": "≺", "succ": "≻", "preceq": "⪯", "succeq": "⪰", "in": "∈",
    "notin": "∉", "ni": "∋", "subset": "⊂", "subseteq": "⊆", "subsetneq": "⊊", "supset": "⊃",
    "supseteq": "⊇", "coloneqq": "≔", "triangleq": "≜", "doteq": "≐", "models": "⊨",
    "vdash": "⊢", "perp": "⊥", "parallel": "∥", "mid": "∣", "nmid": "∤", "indep": "⫫",
    "independent": "⫫",
    # arrows
    "to": "→", "rightarrow": "→", "longrightarrow": "⟶", "leftarrow": "←", "gets": "←",
    "longleftarrow": "⟵", "leftrightarrow": "↔", "Rightarrow": "⇒", "Longrightarrow": "⟹",
    "Leftarrow": "⇐", "Leftrightarrow": "⇔", "iff": "⟺", "implies": "⟹", "mapsto": "↦",
    "longmapsto": "⟼", "uparrow": "↑", "downarrow": "↓", "hookrightarrow": "↪",
    "rightharpoonup": "⇀", "rightsquigarrow": "⇝",
    # operators
    "times": "×", "cdot": "·", "circ": "∘", "bullet": "•", "pm": "±", "mp": "∓", "div": "÷",
    "ast": "∗", "star": "⋆", "oplus": "⊕", "ominus": "⊖", "otimes": "⊗", "odot": "⊙",
    "cup": "∪", "cap": "∩", "sqcup": "⊔", "uplus": "⊎", "setminus": "∖", "backslash": "∖",
    "wedge": "∧", "land": "∧", "vee": "∨", "lor": "∨", "neg": "¬", "lnot": "¬",
    "sum": "∑", "prod": "∏", "coprod": "∐", "int": "∫", "iint": "∬", "iiint": "∭", "oint": "∮",
    "bigcup": "⋃", "bigcap": "⋂", "bigoplus": "⨁", "bigotimes": "⨂", "bigvee": "⋁",
    "bigwedge": "⋀",
    # letter-like and miscellaneous
    "infty": "∞", "nabla": "∇", "partial": "∂", "forall": "∀", "exists": "∃", "nexists": "∄",
    "emptyset": "∅", "varnothing": "∅", "ell": "ℓ", "hbar": "ℏ", "Re": "ℜ", "Im": "ℑ",
    "aleph": "ℵ", "wp": "℘", "top": "⊤", "bot": "⊥", "angle": "∠", "triangle": "△",
    "prime": "′", "dagger": "†", "ddagger": "‡", "dag": "†", "ddag": "‡", "surd": "√",
    "square": "□", "Box": "□", "blacksquare": "■", "checkmark": "✓", "S": "§",
    "ldots": "…", "dots": "…", "dotsc": "…", "cdots": "⋯", "dotsb": "⋯", "vdots": "⋮",
    "ddots": "⋱",
    # delimiters; set braces stay braces (bot.tex_scripts tells them from grouping on a second pass)
    "langle": "⟨", "rangle": "⟩", "lceil": "⌈", "rceil": "⌉", "lfloor": "⌊", "rfloor": "⌋",
    "lbrace": "{", "rbrace": "}", "lbrack": "[", "rbrack": "]", "vert": "|", "lvert": "|",
    "rvert": "|", "Vert": "‖", "lVert": "‖", "rVert": "‖", "colon": ":",
    # blackboard shortcuts that authors define and paste into abstracts
    "R": "ℝ", "RR": "ℝ", "NN": "ℕ", "ZZ": "ℤ", "QQ": "ℚ", "CC": "ℂ", "EE": "𝔼", "PP": "ℙ",
    "eps": "ε",
    # text-mode symbols
    "ss": "ß", "o": "ø", "O": "Ø", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "aa": "å",
    "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "copyright": "©",
    "textregistered": "®", "texttrademark": "™", "pounds": "£", "euro": "€", "textdegree": "°",
    "textendash": "–", "textemdash": "—", "textellipsis": "…", "textbackslash": "∖",
    "textasciitilde": "∼", "textbar": "|", "textless": "<", "textgreater": ">",
    "textquoteleft": "‘", "textquoteright": "’", "textquotedblleft": "“",
    "textquotedblright": "”", "slash": "/", "LaTeX": "LaTeX", "TeX": "TeX",
    # spacing
    "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ", "medspace": " ",
    "thickspace": " ", "space": " ", "newline": " ", "linebreak": " ", "par": " ",
    "negthinspace": "", "noindent": "", "displaystyle": "", "textstyle": "",
    "scriptstyle": "", "limits": "", "nolimits": "", "nonumber": "", "notag": "",
    "bf": "", "it": "", "em": "", "rm": "", "sc": "", "tt": "", "sl": "", "sf": "",
    "bfseries": "", "itshape": "", "scshape": "", "ttfamily": "", "upshape": "",
    "mdseries": "", "normalfont": "", "small": "", "large": "", "Large": "",
    "normalsize": "", "footnotesize": "", "centering": "", "protect": "", "relax": "",
}  # fmt: skip

# Text-mode letters: TeX swallows the space after them (Bj\o rn -> Bjørn).
LETTERS = frozenset("ss o O l L i j aa AA ae AE oe OE".split())
# Prefix operators and opening brackets read best glued to what follows (\partial f -> ∂f).
PREFIX = frozenset("∂∇¬⟨⌈⌊")

# Control symbols other than accents; unknown ones stand for themselves (\% -> %).
CONTROL_SYMBOLS = {
    " ": " ", ",": " ", ";": " ", ":": " ", ">": " ", "\\": " ", "\n": " ", "\t": " ", "\r": " ",
    "!": "", "-": "", "/": "", "@": "", "": "", "|": "‖", "{": "{", "}": "}",
}  # fmt: skip

# Combining marks. Symbol accents work everywhere; letter accents (\c{c}, \v{s}) only in text,
# because in math the same names are authors' own macros (\d x for a differential).
SYMBOL_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307",
}  # fmt: skip
LETTER_ACCENTS = {
    "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328", "r": "\u030a",
    "d": "\u0323", "b": "\u0331",
}  # fmt: skip
MATH_ACCENTS = {
    "hat": "\u0302", "widehat": "\u0302", "wh": "\u0302", "check": "\u030c", "tilde": "\u0303",
    "widetilde": "\u0303", "wt": "\u0303", "bar": "\u0304", "overline": "\u0305",
    "vec": "\u20d7", "dot": "\u0307", "ddot": "\u0308", "dddot": "\u20db", "breve": "\u0306",
    "acute": "\u0301", "grave": "\u0300", "mathring": "\u030a", "underbar": "\u0331",
}  # fmt: skip

# `\not` before these has a precomposed form; otherwise we add U+0338.
NEGATED = {
    "=": "≠", "∈": "∉", "⊂": "⊄", "⊆": "⊈", "⊃": "⊅", "⊇": "⊉", "∼": "≁", "≡": "≢",
    "<": "≮", ">": "≯", "≤": "≰", "≥": "≱", "∃": "∄", "|": "∤", "∣": "∤", "≈": "≉",
}  # fmt: skip


def _pairs(plain: str, styled: str) -> dict[str, str]:
    return dict(zip(plain, styled, strict=True))


# Unicode has super/subscripts for only part of the alphabet; a script uses them only when
# every character has one. `*`, primes and daggers read naturally at baseline (β*, f′).
SUP = _pairs(
    "0123456789+-−=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWαβγδεθιφϕχT⊤′″*∗†‡",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵅᵝᵞᵟᵋᶿᶥᵠᵠᵡᵀᵀ′″**†‡",
)
SUB = _pairs(
    "0123456789+-−=()aehijklmnoprstuvxβγρφϕχ",
    "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵩᵪ",
)


def _alphabet(upper: int, lower: int, digits: int | None = None, holes: str = "") -> dict[str, str]:
    """Map A-Z, a-z (and 0-9) to a Mathematical Alphanumeric Symbols block.

    ``holes`` lists letters that Unicode encoded earlier in Letterlike Symbols (ℝ, ℋ, ...):
    the block leaves those code points unassigned.
    """
    table = {chr(65 + k): chr(upper + k) for k in range(26)}
    table.update({chr(97 + k): chr(lower + k) for k in range(26)})
    if digits is not None:
        table.update({chr(48 + k): chr(digits + k) for k in range(10)})
    table.update({pair[0]: pair[1] for pair in holes.split()})
    return table


BLACKBOARD = _alphabet(0x1D538, 0x1D552, 0x1D7D8, "Cℂ Hℍ Nℕ Pℙ Qℚ Rℝ Zℤ")
SCRIPT = _alphabet(0x1D49C, 0x1D4B6, None, "Bℬ Eℰ Fℱ Hℋ Iℐ Lℒ Mℳ Rℛ eℯ gℊ oℴ")
FRAKTUR = _alphabet(0x1D504, 0x1D51E, None, "Cℭ Hℌ Iℑ Rℜ Zℨ")
BOLD = _alphabet(0x1D400, 0x1D41A, 0x1D7CE)
FONTS = {
    "mathbb": BLACKBOARD, "mathds": BLACKBOARD, "mathbbm": BLACKBOARD, "bbm": BLACKBOARD,
    "mathcal": SCRIPT, "mathscr": SCRIPT, "mathfrak": FRAKTUR, "mathbf": BOLD, "bm": BOLD,
    "boldsymbol": BOLD, "pmb": BOLD,
}  # fmt: skip

# Wrappers whose argument is kept as is; the \text family switches back to text mode.
MATH_WRAPPERS = frozenset(
    "mathrm mathit mathsf mathtt mathnormal mathop mathbin mathrel mathord operatorname "
    "emph textbf textit texttt textrm textsf textsc textup textsl textmd textnormal underline "
    "uline phantom hphantom vphantom".split()
)
TEXT_WRAPPERS = frozenset("text mbox hbox textup intertext".split())
# Delimiter sizing: drop the command; `\left.` also drops its invisible delimiter.
SIZING = frozenset("left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr bigm Bigm".split())

# What may follow a fraction written inline as "a/b" without brackets: an operator, a relation, punctuation,
# a closing bracket or the end. Anything else (a letter, a digit, "∑", "(", another fraction) would read as
# part of the denominator ("1/T∑ₜ errₜ"), so the fraction is bracketed: "(1/T)∑ₜ errₜ".
FRACTION_MAY_END_BEFORE = frozenset(
    "+ - = < > , . ; : ) ] } | & ! ? ' ^ _".split()
    + ["\\" + name for name in (
        "leq le geq ge neq ne approx equiv sim simeq cong propto to rightarrow leftarrow mapsto cdot times pm mp "
        "quad qquad , ; : ! \\ right rangle rvert rVert end in notin subset subseteq supset supseteq cup cap "
        "wedge vee ll gg prec succ preceq succeq mid div ldots cdots dots } ) |"
    ).split()]
)


def fraction_needs_brackets(following: str | None) -> bool:
    """Whether an inline fraction followed by the token ``following`` (None: nothing) needs brackets."""
    return following is not None and following not in FRACTION_MAY_END_BEFORE
