"""A fake api.biorxiv.org on 127.0.0.1 (a free port) that pages ``details`` answers with a cursor.

    with FakePreprintServer(page_sizes=(3,)) as api:
        api.add("biorxiv", recorded_items())                   # items carry their own "date"
        api.add("biorxiv", [item(1, "2026-6-30", "ecology")])
        api.script("/details/biorxiv/2026-06-30", (429, "", {"Retry-After": "0"}))
        ...  # point PreprintSource at api.base_url
        assert api.cursors("/details/biorxiv/2026-06-30") == [0, 3, 6]

Routes (as the real API):
- ``/details/<server>/<from>/<to>/<cursor>``: the server's items dated within [from, to], in the order
  added, from ``cursor`` on, one page at a time. Page sizes cycle through ``page_sizes`` (never one the
  client may assume). ``messages[0]`` carries cursor, count, and total as a string (``total_as_string``)
  plus ``total_extra`` (the real API's total can overstate what it serves). Nothing there:
  ``{"messages": [{"status": "no posts found"}], "collection": []}``.
- ``/details/<server>/10.1101/<suffix>``: every version of that DOI on that server, else "no posts found".
- ``/content/….xml``: a JATS XML file put there with ``add_jats`` (the path of an item's ``jatsxml``),
  else 404, as the content hosts www.biorxiv.org / www.medrxiv.org answer; point the source's
  ``content_url`` here.
- A script (``script``) is a queue of answers per path prefix, used up before the normal answer:
  ``(status,)``, ``(status, body)`` or ``(status, body, headers)``; a dict body is sent as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.loopback import CallLog, LoopbackHandler, LoopbackServer

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "biorxiv"
RECORDED = DATA_DIR / "details-2025-01-01-abridged.json"
# Hand-made (JATS 1.2 tag set) for the first recorded item: see tests/data/PROVENANCE.md.
HANDMADE_JATS = DATA_DIR / "jats-2024.12.31.630767v1-handmade.xml"

Body = bytes | str | Mapping[str, Any]
Scripted = tuple[int] | tuple[int, Body] | tuple[int, Body, Mapping[str, str]]
_JSON = {"Content-Type": "application/json; charset=UTF-8"}


def recorded_answer() -> dict[str, Any]:
    """The recorded api.biorxiv.org answer for 2025-01-01 (abridged: 2 items, total "57")."""
    answer: dict[str, Any] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return answer


def recorded_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = recorded_answer()["collection"]
    return items


def item(
    n: int,
    day: str,
    category: str,
    *,
    version: int | str = "1",
    server: str = "bioRxiv",
    published: str = "NA",
    doi: str | None = None,
) -> dict[str, Any]:
    """A synthesised item shaped like the recorded ones; ``day`` is written as given ("2026-6-30")."""
    return {
        "title": f"Synthetic preprint {n} on {category}",
        "authors": f"Author{n}, A.; Second, B. B.; Third-Party, C.",
        "author_corresponding": f"Author {n}",
        "author_corresponding_institution": "Somewhere",
        "doi": doi or f"10.1101/2026.06.30.{700000 + n}",
        "date": day,
        "version": version,
        "type": "new results",
        "license": "cc_by",
        "category": category,
        "jatsxml": "https://www.biorxiv.org/content/early/x.source.xml",
        "abstract": f"Abstract of synthetic preprint {n}.",
        "funder": "NA",
        "published": published,
        "server": server,
    }


@dataclass(frozen=True)
class Call:
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class _Handler(LoopbackHandler):
    fake: FakePreprintServer

    def do_GET(self) -> None:
        self._send(self.fake._answer(self.path, {k.lower(): v for k, v in self.headers.items()}))


class FakePreprintServer(LoopbackServer, CallLog[Call]):
    handler = _Handler
    server_name = "fake api.biorxiv.org"

    def __init__(self, *, page_sizes: Sequence[int] = (3,), total_as_string: bool = True, total_extra: int = 0) -> None:
        super().__init__()
        self.page_sizes = tuple(page_sizes)
        self.total_as_string = total_as_string
        self.total_extra = total_extra
        CallLog.__init__(self)
        self._items: dict[str, list[dict[str, Any]]] = {"biorxiv": [], "medrxiv": []}
        self._jats: dict[str, bytes] = {}

    # -- programming

    def add(self, server: str, items: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._items[server].extend(items)

    def add_jats(self, path_or_url: str, body: bytes | str) -> None:
        """Serve ``body`` at the path of a ``jatsxml`` link (the host part, if given, is dropped)."""
        path = urlsplit(path_or_url).path
        with self._lock:
            self._jats[path] = body.encode("utf-8") if isinstance(body, str) else body

    def cursors(self, prefix: str) -> list[int]:
        return [int(c.path.rsplit("/", 1)[1]) for c in self.calls(prefix)]

    # -- serving

    def _answer(self, path: str, headers: Mapping[str, str]) -> _Answer:
        with self._lock:
            scripted = self._record(Call(path, headers))
            if scripted is not None:
                return _scripted(scripted)
            if path.startswith("/content/"):
                found = self._jats.get(path)
                if found is None:
                    return _Answer(404, b"<html><body>Page not found</body></html>", {"Content-Type": "text/html"})
                return _Answer(200, found, {"Content-Type": "application/xml"})
            parts = path.strip("/").split("/")
            if len(parts) >= 3 and parts[0] == "details" and parts[1] in self._items:
                server, rest = parts[1], parts[2:]
                if rest[0] == "10.1101" and len(rest) == 2:
                    return self._by_doi(server, f"10.1101/{rest[1]}")
                if len(rest) == 3:
                    return self._interval(server, _day(rest[0]), _day(rest[1]), int(rest[2]))
            return _Answer(404, b"not found", {"Content-Type": "text/plain"})

    def _by_doi(self, server: str, doi: str) -> _Answer:
        found = [i for i in self._items[server] if str(i["doi"]).lower() == doi.lower()]
        if not found:
            return _nothing()
        return _json({"messages": [{"status": "ok"}], "collection": found})

    def _interval(self, server: str, start: date, end: date, cursor: int) -> _Answer:
        matching = [i for i in self._items[server] if start <= _day(str(i["date"])) <= end]
        page_number = 0
        at = 0
        while at < cursor:  # the page a cursor lands in decides its size, so sizes vary down the list
            at += self.page_sizes[page_number % len(self.page_sizes)]
            page_number += 1
        size = self.page_sizes[page_number % len(self.page_sizes)]
        page = matching[cursor : cursor + size]
        if not page:
            return _nothing()
        total: int | str = len(matching) + self.total_extra
        message = {
            "status": "ok",
            "category": "all",
            "interval": f"{start.isoformat()}:{end.isoformat()}",
            "cursor": cursor,
            "count": len(page),
            "count_new_papers": str(sum(1 for i in page if str(i["version"]) == "1")),
            "total": str(total) if self.total_as_string else total,
        }
        return _json({"messages": [message], "collection": page})


def _day(text: str) -> date:
    year, month, day = (int(part) for part in text.split("-"))
    return date(year, month, day)


def _nothing() -> _Answer:
    return _json({"messages": [{"status": "no posts found"}], "collection": []})


def _json(body: Mapping[str, Any]) -> _Answer:
    return _Answer(200, json.dumps(body).encode("utf-8"), _JSON)


def _scripted(answer: Scripted) -> _Answer:
    status = answer[0]
    body: Body = answer[1] if len(answer) > 1 else b""
    headers: Mapping[str, str] = answer[2] if len(answer) > 2 else {}
    if isinstance(body, Mapping):
        data = json.dumps(body).encode("utf-8")
    else:
        data = body.encode("utf-8") if isinstance(body, str) else body
    return _Answer(status, data, {**_JSON, **headers})
