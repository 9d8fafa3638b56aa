"""arXiv: the RSS feed of the latest announcement and the export API, turned into models and typed errors.

Parsing is pure (``parse_rss``, ``parse_api``); ``ArxivClient`` adds the HTTP side: arXiv's terms of use
allow one connection and one request every 3 seconds, so every request of a client goes through one
lock and one clock, retries included.

Parsing never raises anything but our typed errors: a document is first read strictly and bounded
(``xml_guard``), and whatever still goes wrong inside feedparser or our conversion becomes a
FeedFormatError. The client parses in a worker thread, so a large or hostile feed never holds up the
event loop (and with it every chat command).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import xml.sax
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import feedparser
import httpx

from bot.calendar import expects_announcement
from bot.errors import (
    BadIdError,
    FeedFormatError,
    NotFoundError,
    PaperbotError,
    SourceError,
    SuspiciousEmptyFeed,
)
from bot.flights import Flights
from bot.ids import ArxivId, parse_arxiv_id
from bot.isolated import WorkerPool
from bot.models import Feed, FeedItem, Paper
from bot.page_refusals import TOO_LARGE
from bot.sources.arxiv_items import ItemCache, slim_item, split_items, typed_item_key
from bot.sources.polite import PoliteHttp, ResponseTooLarge, default_http
from bot.sources.xml_guard import UnreadableXml, bound_author_fields
from bot.text import clean_text, latex_to_unicode, strip_unsafe_chars

__all__ = ["ArxivClient", "parse_api", "parse_rss", "search_expression", "split_authors"]

log = logging.getLogger(__name__)

DEFAULT_RSS_URL = "https://rss.arxiv.org/rss"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_HTML_URL = "https://arxiv.org/html"
HTML_MAX_BYTES = 5_000_000  # a long paper's HTML is 1-3 MB; beyond this it is not worth parsing in chat time
# What arXiv's HTML service says instead of a paper when LaTeXML could not convert it (any case).
_REFUSALS_KEPT = 1_000  # why pages were set aside, by paper version (the caller caches the outcome a day)
_CONVERSION_FAILED = (
    b"had a fatal error and exited abruptly",
    b"no html for '",
    b"html is not available for the source",
)

_API_BATCH = 100  # ids per export-API request: arXiv asks for small pages

_GUID = re.compile(r"^oai:arXiv\.org:(?P<id>\S+)$", re.I)
# "arXiv:2403.15527v1 Announce Type: new \nAbstract: ..." at the start of every RSS description.
_PREFIX = re.compile(r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.I)
_ABSTRACT_LABEL = re.compile(r"^\s*Abstract:\s*", re.I)
_AUTHOR_SEPARATOR = re.compile(r"\s*[,;]\s*(?:and\s+)?|\s+and\s+")
_DAY = re.compile(rb"<day>\s*([A-Za-z]+)\s*</day>", re.I)
_HTML_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!doctype\s+html|<html)", re.I)
_OPENERS, _CLOSERS = "([{", ")]}"
# A lone surrogate cannot be encoded as UTF-8 (the store, the chat APIs): never let one through.
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---------------------------------------------------------------- parsing: RSS


def parse_rss(data: bytes, requested: Sequence[str], cache: ItemCache | None = None) -> Feed:
    """Parse one rss.arxiv.org feed fetched for the ``requested`` categories.

    Raises FeedFormatError for anything that is not a complete RSS document: a partial announcement
    must never be stored as if it were the whole one. Items without a readable id are skipped.
    ``cache``: what items already read (in another category's feed) became, so each is read once.
    """
    categories = tuple(requested)
    try:
        return _parse_rss(data, categories, cache if cache is not None else ItemCache())
    except PaperbotError:
        raise
    except Exception as exc:  # feedparser or our conversion failed on something we did not foresee
        log.warning("unreadable arXiv feed for %s: %s", _describe(categories), _short(repr(exc)))
        raise _unreadable_feed(categories, "the feed could not be parsed") from None


def _parse_rss(data: bytes, categories: tuple[str, ...], cache: ItemCache) -> Feed:
    complete = data.rstrip().endswith(b"</rss>")
    bounded, problem = _checked_xml(data, complete)
    if problem:
        raise _unreadable_feed(categories, problem)
    read = _read_unseen_items(bounded, complete, cache)
    if read is None:  # not cut into items (or the cut was doubtful): the whole document, as always
        parsed = _feedparse(bounded)
        problem = _rss_problem(parsed, complete)
        if problem:
            raise _unreadable_feed(categories, problem)
        papers = [_item_or_none(_rss_paper, entry, None) for entry in parsed.entries]
    else:
        parsed, papers = read
    channel_date = _rfc822_date(_str(parsed.feed.get("published")))
    items: list[FeedItem] = []
    for position, paper in enumerate(papers):
        if paper is None:
            continue
        if paper.announced is None and channel_date is not None:
            paper = replace(paper, announced=channel_date)  # an item without its own date has the feed's
        items.append(FeedItem(paper, position, _listed_in(paper.categories, categories)))
    return Feed(categories, channel_date, tuple(items), _skip_days(data))


def _read_unseen_items(bounded: bytes, complete: bool, cache: ItemCache) -> tuple[Any, list[Paper | None]] | None:
    """The document read with only the items ``cache`` does not know given to feedparser, and every
    item's paper in document order; None when the document cannot be cut safely into items."""
    split = split_items(bounded)
    if split is None:
        return None
    typed = [typed_item_key(split.context, item) for item in split.items]
    keys = [key for key, _ in typed]
    known = {key: cache.get(key) for key in keys}
    unseen = {key: item for key, item in zip(keys, split.items, strict=True) if known[key] is None}
    parsed = _feedparse(split.head + b"".join(slim_item(item) for item in unseen.values()) + split.tail)
    if _rss_problem(parsed, complete) or len(parsed.entries) != len(unseen):
        log.info("an arXiv feed was not read item by item: the cut found %d items", len(unseen))
        return None
    for key, entry in zip(unseen, parsed.entries, strict=True):
        paper = _item_or_none(_rss_paper, entry, None)
        known[key] = paper
        if paper is not None:  # one without an id is read (and reported) again each time
            cache.put(key, paper)
    return parsed, [_typed(known[key], announce_type) for key, announce_type in typed]


def _typed(paper: Paper | None, announce_type: str | None) -> Paper | None:
    """The paper as this item lists it: a paper read from another feed's item has that item's type."""
    if paper is None or announce_type is None or paper.announce_type == announce_type:
        return paper
    return replace(paper, announce_type=announce_type)


def _unreadable_feed(categories: Sequence[str], problem: str) -> FeedFormatError:
    what = _describe(categories)
    return FeedFormatError(f"arXiv sent a feed we could not read for {what} ({problem}); nothing was changed")


def _body_problem(data: bytes, expected: str) -> str | None:
    """Why this body is not an XML document at all, or None."""
    if not data.strip():
        return "the response was empty"
    if _HTML_START.match(data[:1024]):
        return f"a web page instead of the {expected}"
    return None


def _checked_xml(data: bytes, complete: bool, expected: str = "feed") -> tuple[bytes, str | None]:
    """The body with its author fields bounded, or why it is not well-formed XML we accept.

    Decided before feedparser, which would fall back to a lenient parser and return items anyway (or
    fail on a character XML forbids, or spend seconds on an author field)."""
    problem = _body_problem(data, expected)
    if problem:
        return data, problem
    try:
        return bound_author_fields(data), None
    except UnreadableXml as err:
        return data, "the feed is cut off" if not complete and err.reason == "invalid XML" else str(err)


def _rss_problem(parsed: Any, complete: bool) -> str | None:
    """Why this well-formed document is not a complete RSS feed, or None. Harmless bozo flags are ignored."""
    error = parsed.get("bozo_exception")
    if isinstance(error, xml.sax.SAXParseException):
        return "the feed is cut off" if not complete else f"invalid XML at line {error.getLineNumber()}"
    if not str(parsed.get("version", "")).startswith("rss"):
        return "not an RSS feed"
    if not complete:
        return "the feed is cut off"
    return None


def _rss_paper(entry: Any, channel_date: date | None) -> Paper | None:
    description = _str(entry.get("summary")) or ""
    prefix = _PREFIX.match(description)
    ident = _rss_id(entry, prefix)
    if ident is None:
        log.warning("skipping an RSS item without a readable arXiv id (guid %s)", _short(repr(entry.get("id"))))
        return None
    abstract = description[prefix.end() :] if prefix else _ABSTRACT_LABEL.sub("", description)
    categories = _categories(entry)
    announce_type = _str(entry.get("arxiv_announce_type")) or (prefix.group("type") if prefix else "")
    return Paper(
        id=ident.id,
        version=ident.version or 1,
        title=_clean_checked(_str(entry.get("title")) or ""),
        authors=_authors_from_creators(entry),
        categories=categories,
        primary_category=categories[0] if categories else "",  # arXiv lists the primary first
        # A part of a checked value: exact as it is only when ASCII (a joiner or selector the cut left at
        # its start would be dropped by clean_text, though it was kept inside the whole value).
        abstract=_clean_checked(abstract) if abstract.isascii() else clean_text(abstract),
        abstract_tex=_collapse(abstract),
        announce_type=announce_type.strip().lower(),
        # The date as written (US Eastern), not converted to UTC: 00:00 -04:00 must stay that day.
        announced=_rfc822_date(_str(entry.get("published"))) or channel_date,
        doi=_optional(entry.get("arxiv_doi")),
        journal_ref=_optional_clean(entry.get("arxiv_journal_reference")),
    )


def _rss_id(entry: Any, prefix: re.Match[str] | None) -> ArxivId | None:
    """The id from the guid, else the description prefix, else the abs link."""
    guid = _GUID.match((_str(entry.get("id")) or "").strip())
    for candidate in (guid.group("id") if guid else None, prefix.group("id") if prefix else None):
        ident = _parse_id(candidate)
        if ident is not None:
            return ident
    return _parse_id(_abs_id(_str(entry.get("link")) or ""))  # read only when needed: most items have a guid


def _authors_from_creators(entry: Any) -> tuple[str, ...]:
    # arXiv sends one dc:creator holding every author; feedparser keeps it as a single "author".
    names: list[str] = []
    for author in entry.get("authors") or ():
        raw = _str(author.get("name")) if isinstance(author, dict) else None
        if raw:
            names.extend(split_authors(raw))
    return tuple(names)


def split_authors(raw: str) -> tuple[str, ...]:
    """Split "A, B, and C" / "A and B" into names, keeping commas inside (affiliations) or {TeX}."""
    # Whitespace collapsed first: the separator's "\s*" tried at every position of a long run of
    # spaces would cost the square of its length.
    raw = _collapse(raw)
    # Most author lists have no bracket at all: then no separator is inside one.
    depths = _bracket_depths(raw) if _has_bracket(raw) else None
    parts: list[str] = []
    start = 0
    for separator in _AUTHOR_SEPARATOR.finditer(raw):
        if depths is None or depths[separator.start()] == 0:
            parts.append(raw[start : separator.start()])
            start = separator.end()
    parts.append(raw[start:])
    return tuple(name for name in (clean_text(part) for part in parts) if name)


def _has_bracket(text: str) -> bool:
    return "(" in text or "[" in text or "{" in text or ")" in text or "]" in text or "}" in text


def _bracket_depths(text: str) -> list[int] | None:
    """Bracket nesting depth at each character; None when unbalanced, so nesting is then ignored."""
    depths: list[int] = []
    depth = 0
    for char in text:
        if char in _CLOSERS:
            depth -= 1
            if depth < 0:
                return None
        depths.append(depth)
        if char in _OPENERS:
            depth += 1
    return depths if depth == 0 else None


def _listed_in(categories: Sequence[str], requested: Sequence[str]) -> tuple[str, ...]:
    hits = tuple(want for want in requested if any(_belongs(have, want) for have in categories))
    # An item always belongs to the feed it came in; if its classes match nothing, credit every request.
    return hits or tuple(requested)


def _belongs(category: str, requested: str) -> bool:
    have, want = category.casefold(), requested.casefold()
    return have == want or ("." not in want and have.startswith(want + "."))


def _skip_days(data: bytes) -> tuple[str, ...]:
    # feedparser keeps only the last <day>, so read the few bytes ourselves (the XML is known valid here).
    # find, not a lazy ".*?" expression: tried from each of many "<skipDays>" that would be quadratic.
    lowered = data.lower()
    start = lowered.find(b"<skipdays>")
    end = lowered.find(b"</skipdays>", start)
    if start < 0 or end < 0:
        return ()
    return tuple(day.decode("ascii") for day in _DAY.findall(data, start, end))


def _abs_id(url: str) -> str | None:
    """What follows "/abs/" in an abs-page URL (query and fragment ignored), or None."""
    path = url.partition("#")[0].partition("?")[0].strip()
    _, found, rest = path.partition("/abs/")
    rest = rest.removesuffix("/")
    return rest if found and rest else None


def _rfc822_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        log.warning("unreadable RSS date %s", _short(repr(value)))
        return None


# ---------------------------------------------------------------- parsing: export API


def parse_api(data: bytes) -> list[Paper]:
    """Parse an export-API Atom answer. An error entry (bad id) raises BadIdError; anything else that
    goes wrong raises FeedFormatError."""
    try:
        return _parse_api(data)
    except PaperbotError:
        raise
    except Exception as exc:  # as in parse_rss
        log.warning("unreadable arXiv API answer: %s", _short(repr(exc)))
        raise _unreadable_answer("the answer could not be parsed") from None


def _parse_api(data: bytes) -> list[Paper]:
    bounded, problem = _checked_xml(data, complete=True, expected="answer")
    if problem:
        raise _unreadable_answer(problem)
    parsed = _feedparse(bounded)
    problem = _api_problem(parsed)
    if problem:
        raise _unreadable_answer(problem)
    papers: list[Paper] = []
    for entry in parsed.entries:
        _raise_for_error_entry(entry)
        paper = _item_or_none(_api_paper, entry)
        if paper is not None:
            papers.append(paper)
    return papers


def _unreadable_answer(problem: str) -> FeedFormatError:
    return FeedFormatError(f"arXiv sent an answer we could not read ({problem}); nothing was changed")


def _api_problem(parsed: Any) -> str | None:
    error = parsed.get("bozo_exception")
    if isinstance(error, xml.sax.SAXParseException):
        return f"invalid XML at line {error.getLineNumber()}"
    if not str(parsed.get("version", "")).startswith("atom"):
        return "not an Atom feed"
    return None


def _raise_for_error_entry(entry: Any) -> None:
    entry_id = _str(entry.get("id")) or ""
    # A real paper may be titled "Error": only an entry that is not an abs page counts.
    is_error = "api/errors" in entry_id or (_str(entry.get("title")) == "Error" and "/abs/" not in entry_id)
    if not is_error:
        return
    reason = clean_text(_str(entry.get("summary")) or "") or "no reason given"
    raise BadIdError(
        f"arXiv did not accept the request: {reason}. An arXiv id looks like 2401.12345 or hep-th/9901001."
    )


def _api_paper(entry: Any) -> Paper | None:
    ident = _parse_id(_abs_id(_str(entry.get("id")) or ""))
    if ident is None:
        log.warning("skipping an API entry without a readable arXiv id (%s)", _short(repr(entry.get("id"))))
        return None
    categories = _categories(entry)
    primary = _term(entry.get("arxiv_primary_category")) or (categories[0] if categories else "")
    if primary and primary not in categories:
        categories = (primary, *categories)
    summary = _str(entry.get("summary")) or ""
    names = (_str(author.get("name")) for author in entry.get("authors") or () if isinstance(author, dict))
    return Paper(
        id=ident.id,
        version=ident.version or 1,
        title=clean_text(_str(entry.get("title")) or ""),  # "is None" checks: a paper may be titled "0"
        authors=tuple(clean_text(name) for name in names if name),
        categories=categories,
        primary_category=primary,
        abstract=clean_text(summary),
        abstract_tex=_collapse(summary),
        doi=_optional(entry.get("arxiv_doi")),
        journal_ref=_optional_clean(entry.get("arxiv_journal_ref")),
        # Not clean_text: comments hold URLs, and TeX cleaning would turn "~user" into a space.
        comment=_optional(entry.get("arxiv_comment")),
    )


# ---------------------------------------------------------------- parsing: shared helpers


def _feedparse(data: bytes) -> Any:
    # A stream, never the bytes themselves: feedparser first tries a bytes argument as a file name,
    # so a body like b"/etc/passwd" would be read from disk. Sanitising is off because arXiv's
    # descriptions are plain text labelled as HTML: the sanitiser would eat "<x>" in formulas.
    # Text is escaped per platform by the adapters instead.
    return feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)


