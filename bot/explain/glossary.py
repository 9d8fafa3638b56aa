"""A curated glossary of mathematical concepts, and a fast matcher that finds them in paper text.

The glossary (``bot/data/glossary.json``) is what the offline explainer shows when no LLM answers:
one accurate line per concept and a reference link. Matching must cost little next to the rest of an
explanation, so every name of every concept goes into ONE compiled regex, laid out as a trie: at each
word start the engine follows only the branches that share the text's next character, instead of
trying hundreds of aliases one after the other.

What counts as a mention (all case-insensitive, whole words only):

- a space in a name matches any run of spaces, hyphens and dashes ("KL divergence" ~ "KL-divergence",
  "Lipschitz continuous" ~ "Lipschitz-continuous"); a hyphen or dash in a name may also be left out
  ("Fokker–Planck" ~ "Fokker-Planck" ~ "Fokker Planck", "non-parametric" ~ "nonparametric");
- accents are optional ("Matérn" ~ "Matern", "Itô" ~ "Ito"), curly and straight apostrophes agree, and
  a possessive may be dropped ("Bayes' rule" ~ "Bayes rule", "Hotelling's T²" ~ "Hotelling T²");
- the last word may be plural ("Hessians", "Gaussian processes", "inequalities", "matrices", "maxima");
  "-ise" and "-ize" spellings agree ("regularisation" ~ "regularization");
- at one position the longest name wins ("Markov chain Monte Carlo" is not also "Markov chain"), and a
  name inside a longer word never matches ("ELBO" is not in "elbow", "entropy" is not in "negentropy"),
  nor at the tail of a compound ("Dvoretzky–Kiefer–Wolfowitz" is not "Kiefer–Wolfowitz", "non-convex" is
  not "convex", "sub-Gaussian" is not "Gaussian"), unless its head is one letter ("1-Lipschitz").
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["Concept", "all_concepts", "find_concepts", "name_key", "warm_up"]

DEFINITION_MAX = 160
_FIELDS = ("term", "aliases", "field", "definition", "url")


@dataclass(frozen=True, slots=True)
class Concept:
    term: str
    aliases: tuple[str, ...]
    field: str
    definition: str
    url: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)


@lru_cache(maxsize=1)
def all_concepts() -> tuple[Concept, ...]:
    """Every glossary entry, in file order. Read once: the file ships inside the package."""
    raw = resources.files("bot").joinpath("data/glossary.json").read_text(encoding="utf-8")
    entries = json.loads(raw)
    if not isinstance(entries, list):
        raise ValueError("glossary.json must hold a list of entries")
    return tuple(_concept(entry) for entry in entries)


def _concept(entry: Any) -> Concept:
    if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
        raise ValueError(f"glossary entry must have exactly the fields {_FIELDS}: {entry!r}")
    aliases = entry["aliases"]
    texts = [entry[name] for name in _FIELDS if name != "aliases"]
    if not isinstance(aliases, list) or not all(isinstance(v, str) and v.strip() for v in [*aliases, *texts]):
        raise ValueError(f"glossary entry has an empty or non-text field: {entry!r}")
    return Concept(entry["term"], tuple(aliases), entry["field"], entry["definition"], entry["url"])


def find_concepts(text: str, limit: int = 6) -> tuple[Concept, ...]:
    """The glossary concepts mentioned in ``text``, in order of first mention, each once."""
    if limit <= 0 or not text:
        return ()
    matcher = _matcher()
    concepts = all_concepts()
    found: dict[int, None] = {}  # an ordered set of concept indexes
    for match in matcher.pattern.finditer(_fold(text)):
        # Every name ends in one empty group, so the last group that took part names the concept.
        index = matcher.concept_of_group[match.lastindex or 0]
        if index >= 0 and index not in found:
            found[index] = None
            if len(found) >= limit:
                break
    return tuple(concepts[i] for i in found)


# ---------------------------------------------------------------------------------------------
# Normalisation shared by the text and the names
# ---------------------------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015"
# Letters whose "accent" is part of the glyph, so NFD does not split it off.
_FOLD_TABLE = str.maketrans({**dict.fromkeys(_DASHES, "-"), "\u2019": "'", "\u2018": "'", "ł": "l", "Ł": "L"})
_COMBINING = re.compile(r"[\u0300-\u036f]+")


def _fold(text: str) -> str:
    """Drop accents and unify dashes and apostrophes; keeps the order of everything else."""
    text = text.translate(_FOLD_TABLE)
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFD", text))


_KEY_DROP = re.compile(r"'s\b|'|[\s-]+")
_ISE = re.compile(r"is(?=[ea])")


def name_key(name: str) -> str:
    """The form under which two names would match the same text: duplicates share a key."""
    key = _fold(name).lower()
    key = _ISE.sub("iz", key)
    return _KEY_DROP.sub("", key)


# ---------------------------------------------------------------------------------------------
# The matcher: one regex, laid out as a trie of name atoms
# ---------------------------------------------------------------------------------------------

# Atoms are regex snippets. A trie node maps atoms to child nodes; the END key marks a complete name
# and holds its concept's index.
_END = ""
_SEP = r"[\s-]+"  # between words: any run of blanks and hyphens
# Where a name has a hyphen, the text may have a blank or nothing: "non-parametric" ~ "nonparametric".
# Write such compounds with the hyphen in every name of the glossary: a hyphen-less spelling in another
# name would share no trie branch with it and could lose to it (the tests check every name finds itself).
_OPTIONAL_SEP = r"[\s-]*"
_APOSTROPHE = r"(?:'s?)?"  # "Bayes' rule", "Bayes's rule", "Bayes rule"
_ISE_ATOM = "[sz]"
_Trie = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Matcher:
    pattern: re.Pattern[str]
    concept_of_group: tuple[int, ...]  # group number -> concept index (group 0 is unused)


def warm_up() -> None:
    """Build the matcher now (a few tenths of a second of regex compiling, once per process), so that the
    first digest's one-liners do not: a long-lived bot calls this in a thread at start."""
    _matcher()


