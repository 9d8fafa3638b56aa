"""api.biorxiv.org ``details`` answers, parsed: pure functions, run in a worker thread by ``biorxiv``.

Abstracts get their run-in headings set apart and withdrawn versions are marked in their title
(``bot.sources.preprint_abstracts``). Every field is read defensively (the API sends numbers as numbers
or strings, "NA" for nothing, days as 2026-6-30) and made safe to store and show; a body that is not a
complete ``details`` answer is a FeedFormatError, and one unreadable item is skipped (logged) rather
than costing the whole day.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from bot import bounds
from bot.errors import FeedFormatError, SourceError
from bot.models import Paper
from bot.sources.preprint_abstracts import is_withdrawal, mark_withdrawn, separate_headings
from bot.text import clean_text, strip_unsafe_chars

__all__ = [
    "JATS_HOSTS",
    "MAX_BODY_BYTES",
    "DetailsPage",
    "api_int",
    "jats_url",
    "normal_doi",
    "parse_api_date",
    "parse_details",
    "short",
    "split_authors",
    "subject_key",
    "unreadable",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024  # a real page of 100 items is about 300 KB
_MAX_TITLE = 2_000
_MAX_ABSTRACT = 60_000
_MAX_AUTHOR_FIELD = 300_000
_MAX_AUTHORS = 5_000

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_API_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
DOI = re.compile(r"^10\.\d{4,9}/\S{1,200}$")
# Where a ``jatsxml`` link may point: the servers' own content hosts, never anywhere the answer names.
JATS_HOSTS = frozenset({"www.biorxiv.org", "biorxiv.org", "www.medrxiv.org", "medrxiv.org"})
_JATS_PATH = re.compile(r"^/content/[A-Za-z0-9/._-]{1,200}\.xml$")
_DOI_PREFIX = re.compile(r"^\s*(?:doi:\s*|(?:https?://)?(?:dx\.)?doi\.org/)", re.I)


def subject_key(text: str) -> str:
    """A subject as feed names write it: "Cancer Biology", "cancer-biology", "HIV/AIDS" -> cancer_biology,
    hiv_aids. The API's ``category`` field goes through here too."""
    return _NON_WORD.sub("_", text.casefold().replace("&", " and ")).strip("_")


@dataclass(frozen=True, slots=True)
class DetailsPage:
    """One ``details`` answer: its first message and the papers of its collection, every version."""

    status: str  # "ok", or what the API said instead, lower case
    cursor: int | None
    count: int | None
    total: int | None
    received: int  # len(collection), readable items or not
    papers: tuple[Paper, ...]
    # (doi, version, url) of each readable item's JATS XML, when the answer names a usable one.
    jats_urls: tuple[tuple[str, int, str], ...] = ()


def parse_details(data: bytes, server: str, what: str) -> DetailsPage:
    """Parse one api.biorxiv.org ``details`` answer for ``server``; FeedFormatError if it is not one."""
    try:
        return _parse_details(data, server)
    except _Unreadable as err:
        raise unreadable(what, str(err)) from None
    except SourceError:
        raise
    except Exception as exc:  # a conversion we did not foresee: still typed, never a traceback
        log.warning("unreadable %s answer for %s: %s", server, what, short(repr(exc)))
        raise unreadable(what, "the answer could not be parsed") from None


class _Unreadable(Exception):
    pass


