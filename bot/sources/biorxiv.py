"""bioRxiv and medRxiv: one ``PreprintSource`` class, one instance per server, both read from api.biorxiv.org.

Feeds are ``biorxiv`` / ``medrxiv`` (every subject) and ``biorxiv:<subject>`` with the API's subject in
lower case, spaces as underscores (``biorxiv:cancer_biology``). The subject lists are small and fixed,
shipped as package data (``bot/data/biorxiv_subjects.json``).

Calendar: both servers post every day, weekends included. The API's ``date`` is a calendar day without a
time zone; we take the batch for day D as complete once D is over in UTC (``settle_hour_utc`` hours later,
0 by default), so ``batch_day(now)`` is yesterday (UTC).

A day is read with ``/details/{server}/{D}/{D}/{cursor}``, paging on ``messages[0]`` cursor/count/total
(total is often a string). The page size is never assumed: the cursor advances by the items actually
received. Only first versions are news; revisions and withdrawn preprints are skipped. Any answer we
cannot fully account for is a typed ``SourceError`` and nothing of the day is returned, so a partial
list is never posted.
Answers are parsed in a worker thread by ``bot.sources.preprint_details`` (pure functions).

Paper references: a DOI alone (``10.1101/2024.12.31.630767``, ``doi:…``, ``https://doi.org/…``) does not
say which server holds it, so only the bioRxiv instance claims bare DOIs, and ``fetch_paper`` of either
instance asks the other server when its own does not know the DOI. Content links
(``https://www.medrxiv.org/content/10.1101/…v1.full``) are claimed by the instance of their host.
``parse_preprint_ref`` does the same parsing without an instance.

Full text: each details item names its version's JATS XML (``jatsxml``). The links of every answer read
are remembered (bounded); ``fetch_jats`` asks the API for the DOI when the version's link is not known yet,
then fetches the file through the same polite connection, within ``MAX_JATS_BYTES``. Only a link on the
servers' own content hosts is followed (``content_url``, for a proxy or a test, replaces its origin).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import httpx

from bot.errors import BadIdError, NotFoundError, SourceError, UnknownCategoryError
from bot.jats import MAX_JATS_BYTES
from bot.models import Paper
from bot.sources.base import Batch, FeedName, PaperRef
from bot.sources.polite import PoliteHttp, ResponseTooLarge
from bot.sources.preprint_abstracts import is_marked_withdrawn
from bot.sources.preprint_details import (
    DOI,
    DetailsPage,
    parse_details,
    subject_key,
    unreadable,
)
from bot.sources.preprint_subjects import SERVERS
from bot.sources.preprint_subjects import closest_subjects as _closest
from bot.sources.preprint_subjects import near as _close
from bot.sources.preprint_subjects import servers as _servers
from bot.text import strip_unsafe_chars

__all__ = [
    "DEFAULT_API_URL",
    "SERVERS",
    "PreprintSource",
    "ServiceMessageError",
    "parse_details",
    "parse_preprint_ref",
    "preprint_sources",
    "subject_key",
]

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.biorxiv.org"
BARE_DOI_SERVER = "biorxiv"  # the instance that claims a DOI given without a server's link
NOTHING_POSTED = "no posts found"  # the API's status for an interval (or cursor) holding nothing

MAX_ITEMS_PER_DAY = 20_000  # both servers together post well under 1,000 a day, revisions included
MAX_PAGES = 400
MAX_JATS_LINKS = 20_000  # remembered jatsxml links: a few days of both servers
_MAX_INPUT = 80  # feed names and refs longer than this are junk; keeps difflib cheap
_ECHO_LEN = 40

# bioRxiv/medRxiv DOI suffixes: 2024.12.31.630767 since December 2019, six digits (006569) before.
_SUFFIX = r"(?P<suffix>\d{4}\.\d{2}\.\d{2}\.\d{5,9}|\d{6,9})(?:v(?P<version>\d{1,3}))?"
_BARE_REF = re.compile(rf"^(?:doi:\s*|(?:https?://)?(?:dx\.)?doi\.org/)?10\.1101/{_SUFFIX}/?$", re.I)
_LINK_REF = re.compile(
    r"^(?:https?://)?(?:www\.)?(?P<server>biorxiv|medrxiv)\.org/(?:cgi/)?content/"
    rf"(?:early/\d{{4}}/\d{{1,2}}/\d{{1,2}}/|10\.1101/){_SUFFIX}(?:[.+][a-z-]+)*/?$",
    re.I,
)


class ServiceMessageError(SourceError):
    """HTTP 200 whose ``messages[0].status`` is neither "ok" nor the API's "nothing posted" message."""