@lru_cache(maxsize=1)
def _matcher() -> _Matcher:
    trie: _Trie = {}
    owner: dict[str, int] = {}
    for index, concept in enumerate(all_concepts()):
        for name in concept.names:
            key = name_key(name)
            if owner.setdefault(key, index) != index:
                other = all_concepts()[owner[key]].term
                raise ValueError(f"glossary name {name!r} of {concept.term!r} is also a name of {other!r}")
            _insert(trie, _atoms(name), index)
    groups: list[int] = [-1]
    body = _render(trie, groups)
    # Lookbehind: a name starts a word, and not the tail of a compound whose head is a word of two letters or
    # more ("Dvoretzky–Kiefer–Wolfowitz" is not "Kiefer–Wolfowitz", "sub-Gaussian" is not "Gaussian"); a
    # one-letter head is a parameter ("1-Lipschitz", "2-Wasserstein", "α-divergence") and still matches.
    # The right boundary is checked at each end of a name.
    return _Matcher(re.compile(_NAME_START + body, re.IGNORECASE), tuple(groups))


_NAME_START = r"(?<!\w)(?<![^\W\d_]{2}-)"


# A name splits into: apostrophes, blanks, hyphens, acronyms (whole words of two or more capitals or
# digits) and single characters.
_PIECE = re.compile(r"'s?|\s+|-+|(?<![A-Za-z])[A-Z][A-Z0-9]+(?![A-Za-z])|.", re.DOTALL)
_ACRONYM = re.compile(r"[A-Z][A-Z0-9]+")
_LAST_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]+$")