def _parse_details(data: bytes, server: str) -> DetailsPage:
    if len(data) > MAX_BODY_BYTES:
        raise _Unreadable(f"the answer is larger than {MAX_BODY_BYTES // 1_000_000} MB")
    try:
        body = json.loads(data)
    except RecursionError:
        raise _Unreadable("the answer is nested too deeply") from None
    except ValueError:  # invalid JSON or invalid UTF-8
        raise _Unreadable("the answer is not JSON") from None
    if not isinstance(body, dict):
        raise _Unreadable("the answer is not a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise _Unreadable("the answer has no messages")
    message: dict[str, Any] = messages[0]
    status = _collapse(_text(message.get("status")) or "").casefold()
    collection = body.get("collection", [] if status != "ok" else None)
    if not isinstance(collection, list):
        raise _Unreadable("the answer has no collection list")
    papers = tuple(p for p in (_paper_or_none(item, server) for item in collection) if p is not None)
    jats = tuple(found for found in (_jats_of(item) for item in collection) if found is not None)
    return DetailsPage(
        status=status,
        cursor=api_int(message.get("cursor")),
        count=api_int(message.get("count")),
        total=api_int(message.get("total")),
        received=len(collection),
        papers=papers,
        jats_urls=jats,
    )


def _jats_of(item: Any) -> tuple[str, int, str] | None:
    if not isinstance(item, dict):
        return None
    doi, url = normal_doi(item.get("doi")), jats_url(item.get("jatsxml"))
    version = api_int(item.get("version"), "bioRxiv version", bounds.MAX_VERSION)
    return (doi, version, url) if doi is not None and version is not None and url is not None else None


def jats_url(value: Any) -> str | None:
    """A ``jatsxml`` link as https on a bioRxiv/medRxiv content host with a plain path, else None."""
    text = _text(value)
    if not text or len(text) > 300:
        return None
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or host not in JATS_HOSTS or parts.query or parts.port is not None:
        return None
    if parts.username or parts.password or not _JATS_PATH.match(parts.path) or ".." in parts.path:
        return None
    return f"https://{host}{parts.path}"


def _paper_or_none(item: Any, server: str) -> Paper | None:
    """One item as a Paper, or None (logged): one garbled item must not cost the day, as in arXiv's feed."""
    if not isinstance(item, dict):
        log.warning("skipping a %s item that is not an object", server)
        return None
    doi = normal_doi(item.get("doi"))
    version = api_int(item.get("version"), "bioRxiv version", bounds.MAX_VERSION)
    if doi is None or version is None or version < 1:
        log.warning("skipping a %s item without a DOI and version (%s)", server, short(repr(item.get("doi"))))
        return None
    subject = subject_key(_text(item.get("category")) or "")
    abstract = separate_headings(_collapse((_text(item.get("abstract")) or "")[:_MAX_ABSTRACT]))
    title = clean_text((_text(item.get("title")) or "")[:_MAX_TITLE])
    if is_withdrawal(_text(item.get("type")) or "", title, abstract):
        title = mark_withdrawn(title)  # a digest leaves it out; an explanation says so first
    return Paper(
        id=doi,
        version=version,
        title=title,
        authors=split_authors(_text(item.get("authors")) or ""),
        categories=(subject,) if subject else (),
        primary_category=subject,
        abstract=clean_text(abstract),
        abstract_tex=abstract,
        announced=parse_api_date(_text(item.get("date"))),
        doi=doi,
        source=server,
        published_doi=normal_doi(item.get("published")),
        page_url=(page := f"https://www.{server}.org/content/{doi}v{version}"),
        pdf_link=f"{page}.full.pdf",
        html_link=f"{page}.full",
    )


def split_authors(raw: str) -> tuple[str, ...]:
    """ "Gomez Cuautle, D. D.; Rossi, A. R." -> two names; the API separates authors with semicolons."""
    parts = raw[:_MAX_AUTHOR_FIELD].split(";", _MAX_AUTHORS)[:_MAX_AUTHORS]
    return tuple(name for name in (clean_text(part) for part in parts) if name)


def parse_api_date(value: str | None) -> date | None:
    """The API writes days as 2025-01-01 and sometimes 2026-6-30: read them as dates, never as text."""
    match = _API_DATE.match(value or "")
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def normal_doi(value: Any) -> str | None:
    """A DOI in lower case without prefix ("NA" and anything else that is not a DOI: None)."""
    text = _DOI_PREFIX.sub("", _text(value) or "").strip().lower()
    return text if DOI.match(text) else None


def api_int(value: Any, field: str = "bioRxiv number", high: int = bounds.MAX_COUNT) -> int | None:
    """An int the API may send as a number or a string ("57"), from 0 to ``high``; None for anything else."""
    return bounds.whole_number(value, field, 0, high)


def _text(value: Any) -> str | None:
    """A string field made safe to store and show (no lone surrogate, control or bidi character)."""
    return strip_unsafe_chars(value) if isinstance(value, str) else None


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def unreadable(what: str, problem: str) -> FeedFormatError:
    """``what`` names the service and the request: "the bioRxiv posts of 2026-06-30"."""
    return FeedFormatError(f"We could not read the answer for {what} ({problem}); nothing was changed")
