"""Search for papers on a topic: the stored papers first, then arXiv's and Hugging Face's own search.

Local first: every paper the bot has stored (all sources) is searched through the FTS5 index. Then, for a
person waiting, within the interactive deadline, arXiv's export API (``search_query``, spaced and retried
like every arXiv request) and Hugging Face's paper search are asked at the same time. What they answer
is stored, so it is merged with the stored papers by the paper's identity (its arXiv id: Hugging Face's
papers are arXiv papers) and ranked with them by the same BM25; the next search finds it locally. Each
query is asked upstream at most once a day (arXiv's terms: don't ask twice a day for the same thing).

An upstream service that fails or does not answer in time costs only its own results: the answer is the
stored papers with a note saying what was left out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from bot.errors import NotFoundError, SourceError, UsageError
from bot.models import Paper
from bot.progress import Progress, tell
from bot.search_index import PaperIndex, SearchQuery, parse_query, record_upstream_search, upstream_asked_at
from bot.sources.huggingface import HuggingFaceSource

if TYPE_CHECKING:
    from bot.engine import Engine

__all__ = ["MAX_PAGE", "SearchHit", "SearchResult", "search"]

log = logging.getLogger(__name__)

MAX_PAGE = 20
MAX_LIMIT = 50
UPSTREAM_RESULTS = 25  # asked of each service: five pages of five, and what arXiv pages comfortably
ASK_AGAIN_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper: Paper
    score: float  # BM25 relevance, higher is better


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str  # as understood: words and "phrases", common words dropped
    hits: tuple[SearchHit, ...]  # the page asked for, best first
    page: int
    limit: int
    has_more: bool  # a next page has results
    notes: tuple[str, ...] = ()  # what the answer lacks and why ("arXiv did not answer in time…")
    asked: tuple[str, ...] = ()  # the services asked this time ("arXiv", "Hugging Face")

    @property
    def papers(self) -> tuple[Paper, ...]:
        return tuple(hit.paper for hit in self.hits)


async def search(
    engine: Engine,
    query: str,
    *,
    limit: int = 5,
    page: int = 1,
    feed: str | None = None,
    since: date | None = None,
    interactive: bool = True,
    progress: Progress | None = None,
) -> SearchResult:
    """The papers best matching ``query`` (page ``page`` of ``limit``), stored ones and upstream ones merged.

    ``feed`` is a canonical feed name (``engine.sources.resolve_feed``); ``since`` keeps papers dated on or
    after that day. UsageError for a query or option that cannot be used; never a SourceError: an upstream
    failure becomes a note."""
    parsed = parse_query(query)
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"Ask for 1 to {MAX_LIMIT} results.")
    if not 1 <= page <= MAX_PAGE:
        raise UsageError(f"page:N goes from 1 to {MAX_PAGE}; narrow the search with more words instead.")
    index = PaperIndex(engine.store)
    # Each service is asked at most once a day for this search; one that failed is asked again next time.
    services = [s for s in _services(engine, parsed.text, feed) if _due(engine, _upstream_key(s[0], parsed, feed))]
    notes: list[str] = []
    if services:
        await tell(progress, f"Searching {' and '.join(name for name, _ in services)}…")
        answers, notes = await _ask_upstream(engine, services, interactive)
        engine.store.save_papers(paper for papers in answers.values() for paper in papers)
        for name, papers in answers.items():
            record_upstream_search(engine.store, _upstream_key(name, parsed, feed), engine.now(), len(papers))
    asked = tuple(name for name, _ in services)
    rows = index.search(parsed.text, limit=limit + 1, offset=(page - 1) * limit, feed=feed, since=since)
    hits = tuple(SearchHit(paper, score) for paper, score in rows[:limit])
    return SearchResult(parsed.text, hits, page, limit, len(rows) > limit, tuple(notes), asked)


Ask = Callable[[], Awaitable[list[Paper]]]


def _services(engine: Engine, text: str, feed: str | None) -> list[tuple[str, Ask]]:
    """Who to ask about ``feed``: arXiv (kept to an arXiv category), Hugging Face for its own feed or when
    no feed is given, nobody for a preprint server's feed (neither searches bioRxiv or medRxiv)."""
    source = engine.source_of(feed) if feed is not None else None
    wanted: list[tuple[str, Ask]] = []
    if source is None or source.name == "arxiv":
        category = feed if source is not None else None
        wanted.append(("arXiv", lambda: engine.arxiv.search(text, UPSTREAM_RESULTS, category=category)))
    hf = engine.sources.get("huggingface")
    if isinstance(hf, HuggingFaceSource) and (source is None or source.name == hf.name):
        wanted.append((hf.display_name, lambda: hf.search(text, limit=UPSTREAM_RESULTS)))
    return wanted


async def _ask_upstream(
    engine: Engine, services: list[tuple[str, Ask]], interactive: bool
) -> tuple[dict[str, list[Paper]], list[str]]:
    """Every service asked at once; what each that answered within the deadline found, and a note for each
    that did not."""
    tasks = {name: asyncio.ensure_future(ask()) for name, ask in services}
    deadline = engine.interactive_deadline_s if interactive else None
    _, pending = await asyncio.wait(tasks.values(), timeout=deadline)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)  # let them finish cancelling
    found: dict[str, list[Paper]] = {}
    notes: list[str] = []
    for name, task in tasks.items():
        if task in pending:
            log.info("%s search did not answer within the interactive deadline of %g s", name, deadline or 0)
            notes.append(f"{name} did not answer within {deadline:g} s: its results are not included.")
            continue
        error = task.exception()
        if error is None:
            found[name] = task.result()
        elif isinstance(error, SourceError | NotFoundError):
            log.info("%s search failed: %s", name, error)
            # Our typed errors' messages are written for users (see bot.errors).
            notes.append(f"{name} search failed, its results are not included: {str(error)[:200]}")
        elif isinstance(error, UsageError):
            notes.append(f"{name} could not search for that: {str(error)[:200]}")
        else:
            log.error("%s search failed unexpectedly", name, exc_info=error)
            notes.append(f"{name} search failed: its results are not included.")
    return found, notes


def _upstream_key(service: str, parsed: SearchQuery, feed: str | None) -> str:
    return f"{service} {feed or '*'} {parsed.text.casefold()}"


def _due(engine: Engine, key: str) -> bool:
    last = upstream_asked_at(engine.store, key)
    return last is None or engine.now() - last >= ASK_AGAIN_AFTER
