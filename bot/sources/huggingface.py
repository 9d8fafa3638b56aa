"""Hugging Face Daily Papers: each day's community-picked arXiv papers, best first by upvotes.

A Hugging Face paper *is* an arXiv paper: its id on huggingface.co is the arXiv id, so every paper this
source returns is keyed by its version-less arXiv id, and a ``PaperRef`` it parses carries
``source="huggingface"`` with the arXiv id as ``key``. The engine dedupes by key, so the same paper seen
through arXiv and through Hugging Face is one paper; what Hugging Face adds (upvotes, comments, GitHub
repository, project page) rides on the ``Paper``.

Calendar: the list for a date grows during that date (an early refresh can hold a single paper), so a
day's batch is due only once it has settled, at ``settle_hour_utc`` on the next morning (UTC). The
current UTC day is never due.

Parsing is pure (``parse_daily_page``, ``parse_paper_object``) and runs in a worker thread. Anything that
is not the list we expect is a typed ``SourceError``, never a partial list: a non-list body, an error
object sent with HTTP 200, invalid or oversized or absurdly nested JSON, or a page whose entries are all
unusable. Single bad entries are skipped and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from difflib import get_close_matches
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

import httpx

from bot import bounds
from bot.errors import (
    BadIdError,
    ConfigError,
    FeedFormatError,
    NotFoundError,
    SourceError,
    UnknownCategoryError,
    UsageError,
)
from bot.ids import ArxivId, parse_arxiv_id
from bot.models import Paper
from bot.sources.base import Batch, FeedName, PaperRef
from bot.sources.polite import PoliteHttp
from bot.text import clean_text, strip_unsafe_chars

__all__ = [
    "DEFAULT_API_URL",
    "FEED",
    "FEED_ALIASES",
    "DailyPage",
    "HuggingFaceSource",
    "above_floor",
    "parse_daily_page",
    "parse_hf_ref",
    "parse_min_upvotes",
    "parse_paper_object",
    "parse_search_page",
    "rank_by_upvotes",
    "settled_day",
    "settles_at",
    "with_min_upvotes",
]

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://huggingface.co/api"
SERVICE = "Hugging Face"  # how messages name the service
SOURCE = "huggingface"
FEED = FeedName(SOURCE, "hf", "Hugging Face Daily Papers")
FEED_ALIASES = ("hf", "huggingface", "hf-daily")  # accepted spellings, canonical first

PAGE_SIZE = 100  # the API's largest page (``limit`` 1..100)
MAX_PAGES = 10  # a day has had well under 200 papers; 1,000 means the paging is not doing what we think
MAX_BODY_BYTES = 8 * 1024 * 1024  # a full page is ~300 KB
MAX_FLOOR = 1_000_000
MAX_URL_CHARS = 500

# Hosts a paper link on Hugging Face is written with; ``hf.co`` is Hugging Face's own short domain.
_HF_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
_HF_PAPER_PATH = re.compile(r"/papers/(?P<id>[0-9]{4}\.[0-9]{4,5}(?:v[0-9]+)?)/?")
_FLOOR = re.compile(r"min:\s*(?P<n>[0-9]{1,7})", re.IGNORECASE)  # [0-9], not \d: no look-alike digits
_SURROGATE = re.compile("[\ud800-\udfff]")
_WS = re.compile(r"\s+")
_HF_ISH = re.compile(r"^(?:hf|hugging)", re.IGNORECASE)


# ---------------------------------------------------------------- feed names and floors


def resolve_hf_feed(text: str) -> FeedName | None:
    """The Hugging Face feed ``text`` names (``hf``, ``huggingface``, ``hf-daily``, any case); None when
    ``text`` is not Hugging Face's at all; UnknownCategoryError when it looks like a misspelling of it."""
    wanted = text.strip().casefold()
    if wanted in FEED_ALIASES:
        return FEED
    if not wanted or not _looks_hf(wanted):
        return None
    raise UnknownCategoryError(
        f'"{_echo(text)}" is not a Hugging Face feed. Did you mean "hf" (Hugging Face Daily Papers)?', (FEED.name,)
    )


def _looks_hf(wanted: str) -> bool:
    return bool(_HF_ISH.match(wanted)) or bool(get_close_matches(wanted, FEED_ALIASES[1:], n=1, cutoff=0.8))


def complete_hf_feeds(prefix: str, limit: int = 25) -> tuple[FeedName, ...]:
    wanted = prefix.strip().casefold()
    if limit <= 0 or not any(alias.startswith(wanted) for alias in FEED_ALIASES):
        return ()
    return (FEED,)


