"""arXiv categories: lookup, validation, typo suggestions and autocomplete.

The category list is package data (``bot/data/taxonomy.json``, parsed from arXiv's own taxonomy
definitions) so lookups never touch the network and work from an installed wheel.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.errors import UnknownCategoryError
from bot.user_input import as_typed, common_prefix_length

TAXONOMY_URL = "https://arxiv.org/category_taxonomy"
MAX_INPUT = 60  # longer than any id or name worth matching; keeps difflib cheap on junk input
_ECHO_LEN = 40

# Archive names: the data file lists categories only, but the RSS feeds also accept a whole archive
# (rss.arxiv.org/rss/math). Names as arXiv's taxonomy gives them.
_ARCHIVE_NAMES = {
    "astro-ph": "Astrophysics",
    "cond-mat": "Condensed Matter",
    "cs": "Computer Science",
    "econ": "Economics",
    "eess": "Electrical Engineering and Systems Science",
    "math": "Mathematics",
    "nlin": "Nonlinear Sciences",
    "physics": "Physics",
    "q-bio": "Quantitative Biology",
    "q-fin": "Quantitative Finance",
    "stat": "Statistics",
}

# Retired archives and the category that took them over (arXiv's ARCHIVES_SUBSUMED). The data marks
# them inactive but does not say where they went, and "use math.AG" is the useful answer.
_SUBSUMED = {
    "acc-phys": "physics.acc-ph",
    "adap-org": "nlin.AO",
    "alg-geom": "math.AG",
    "ao-sci": "physics.ao-ph",
    "atom-ph": "physics.atom-ph",
    "bayes-an": "physics.data-an",
    "chao-dyn": "nlin.CD",
    "chem-ph": "physics.chem-ph",
    "cmp-lg": "cs.CL",
    "comp-gas": "nlin.CG",
    "dg-ga": "math.DG",
    "funct-an": "math.FA",
    "mtrl-th": "cond-mat.mtrl-sci",
    "patt-sol": "nlin.PS",
    "plasm-ph": "physics.plasm-ph",
    "q-alg": "math.QA",
    "solv-int": "nlin.SI",
    "supr-con": "cond-mat.supr-con",
}

# Shown first for an empty autocomplete box and preferred when suggestions tie: roughly arXiv's
# busiest listings, ML first because that is where most digest channels live.
POPULAR = (
    "cs.LG", "cs.AI", "cs.CL", "cs.CV", "stat.ML", "math.OC", "cs.RO", "cs.CR", "cs.IR", "cs.NE",
    "cs.DS", "cs.IT", "math.PR", "math.NA", "math.ST", "stat.ME", "quant-ph", "hep-th", "hep-ph",
    "gr-qc", "astro-ph.GA", "astro-ph.CO", "cond-mat.mtrl-sci", "eess.SP", "eess.SY", "q-bio.NC",
    "econ.EM", "q-fin.CP",
)  # fmt: skip

_ID_CUTOFF = 0.6  # below this an id is not "close"; cs.LF~cs.LG scores 0.8, unrelated ids < 0.5
_WORD_CUTOFF = 0.8  # per-word fuzzy match in names: "optimisation" ~ "optimization" = 0.92


@dataclass(frozen=True, slots=True)
class Category:
    id: str  # as arXiv writes it: cs.LG, hep-th, cond-mat.mtrl-sci; an archive id for a whole archive
    name: str
    active: bool
    archive: str


@cache
def all_categories() -> tuple[Category, ...]:
    """Every category in the data file, active or not, in file order."""
    return tuple(_to_category(row) for row in _load_rows())


def get(cat_id: str) -> Category | None:
    """The category with this id (exact, then ignoring case), active or not, else the whole archive.

    Rows of the data file win, so "astro-ph" gives arXiv's retired legacy category, not the archive;
    ``resolve`` is the one to use for user input.
    """
    cat_id = as_typed(cat_id[: MAX_INPUT * 4])
    lowered = cat_id.lower()
    return _by_id().get(cat_id) or _by_lower_id().get(lowered) or _archives().get(lowered)


def resolve(text: str) -> Category:
    """The active category (or whole archive) the user means, or UnknownCategoryError saying what to type."""
    query = as_typed(text[: MAX_INPUT * 4]).strip()
    if not query:
        raise UnknownCategoryError(f"Please name an arXiv category, like cs.LG or math.OC. See {TAXONOMY_URL}")
    if len(query) > MAX_INPUT:
        raise UnknownCategoryError(f"{_echo(query)} is not an arXiv category. See {TAXONOMY_URL}")
    found = get(query)
    if found is not None and found.active:
        return found
    archive = _archives().get(query.lower())
    if archive is not None:
        return archive
    if found is not None:
        raise _retired(found)
    raise _unknown(query)


def closest(text: str, n: int = 3) -> tuple[Category, ...]:
    """Up to ``n`` active categories or archives the user may have meant, best first.

    Scores each candidate by its id (typos, missing dot, wrong case) and by the words of its name
    ("machine learning", "optimisation"), keeping whichever is higher.
    """
    query = text.strip().lower()
    if not query or len(query) > MAX_INPUT or n <= 0:
        return ()
    words = _words(query)
    scored: list[tuple[float, int, int, str, Category]] = []
    for cat in _candidates():
        score = max(_id_score(query, cat.id), _name_score(words, cat.name))
        if score >= _ID_CUTOFF:
            # Ties are common (cs.LF is as close to cs.CL as to cs.LO); a typo usually keeps the start
            # of the id right, then prefer what people actually follow.
            scored.append((-score, -common_prefix_length(query, cat.id.lower()), _popularity(cat.id), cat.id, cat))
    scored.sort(key=lambda item: item[:4])
    return tuple(item[4] for item in scored[:n])


def complete(prefix: str, limit: int = 25) -> tuple[Category, ...]:
    """Choices for an autocomplete box: id prefix matches first, then name matches.

    An empty prefix lists the popular categories first. Archives are offered too, since
    ``resolve`` accepts them.
    """
    query = prefix.strip().lower()
    if limit <= 0:
        return ()
    if not query:
        return _popular_first()[:limit]
    by_id = [c for c in _candidates() if c.id.lower().startswith(query)]
    by_id.sort(key=lambda c: (c.id.lower() != query, _popularity(c.id), c.id.lower()))
    by_name = [c for c in _candidates() if query in c.name.lower() and c not in by_id]
    by_name.sort(key=lambda c: (not _starts_a_word(query, c.name), _popularity(c.id), c.id.lower()))
    return tuple(by_id + by_name)[:limit]


# --- loading ---------------------------------------------------------------------------------------


def _load_rows() -> list[dict[str, Any]]:
    # importlib.resources rather than a path next to __file__: works from a wheel or a zip import.
    raw = resources.files("bot").joinpath("data", "taxonomy.json").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = json.loads(raw)
    return rows


def _to_category(row: dict[str, Any]) -> Category:
    return Category(
        id=str(row["id"]),
        name=str(row["full_name"]),
        active=bool(row["is_active"]),
        archive=str(row["in_archive"]),
    )


@cache
def _by_id() -> dict[str, Category]:
    return {c.id: c for c in all_categories()}


@cache
def _by_lower_id() -> dict[str, Category]:
    return {c.id.lower(): c for c in all_categories()}


@cache
def _archives() -> dict[str, Category]:
    """Archives with several active categories, as pseudo-categories (single ones are categories)."""
    active_archives = {c.archive for c in all_categories() if c.active}
    return {
        archive: Category(id=archive, name=name, active=True, archive=archive)
        for archive, name in _ARCHIVE_NAMES.items()
        if archive in active_archives
    }


@cache
def _candidates() -> tuple[Category, ...]:
    """What we suggest and complete: everything ``resolve`` accepts."""
    active = tuple(c for c in all_categories() if c.active)
    return active + tuple(_archives().values())


@cache
def _popular_first() -> tuple[Category, ...]:
    rest = sorted(_candidates(), key=lambda c: (_popularity(c.id), c.id.lower()))
    return tuple(rest)


# --- errors ----------------------------------------------------------------------------------------


def _retired(cat: Category) -> UnknownCategoryError:
    replacement = get(_SUBSUMED.get(cat.id, ""))
    if replacement is not None and replacement.active:
        return UnknownCategoryError(
            f"{cat.id} is no longer used by arXiv; it is now {_label(replacement)}. Use {replacement.id}.",
            suggestions=(replacement.id,),
        )
    suggestions = closest(cat.name)
    hint = f" Did you mean {_labels(suggestions)}?" if suggestions else ""
    return UnknownCategoryError(
        f"{cat.id} is no longer used by arXiv.{hint} See {TAXONOMY_URL}",
        suggestions=tuple(c.id for c in suggestions),
    )


def _unknown(query: str) -> UnknownCategoryError:
    suggestions = closest(query)
    hint = f" Did you mean {_labels(suggestions)}?" if suggestions else ""
    return UnknownCategoryError(
        f"{_echo(query)} is not an arXiv category.{hint} See {TAXONOMY_URL}",
        suggestions=tuple(c.id for c in suggestions),
    )


def _label(cat: Category) -> str:
    return f"{cat.id} ({cat.name})"


def _labels(cats: tuple[Category, ...]) -> str:
    return ", ".join(_label(c) for c in cats)


def _echo(text: str) -> str:
    """The user's input, quoted and cut short, safe to put back into a chat message."""
    flat = " ".join(text.split()).replace("<", "").replace(">", "")
    return f'"{flat[:_ECHO_LEN]}…"' if len(flat) > _ECHO_LEN else f'"{flat}"'


