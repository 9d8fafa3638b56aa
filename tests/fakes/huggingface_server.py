"""A fake Hugging Face API (``/api/daily_papers``, ``/api/papers/<id>``, ``/api/papers/search``) on 127.0.0.1,
serving recorded data.

A real HTTP server on a free port in a daemon thread, so the real httpx client talks to it; nothing is
patched.

    with FakeHuggingFaceServer() as hf:
        hf.set_day("2024-10-25", items[:1])                 # the list as it stands now (it grows)
        hf.script("/api/daily_papers", (429, "", {"Retry-After": "0"}))
        ...  # point the source at hf.api_url
        assert hf.count("/api/daily_papers") == 2

Routes:
- ``/api/daily_papers?date=D&limit=N&p=P``: the list set with ``set_day`` for D (else the recorded list
  of 2024-10-25 for that date, else ``[]``), paged as Hugging Face pages it: ``limit`` items (1..100,
  default 50; outside that an HTTP 400 error object) from item ``p * limit`` (``p`` from 0). With
  ``ignore_paging`` every request gets the whole list, as a service that dropped paging would send. A
  raw body set with ``set_day_body`` is served as is, whatever the paging.
- ``/api/papers/search?q=Q``: a body set with ``set_search`` for Q; else the entries of the daily lists
  whose title or summary holds every word of Q (a JSON list, maybe empty).
- ``/api/papers/<id>``: a body set with ``set_paper``; else the recorded paper object (2509.04664); else
  the ``paper`` object of that id in any daily list; else HTTP 404 with an error object.
- A script (``script``) queues answers per path prefix, used before the normal answer: ``(status,)``,
  ``(status, body)`` or ``(status, body, headers)``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.arxiv_server import Call, Headers
from tests.fakes.loopback import CallLog, LoopbackHandler, LoopbackServer

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "huggingface"
DAILY_PAPERS = DATA_DIR / "daily_papers-2024-10-25.json"  # real /api/daily_papers answer, 29 papers
PAPER_OBJECT = DATA_DIR / "paper-object-2025-09-newer-fields.json"  # one 2025 paper object
RECORDED_DAY = "2024-10-25"

Scripted = tuple[int] | tuple[int, bytes | str] | tuple[int, bytes | str, Mapping[str, str]]

_JSON = {"Content-Type": "application/json; charset=utf-8"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def recorded_daily_papers() -> list[dict[str, Any]]:
    """A fresh copy of the recorded list of 2024-10-25 (29 entries, best first), safe to modify."""
    items: list[dict[str, Any]] = json.loads(DAILY_PAPERS.read_text(encoding="utf-8"))
    return items


def recorded_paper_object() -> dict[str, Any]:
    """A fresh copy of the recorded 2025 paper object (``ai_summary``, ``ai_keywords``), safe to modify."""
    paper: dict[str, Any] = json.loads(PAPER_OBJECT.read_text(encoding="utf-8"))
    return paper


def many_daily_papers(count: int) -> list[dict[str, Any]]:
    """``count`` entries made from the recorded ones with fresh arXiv ids (2501.00001, ...)."""
    recorded = recorded_daily_papers()
    made = []
    for n in range(count):
        entry = copy.deepcopy(recorded[n % len(recorded)])
        entry["paper"]["id"] = f"2501.{n + 1:05d}"
        made.append(entry)
    return made


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class FakeHuggingFaceServer(LoopbackServer, CallLog[Call]):
    """See the module docstring. Start with ``with`` (or ``start()``/``stop()``)."""

    server_name = "fake Hugging Face server"

    def __init__(self, *, ignore_paging: bool = False) -> None:
        super().__init__()
        self.ignore_paging = ignore_paging
        CallLog.__init__(self)
        self._days: dict[str, list[Any]] = {RECORDED_DAY: recorded_daily_papers()}
        self._day_bodies: dict[str, _Answer] = {}
        self._papers: dict[str, _Answer] = {}
        self._searches: dict[str, _Answer] = {}
        recorded = recorded_paper_object()
        self._papers[recorded["id"]] = _Answer(200, json.dumps(recorded).encode("utf-8"), _JSON)

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    # -- programming

    def set_day(self, day: str, items: list[Any]) -> None:
        """Serve ``items`` (paged) as the list of ``day``; call again as the list grows."""
        with self._lock:
            self._days[day] = copy.deepcopy(items)
            self._day_bodies.pop(day, None)

    def set_day_body(self, day: str, body: bytes | str, *, status: int = 200) -> None:
        """Serve ``body`` as is for every page of ``day``."""
        with self._lock:
            self._day_bodies[day] = _Answer(status, _bytes(body), _JSON)

    def set_paper(self, arxiv_id: str, body: bytes | str | Mapping[str, Any], *, status: int = 200) -> None:
        data = json.dumps(body).encode("utf-8") if isinstance(body, Mapping) else _bytes(body)
        with self._lock:
            self._papers[arxiv_id] = _Answer(status, data, _JSON)

    def set_search(self, q: str, body: bytes | str | list[Any], *, status: int = 200) -> None:
        """Serve ``body`` (a list is sent as JSON) for ``/api/papers/search?q=<q>``."""
        data = json.dumps(body).encode("utf-8") if isinstance(body, list) else _bytes(body)
        with self._lock:
            self._searches[q] = _Answer(status, data, _JSON)

    # -- used by the handler thread

    def _arrive(self, call: Call) -> _Answer:
        with self._lock:
            scripted = self._record(call)
            if scripted is not None:
                return _scripted(scripted)
            if call.path == "/api/daily_papers":
                return self._daily(call.query)
            if call.path.rstrip("/") == "/api/papers/search":
                return self._search(call.query.get("q", [""])[0])
            if call.path.startswith("/api/papers/"):
                return self._paper(call.path.removeprefix("/api/papers/"))
            return _error(404, "Sorry, we can't find the page you are looking for.")

    def _daily(self, query: Mapping[str, list[str]]) -> _Answer:
        day = query.get("date", [""])[0]
        if day in self._day_bodies:
            return self._day_bodies[day]
        items = self._days.get(day, [])
        if self.ignore_paging:
            return _Answer(200, json.dumps(items).encode("utf-8"), _JSON)
        try:
            limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
            page = int(query.get("p", ["0"])[0])
        except ValueError:
            return _error(400, "Invalid query")
        if not 1 <= limit <= MAX_LIMIT or page < 0:
            return _error(400, f"limit must be between 1 and {MAX_LIMIT}")
        return _Answer(200, json.dumps(items[page * limit : (page + 1) * limit]).encode("utf-8"), _JSON)

    def _search(self, q: str) -> _Answer:
        # Set with set_search; else the entries of every daily list whose title or summary holds all of
        # the words, as Hugging Face answers: {paper: {...}, title, numComments, ...} entries.
        if q in self._searches:
            return self._searches[q]
        words = [w.casefold() for w in q.split()]
        hits = []
        for items in self._days.values():
            for item in items:
                paper = item.get("paper") if isinstance(item, dict) else None
                if not isinstance(paper, dict):
                    continue
                text = f"{paper.get('title', '')} {paper.get('summary', '')}".casefold()
                if words and all(w in text for w in words):
                    hits.append(item)
        return _Answer(200, json.dumps(hits).encode("utf-8"), _JSON)

    def _paper(self, arxiv_id: str) -> _Answer:
        if arxiv_id in self._papers:
            return self._papers[arxiv_id]
        for items in self._days.values():
            for item in items:
                paper = item.get("paper") if isinstance(item, dict) else None
                if isinstance(paper, dict) and paper.get("id") == arxiv_id:
                    return _Answer(200, json.dumps(paper).encode("utf-8"), _JSON)
        return _error(404, "Paper not found")


def _error(status: int, message: str) -> _Answer:
    return _Answer(status, json.dumps({"error": message}).encode("utf-8"), _JSON)


def _scripted(item: Scripted) -> _Answer:
    body = item[1] if len(item) > 1 else b""
    headers = item[2] if len(item) > 2 else {}
    return _Answer(item[0], _bytes(body), headers)


def _bytes(body: bytes | str) -> bytes:
    # surrogatepass: a test may serve a body with a lone surrogate, which only a broken server would send.
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body


class _Handler(LoopbackHandler):
    fake: FakeHuggingFaceServer
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
        self._send(self.fake._arrive(call))


FakeHuggingFaceServer.handler = _Handler  # defined after the class, which it serves