# ---------------------------------------------------------------- subjects


# ---------------------------------------------------------------- references


def _parse_ref(text: str) -> tuple[PaperRef, bool] | None:
    """The ref and whether its server is known (a content link) rather than guessed (a bare DOI)."""
    candidate = text.strip()
    if candidate.startswith("<") and candidate.endswith(">"):  # Slack wraps links: <url> or <url|label>
        candidate = candidate[1:-1].partition("|")[0]
    candidate = candidate.partition("#")[0].partition("?")[0].strip()
    if not candidate or len(candidate) > 2 * _MAX_INPUT:
        return None
    link = _LINK_REF.match(candidate)
    if link is not None:
        return _ref(link.group("server").lower(), link), True
    bare = _BARE_REF.match(candidate)
    if bare is not None:
        return _ref(BARE_DOI_SERVER, bare), False
    return None


def _ref(server: str, match: re.Match[str]) -> PaperRef:
    version = match.group("version")
    return PaperRef(server, f"10.1101/{match.group('suffix')}", int(version) if version else None)


def parse_preprint_ref(text: str) -> PaperRef | None:
    """A bioRxiv/medRxiv DOI or content link as a ref (source "biorxiv" for a bare DOI), else None."""
    parsed = _parse_ref(text)
    return parsed[0] if parsed else None


# ---------------------------------------------------------------- the source


class _SharedWeb:
    """One PoliteHttp for api.biorxiv.org shared by both servers' sources, closed when the last one closes."""

    def __init__(self, web: PoliteHttp) -> None:
        self.web = web
        self.users = 0

    async def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            await self.web.aclose()