def _item_or_none(convert: Callable[..., Paper | None], entry: Any, *args: Any) -> Paper | None:
    """One entry converted, or None (logged) when it cannot be: one garbled item must not cost the
    whole announcement, as an item without a readable id does not."""
    try:
        return convert(entry, *args)
    except PaperbotError:
        raise
    except Exception as exc:
        log.warning(
            "skipping an arXiv entry we could not read (id %s): %s", _short(repr(entry.get("id"))), _short(repr(exc))
        )
        return None


def _short(text: str, limit: int = 200) -> str:
    # Logs get a glimpse of hostile values, never 100 KB of them.
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _parse_id(text: str | None) -> ArxivId | None:
    if not text:
        return None
    try:
        return parse_arxiv_id(text)
    except BadIdError:
        return None


def _categories(entry: Any) -> tuple[str, ...]:
    terms = (_term(tag) for tag in entry.get("tags") or ())
    return tuple(dict.fromkeys(term for term in terms if term))


def _term(tag: Any) -> str | None:
    if not isinstance(tag, dict):
        return None
    return (_str(tag.get("term")) or "").strip() or None


def _str(value: Any) -> str | None:
    """A text value from feedparser, or None. Every field we keep passes here, so none can carry a lone
    surrogate (UTF-8 cannot store it) or a control, bidi or escape sequence (categories, comments and DOIs
    are shown and stored without going through clean_text)."""
    if not isinstance(value, str):
        return None
    if not value.isascii() and _SURROGATE.search(value):  # isascii() is read from a flag, not a scan
        value = _SURROGATE.sub("\ufffd", value)
    return strip_unsafe_chars(value)


