"""Every source, registered in one place: feed names and pasted ids are resolved here, not in the engine.

A new source is a module in ``bot/sources/`` implementing ``bot.sources.base.Source`` and one line in
``build_sources``. Sources that claim feeds by a prefix (``hf``, ``biorxiv:…``) are asked first; arXiv,
whose categories have no prefix, answers last, so its did-you-mean also catches typos of the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache

from bot import calendar, taxonomy
from bot.config import Config
from bot.errors import BadIdError, StaleFeed, UnknownCategoryError
from bot.ids import parse_arxiv_id, tidy_pasted
from bot.models import Paper
from bot.sources.arxiv import ArxivClient
from bot.sources.base import Batch, FeedName, PaperRef, Source
from bot.sources.biorxiv import preprint_sources
from bot.sources.huggingface import HuggingFaceSource

__all__ = ["ArxivSource", "SourceRegistry", "build_sources", "link_hosts", "naming", "resolve_feed"]

ID_FORMS = (
    "an arXiv id or link (2604.11422, arXiv:2604.11422v2, https://arxiv.org/abs/2604.11422), "
    "a Hugging Face paper link (https://huggingface.co/papers/2604.11422) or a bioRxiv/medRxiv DOI or link "
    "(10.1101/2024.12.31.630767, https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1)"
)


class ArxivSource:
    """arXiv as a ``Source``: categories from the taxonomy, the announcement calendar, the RSS and API client.

    The engine still refreshes arXiv feeds through the client directly, because arXiv's feed is "the
    latest announcement" (reused until the midnight rebuild, stale when late), not a day asked for.
    """

    name = "arxiv"
    display_name = "arXiv"
    link_hosts: tuple[str, ...] = ("arxiv.org",)

    def __init__(self, client: ArxivClient | None = None) -> None:
        self._client = client  # None: naming only (feed names and ids), as config checks need

    @property
    def client(self) -> ArxivClient:
        if self._client is None:
            raise RuntimeError("this arXiv source was made for naming only")
        return self._client

    def resolve_feed(self, text: str) -> FeedName:
        category = taxonomy.resolve(text)
        return FeedName(self.name, category.id, f"{category.id} ({category.name})")

    def complete_feeds(self, prefix: str, limit: int = 25) -> Sequence[FeedName]:
        return [FeedName(self.name, c.id, f"{c.id} ({c.name})") for c in taxonomy.complete(prefix, limit)]

    def batch_day(self, now: datetime) -> date | None:
        return calendar.feed_date(now) if calendar.expects_announcement(now) else None

    def settles_at(self, day: date) -> datetime | None:
        return None  # arXiv's feed is its latest announcement, not a day's batch

    def expects_papers(self, feed: FeedName, day: date) -> bool:
        return True  # arXiv's own client retries and reports an empty feed on an announcement day

    def schedule_note(self) -> str:
        return "after each arXiv announcement"

    def parse_ref(self, text: str) -> PaperRef | None:
        try:
            wanted = parse_arxiv_id(text)
        except BadIdError:
            return None
        return PaperRef(self.name, wanted.id, wanted.version)

    async def fetch_batch(self, feed: FeedName, day: date) -> Batch:
        fetched = await self.client.fetch_feed([feed.name])
        if fetched.announced is not None and fetched.announced < day:
            raise StaleFeed(f"arXiv's feed for {feed.name} still shows the announcement of {fetched.announced}")
        return Batch(feed.name, fetched.announced or day, tuple(item.paper for item in fetched.items))

    async def fetch_paper(self, ref: PaperRef) -> Paper:
        return await self.client.fetch_paper(ref.key)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class SourceRegistry:
    """The registered sources, asked in order; the last one (arXiv) is the fallback for feed names."""

    def __init__(self, sources: Sequence[Source]) -> None:
        if not sources:
            raise ValueError("at least one source is needed")
        self.sources = tuple(sources)
        self._by_name = {s.name: s for s in self.sources}
        self._feed_owner: dict[str, Source] = {}

    def get(self, name: str) -> Source | None:
        return self._by_name.get(name)

    def resolve_feed(self, text: str) -> FeedName:
        """The feed ``text`` names, in its canonical spelling, or UnknownCategoryError saying what to type."""
        *prefixed, fallback = self.sources
        for source in prefixed:
            found = source.resolve_feed(text)
            if found is not None:
                return found
        try:
            found = fallback.resolve_feed(text)
        except UnknownCategoryError as err:
            others = ", ".join(_examples(prefixed))
            raise UnknownCategoryError(f"{err} Other feeds: {others}.", err.suggestions) from None
        if found is None:  # pragma: no cover - arXiv raises rather than answering None
            raise UnknownCategoryError(f"Unknown feed. Try one of: {', '.join(_examples(prefixed))}.")
        return found

    def source_of_feed(self, feed: str) -> Source:
        """The source a stored feed name belongs to (feed names are stored in canonical spelling).
        Remembered per name: a miss runs each prefixed source's did-you-mean, and every digest asks."""
        found = self._feed_owner.get(feed)
        if found is None:
            found = self._feed_owner[feed] = self._owner_of(feed)
        return found

    def _owner_of(self, feed: str) -> Source:
        *prefixed, fallback = self.sources
        for source in prefixed:
            try:
                if source.resolve_feed(feed) is not None:
                    return source
            except UnknownCategoryError:
                continue
        return fallback

    def complete_feeds(self, prefix: str, limit: int = 25) -> list[FeedName]:
        """Choices for an autocomplete box. Nothing typed yet: arXiv's popular categories, then one entry
        per other source (hf, biorxiv, medrxiv); else every source's matches, prefix matches first."""
        if limit <= 0:
            return []
        *prefixed, fallback = self.sources
        query = prefix.strip().lower()
        if not query:
            others = [f for source in prefixed for f in source.complete_feeds("", 1)]
            return [*fallback.complete_feeds("", max(0, limit - len(others))), *others][:limit]
        found = [f for source in (fallback, *prefixed) for f in source.complete_feeds(prefix, limit)]
        found.sort(key=lambda f: not f.name.lower().startswith(query))  # stable: each source's order kept
        return found[:limit]

    def parse_ref(self, text: str) -> PaperRef:
        """What a pasted id or link points at, or BadIdError listing the forms that work."""
        pasted = tidy_pasted(text)  # "2508.13219." and "(10.1101/…)" as pasted from a sentence
        for source in self.sources:
            ref = source.parse_ref(pasted)
            if ref is not None:
                return ref
        shown = " ".join(text.split())[:60]
        raise BadIdError(f"{shown!r} is not an arXiv id, a Hugging Face link or a bioRxiv/medRxiv DOI. Use {ID_FORMS}.")

    def link_hosts(self) -> tuple[str, ...]:
        """Every host our messages may link to: DOIs and each source's own."""
        return tuple(dict.fromkeys(("doi.org", *(h for s in self.sources for h in s.link_hosts))))

    async def aclose(self) -> None:
        for source in self.sources:
            await source.aclose()


