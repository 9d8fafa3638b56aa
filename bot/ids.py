"""arXiv identifiers: turn whatever a user pasted into one canonical id.

Accepted: new-style ids (``0704.0001``, ``2604.11422v2``), old-style ids (``hep-th/9901001``,
``math.GT/0309136``), an ``arXiv:`` prefix, arxiv.org abs/pdf/html links, arXiv's own DOIs
(``10.48550/arXiv.2508.13219``, bare, ``doi:`` or a doi.org link), links to the sites that show arXiv papers
under their id (alphaxiv.org, ar5iv, Semantic Scholar's and SciRate's arxiv pages), and Slack's
``<url|label>`` link wrapping. What people paste comes with what surrounds it in a sentence: quotes,
brackets and a trailing period or comma are not part of an id (:func:`tidy_pasted`).
Validation follows arXiv's scheme (help/arxiv_identifier): 4-digit numbers from
0704 to 1412, 5-digit from 1501, old style from 9108 to 0703 with a known archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urlsplit

from bot import taxonomy
from bot.errors import BadIdError
from bot.user_input import as_typed

ACCEPTED_FORMS = (
    "2604.11422, 2604.11422v2, arXiv:2604.11422, an arxiv.org/abs/… link, arXiv's DOI 10.48550/arXiv.2604.11422,"
    " or an old-style id like math/0601001"
)
MAX_INPUT = 200
_ECHO_LEN = 40

# Patterns say [0-9], not \d, which would also take Arabic-Indic or full-width digits.
_PREFIX = re.compile(r"^arxiv:\s*", re.IGNORECASE)
_VERSION = r"(?:[vV](?P<version>[1-9][0-9]{0,3}))?"  # v0 and a bare "v" are not versions
_NEW_STYLE = re.compile(rf"(?P<yymm>[0-9]{{4}})\.(?P<num>[0-9]{{4,5}}){_VERSION}")
_OLD_STYLE = re.compile(
    r"(?P<archive>[a-zA-Z]+(?:-[a-zA-Z]+)?)"  # hep-th, math, cond-mat
    r"(?:\.(?P<subject>[a-zA-Z]{2}))?"  # optional subject class: math.GT
    r"/(?P<yymm>[0-9]{4})(?P<num>[0-9]{3})" + _VERSION
)
_URL_PATH = re.compile(r"/(?:abs|pdf|html)/(?P<id>.+?)(?:\.pdf)?/?", re.IGNORECASE)
# arXiv registers a DOI for every paper: 10.48550/arXiv.<id> (new-style ids; old ones with their archive).
_ARXIV_DOI = re.compile(
    r"(?:doi:\s*|(?:https?://)?(?:dx\.)?doi\.org/)?10\.48550/arxiv\.(?P<id>\S+?)/?", re.IGNORECASE
)
# Sites that show an arXiv paper at a path ending in its id, by host (subdomains included).
_MIRROR_PATHS = {
    "alphaxiv.org": re.compile(r"/(?:abs|overview|pdf|html|paper)/(?P<id>.+?)(?:\.pdf)?/?", re.IGNORECASE),
    "ar5iv.org": _URL_PATH,
    "ar5iv.labs.arxiv.org": _URL_PATH,
    "semanticscholar.org": re.compile(r"/arxiv/(?P<id>.+?)/?", re.IGNORECASE),
    "scirate.com": re.compile(r"/arxiv/(?P<id>.+?)/?", re.IGNORECASE),
}
# Around a pasted id in a sentence: quotes, brackets, backticks; after it, sentence punctuation.
_WRAPPERS = (("\"", "\""), ("'", "'"), ("`", "`"), ("(", ")"), ("[", "]"), ("“", "”"), ("‘", "’"), ("«", "»"))
_TRAILING_PUNCTUATION = ".,;:!?…"

# Archives that started after the old scheme ended (2007-03), so no old-style id can use them.
_NEW_SCHEME_ONLY_ARCHIVES = frozenset({"stat", "q-fin", "econ", "eess"})


@dataclass(frozen=True, slots=True)
class ArxivId:
    id: str  # version-less canonical id: 2604.11422, math/0601001 (subject class dropped, as arXiv does)
    version: int | None = None  # None when the user gave no version

    def __str__(self) -> str:
        return self.id if self.version is None else f"{self.id}v{self.version}"


def parse_arxiv_id(text: str) -> ArxivId:
    """The arXiv id in ``text``, in any accepted form; BadIdError with a usable message otherwise."""
    text = as_typed(text[: MAX_INPUT * 4])  # cut first: normalising a 100 KB paste is wasted work
    candidate = text.strip()
    if not candidate:
        raise BadIdError(f"Please give an arXiv id. Try {ACCEPTED_FORMS}.")
    if len(candidate) > MAX_INPUT:
        raise _bad(candidate)
    candidate = tidy_pasted(_unwrap_slack_link(tidy_pasted(candidate)))
    doi = _ARXIV_DOI.fullmatch(candidate)
    if doi is not None:
        candidate = doi.group("id")
    candidate = _PREFIX.sub("", candidate)
    found = _match_id(candidate) or _match_url(candidate)
    if found is None:
        raise _bad(text)
    return found


def tidy_pasted(text: str) -> str:
    """``text`` without what a sentence puts around an id or a link: surrounding quotes, brackets and
    backticks (``"2508.13219"``, ``(2508.13219)``) and trailing punctuation (``2508.13219.``). Never
    touches the inside, so every form that parses without them parses the same with them."""
    candidate = text.strip()
    for _ in range(4):  # "(2508.13219)." : a few layers at most
        before = candidate
        candidate = candidate.rstrip(_TRAILING_PUNCTUATION).strip()
        for opener, closer in _WRAPPERS:
            if len(candidate) > 1 and candidate.startswith(opener) and candidate.endswith(closer):
                candidate = candidate[1:-1].strip()
        if candidate.endswith(")") and "(" not in candidate:  # "see 2508.13219)" from a parenthesis
            candidate = candidate[:-1].strip()
        if candidate == before:
            break
    return candidate


def looks_like_arxiv_id(text: str) -> bool:
    """True if ``parse_arxiv_id`` would accept ``text``; never raises."""
    try:
        parse_arxiv_id(text)
    except BadIdError:
        return False
    return True


def _unwrap_slack_link(text: str) -> str:
    # Slack sends pasted links as <url> or <url|label>; the url part is the reliable one.
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1].split("|", 1)[0].strip()
    return text


def _match_url(text: str) -> ArxivId | None:
    # urlsplit only finds the host after "//", and users often paste links without a scheme.
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 address
        return None
    if parts.scheme.lower() not in ("", "http", "https") or host is None:
        return None
    pattern = _URL_PATH if _is_arxiv_host(host) else _mirror_path(host)
    path = pattern.fullmatch(unquote(parts.path)) if pattern is not None else None
    return _match_id(path.group("id")) if path else None


def _mirror_path(host: str) -> re.Pattern[str] | None:
    for mirror, pattern in _MIRROR_PATHS.items():
        if host == mirror or host.endswith("." + mirror):
            return pattern
    return None


def _is_arxiv_host(host: str | None) -> bool:
    # arxiv.org, www., export. and the national mirrors (xx.arxiv.org) all serve the same papers.
    return host is not None and (host == "arxiv.org" or host.endswith(".arxiv.org"))


def _match_id(text: str) -> ArxivId | None:
    return _match_new_style(text) or _match_old_style(text)


def _match_new_style(text: str) -> ArxivId | None:
    m = _NEW_STYLE.fullmatch(text)
    if m is None or not _valid_new_number(m.group("yymm"), m.group("num")):
        return None
    return ArxivId(f"{m.group('yymm')}.{m.group('num')}", _version(m.group("version")))


def _valid_new_number(yymm: str, num: str) -> bool:
    # The new scheme began 0704 with 4 digits and switched to 5 digits with 1501 (no overlap).
    month, period = int(yymm[2:]), int(yymm)
    if not 1 <= month <= 12 or int(num) == 0:
        return False
    return 704 <= period <= 1412 if len(num) == 4 else period >= 1501


def _match_old_style(text: str) -> ArxivId | None:
    m = _OLD_STYLE.fullmatch(text)
    if m is None:
        return None
    archive = m.group("archive").lower()
    if archive not in _old_style_archives() or not _valid_subject(archive, m.group("subject")):
        return None
    if not _valid_old_number(m.group("yymm"), m.group("num")):
        return None
    # arXiv's canonical form drops the subject class: math.GT/0309136 is math/0309136.
    return ArxivId(f"{archive}/{m.group('yymm')}{m.group('num')}", _version(m.group("version")))


def _valid_subject(archive: str, subject: str | None) -> bool:
    return subject is None or taxonomy.get(f"{archive}.{subject.upper()}") is not None


def _valid_old_number(yymm: str, num: str) -> bool:
    # Old-style ids ran from 1991-08 to 2007-03; compare as YYYYMM so 9108 < 0001.
    year, month = int(yymm[:2]), int(yymm[2:])
    full = (1900 + year if year >= 91 else 2000 + year) * 100 + month
    return 1 <= month <= 12 and 199108 <= full <= 200703 and int(num) > 0


@cache
def _old_style_archives() -> frozenset[str]:
    """Archive names an old-style id may start with, taken from the category data (read once)."""
    archives = {c.archive for c in taxonomy.all_categories()} - {"test"}
    return frozenset(archives - _NEW_SCHEME_ONLY_ARCHIVES)


def _version(raw: str | None) -> int | None:
    return int(raw) if raw else None


def _bad(text: str) -> BadIdError:
    return BadIdError(f"{_echo(text)} is not an arXiv id. Try {ACCEPTED_FORMS}.")


def _echo(text: str) -> str:
    """The user's input, quoted and cut short, safe to put back into a chat message."""
    flat = " ".join(text.split()).replace("<", "").replace(">", "")
    return f'"{flat[:_ECHO_LEN]}…"' if len(flat) > _ECHO_LEN else f'"{flat}"'
