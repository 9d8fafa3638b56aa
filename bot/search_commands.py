"""`/paper search <words> [in:<feed>] [since:YYYY-MM-DD] [page:N]`: the best matching papers as compact cards.

The whole text after `search` arrives as one argument (``words``, a parameter of kind "rest", which takes
the rest of the line); the options are read from it here, anywhere among the words, so Slack's text and
Discord's single option are read the same way.

The registry (``bot.commands``) lists this command; this module declares it with the registry's own
``Param``/``SubCommand``, imported when the declaration is first asked for (``search_command()``, or the
``SEARCH_COMMAND`` attribute), so either module can be imported first without an import cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING

from bot.cards import Reply, make_card
from bot.engine import Engine
from bot.errors import UsageError
from bot.search import MAX_PAGE, SearchResult, search

if TYPE_CHECKING:
    from bot.commands import Invocation, SubCommand

__all__ = [
    "PAGE_SIZE",
    "USAGE",
    "SearchRequest",
    "read_search_request",
    "search_command",
    "search_reply",
]

PAGE_SIZE = 5
TEASER_CHARS = 160  # compact cards: a search answer shows several at once
_OPTION = re.compile(r"(?i)^(in|since|page):(.*)$")
_EXAMPLE = "/paper search conformal prediction in:stat.ME since:2024-01-01"
USAGE = "/paper search <words> [in:<feed>] [since:YYYY-MM-DD] [page:N]"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    words: str  # the query without its options, as typed
    feed: str | None = None  # canonical feed name
    since: date | None = None
    page: int = 1

    def command(self, page: int) -> str:
        """The command that asks for ``page`` of the same search (the "more" hint)."""
        parts = ["/paper search", self.words]
        if self.feed:
            parts.append(f"in:{self.feed}")
        if self.since:
            parts.append(f"since:{self.since.isoformat()}")
        parts.append(f"page:{page}")
        return " ".join(parts)


def read_search_request(engine: Engine, text: str) -> SearchRequest:
    """The words and the ``in:``/``since:``/``page:`` options of a search, each option at most once.
    UsageError naming what to type instead."""
    words: list[str] = []
    options: dict[str, str] = {}
    for token in text.split():
        found = _OPTION.match(token)
        if found is None:
            words.append(token)
            continue
        name, value = found.group(1).lower(), found.group(2)
        if name in options:
            raise UsageError(f"Give {name}: once. Usage: {USAGE}")
        options[name] = value
    feed = engine.sources.resolve_feed(options["in"]).name if "in" in options else None
    return SearchRequest(" ".join(words), feed, _since(options.get("since")), _page(options.get("page")))


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_since(value)
    except ValueError:
        return _bad_since(value)


def _bad_since(value: str) -> date:
    shown = " ".join(value.split())[:20]
    raise UsageError(f"since:{shown} is not a date: write since:YYYY-MM-DD, e.g. since:2024-03-01")


def _page(value: str | None) -> int:
    if value is None:
        return 1
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        shown = " ".join(value.split())[:20]
        raise UsageError(f"page:{shown} is not a page: write page:N with N from 1 to {MAX_PAGE}, e.g. page:2")
    return int(value)


async def _search(engine: Engine, inv: Invocation) -> Reply:
    request = read_search_request(engine, inv.args.get("words", ""))
    result = await search(
        engine,
        request.words,
        limit=PAGE_SIZE,
        page=request.page,
        feed=request.feed,
        since=request.since,
        interactive=True,
        progress=inv.progress,
    )
    return search_reply(request, result)


def search_reply(request: SearchRequest, result: SearchResult) -> Reply:
    """Compact cards, best first, with what was searched, any note, and the command for more."""
    scope = "".join(
        [f" in {request.feed}" if request.feed else "", f" since {request.since:%d %b %Y}" if request.since else ""]
    )
    lines: list[str] = []
    if result.hits:
        first = (result.page - 1) * result.limit + 1
        shown = f"{first}–{first + len(result.hits) - 1}" if len(result.hits) > 1 else str(first)
        lines.append(f"Papers matching {result.query}{scope}: {shown}, best first.")
    elif result.page > 1:
        lines.append(f"No more papers match {result.query}{scope}: that was all of them.")
    else:
        where = " and ".join(("the stored papers", *result.asked)) if result.asked else "the stored papers"
        lines.append(f"No paper matches {result.query}{scope} in {where}. Try other or fewer words.")
    lines += [f"ⓘ {note}" for note in result.notes]
    if result.has_more:
        lines.append(f"More: {request.command(result.page + 1)}")
    cards = tuple(make_card(hit.paper, TEASER_CHARS) for hit in result.hits)
    return Reply(text="\n".join(lines), cards=cards, ephemeral=True)


@cache
def search_command() -> SubCommand:
    """The `/paper search` declaration for the registry (made once)."""
    from bot.commands import Param, SubCommand

    words = Param("words", 'words or a "quoted phrase"; optionally in:<feed>, since:YYYY-MM-DD, page:N', "rest")
    return SubCommand(
        "search",
        "Find papers on a topic: stored ones first, then arXiv and Hugging Face (in:<feed> since:DATE page:N)",
        (words,),
        _search,
        _EXAMPLE,
    )


def __getattr__(name: str) -> SubCommand:
    # SEARCH_COMMAND, declared on first use (see the module docstring).
    if name == "SEARCH_COMMAND":
        return search_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
