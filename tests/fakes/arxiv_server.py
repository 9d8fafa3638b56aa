"""A fake arXiv (rss.arxiv.org + the export API) on 127.0.0.1, serving the recorded data in tests/data.

It is a real HTTP server on a free port (port 0), running in a daemon thread, so the real httpx client
in-process and CLI subprocesses both talk to it. Nothing is patched.

    with FakeArxivServer() as arxiv:
        arxiv.set_feed("cs.LG", empty_feed())              # per category string, as in the URL
        arxiv.script("/rss", (429, "", {"Retry-After": "0"}), "hang", (503,))
        ...  # point the code at arxiv.rss_url / arxiv.api_url
        assert arxiv.count("/rss") == 4

Routes:
- ``/rss/<cats>``: the body set with ``set_feed`` for that exact ``cats`` (e.g. ``cs.LG+math.OC``),
  else the recorded stat feed of 2024-03-26.
- ``/api/query?search_query=Q``: a body set with ``set_search`` for Q; else the recording of Q (its
  ``all:`` prefixes ignored: the recorded page of ``testing`` answers ``all:testing``); else no results.
- ``/api/query``: a body set with ``set_api`` for that ``id_list``; else the recording made for that
  id list; else, for ids of a valid form, the recorded entries of those ids assembled into one answer
  (none known: the recorded 0000.0000 answer, totalResults 0); an id of a bad form: the recorded 400.
- ``/html/<id>v<N>``: the page set with ``set_html`` for ``<id>v<N>``, else the recorded page in
  tests/data/html/ of that name, else arXiv's 404 (no HTML version).
- A script (``script``) is a queue of answers per path prefix, consumed before the normal answer:
  ``(status,)``, ``(status, body)``, ``(status, body, headers)`` or ``"hang"`` (keep the connection
  silent for ``hang_s`` seconds, longer than any client timeout in the tests, then close it).
- ``latency_s`` delays every other answer, so that concurrent requests would overlap if let through.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import CallLog, LoopbackHandler, LoopbackServer

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
STAT_FEED = DATA_DIR / "rss-stat-2024-03-26.xml"
SPEC_FEED = DATA_DIR / "rss-spec-example-math.OC.xml"
API_DIR = DATA_DIR / "api"
LEGACY_API = API_DIR / "legacy2016_id_list_1111.2011v2.xml"
HTML_DIR = DATA_DIR / "html"

HANG: Literal["hang"] = "hang"
Scripted = tuple[int] | tuple[int, bytes | str] | tuple[int, bytes | str, Mapping[str, str]] | Literal["hang"]

# The id forms arXiv accepts (new style with 4 or 5 digits, old style archive(.SC)/YYMMNNN), with a version.
_VALID_ID = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$")
_ENTRY = re.compile(r"<entry>.*?</entry>", re.S)
_ENTRY_ID = re.compile(r"<id>\s*https?://arxiv\.org/abs/(\S+?)(?:v\d+)?\s*</id>")
_ITEM = re.compile(rb"\s*<item>.*?</item>", re.S)

_RSS_TYPE = "application/rss+xml; charset=utf-8"
_ATOM_TYPE = "application/atom+xml; charset=utf-8"
_HTML_TYPE = "text/html; charset=utf-8"


class Headers(Mapping[str, str]):
    """Request headers; names are case-insensitive, as in HTTP (``headers["User-Agent"]``)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class Call:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    at: float  # time.monotonic() on arrival (system-wide on Linux, so comparable across processes)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


# ---------------------------------------------------------------- recorded data and feed builders


def recorded_feed() -> bytes:
    """The real stat feed of 2024-03-26 (123 items)."""
    return STAT_FEED.read_bytes()


def one_item_feed() -> bytes:
    """arXiv's specification example: one replace-cross item. Quick to parse, for timing tests."""
    return SPEC_FEED.read_bytes()


def empty_feed() -> bytes:
    """The recorded feed with every item removed: what arXiv sends on a day without announcement."""
    return _ITEM.sub(b"", recorded_feed())