def parse_min_upvotes(text: str) -> int:
    """The floor in ``min:10`` (a subscription option); UsageError saying what to type otherwise."""
    m = _FLOOR.fullmatch(text.strip())
    if m is None or int(m.group("n")) > MAX_FLOOR:
        raise UsageError(
            f'"{_echo(text)}" is not an upvote floor. Write min: and a whole number up to {MAX_FLOOR:,}, e.g. min:10.'
        )
    return int(m.group("n"))


def rank_by_upvotes(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """Best first by upvotes; ties keep Hugging Face's order (the sort is stable); unknown counts as 0."""
    return tuple(sorted(papers, key=lambda paper: -(paper.upvotes or 0)))


def above_floor(papers: Iterable[Paper], min_upvotes: int) -> tuple[Paper, ...]:
    """The papers with at least ``min_upvotes`` (unknown counts as 0), order kept. A per-subscription
    floor is applied with this on the shared batch."""
    if min_upvotes <= 0:
        return tuple(papers)
    return tuple(paper for paper in papers if (paper.upvotes or 0) >= min_upvotes)


# ---------------------------------------------------------------- calendar


def settled_day(now: datetime, settle_hour_utc: int) -> date:
    """The latest UTC date D whose list has settled at ``now``: now ≥ (D + 1 day) at settle_hour_utc:00 UTC.

    Never the current UTC date, whatever the hour. ``now`` must be aware: a naive one is a bug.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("settled_day needs an aware datetime")
    shifted = now.astimezone(UTC) - timedelta(hours=settle_hour_utc)
    return shifted.date() - timedelta(days=1)


def settles_at(day: date, settle_hour_utc: int) -> datetime:
    """When the list of ``day`` is complete: the next day at ``settle_hour_utc``:00 UTC."""
    return datetime.combine(day + timedelta(days=1), time(settle_hour_utc), tzinfo=UTC)


# ---------------------------------------------------------------- paper links


def parse_hf_ref(text: str) -> PaperRef | None:
    """``https://huggingface.co/papers/<arXiv id>`` (www. or hf.co, http or no scheme, a trailing slash,
    query or fragment, Slack's ``<url|label>``) as ``PaperRef("huggingface", <arXiv id>, version)``.

    The key is the version-less arXiv id, the paper's canonical key whatever source lists it. Anything
    else (including bare arXiv ids, which are arXiv's to parse) is None.
    """
    candidate = text.strip()
    if candidate.startswith("<") and candidate.endswith(">"):
        candidate = candidate[1:-1].split("|", 1)[0].strip()
    if not candidate or len(candidate) > MAX_URL_CHARS or "/papers/" not in candidate.lower():
        return None
    try:
        parts = urlsplit(candidate if "://" in candidate else f"//{candidate}")
        host = parts.hostname
    except ValueError:  # an unbalanced "[" reads as a broken IPv6 address
        return None
    if parts.scheme.lower() not in ("", "http", "https") or host not in _HF_HOSTS:
        return None
    m = _HF_PAPER_PATH.fullmatch(unquote(parts.path))
    ident = _arxiv_id(m.group("id")) if m else None
    if ident is None:
        return None
    return PaperRef(SOURCE, ident.id, ident.version)


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class DailyPage:
    """One page of ``/daily_papers``: the usable papers in Hugging Face's order, and how many entries the
    page held (usable or not), which is what tells a full page from the last one."""

    papers: tuple[Paper, ...]
    entries: int


def parse_daily_page(data: bytes, day: date) -> DailyPage:
    """Parse one ``/daily_papers`` answer for ``day``. Raises SourceError (FeedFormatError for a shape we
    do not know); entries we cannot use are skipped and logged, but a page of only those is an error."""
    what = f"the daily papers of {day.isoformat()}"
    body = _load_json(data, what)
    if isinstance(body, dict) and "error" in body:
        raise _error_answer(body, what)
    if not isinstance(body, list):
        raise _unreadable(what, f"a JSON {_json_kind(body)} instead of a list")
    papers: list[Paper] = []
    skipped: list[str] = []
    for entry in body:
        paper, problem = _entry_paper(entry, day)
        if paper is not None:
            papers.append(paper)
        else:
            skipped.append(problem)
    if skipped:
        # One line per page, not per entry: a hostile page of 100,000 bad entries must not flood the log.
        log.warning(
            "%s: skipped %d of %d entries of %s (first: %s)", SERVICE, len(skipped), len(body), what, skipped[0]
        )
    if body and not papers:
        raise _unreadable(what, f"none of its {len(body)} entries is a paper we can read")
    return DailyPage(tuple(papers), len(body))


def parse_paper_object(data: bytes, wanted: str) -> Paper:
    """Parse one ``/papers/<id>`` answer (a paper object) for the arXiv id ``wanted``."""
    what = f"paper {wanted}"
    body = _load_json(data, what)
    if isinstance(body, dict) and "error" in body:
        raise _error_answer(body, what)
    if not isinstance(body, dict):
        raise _unreadable(what, f"a JSON {_json_kind(body)} instead of a paper")
    paper, problem = _paper(body, None, body.get("numComments"), None)
    if paper is None:
        raise _unreadable(what, problem)
    if paper.id != wanted:
        raise _unreadable(what, f"it describes paper {paper.id} instead")
    return paper


def parse_search_page(data: bytes, query: str) -> tuple[Paper, ...]:
    """Parse one ``/papers/search`` answer: a list whose entries are paper objects or, like the daily
    list, ``{paper: {...}}`` entries (both seen; read defensively). Unusable entries are skipped; a
    non-list body or an error object is a SourceError."""
    what = f"the search for {_echo(query, 60)}"
    body = _load_json(data, what)
    if isinstance(body, dict) and "error" in body:
        raise _error_answer(body, what)
    if not isinstance(body, list):
        raise _unreadable(what, f"a JSON {_json_kind(body)} instead of a list")
    papers: dict[str, Paper] = {}
    skipped = 0
    for entry in body:
        obj = entry.get("paper") if isinstance(entry, dict) and isinstance(entry.get("paper"), dict) else entry
        if not isinstance(obj, dict):
            skipped += 1
            continue
        try:
            outer = entry if isinstance(entry, dict) else {}
            paper, _ = _paper(obj, outer.get("title"), outer.get("numComments", obj.get("numComments")), None)
        except Exception:  # one odd entry must not cost the others
            paper = None
        if paper is None:
            skipped += 1
        elif paper.id not in papers:
            papers[paper.id] = paper
    if skipped:
        log.info("%s: skipped %d of %d entries of %s", SERVICE, skipped, len(body), what)
    return tuple(papers.values())


def _load_json(data: bytes, what: str) -> Any:
    if len(data) > MAX_BODY_BYTES:
        raise _unreadable(what, f"the answer is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise _unreadable(what, "the answer was empty")
    try:
        return json.loads(data)
    except RecursionError:
        raise _unreadable(what, "the JSON is nested too deeply") from None
    except ValueError:  # JSONDecodeError, bad UTF-8, integers too long to convert
        head = data.lstrip()[:15].lower()
        problem = "a web page instead of JSON" if head.startswith((b"<!doctype", b"<html")) else "invalid JSON"
        raise _unreadable(what, problem) from None


def _entry_paper(entry: Any, day: date) -> tuple[Paper | None, str]:
    if not isinstance(entry, dict):
        return None, f"a JSON {_json_kind(entry)} instead of an object"
    paper = entry.get("paper")
    if not isinstance(paper, dict):
        return None, "no paper object"
    try:
        return _paper(paper, entry.get("title"), entry.get("numComments"), day)
    except Exception as exc:  # something we did not foresee in one entry must not cost the whole day
        return None, _short(repr(exc))


def _paper(obj: dict[str, Any], title_fallback: Any, comments: Any, day: date | None) -> tuple[Paper | None, str]:
    ident = _arxiv_id(obj.get("id"))
    if ident is None:
        return None, f"no valid arXiv id (id {_short(repr(obj.get('id')))})"
    title = clean_text(_text(obj.get("title")) or _text(title_fallback) or "")
    if not title:
        return None, f"paper {ident.id} has no title"
    summary = _text(obj.get("summary")) or ""
    return (
        Paper(
            id=ident.id,
            version=ident.version or 1,  # Hugging Face does not say which version it lists
            title=title,
            authors=_authors(obj.get("authors")),
            categories=(),  # Hugging Face does not know arXiv's categories
            primary_category="",
            abstract=clean_text(summary),
            abstract_tex=_WS.sub(" ", summary).strip(),
            announced=day,
            source=SOURCE,
            upvotes=_count(obj.get("upvotes"), "upvotes"),
            num_comments=_count(comments, "numComments"),
            github_url=_github_url(obj.get("githubRepo")),
            project_url=_https_url(obj.get("projectPage")),
        ),
        "",
    )


def _arxiv_id(value: Any) -> ArxivId | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_arxiv_id(_text(value) or "")
    except BadIdError:
        return None


def _authors(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = (clean_text(_text(author.get("name")) or "") for author in value if isinstance(author, dict))
    return tuple(name for name in names if name)


def _count(value: Any, field: str) -> int | None:
    # bool is an int in Python, and JSON's true is not a count; floats (1e400, NaN) are not counts either;
    # a count beyond any real one (1e30 written as a JSON integer) is clamped before it reaches the store.
    return bounds.count(value, f"Hugging Face {field}")


def _github_url(value: Any) -> str | None:
    url = _https_url(value)
    if url is None:
        return None
    parts = urlsplit(url)
    owner_repo = [segment for segment in parts.path.split("/") if segment]
    return url if parts.netloc.lower() == "github.com" and len(owner_repo) >= 2 else None


def _https_url(value: Any) -> str | None:
    """An https link with a plain host, or None: links are shown to people, so nothing odd gets through."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    # ASCII only, no blanks or controls: a link that needs scrubbing was not written for people to follow.
    if not url or len(url) > MAX_URL_CHARS or not url.isascii():
        return None
    if any(char.isspace() or not char.isprintable() for char in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme != "https" or not host or "@" in parts.netloc:
        return None
    return url


def _text(value: Any) -> str | None:
    """A string value, or None. Lone surrogates (which UTF-8, the store and chat APIs cannot carry) become
    U+FFFD, and control, bidi and escape characters go."""
    if not isinstance(value, str):
        return None
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return strip_unsafe_chars(value)


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), "value")


def _error_answer(body: dict[str, Any], what: str) -> SourceError:
    # Hugging Face's own words go to the log only: they are untrusted text, and the user needs what to do.
    log.warning("%s answered with an error for %s: %s", SERVICE, what, _short(repr(body.get("error"))))
    return SourceError(f"{SERVICE} answered with an error instead of {what}; nothing was changed, try again later")


def _unreadable(what: str, problem: str) -> FeedFormatError:
    return FeedFormatError(f"{SERVICE} sent an answer we could not read for {what} ({problem}); nothing was changed")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _echo(text: str, limit: int = 40) -> str:
    flat = " ".join(strip_unsafe_chars(text).split()).replace("<", "").replace(">", "").replace('"', "")
    return f"{flat[:limit]}…" if len(flat) > limit else flat


# ---------------------------------------------------------------- the source


class HuggingFaceSource:
    """The ``Source`` for Hugging Face Daily Papers (``bot.sources.base.Source``).

    ``min_upvotes`` is the configured floor for every batch (``[sources.huggingface] min_upvotes``); a
    subscription's own ``min:N`` floor is applied by the caller with :func:`above_floor`, so one fetched
    batch serves every channel. Share one instance per process: its requests are paced together.
    """

    name = SOURCE
    display_name = SERVICE
    link_hosts: tuple[str, ...] = ("huggingface.co", "github.com")  # its paper pages, and the code links it lists

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        http: httpx.AsyncClient | None = None,
        min_upvotes: int = 0,
        settle_hour_utc: int = 6,
        min_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 2.0,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if isinstance(min_upvotes, bool) or not isinstance(min_upvotes, int) or not 0 <= min_upvotes <= MAX_FLOOR:
            raise ConfigError(f"[sources.huggingface] min_upvotes must be a whole number from 0 to {MAX_FLOOR:,}")
        if isinstance(settle_hour_utc, bool) or not isinstance(settle_hour_utc, int) or not 0 <= settle_hour_utc <= 23:
            raise ConfigError("[sources.huggingface] settle_hour_utc must be a whole hour from 0 to 23")
        if not 1 <= page_size <= PAGE_SIZE or max_pages < 1:
            raise ValueError(f"page_size must be 1..{PAGE_SIZE} and max_pages at least 1")
        self.api_url = api_url.rstrip("/")
        self.min_upvotes = min_upvotes
        self.settle_hour_utc = settle_hour_utc
        self._page_size = page_size
        self._max_pages = max_pages
        self._web = PoliteHttp(
            SERVICE,
            http=http,
            min_interval_s=min_interval_s,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )
        self._now: Callable[[], datetime] = now if now is not None else _utc_now

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._web.aclose()

    # -- feeds, calendar, ids

    def resolve_feed(self, text: str) -> FeedName | None:
        return resolve_hf_feed(text)

    def complete_feeds(self, prefix: str, limit: int = 25) -> Sequence[FeedName]:
        return complete_hf_feeds(prefix, limit)

    def batch_day(self, now: datetime) -> date | None:
        """The latest day whose list has settled (by default: yesterday, from 06:00 UTC on). The engine
        remembers which days it has posted; this never names a day still filling."""
        return settled_day(now, self.settle_hour_utc)

    def settles_at(self, day: date) -> datetime:
        return settles_at(day, self.settle_hour_utc)

    def expects_papers(self, feed: FeedName, day: date) -> bool:
        """Weekdays always have papers; weekends often have none."""
        return day.weekday() < 5

    def schedule_note(self) -> str:
        return "each day, with the latest day's list that has settled"

    def parse_ref(self, text: str) -> PaperRef | None:
        return parse_hf_ref(text)

    # -- fetching

    async def fetch_batch(self, feed: FeedName, day: date) -> Batch:
        """The settled list of ``day``, best first by upvotes, at or above ``min_upvotes``.

        A day not settled yet is refused (SourceError) without asking Hugging Face: its list is still
        growing, and a partial list must never become the day's digest.
        """
        if feed.source != SOURCE:
            raise ValueError(f"{feed.name} is not a Hugging Face feed")
        if self._now() < settles_at(day, self.settle_hour_utc):
            ready = settles_at(day, self.settle_hour_utc).strftime("%Y-%m-%d %H:%M UTC")
            raise SourceError(f"{SERVICE}'s list for {day.isoformat()} is still filling; it is complete after {ready}")
        papers = await self._fetch_day(day)
        return Batch(feed.name, day, above_floor(rank_by_upvotes(papers), self.min_upvotes))

    async def _fetch_day(self, day: date) -> list[Paper]:
        what = f"the daily papers of {day.isoformat()}"
        url = f"{self.api_url}/daily_papers"
        found: dict[str, Paper] = {}
        for page in range(self._max_pages):
            params = {"date": day.isoformat(), "limit": str(self._page_size), "p": str(page)}
            data = await self._get(url, params, what)
            parsed = await asyncio.to_thread(parse_daily_page, data, day)
            fresh = [paper for paper in parsed.papers if paper.id not in found]
            for paper in fresh:
                found[paper.id] = paper
            # A short page is the last one. A full page of papers we already have means the service
            # ignored the paging and sent its whole list again: we have it all.
            if parsed.entries < self._page_size or not fresh:
                return list(found.values())
        raise _unreadable(what, f"more than {self._max_pages} pages of {self._page_size}: the paging looks broken")

    async def fetch_paper(self, ref: PaperRef) -> Paper:
        """One paper's Hugging Face page data (upvotes, GitHub, project page), keyed by its arXiv id."""
        wanted = parse_arxiv_id(ref.key).id  # BadIdError before any request
        data = await self._get(f"{self.api_url}/papers/{quote(wanted, safe='')}", None, f"paper {wanted}")
        return await asyncio.to_thread(parse_paper_object, data, wanted)

    async def search(self, query: str, *, limit: int = 25) -> list[Paper]:
        """Hugging Face's paper search for ``query``, in its order, at most ``limit`` papers."""
        text = " ".join(query.split())[:MAX_URL_CHARS]
        if not text:
            return []
        data = await self._get(f"{self.api_url}/papers/search", {"q": text}, f"the search for {_echo(text, 60)}")
        papers = await asyncio.to_thread(parse_search_page, data, text)
        return list(papers[: max(0, limit)])

    async def _get(self, url: str, params: dict[str, str] | None, what: str) -> bytes:
        response = await self._web.get(url, params, what)
        if response.status_code == 404 and what.startswith("paper "):
            raise NotFoundError(
                f"{what.capitalize()} not found on {SERVICE}. Check the id: it may not be on Hugging Face Papers."
            )
        if not response.is_success:
            raise SourceError(f"{SERVICE} answered HTTP {response.status_code} for {what}; nothing was changed")
        return response.content


def with_min_upvotes(batch: Batch, min_upvotes: int) -> Batch:
    """``batch`` keeping only papers with at least ``min_upvotes``: a subscription's ``min:N`` floor."""
    return replace(batch, papers=above_floor(batch.papers, min_upvotes))


def _utc_now() -> datetime:
    return datetime.now(UTC)