class PreprintSource:
    """bioRxiv or medRxiv (``server``) as a ``bot.sources.base.Source``."""

    def __init__(
        self,
        server: str,
        api_url: str = DEFAULT_API_URL,
        *,
        http: httpx.AsyncClient | None = None,
        min_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 2.0,
        now: Callable[[], datetime] | None = None,
        settle_hour_utc: int = 0,
        cache_s: float = 300.0,
        max_pages: int = MAX_PAGES,
        shared: _SharedWeb | None = None,
        content_url: str | None = None,
    ) -> None:
        """``content_url``: where JATS files are fetched instead of the link's own bioRxiv/medRxiv origin
        (a proxy, a test's fake); the link's path is kept."""
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
        self._server = _servers()[server]
        self.name = server
        self.display_name = self._server.display_name
        self.link_hosts: tuple[str, ...] = (f"{server}.org",)
        self._api_url = api_url.rstrip("/")
        if shared is None:
            web = PoliteHttp(
                "bioRxiv/medRxiv API",
                http=http,  # None: PoliteHttp makes (and closes) its own client with our User-Agent
                min_interval_s=min_interval_s,
                timeout_s=timeout_s,
                retries=retries,
                backoff_s=backoff_s,
            )
            shared = _SharedWeb(web)
        shared.users += 1
        self._shared = shared
        self._web = shared.web
        self._closed = False
        self._now: Callable[[], datetime] = now if now is not None else _utc_now
        self._settle = timedelta(hours=settle_hour_utc)
        self._cache_s = cache_s
        self._max_pages = max_pages
        # A day's full list, shared by every subject feed of this server: one paging pass, not one per feed.
        self._days: dict[date, tuple[float, tuple[Paper, ...]]] = {}
        self._day_lock = asyncio.Lock()
        self._content_url = content_url.rstrip("/") if content_url else None
        self._jats_links: dict[tuple[str, int], str] = {}

    @property
    def shared_web(self) -> _SharedWeb:
        return self._shared

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._shared.release()

    # -- feeds

    def resolve_feed(self, text: str) -> FeedName | None:
        query = text.strip()
        prefix, colon, rest = query.partition(":")
        source = subject_key(prefix)
        if source != self.name:
            if source and _close(source, self.name) and len(query) <= _MAX_INPUT:
                guess = self._guess(subject_key(rest)) if colon else None
                suggestion = guess.name if guess else self.name
                raise UnknownCategoryError(
                    f"{_echo(query)} is not a feed. Did you mean {suggestion}?", suggestions=(suggestion,)
                )
            return None
        if len(query) > _MAX_INPUT:
            raise UnknownCategoryError(f"{_echo(query)} is not a {self.display_name} subject. {self._see()}")
        key = subject_key(rest)
        if not key or key == "all":
            return self._all_feed()
        key = self._server.aliases.get(key, key)
        if key in self._server.subjects:
            return self._feed(key)
        raise self._unknown(query, key)

    def complete_feeds(self, prefix: str, limit: int = 25) -> Sequence[FeedName]:
        if limit <= 0 or len(prefix) > _MAX_INPUT:
            return ()
        head, colon, rest = prefix.strip().partition(":")
        head_key, rest_key = subject_key(head), subject_key(rest)
        if colon and not self.name.startswith(head_key):
            return ()
        if colon:
            words = rest_key
        elif self.name.startswith(head_key):  # "", "bio", "biorxiv": every feed of this server
            words = ""
        elif head_key.startswith(self.name):  # "biorxiv cancer"
            words = head_key.removeprefix(self.name).strip("_")
        else:  # "neuro": subjects of this server, offered as feeds
            words = head_key
        found = [self._all_feed()] if not words else []
        subjects = self._server.subjects
        found += [self._feed(k) for k in subjects if k.startswith(words)]
        if len(words) >= 3:  # "neuro" may sit inside a name; one or two letters match too much
            found += [self._feed(k) for k in subjects if words in k and not k.startswith(words)]
        return tuple(found[:limit])

    def _all_feed(self) -> FeedName:
        return FeedName(self.name, self.name, f"{self.display_name}: all subjects")

    def _feed(self, key: str) -> FeedName:
        return FeedName(self.name, f"{self.name}:{key}", f"{self.display_name}: {self._server.labels[key]}")

    def _subject_of(self, feed: FeedName) -> str | None:
        if feed.source != self.name:
            raise ValueError(f"{feed.name} is not a {self.display_name} feed")
        _, _, key = feed.name.partition(":")
        return key or None

    def _guess(self, key: str) -> FeedName | None:
        found = _closest(key, self._server.subjects, 1)
        return self._feed(found[0]) if found else None

    def _unknown(self, query: str, key: str) -> UnknownCategoryError:
        # A medRxiv subject asked of bioRxiv (or the reverse): say where it lives, nothing else.
        elsewhere = [f"{other}:{key}" for other in SERVERS if other != self.name and key in _servers()[other].subjects]
        suggestions = elsewhere or [f"{self.name}:{k}" for k in _closest(key, self._server.subjects, 3)]
        hint = f" Did you mean {', '.join(suggestions[:3])}?" if suggestions else ""
        return UnknownCategoryError(
            f"{_echo(query)} is not a {self.display_name} subject.{hint} {self._see()}",
            suggestions=tuple(suggestions[:3]),
        )

    def _see(self) -> str:
        # The whole list, not a web page to go and read: it is short, and what to type is in it.
        subjects = ", ".join(self._server.subjects)
        example = f"{self.name}:{self._server.subjects[0]}"
        write = f"Write {self.name}: and a subject (e.g. {example}), or {self.name} for every subject."
        return f"{self.display_name}'s subjects: {subjects}. {write}"

    # -- calendar

    def batch_day(self, now: datetime) -> date | None:
        """Yesterday in UTC (less ``settle_hour_utc``): both servers post every day, weekends included,
        and a day's list is complete once that day is over. A naive ``now`` is taken as UTC."""
        utc = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
        return (utc - self._settle).date() - timedelta(days=1)

    def settles_at(self, day: date) -> datetime:
        """The end of ``day`` in UTC (plus ``settle_hour_utc``): from then on ``batch_day`` names it."""
        return datetime.combine(day + timedelta(days=1), dt_time(0), tzinfo=UTC) + self._settle

    # -- fetching

    async def fetch_batch(self, feed: FeedName, day: date) -> Batch:
        """The first versions of ``day``; a day not over yet is refused without asking the API (it is
        still filling, and a partial day must never become a digest), as Hugging Face's source does."""
        subject = self._subject_of(feed)
        if self._now() < self.settles_at(day):
            ready = self.settles_at(day).strftime("%Y-%m-%d %H:%M UTC")
            raise SourceError(
                f"{self.display_name}'s list for {day.isoformat()} is still filling; it is complete after {ready}"
            )
        papers = await self._day(day)
        # A withdrawal is no news either, nor is a preprint withdrawn the day it was posted.
        seen: set[str] = {paper.id for paper in papers if is_marked_withdrawn(paper.title)}
        picked: list[Paper] = []
        for paper in papers:
            if paper.version != 1 or paper.id in seen:  # revisions are not news
                continue
            if subject is not None and paper.primary_category != subject:
                continue
            seen.add(paper.id)
            picked.append(dataclasses.replace(paper, announce_type="new"))
        return Batch(feed.name, day, tuple(picked))

    async def _day(self, day: date) -> tuple[Paper, ...]:
        async with self._day_lock:  # concurrent feeds of one day wait for one paging pass
            cached = self._days.get(day)
            if cached is not None and time.monotonic() - cached[0] < self._cache_s:
                return cached[1]
            papers = await self._fetch_day(day)
            self._days = {d: v for d, v in self._days.items() if time.monotonic() - v[0] < self._cache_s}
            self._days[day] = (time.monotonic(), papers)
            return papers

    async def _fetch_day(self, day: date) -> tuple[Paper, ...]:
        what = f"the {self.display_name} posts of {day.isoformat()}"
        cursor = 0
        papers: list[Paper] = []
        for _ in range(self._max_pages):
            url = f"{self._api_url}/details/{self.name}/{day.isoformat()}/{day.isoformat()}/{cursor}"
            page = await self._get_page(url, self.name, what)
            if page is None:
                raise SourceError(f"{self.display_name} answered HTTP 404 for {what}; nothing was changed")
            if page.status == NOTHING_POSTED:
                if cursor:  # the API's total can overstate what it serves: past the end it says this
                    log.info("%s: %r at cursor %d of %s; taking it as the end", self.name, page.status, cursor, what)
                return tuple(papers)
            self._check_status(page, what)
            if page.count is None or page.total is None:
                raise unreadable(what, "a page without count or total")
            if page.count != page.received:
                raise unreadable(what, f"a page says count {page.count} but holds {page.received} items")
            if page.cursor is not None and page.cursor != cursor:
                raise unreadable(what, f"asked for cursor {cursor}, got cursor {page.cursor}")
            if page.total > MAX_ITEMS_PER_DAY:
                raise unreadable(what, f"a total of {page.total:,} items for one day")
            papers.extend(page.papers)
            cursor += page.received
            if cursor >= page.total:
                return tuple(papers)
            if page.received == 0:
                raise unreadable(what, f"an empty page after {cursor} of {page.total} items")
        raise unreadable(what, f"more than {self._max_pages} pages")

    async def fetch_paper(self, ref: PaperRef) -> Paper:
        """The DOI's latest version, from this server or else the other (a bare DOI names no server)."""
        doi = ref.key.strip().lower()
        if not DOI.match(doi) or len(doi) > _MAX_INPUT:
            raise BadIdError(
                f"{_echo(doi)} is not a DOI; a bioRxiv or medRxiv DOI looks like 10.1101/2024.12.31.630767"
            )
        first_try = ref.source if ref.source in SERVERS else self.name
        for server in (first_try, *(s for s in SERVERS if s != first_try)):
            what = f"{_servers()[server].display_name} preprint {doi}"
            page = await self._get_page(f"{self._api_url}/details/{server}/{doi}", server, what)
            if page is None or page.status == NOTHING_POSTED:
                continue
            self._check_status(page, what)
            versions = [p for p in page.papers if p.id == doi]
            if not versions:
                continue
            latest = max(versions, key=lambda p: p.version)
            first = min(versions, key=lambda p: p.version)
            return dataclasses.replace(latest, announced=first.announced or latest.announced)
        raise NotFoundError(
            f"Preprint {doi} not found on bioRxiv or medRxiv. Check the DOI, or it may not be posted yet."
        )

    async def _get_page(self, url: str, server: str, what: str) -> DetailsPage | None:
        """The parsed answer; None for HTTP 404 (the API's way, at times, of saying "no such DOI")."""
        response = await self._web.get(url, None, what)
        if response.status_code == 404:
            return None
        if not response.is_success:
            name = _servers()[server].display_name
            raise SourceError(f"{name} answered HTTP {response.status_code} for {what}; nothing was changed")
        # Parsing (clean_text over hundreds of abstracts) is CPU work: never on the event loop.
        page = await asyncio.to_thread(parse_details, response.content, server, what)
        self._remember_jats(page)
        return page

    # -- full text

    def _remember_jats(self, page: DetailsPage) -> None:
        for doi, version, url in page.jats_urls:
            self._jats_links[(doi, version)] = url
        if len(self._jats_links) > MAX_JATS_LINKS:  # the oldest go first (dicts keep insertion order)
            for key in list(self._jats_links)[: len(self._jats_links) - MAX_JATS_LINKS]:
                del self._jats_links[key]

    async def fetch_jats(self, doi: str, version: int) -> bytes | None:
        """The JATS XML of a preprint version, or None when its server names none, has none (404), or it
        is larger than ``MAX_JATS_BYTES``. Other failures raise SourceError (the caller explains from the
        abstract). Polite: the same connection and spacing as the API."""
        doi = doi.strip().lower()
        link = self._jats_links.get((doi, version))
        if link is None and DOI.match(doi) and len(doi) <= _MAX_INPUT:
            page = await self._get_page(f"{self._api_url}/details/{self.name}/{doi}", self.name, f"preprint {doi}")
            link = self._jats_links.get((doi, version)) if page is not None else None
        if link is None:
            return None
        target = f"{self._content_url}{httpx.URL(link).path}" if self._content_url else link
        what = f"the full text of {doi}v{version}"
        try:
            response = await self._web.get(target, None, what, max_bytes=MAX_JATS_BYTES)
        except ResponseTooLarge as err:
            log.info("%s; explained from the abstract", err)
            return None
        if response.status_code in (403, 404, 410):
            return None
        if not response.is_success:
            raise SourceError(f"{self.display_name} answered HTTP {response.status_code} for {what}")
        return response.content

    def _check_status(self, page: DetailsPage, what: str) -> None:
        if page.status != "ok":
            said = _echo(page.status or "no status")
            raise ServiceMessageError(f"{self.display_name} answered {said} for {what}; nothing was changed")

    # -- references

    def expects_papers(self, feed: FeedName, day: date) -> bool:
        """Every day has new preprints across all subjects; one subject may have none."""
        return self._subject_of(feed) is None

    def schedule_note(self) -> str:
        return "each day, with the new preprints of the latest day that is over"

    def parse_ref(self, text: str) -> PaperRef | None:
        parsed = _parse_ref(text)
        if parsed is None:
            return None
        ref, server_known = parsed
        owner = ref.source if server_known else BARE_DOI_SERVER
        return ref if owner == self.name else None


def preprint_sources(api_url: str = DEFAULT_API_URL, **options: Any) -> tuple[PreprintSource, PreprintSource]:
    """The bioRxiv and medRxiv sources, sharing one polite connection: both servers are one API host."""
    biorxiv = PreprintSource("biorxiv", api_url, **options)
    medrxiv = PreprintSource("medrxiv", api_url, **{**options, "shared": biorxiv.shared_web})
    return biorxiv, medrxiv


# ---------------------------------------------------------------- helpers


def _echo(text: str) -> str:
    """The user's (or the API's) words, quoted and cut short, safe to put back into a chat message."""
    flat = " ".join(strip_unsafe_chars(text).split()).replace("<", "").replace(">", "")
    return f'"{flat[:_ECHO_LEN]}…"' if len(flat) > _ECHO_LEN else f'"{flat}"'


def _utc_now() -> datetime:
    return datetime.now(UTC)