def _examples(sources: Sequence[Source]) -> list[str]:
    names: list[str] = []
    for source in sources:
        names.extend(f.name for f in source.complete_feeds("", 1))
    return names


def build_sources(config: Config, arxiv: ArxivClient) -> SourceRegistry:
    """Every source, configured; prefixed sources first, arXiv last (see the module docstring)."""
    # One clock for every source: the day a source's batch is due and the day it agrees to fetch are read
    # on the same clock as arXiv's (the engine's, in tests), whatever the channel's time and zone.
    huggingface = HuggingFaceSource(
        config.get("sources.huggingface", "api_url"),
        min_upvotes=int(config.get("sources.huggingface", "min_upvotes")),
        settle_hour_utc=int(config.get("sources.huggingface", "settle_hour_utc")),
        now=arxiv.now,
    )
    content_url = str(config.get("sources.biorxiv", "content_url")) or None
    biorxiv, medrxiv = preprint_sources(
        config.get("sources.biorxiv", "api_url"), content_url=content_url, now=arxiv.now
    )
    return SourceRegistry([huggingface, biorxiv, medrxiv, ArxivSource(arxiv)])


@cache
def naming() -> SourceRegistry:
    """Every source with default settings, for what needs no network: feed names, ids, autocomplete.
    (Sources make their HTTP clients on first use, so this one never opens a connection.)"""
    huggingface = HuggingFaceSource()
    biorxiv, medrxiv = preprint_sources()
    return SourceRegistry([huggingface, biorxiv, medrxiv, ArxivSource()])


def link_hosts() -> tuple[str, ...]:
    """Every host our messages may link to (see ``Source.link_hosts``)."""
    return naming().link_hosts()


def resolve_feed(text: str) -> FeedName:
    """The feed ``text`` names, in canonical spelling, or UnknownCategoryError saying what to type."""
    return naming().resolve_feed(text)