def _clean_checked(text: str) -> str:
    """``clean_text`` of a value ``_str`` returned: the unsafe characters are already gone, so the text is
    not scanned for them a second time (``strip_unsafe_chars`` is idempotent: the result is the same)."""
    return " ".join(latex_to_unicode(text).split())


def _collapse(text: str) -> str:
    # What "\s+" -> " " and strip() give (both use str.isspace), in one pass of C.
    return " ".join(text.split())


def _optional(value: Any) -> str | None:
    text = _collapse(_str(value) or "")
    return text or None


def _optional_clean(value: Any) -> str | None:
    text = clean_text(_str(value) or "")
    return text or None


def _describe(categories: Sequence[str]) -> str:
    return ", ".join(categories) or "no category"


# ---------------------------------------------------------------- HTTP client


class ArxivClient:
    """Fetches feeds and papers from arXiv, politely: one request at a time, ``min_interval_s`` apart.

    Share one client for the whole process: the spacing only holds among requests of the same client.
    """

    def __init__(
        self,
        rss_url: str = DEFAULT_RSS_URL,
        api_url: str = DEFAULT_API_URL,
        *,
        http: httpx.AsyncClient | None = None,
        min_interval_s: float = 3.0,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 2.0,
        empty_retries: int = 2,
        now: Callable[[], datetime] | None = None,
        html_url: str = DEFAULT_HTML_URL,
        html_max_bytes: int = HTML_MAX_BYTES,
    ) -> None:
        self._rss_url = rss_url.rstrip("/")
        self._api_url = api_url
        self._html_url = html_url.rstrip("/")
        self._html_max_bytes = html_max_bytes
        # arXiv's terms of use: one connection, one request every 3 s, shared by feed and API requests.
        self._web = PoliteHttp(
            "arXiv",
            http=http if http is not None else default_http(timeout_s, max_connections=1),
            min_interval_s=min_interval_s,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )
        # Full texts (arxiv.org/html, a web page, not the feed or the API) come through a queue and a
        # connection of their own: a slow or unreachable HTML host, or a page still downloading for
        # someone who gave up waiting, never holds back a feed or a paper lookup a person waits for.
        self._html_web = PoliteHttp(
            "arXiv",
            http=http if http is not None else default_http(timeout_s, max_connections=1),
            min_interval_s=min_interval_s,
            timeout_s=timeout_s,
            retries=min(retries, 1),  # a full text is best effort: the explanation goes on without it
            backoff_s=backoff_s,
        )
        self._owns_http = http is None
        self._http = self._web.http
        self._empty_retries = max(0, empty_retries)
        # The same search asked by several people at once (a channel's `/paper search` fan-out) is one request.
        self._searches: Flights[tuple[str, int, str | None], list[Paper]] = Flights()
        self._html_refusals: dict[tuple[str, int], str] = {}
        # arXiv lists a paper in each category it is cross-listed in: its item is read in the first.
        self._rss_items = ItemCache()
        self._parse_pool: WorkerPool | None = None  # see read_feeds_in
        self._now: Callable[[], datetime] = now if now is not None else _utc_now

    def now(self) -> datetime:
        """The client's clock (injected in tests): the other sources read theirs from it."""
        return self._now()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
            await self._html_web.http.aclose()

    async def fetch_feed(self, categories: Sequence[str]) -> Feed:
        """The current announcement for ``categories`` (one combined RSS request).

        An empty feed when one is expected is usually throttling, so it is retried and then reported
        as SuspiciousEmptyFeed rather than returned as "no papers today".
        """
        cats = tuple(categories)
        if not cats:
            raise ValueError("fetch_feed needs at least one category")
        what = _describe(cats)
        url = f"{self._rss_url}/{'+'.join(cats)}"
        announcement_due = expects_announcement(self._now())
        for attempt in range(self._empty_retries + 1):
            response = await self._web.get(url, None, what)
            if not response.is_success:
                raise SourceError(
                    f"arXiv answered HTTP {response.status_code} for the feed of {what}; nothing was changed"
                )
            # Parsing a 2,000-item feed takes a second or two of CPU: never on the event loop.
            feed = await self._parse_feed(response.content, cats)
            if feed.items or not announcement_due:
                return feed
            log.info("empty arXiv feed for %s on an announcement day (attempt %d)", what, attempt + 1)
            if attempt < self._empty_retries:
                self._web.defer_next_request(self._web.delay(attempt, None))
        raise SuspiciousEmptyFeed(
            f"arXiv sent an empty feed for {what} on an announcement day (often throttling); will try again later"
        )

    def read_feeds_in(self, pool: WorkerPool | None) -> None:
        """Read feeds in ``pool``'s worker processes from now on (``bot.sources.arxiv_workers``: both cores,
        the parser out of the bot's process), or in a thread with None (the default: a command that reads
        one feed and exits would spend more starting the workers than they save)."""
        self._parse_pool = pool

    async def _parse_feed(self, data: bytes, categories: tuple[str, ...]) -> Feed:
        if self._parse_pool is None:
            return await asyncio.to_thread(parse_rss, data, categories, self._rss_items)
        from bot.sources.arxiv_workers import parse_rss_in_workers  # it imports this module

        return await parse_rss_in_workers(data, categories, self._rss_items, self._parse_pool)

    async def fetch_papers(self, ids: Sequence[str]) -> list[Paper]:
        """The papers arXiv knows among ``ids`` (maybe fewer than asked: the caller decides what is missing).

        Ids go to arXiv as given, so arXiv judges their format: a bad one raises BadIdError.
        """
        wanted = list(dict.fromkeys(raw.strip() for raw in ids if raw.strip()))
        papers: list[Paper] = []
        for start in range(0, len(wanted), _API_BATCH):
            papers.extend(await self._query_api(wanted[start : start + _API_BATCH]))
        return papers

    async def fetch_paper(self, arxiv_id: str) -> Paper:
        """The latest version of one paper; a version in ``arxiv_id`` is ignored (the caller handles it)."""
        wanted = parse_arxiv_id(arxiv_id).id  # a malformed id fails here without spending a request
        papers = await self.fetch_papers([wanted])
        for paper in papers:
            if paper.id == wanted:
                return paper
        if len(papers) == 1:
            return papers[0]  # old ids with a subject class (math.GT/0309136) come back without it
        # "not found" is part of the CLI contract (ARCHITECTURE.md: unknown id -> exit 1, "not found").
        raise NotFoundError(f"Paper {wanted} not found on arXiv. Check the id, or it may not be announced yet.")

    async def search(self, query: str, max_results: int = 25, *, category: str | None = None) -> list[Paper]:
        """arXiv's best matches for ``query`` (plain words and "quoted phrases", all required), by relevance.

        The words become an export-API ``search_query`` built here from letters and digits only, so
        nothing typed can change what is asked (``AND``, ``cat:``, parentheses are plain words).
        ``category`` keeps to one arXiv category or archive. Spaced and retried like every request.
        """
        expression = search_expression(query, category)
        if not expression:
            return []
        # A copy for each asker: the shared answer is never changed by one of them.
        key = (expression, max_results, category)
        return list(await self._searches.once(key, lambda: self._search(query, expression, max_results)))

    async def _search(self, query: str, expression: str, max_results: int) -> list[Paper]:
        params = {
            "search_query": expression,
            "start": "0",
            "max_results": str(max(1, min(max_results, _API_BATCH))),
            "sortBy": "relevance",
            "sortOrder": "descending",
        }
        what = "the search for " + " ".join(query.split())[:60]
        response = await self._web.get(self._api_url, params, what)
        if not response.is_success:
            raise SourceError(f"arXiv answered HTTP {response.status_code} for {what}; try again later")
        return await asyncio.to_thread(parse_api, response.content)

    async def fetch_html(self, paper_id: str, version: int) -> bytes | None:
        """The paper's full text as arXiv's HTML (LaTeXML) version ``{html_url}/{id}v{N}``, or None when
        there is none: not converted (404), conversion failed, or a page larger than the size cap.

        Spaced like every arXiv request (same connection and 3 s rule as the feed and the API).
        """
        what = f"the HTML version of {paper_id}v{version}"
        url = f"{self._html_url}/{paper_id}v{version}"
        try:
            response = await self._html_web.get(url, None, what, max_bytes=self._html_max_bytes)
        except ResponseTooLarge as err:
            log.info("%s; explained from the abstract", err)
            self._set_aside(paper_id, version, TOO_LARGE)
            return None
        if response.status_code in (404, 410):
            return None
        if not response.is_success:
            raise SourceError(f"arXiv answered HTTP {response.status_code} for {what}; try again later")
        lowered = response.content[:200_000].lower()
        if any(sign in lowered for sign in _CONVERSION_FAILED):
            return None  # arXiv's conversion failed: there is no HTML version (the badge says so)
        return response.content

    def html_refusal(self, paper_id: str, version: int) -> str:
        """Why ``fetch_html`` last answered None for this version though a page was there ("" when arXiv
        has none): what the explanation's badge says instead of "no HTML version"."""
        return self._html_refusals.get((paper_id, version), "")

    def _set_aside(self, paper_id: str, version: int, reason: str) -> None:
        self._html_refusals[(paper_id, version)] = reason
        while len(self._html_refusals) > _REFUSALS_KEPT:  # the oldest go first
            del self._html_refusals[next(iter(self._html_refusals))]

    async def _query_api(self, batch: list[str]) -> list[Paper]:
        what = f"paper {batch[0]}" if len(batch) == 1 else f"{len(batch)} papers"
        params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
        response = await self._web.get(self._api_url, params, what)
        if response.status_code == 400:
            await asyncio.to_thread(parse_api, response.content)  # raises BadIdError with arXiv's reason
        if not response.is_success:
            raise SourceError(f"arXiv answered HTTP {response.status_code} for {what}; try again later")
        return await asyncio.to_thread(parse_api, response.content)


_SEARCH_WORD = re.compile(r"[^\W_]+")
_SEARCH_PHRASE = re.compile(r'"([^"]*)"')
_CATEGORY = re.compile(r"^[a-z-]+(?:\.[A-Za-z-]+)?$")


def search_expression(query: str, category: str | None = None) -> str:
    """An export-API ``search_query`` for plain words and "phrases": ``all:"score matching" AND all:diffusion``
    (and ``cat:stat.ML``); "" when nothing searchable is left. Only letters and digits reach arXiv."""
    parts: list[str] = []
    for phrase in _SEARCH_PHRASE.findall(query):
        words = _SEARCH_WORD.findall(phrase)
        if words:
            parts.append(f'all:"{" ".join(words)}"' if len(words) > 1 else f"all:{words[0]}")
    for word in _SEARCH_WORD.findall(_SEARCH_PHRASE.sub(" ", query)):
        parts.append(f"all:{word}")
    parts = list(dict.fromkeys(parts))[:20]
    if parts and category and _CATEGORY.match(category):
        parts.append(f"cat:{category}" if "." in category else f"cat:{category}.*")
    return " AND ".join(parts)


def _utc_now() -> datetime:
    return datetime.now(UTC)