def big_feed(count: int) -> bytes:
    """A feed of ``count`` items made by repeating the real items with fresh ids (2501.00001, ...)."""
    raw = recorded_feed()
    items = [match.group(0) for match in _ITEM.finditer(raw)]
    first, last = raw.index(items[0]), raw.rindex(items[-1]) + len(items[-1])
    made = []
    for n in range(count):
        fresh = b"2501.%05d" % (n + 1)  # 00000 is not a valid number
        made.append(re.sub(rb"\d{4}\.\d{4,5}(?=v\d)|(?<=abs/)\d{4}\.\d{4,5}", fresh, items[n % len(items)]))
    return raw[:first] + b"".join(made) + raw[last:]


def _load_recordings() -> tuple[dict[frozenset[str], _Answer], dict[str, _Answer]]:
    by_ids: dict[frozenset[str], _Answer] = {}
    by_search: dict[str, _Answer] = {}
    for path in sorted(API_DIR.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        query = parse_qs(urlsplit(record["url"]).query, keep_blank_values=True)
        answer = _Answer(record["status_code"], record["body"].encode("utf-8"), {"Content-Type": _ATOM_TYPE})
        id_list = query.get("id_list", [""])[0]
        if id_list:
            by_ids[frozenset(id_list.split(","))] = answer
        else:
            by_search[query.get("search_query", [""])[0]] = answer
    by_ids[frozenset({"1111.2011v2"})] = _Answer(200, LEGACY_API.read_bytes(), {"Content-Type": _ATOM_TYPE})
    return by_ids, by_search


def _entries_by_id(recordings: Mapping[frozenset[str], _Answer], extra: list[_Answer]) -> dict[str, str]:
    """Every recorded entry, by version-less id, to assemble answers for id lists never recorded."""
    entries: dict[str, str] = {}
    for answer in [*recordings.values(), *extra]:
        for entry in _ENTRY.findall(answer.body.decode("utf-8")):
            found = _ENTRY_ID.search(entry)
            if found:
                entries.setdefault(found.group(1), entry)
    return entries


# ---------------------------------------------------------------- the server


class FakeArxivServer(LoopbackServer, CallLog[Call]):
    """See the module docstring. Start with ``with`` (or ``start()``/``stop()``)."""

    server_name = "fake arXiv server"

    def __init__(self, *, hang_s: float = 5.0, latency_s: float = 0.0) -> None:
        self.hang_s = hang_s
        self.latency_s = latency_s  # added before every normal answer, to let concurrent requests overlap
        super().__init__()
        CallLog.__init__(self)
        self._feeds: dict[str, _Answer] = {}
        self._api: dict[str, _Answer] = {}
        self._searches: dict[str, _Answer] = {}
        self._html: dict[str, _Answer] = {}
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests the server was handling at once
        self._by_ids, self._by_search = _load_recordings()
        self._entries = _entries_by_id(self._by_ids, list(self._by_search.values()))
        self._default_feed = recorded_feed()

    @property
    def rss_url(self) -> str:
        return self.base_url + "/rss"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/query"

    @property
    def html_url(self) -> str:
        return self.base_url + "/html"

    # -- programming

    def set_feed(
        self, cats: str, body: bytes | str, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """Serve ``body`` at ``/rss/<cats>`` (``cats`` exactly as in the URL, e.g. ``cs.LG+math.OC``)."""
        with self._lock:
            self._feeds[cats] = _Answer(status, _bytes(body), {"Content-Type": _RSS_TYPE, **(headers or {})})

    def set_api(self, id_list: str, body: bytes | str, *, status: int = 200) -> None:
        """Serve ``body`` for ``/api/query?id_list=<id_list>``."""
        with self._lock:
            self._api[id_list] = _Answer(status, _bytes(body), {"Content-Type": _ATOM_TYPE})

    def set_search(self, search_query: str, body: bytes | str, *, status: int = 200) -> None:
        """Serve ``body`` for ``/api/query?search_query=<search_query>`` (exactly as the client sends it)."""
        with self._lock:
            self._searches[search_query] = _Answer(status, _bytes(body), {"Content-Type": _ATOM_TYPE})

    def set_html(self, versioned_id: str, body: bytes | str, *, status: int = 200) -> None:
        """Serve ``body`` at ``/html/<versioned_id>`` (``2501.11120v1``)."""
        with self._lock:
            self._html[versioned_id] = _Answer(status, _bytes(body), {"Content-Type": _HTML_TYPE})

    # -- used by the handler thread

    def _arrive(self, call: Call) -> _Answer | Literal["hang"]:
        with self._lock:
            scripted = self._record(call)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._route(call) if scripted is None else _scripted(scripted)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _route(self, call: Call) -> _Answer:
        if call.path.startswith("/rss/"):
            cats = call.path.removeprefix("/rss/")
            return self._feeds.get(cats) or _Answer(200, self._default_feed, {"Content-Type": _RSS_TYPE})
        if call.path.rstrip("/") == "/api/query":
            return self._api_answer(call.query)
        if call.path.startswith("/html/"):
            return self._html_answer(call.path.removeprefix("/html/").strip("/"))
        return _Answer(404, b"<html><body><h1>Not Found</h1></body></html>", {"Content-Type": "text/html"})

    def _api_answer(self, query: Mapping[str, list[str]]) -> _Answer:
        id_list = query.get("id_list", [""])[0]
        if not id_list:
            return self._search_answer(query.get("search_query", [""])[0])
        if id_list in self._api:
            return self._api[id_list]
        ids = [one.strip() for one in id_list.split(",")]
        bad = [one for one in ids if not _VALID_ID.match(one)]
        if bad:
            return _bad_id(self._by_ids, bad[0])
        recorded = self._by_ids.get(frozenset(ids))
        if recorded is not None:
            return recorded
        known = (self._entries.get(re.sub(r"v\d+$", "", one)) for one in ids)
        return _no_results(self._by_ids, id_list, [entry for entry in known if entry])

    def _html_answer(self, versioned_id: str) -> _Answer:
        if versioned_id in self._html:
            return self._html[versioned_id]
        recorded = HTML_DIR / f"{versioned_id.replace('/', '_')}.html"
        if re.fullmatch(r"[\w./-]+", versioned_id) and ".." not in versioned_id and recorded.is_file():
            return _Answer(200, recorded.read_bytes(), {"Content-Type": _HTML_TYPE})
        return _Answer(404, b"<html><body><h1>Not Found</h1></body></html>", {"Content-Type": "text/html"})

    def _search_answer(self, search_query: str) -> _Answer:
        # Set with set_search; else the recording of that query, written with or without arXiv's field
        # prefix (the recording asked "testing", a client asks "all:testing"); else no results.
        plain = re.sub(r"\ball:", "", search_query)
        for key in (search_query, plain):
            found = self._searches.get(key) or self._by_search.get(key)
            if found is not None:
                return found
        return _no_results(self._by_ids, "")

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)  # cut short by stop()


def _scripted(item: Scripted) -> _Answer | Literal["hang"]:
    if item == HANG:
        return HANG
    body = item[1] if len(item) > 1 else b""
    headers = item[2] if len(item) > 2 else {}
    return _Answer(item[0], _bytes(body), headers)


def _bad_id(by_ids: Mapping[frozenset[str], _Answer], bad: str) -> _Answer:
    # The recorded 400 for "abc", adapted to name the id that was asked for.
    template = by_ids[frozenset({"abc"})]
    named = _xml(bad)
    body = template.body.replace(b"_for_abc", b"_for_" + named).replace(b"for abc<", b"for " + named + b"<")
    return _Answer(template.status, body, template.headers)


def _no_results(by_ids: Mapping[frozenset[str], _Answer], id_list: str, entries: Sequence[str] = ()) -> _Answer:
    # The recorded answer for 0000.0000 (totalResults 0), adapted to the id list and filled with entries.
    template = by_ids[frozenset({"0000.0000"})]
    text = template.body.decode("utf-8").replace("0000.0000", id_list)
    text = text.replace("<opensearch:totalResults>0<", f"<opensearch:totalResults>{len(entries)}<")
    text = text.replace("</feed>", "".join(f"  {entry}\n" for entry in entries) + "</feed>")
    return _Answer(200, text.encode("utf-8"), template.headers)


def _xml(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


class _Handler(LoopbackHandler):
    fake: FakeArxivServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        call = Call(
            method="GET",
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(self.headers.items()),
            at=time.monotonic(),
        )
        try:
            answer = self.fake._arrive(call)
            if answer == HANG:
                self.fake._pause(self.fake.hang_s)
                self.close_connection = True
                return
            self.fake._pause(self.fake.latency_s)
            self._send(answer)
        finally:
            self.fake._leave()


FakeArxivServer.handler = _Handler  # defined after the class, which it serves