# --- scoring ---------------------------------------------------------------------------------------


def _id_score(query: str, cat_id: str) -> float:
    lowered = cat_id.lower()
    # Users drop the dot or the dash ("cslg", "hepth"), so also compare with punctuation removed; but
    # unless that is an exact hit, discount it so "maths" stays nearer math than math.ST.
    squashed_query, squashed_id = _squash(query), _squash(lowered)
    squashed = 1.0 if squashed_query == squashed_id else 0.95 * _ratio(squashed_query, squashed_id)
    return max(_ratio(query, lowered), squashed)


def _name_score(words: tuple[str, ...], name: str) -> float:
    """Mean best fuzzy match of each query word among the name's words; 0 if any word is missing."""
    name_words = _words(name.lower())
    if not words or not name_words:
        return 0.0
    best = [max(_ratio(w, nw) for nw in name_words) for w in words]
    if min(best) < _WORD_CUTOFF:
        return 0.0
    # Slightly prefer names the query covers fully ("Machine Learning" over "... Machine Learning and X").
    coverage = len(words) / max(len(words), len(name_words))
    return sum(best) / len(best) * (0.9 + 0.1 * coverage)


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text)


_STOPWORDS = frozenset({"and", "of", "in", "the", "for", "other", "general"})


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in re.findall(r"[a-z0-9]+", text) if len(w) > 1 and w not in _STOPWORDS)



def _popularity(cat_id: str) -> int:
    try:
        return POPULAR.index(cat_id)
    except ValueError:
        return len(POPULAR)


def _starts_a_word(query: str, name: str) -> bool:
    return re.search(rf"(?:^|\W){re.escape(query)}", name.lower()) is not None