def _atoms(name: str) -> list[str]:
    """Split a name into regex atoms; the last word gets its plural ending."""
    stem, plural = _plural(_fold(name).strip())
    atoms = [_atom(piece) for piece in _PIECE.findall(stem)]
    _spell_ise(atoms)
    if plural:
        atoms.append(plural)
    return atoms


def _atom(piece: str) -> str:
    if piece.startswith("'"):
        return _APOSTROPHE
    if piece.isspace():
        return _SEP
    if piece.startswith("-"):
        return _OPTIONAL_SEP
    if len(piece) > 1:
        # Acronyms match in capitals only: "GPs" is Gaussian processes, "GPS" is not; "ATE", not "ate".
        return f"(?-i:{re.escape(piece)})"
    return re.escape(piece.lower())


def _spell_ise(atoms: list[str]) -> None:
    """Let "-ize"/"-ization" also match "-ise"/"-isation" (and the other way round)."""
    for i in range(1, len(atoms) - 1):
        if atoms[i - 1] == "i" and atoms[i] in ("s", "z") and atoms[i + 1] in ("e", "a"):
            atoms[i] = _ISE_ATOM


def _plural(text: str) -> tuple[str, str]:
    """(stem, plural ending regex) for the last word; (text, "") when it takes none."""
    last = _LAST_WORD.search(text)
    if last is None or len(last.group()) < 2:
        return text, ""
    if _ACRONYM.fullmatch(last.group()):
        return text, _ACRONYM_PLURAL
    word = last.group().lower()
    for ending, cut, pattern in _PLURALS:
        if word.endswith(ending):
            return text[: len(text) - cut], pattern
    return text, "s?"


_ACRONYM_PLURAL = "(?-i:s)?"
# (ending, letters to cut, what may replace them), first match wins.
_PLURALS: tuple[tuple[str, int, str], ...] = (
    ("us", 0, ""),  # calculus, Itô calculus: no plural worth matching
    ("ss", 0, "(?:es)?"),  # process, processes
    ("is", 2, "(?:is|es)"),  # analysis, analyses
    ("ix", 2, "(?:ix|ices|ixes)"),  # matrix, matrices
    ("ex", 2, "(?:ex|ices|exes)"),  # simplex, simplices
    ("x", 0, "(?:es)?"),
    ("ch", 0, "(?:es)?"),
    ("sh", 0, "(?:es)?"),
    ("s", 1, "s?"),  # names written in the plural also match the singular: "KKT conditions"
    ("um", 2, "(?:um|a|ums)"),  # equilibrium, equilibria
    ("rion", 2, "(?:on|a)"),  # criterion, criteria
    ("ay", 0, "s?"),
    ("ey", 0, "s?"),
    ("oy", 0, "s?"),
    ("y", 1, "(?:y|ies)"),  # inequality, inequalities
)


def _insert(trie: _Trie, atoms: list[str], index: int) -> None:
    node = trie
    for atom in atoms:
        node = node.setdefault(atom, {})
    node[_END] = index


def _render(node: _Trie, groups: list[int]) -> str:
    """The regex for a trie node: longer continuations first, the end of a name last.

    Alternation is ordered, so trying every continuation before "the name ends here" makes the
    longest name at a position win. Each end is an empty capturing group: ``match.lastindex`` tells
    which name matched, and ``groups`` maps that group number to a concept.
    """
    branches = []
    for atom in sorted(node, key=_branch_order):
        if atom == _END:
            groups.append(node[_END])
            branches.append(r"(?!\w)()")
        else:
            branches.append(atom + _render(node[atom], groups))
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


_PLURAL_ATOMS = frozenset(pattern for _, _, pattern in _PLURALS) | {"s?", _ACRONYM_PLURAL}


def _branch_order(atom: str) -> tuple[int, str]:
    if atom == _END:
        return (2, atom)
    if atom in _PLURAL_ATOMS:  # a plural ending: the name ends right after it
        return (1, atom)
    return (0, atom)
