"""The digest engine: the one object adapters, the scheduler and the CLI talk to.

It owns the store and the outbound clients (injected, so tests point them at local fakes) and knows
nothing about any chat platform.

Interactive and scheduled work differ in how long arXiv may take. A person waiting on ``/paper explain``
or ``paperbot digest`` gets an answer within ``interactive_deadline_s`` (10 s): the methods they use
(``lookup``, ``explain``, ``preview``) are interactive by default and raise SourceUnreachable when the
deadline passes. The scheduler's ``plan_digest``/``refresh`` are not, and keep the client's full retries
(a chat command calling them passes ``interactive=True``). Every fetch can be announced through a
``progress`` callback (a CLI line on stderr, a "fetching…" chat message) just before it starts.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from bot import calendar, embeddings
from bot.cards import DigestMessage, Reply, make_card
from bot.config import Config
from bot.digest import DigestSelection, select_digest
from bot.engine_feeds import announcement_stale, arxiv_feed_due, as_feed, feed_name, recent_failure
from bot.errors import FeedFormatError, NotFoundError, SourceError, SourceUnreachable, StaleFeed, SuspiciousEmptyFeed
from bot.explain.llm import build_provider
from bot.explain.offline import NO_HTML_BADGE, UNFETCHED_BADGE
from bot.explain.service import Explainer, PrepareReport
from bot.flights import Flights
from bot.fulltext import FullText, FullTextCache, MemoryFullTextCache, TextCache, fetch_full_text
from bot.jats import NO_JATS_BADGE, UNFETCHED_JATS_BADGE, as_jats_source, fetch_jats_full_text
from bot.layouts import layout_of
from bot.models import ChannelRef, Feed, Paper, Subscription
from bot.outbox import Outbox
from bot.page_refusals import REDIRECTED, abstract_badge
from bot.polite_turns import acting_for
from bot.progress import Progress, tell
from bot.sources.arxiv import ArxivClient
from bot.sources.arxiv_combined import CombinedFeeds
from bot.sources.base import PaperRef, Source
from bot.sources.polite import RedirectRefused
from bot.sources.registry import SourceRegistry, build_sources
from bot.store import Store, utcnow

log = logging.getLogger(__name__)

PREVIEW_CHANNEL = ChannelRef("cli", "", "preview")
# A fetch that failed this recently is not tried again: 1,000 channels must not mean 1,000 retries.
# Shorter than the scheduler's retry delay, so its retries do fetch.
RECENT_FAILURE = timedelta(minutes=5)
# How long a person waits for arXiv before being told to try again later (waiting for another
# fetch in progress, arXiv's 3 s spacing and retries included). Slack and Discord have been
# acknowledged long before: this bounds the silence after "fetching…".
INTERACTIVE_DEADLINE_S = 10.0
# After a full-text host fails or times out, explanations skip it this long (abstract only, and the badge says
# why) instead of each waiting out the deadline again.
HOST_DOWN_S = 300.0
HOST_DOWN = "{host} did not answer a few minutes ago; it is asked again later"
# Preparing explanations ahead: the share of the prepare window spent fetching full texts (the LLM, and a
# Message Batch's turnaround, get the rest), and how many failures in a row stop fetching from a service.
FETCH_SHARE = 0.5
MAX_FETCH_FAILURES = 3

# Told what is about to be fetched ("Fetching 2403.15527 from arXiv…"); may be a coroutine function.


@dataclass(slots=True)
class _FeedRefresh:
    """One feed's refresh, shared by everyone who needed it: its new papers are handed out once (to be
    embedded once)."""

    fetched: bool = False
    error: SourceError | None = None
    new_papers: list[Paper] = field(default_factory=list)

    def take_new_papers(self) -> list[Paper]:
        taken, self.new_papers = self.new_papers, []
        return taken


@dataclass(frozen=True, slots=True)
class RefreshResult:
    fetched: tuple[str, ...]
    reused: tuple[str, ...]
    failed: dict[str, SourceError]


class Engine:
    def __init__(
        self,
        config: Config,
        store: Store,
        arxiv: ArxivClient,
        *,
        explainer: Explainer | None = None,
        now: Callable[[], datetime] = utcnow,
        interactive_deadline_s: float = INTERACTIVE_DEADLINE_S,
        sources: SourceRegistry | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.arxiv = arxiv
        # Every source by feed name and id form; arXiv's client is the one given (tests point it at a fake).
        self.sources = sources if sources is not None else build_sources(config, arxiv)
        self.now = now
        self.interactive_deadline_s = interactive_deadline_s
        self.explainer = explainer or Explainer(config, store, None, now=now)
        self._listeners: list[Callable[[], None]] = []
        # Feed name -> its source, remembered (see ``source_of``).
        self._feed_sources: dict[str, Source] = {}
        # Feeds being refreshed: a command and a scheduled digest needing the same feed fetch it once, and a
        # person's digest never waits behind a scheduled refresh of other feeds.
        self._feeds: Flights[tuple[str, bool], _FeedRefresh] = Flights()
        self._background: set[asyncio.Task[int]] = set()
        self._memory_texts = MemoryFullTextCache()
        # Work under way, shared by everyone asking at once (bot.flights): papers by (source, id), full
        # texts by paper version. A paper asked for by many at once is one request.
        self._lookups: Flights[tuple[str, str], Paper] = Flights()
        self._texts: Flights[tuple[str, int], FullText | None] = Flights()
        self._reading = self._texts.running
        self._hosts_down: dict[str, datetime] = {}  # full-text host -> when it last failed or timed out
        self._arxiv_feeds = CombinedFeeds(arxiv)

    @classmethod
    def from_config(cls, config: Config) -> Engine:
        store = Store(config.database_path)
        store.migrate()
        arxiv = ArxivClient(
            rss_url=config.get("sources.arxiv", "rss_url"),
            api_url=config.get("sources.arxiv", "api_url"),
            timeout_s=config.get("sources.arxiv", "timeout_s"),
            retries=config.get("sources.arxiv", "retries"),
            html_url=config.get("sources.arxiv", "html_url"),
        )
        explainer = Explainer(config, store, build_provider(config))
        return cls(config, store, arxiv, explainer=explainer, sources=build_sources(config, arxiv))

    async def aclose(self) -> None:
        for task in list(self._background):  # embeddings started by an interactive refresh
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.arxiv.aclose()
        for source in self.sources.sources:
            if source.name != "arxiv":  # arXiv's client is closed above
                await source.aclose()
        await self.explainer.aclose()
        self.store.close()

    def source_of(self, feed: str) -> Source:
        """The source a stored feed name belongs to, asked of the registry once per feed: the registry
        tries every prefixed source's parser first (and a miss runs its did-you-mean), which a fan-out
        would otherwise repeat for every feed of every channel, several times each."""
        found = self._feed_sources.get(feed)
        if found is None:
            found = self._feed_sources[feed] = self.sources.source_of_feed(feed)
        return found

    # --- subscriptions changed: the scheduler listens to add time slots -------------------------

    def on_subscriptions_changed(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def subscriptions_changed(self) -> None:
        for listener in self._listeners:
            listener()

    @property
    def default_limit(self) -> int:
        return int(self.config.get("digest", "limit"))

    # --- fetching ---------------------------------------------------------------------------

    async def refresh(
        self,
        categories: Sequence[str],
        *,
        force: bool = False,
        interactive: bool = False,
        progress: Progress | None = None,
    ) -> RefreshResult:
        """Fetch the feeds of categories whose stored copy predates arXiv's latest rebuild.

        arXiv asks clients not to request the same thing twice a day; a feed fetched since the last
        midnight-Eastern rebuild is reused. ``interactive``: raise SourceUnreachable once the
        interactive deadline has passed (a fetch cut short is not recorded as a failure: it was the
        person's patience, not arXiv, that ran out).
        """
        services = sorted({self.source_of(c).display_name for c in categories}) or ["arXiv"]
        with acting_for(interactive):
            async with self._deadline(interactive, " and ".join(services)):
                result, new_papers = await self._refresh(categories, force, progress)
        if new_papers:
            # With [radar] embeddings_base_url set, new papers are embedded once, so a liked paper also
            # lifts papers close in meaning. A scheduled refresh waits for it (the digest planned next
            # uses the vectors); a person waiting on a command does not (the next digest will).
            embedding = embeddings.embed_new_papers(self.store, self.config, new_papers)
            if interactive:
                task = asyncio.ensure_future(embedding)
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                await embedding
        return result

    async def _refresh(
        self, categories: Sequence[str], force: bool, progress: Progress | None
    ) -> tuple[RefreshResult, list[Paper]]:
        new_papers: list[Paper] = []
        fetched: list[str] = []
        reused: list[str] = []
        failed: dict[str, SourceError] = {}
        wanted = list(dict.fromkeys(categories))
        now = self.now()  # arXiv's feeds due now are asked for together (bot.sources.arxiv_combined)
        due = [
            c
            for c in wanted
            if self.source_of(c).name == "arxiv"
            and arxiv_feed_due(self.store, c, now, force)
            and (force or not recent_failure(self.store, c, now, RECENT_FAILURE))
        ]
        self._arxiv_feeds.plan(due, lambda c: getattr(self.store.last_fetch(c), "items", None))
        try:
            planned = set(due)  # last: their groups, asked for at the plan, are read meanwhile (in workers)
            for category in sorted(wanted, key=lambda c: c in planned):
                refresh_feed = partial(self._refresh_feed, category, force, progress)
                outcome = await self._feeds.once((category, force), refresh_feed)
                if outcome.error is not None:
                    failed[category] = outcome.error
                elif outcome.fetched:
                    fetched.append(category)
                    new_papers += outcome.take_new_papers()
                else:
                    reused.append(category)
        finally:  # cut short (a person's deadline) or not, what was planned is not kept for a later refresh
            self._arxiv_feeds.forget(wanted)
        return RefreshResult(tuple(fetched), tuple(reused), failed), new_papers

    async def _refresh_feed(self, category: str, force: bool, progress: Progress | None) -> _FeedRefresh:
        now = self.now()
        failure = None if force else recent_failure(self.store, category, now, RECENT_FAILURE)
        if failure:
            # Failed moments ago (for another channel of the same fan-out): do not ask its source
            # again, fail the same way until the scheduler's retry.
            return _FeedRefresh(error=SourceError(failure))
        try:
            feed = await self._fetch_if_due(category, now, force, progress)
        except SourceError as err:
            log.warning("fetch of %s failed: %s", category, err)
            self.store.record_fetch_error([category], str(err), at=now)
            return _FeedRefresh(error=err)
        if feed is None:
            return _FeedRefresh()
        try:
            self.store.save_feed(feed, fetched_at=now)
        except (sqlite3.Error, OverflowError, ValueError) as err:
            # One feed's unstorable answer is that feed's failure, reported and retried like a fetch
            # error; the other feeds of the same refresh are stored and posted as usual.
            log.exception("storing the %s list failed", category)
            error = FeedFormatError(f"the {category} list could not be stored ({type(err).__name__})")
            self.store.record_fetch_error([category], str(error), at=now)
            return _FeedRefresh(error=error)
        return _FeedRefresh(fetched=True, new_papers=[item.paper for item in feed.items])

    async def _fetch_if_due(self, category: str, now: datetime, force: bool, progress: Progress | None) -> Feed | None:
        """The feed's new batch, or None when the stored one is still what its source serves.

        arXiv's feed is its latest announcement: reused until the midnight rebuild, unless it is stale.
        Another source's feed is a day's batch: fetched once that day is due, then kept."""
        source = self.source_of(category)
        if source.name == "arxiv":
            if not arxiv_feed_due(self.store, category, now, force):
                return None
            await tell(progress, f"Fetching arXiv's feed of {category}…")
            return await self._arxiv_feeds.fetch(category)
        last = self.store.last_fetch(category)
        day = source.batch_day(now)
        if day is None or (not force and last is not None and last.announced == day):
            return None  # nothing due yet, or that day's batch is already stored
        await tell(progress, f"Fetching {source.display_name}'s {category} list of {day:%d %b}…")
        name = feed_name(source, category)
        feed = as_feed(await source.fetch_batch(name, day))
        if not feed.items and source.expects_papers(name, day):
            raise SuspiciousEmptyFeed(
                f"{source.display_name} sent an empty {category} list for {day:%a %d %b}, "
                "which always has papers (often throttling); will try again later"
            )
        return feed

    # --- digests ----------------------------------------------------------------------------

    def preview_subscriptions(self, categories: Sequence[str]) -> list[Subscription]:
        include = bool(self.config.get("digest", "include_replacements"))
        return [
            Subscription(id=0, channel=PREVIEW_CHANNEL, category=c, include_replacements=include)
            for c in dict.fromkeys(categories)
        ]

    async def preview(
        self,
        categories: Sequence[str],
        limit: int | None = None,
        *,
        interactive: bool = True,
        progress: Progress | None = None,
    ) -> DigestSelection:
        """The current digest for categories, as a channel that has seen nothing would get it.

        A preview shows what arXiv's feed holds now, whatever the bot did before (a fresh database and
        one whose scheduler already looked at the same feed give the same answer). When a feed still
        shows an older announcement than today's (arXiv is late rebuilding it), the preview shows that
        announcement with its date and names the category in ``stale``: ``stale_note`` says so in one
        line. A scheduled digest waits for the new announcement instead (see ``plan_digest``).

        A category whose fetch failed is still shown when the copy we hold was fetched since arXiv's
        last rebuild (it is what the feed holds); otherwise the failure is raised.
        """
        wanted = list(dict.fromkeys(categories))
        result = await self.refresh(wanted, interactive=interactive, progress=progress)
        now = self.now()
        for category, error in result.failed.items():
            if not self._holds_current_copy(category, now):
                raise error
        selection = select_digest(
            self.store,
            PREVIEW_CHANNEL,
            self.preview_subscriptions(wanted),
            self.default_limit if limit is None else limit,
            include_delivered=True,
        )
        stale = tuple(c for c in wanted if self.feed_is_stale(c, now))
        return replace(selection, stale=stale)

    def _holds_current_copy(self, category: str, now: datetime) -> bool:
        """Whether the stored feed of ``category`` is the one its source serves now: for arXiv, fetched
        since the last rebuild; for a source of daily batches, the batch of the day due now."""
        last = self.store.last_fetch(category)
        if last is None:
            return False
        source = self.source_of(category)
        if source.name != "arxiv":
            return last.announced == source.batch_day(now)
        return not calendar.feed_rebuilt_since(last.fetched_at, now)

    def feed_is_stale(self, feed: str, now: datetime) -> bool:
        """Whether the stored copy of ``feed`` is older than what its source should serve by now."""
        last = self.store.last_fetch(feed)
        if last is None:
            return False
        source = self.source_of(feed)
        if source.name == "arxiv":
            return self.is_stale(last.announced, now)
        day = source.batch_day(now)
        return day is not None and (last.announced is None or last.announced < day)

    async def plan_digest(
        self,
        channel: ChannelRef,
        subscriptions: Sequence[Subscription],
        *,
        interactive: bool = False,
        progress: Progress | None = None,
        partial: bool = False,
    ) -> DigestSelection:
        """What ``channel`` should get now from these subscriptions. Raises SourceError when a feed
        could not be fetched (or is stale), so the caller retries later instead of posting an incomplete
        digest. ``interactive`` for a person waiting (``/paper digest``), not for the scheduler.

        ``partial``: a source that failed does not hold back the others. Its feeds are left out of this
        digest (every feed of that source, so a source's day is never posted in part), named in
        ``held_back``, and come in a later digest once it answers: the channel's deliveries keep each
        paper to one post. When every source failed, the first failure is raised as without ``partial``."""
        active = [s for s in subscriptions if s.paused_reason is None]
        categories = [s.category for s in active]
        result = await self.refresh(categories, interactive=interactive, progress=progress)
        failures: dict[str, SourceError] = dict(result.failed)
        now = self.now()
        for category in categories:
            last = self.store.last_fetch(category)
            if category not in failures and last is not None and self.feed_is_stale(category, now):
                error = StaleFeed(
                    f"{self.source_of(category).display_name}'s feed for {category} still shows "
                    f"the announcement of {last.announced}; it is usually rebuilt within minutes: will try again"
                )
                self.store.record_fetch_error([category], str(error), at=now)
                failures[category] = error
        if not failures:
            # Selected once per plan: the partial-digest check reads the same selection.
            whole = select_digest(self.store, channel, active, self.default_limit)
            return self._rest_of_a_partial_digest(channel, active, whole) or whole
        first = next(iter(failures.values()))
        failed_sources = {self.source_of(c).name for c in failures}
        kept = [s for s in active if self.source_of(s.category).name not in failed_sources]
        if not partial or not kept:
            raise first
        held = tuple(s.category for s in active if s not in kept)
        log.warning("digest for %s without %s for now: %s", channel, ", ".join(held), first)
        selection = select_digest(self.store, channel, kept, self.default_limit)
        return replace(selection, held_back=held, held_reason=str(first))

    def _rest_of_a_partial_digest(
        self, channel: ChannelRef, subscriptions: Sequence[Subscription], whole: DigestSelection
    ) -> DigestSelection | None:
        """When a digest of this announcement already went out without some feeds (their source had
        failed), what remains is those feeds only: the feeds posted then had their papers cut to the
        digest's limit, and must not be posted a second time as "the rest"."""
        if whole.announced is None:
            return None
        posted = Outbox(self.store).sent_feeds(channel, whole.announced)
        feeds = {s.category for s in subscriptions}
        if not posted & feeds:
            return None
        if posted >= feeds:  # every feed went out, in one digest or in parts: nothing more this time
            return replace(whole, papers=(), more_count=0)
        rest = [s for s in subscriptions if s.category not in posted]
        return select_digest(self.store, channel, rest, self.default_limit)

    is_stale = staticmethod(announcement_stale)

    def digest_message(self, selection: DigestSelection) -> DigestMessage:
        """The digest as drawn: cards carry a "math in a sentence" line where one is ready, and their
        number 1..n in the digest's order (what the day's briefing cites as #n)."""
        message = selection.message(one_liners=self.explainer.one_liners(selection.papers))
        cards = tuple(replace(card, number=n) for n, card in enumerate(message.cards, start=1))
        for_channel = selection.channel != PREVIEW_CHANNEL
        # Laid out as the channel chose (/paper layout); a preview for no channel stays in cards.
        layout = layout_of(self.store, selection.channel) if for_channel else message.layout
        return replace(message, cards=cards, for_channel=for_channel, layout=layout)

    def already_posted(self, selection: DigestSelection) -> bool:
        if selection.announced is None:
            return False
        return self.store.digest_posted(selection.channel, selection.announced, selection.categories)

    def mark_posted(self, selection: DigestSelection) -> None:
        if selection.announced is None:
            return
        self.store.record_delivery(
            selection.channel, selection.announced, selection.categories, [p.id for p in selection.papers]
        )

    # --- papers by id -----------------------------------------------------------------------

    async def lookup(
        self, id_text: str, *, interactive: bool = True, progress: Progress | None = None
    ) -> tuple[Paper, int | None]:
        """The paper for any id form of any source, from the store or its source; and the version asked for.

        A Hugging Face link names an arXiv paper: it is fetched from arXiv (its full record), and what
        Hugging Face adds (upvotes, code) is asked for too when it answers in time."""
        ref = self.sources.parse_ref(id_text)
        owner = self.sources.get("arxiv") if ref.source == "huggingface" else self.sources.get(ref.source)
        if owner is None:  # pragma: no cover - parse_ref only answers for registered sources
            raise NotFoundError(f"No source can fetch {ref.key}.")
        paper = self.store.get_paper(ref.key)
        if paper is None or (ref.version is not None and ref.version > paper.version):
            asked = self._asked(owner, ref, id_text)
            await tell(progress, f"Fetching {ref.key} from {asked}…")
            with acting_for(interactive):
                async with self._deadline(interactive, asked):
                    fetched = await self._fetch_paper(owner, replace(ref, source=owner.name))
                if ref.source == "huggingface":
                    await self._add_from(ref, interactive)
            paper = self.store.get_paper(ref.key) or fetched
        if ref.version is not None and ref.version > paper.version:
            raise NotFoundError(
                f"{owner.display_name} has no version {ref.version} of {ref.key} (latest is v{paper.version})."
            )
        return paper, ref.version

    def _asked(self, owner: Source, ref: PaperRef, pasted: str) -> str:
        """The service a lookup asks, as its messages name it. A DOI pasted without its server's link names
        no server: every preprint server is asked in turn ("bioRxiv or medRxiv"), not only the first."""
        if as_jats_source(owner) is None or any(host in pasted.lower() for host in owner.link_hosts):
            return owner.display_name
        servers = [s.display_name for s in self.sources.sources if as_jats_source(s) is not None]
        return " or ".join(dict.fromkeys(servers)) or owner.display_name

    async def _fetch_paper(self, source: Source, ref: PaperRef) -> Paper:
        """``source``'s record of the paper, asked once for everyone asking at the same time and stored
        when it comes, even if every asker's deadline has passed by then (the next asker finds it)."""

        async def fetch_and_keep() -> Paper:
            fetched = await source.fetch_paper(ref)
            self.store.save_papers([fetched])
            return fetched

        return await self._lookups.once((source.name, ref.key), fetch_and_keep)

    async def _add_from(self, ref: PaperRef, interactive: bool) -> None:
        """What a second source knows of a paper (Hugging Face's upvotes and links), if it answers."""
        source = self.sources.get(ref.source)
        if source is None:
            return
        try:
            async with self._deadline(interactive, source.display_name):
                await self._fetch_paper(source, ref)
        except (SourceError, NotFoundError) as err:
            log.info("no %s details for %s: %s", source.display_name, ref.key, err)

    async def explain(
        self, id_text: str, *, interactive: bool = True, progress: Progress | None = None
    ) -> tuple[Paper, Reply]:
        """The card and the explanation of a paper. Takes seconds with an LLM: adapters acknowledge first.
        The interactive deadline bounds the lookup and, separately, the full-text fetch (best effort:
        past it the explanation is built from the abstract); the LLM has its own timeout."""
        paper, asked_version = await self.lookup(id_text, interactive=interactive, progress=progress)
        text = ""
        if asked_version is not None and asked_version != paper.version:
            text = f"You asked for v{asked_version}; this is the latest version, v{paper.version}."
        full_text, badge = await self.full_text(paper, interactive)
        explanation = await self.explainer.explain(paper, full_text=full_text, abstract_badge=badge, progress=progress)
        line = self.explainer.one_liners([paper]).get(paper.id, "")
        reply = Reply(text=text, cards=(make_card(paper, math_line=line),), explanation=explanation)
        return paper, reply

    async def full_text(self, paper: Paper, interactive: bool) -> tuple[FullText | None, str]:
        """The paper's full text for the LLM prompt or the offline explanation: arXiv's HTML version of an
        arXiv paper, the JATS XML of a bioRxiv/medRxiv preprint. Best effort: no full text, a failure or
        the deadline (the interactive one; none otherwise) mean abstract-only, and the badge says why
        ("" for a paper whose source has no full text at all)."""
        with acting_for(interactive):
            return await self._full_text_within(
                paper, self.interactive_deadline_s if interactive else None, for_people=interactive
            )

    async def _full_text_within(
        self, paper: Paper, timeout_s: float | None, *, for_people: bool = False
    ) -> tuple[FullText | None, str]:
        fetch = self._full_text_fetcher(paper)
        if fetch is None:
            return None, ""
        read, missing, unfetched = fetch
        host = self._full_text_host(paper)
        if for_people and self._host_recently_down(host) and not isinstance(
            self._full_text_cache().get(paper.id, paper.version), FullText
        ):
            # An unreachable host costs one timeout, not one per explanation: for a few minutes no person waits
            # on it again (a fetch still in flight finishes on its own and is kept for the next asker). The
            # prepare job keeps its own rule (a few failures in a row, then the source is left alone).
            return None, abstract_badge(HOST_DOWN.format(host=host))
        try:
            async with asyncio.timeout(timeout_s):
                full_text = await self._texts.once((paper.id, paper.version), read)
            self._hosts_down.pop(host, None)
            if full_text is None:  # none, or a page set aside: the badge says which (bot.page_refusals)
                reason = self._full_text_cache().missing_reason(paper.id, paper.version)
                return None, abstract_badge(reason) if reason else missing
            return full_text, missing
        except RedirectRefused as err:
            log.info("no full text of %s: %s", paper.versioned_id, err)
            return None, abstract_badge(REDIRECTED)
        except TimeoutError:
            log.info("no full text of %s within %.0f s", paper.versioned_id, timeout_s or 0)
            self._hosts_down[host] = self.now()
        except (SourceError, OSError) as err:
            log.info("no full text of %s: %s", paper.versioned_id, err)
            self._hosts_down[host] = self.now()
        except Exception:  # a page no parser foresaw must not cost the user the explanation
            log.exception("reading the full text of %s failed", paper.versioned_id)
        return None, unfetched

    def _full_text_host(self, paper: Paper) -> str:
        """The host a paper's full text comes from (arXiv's HTML host, or the preprint's server)."""
        if paper.page_url is None and not paper.known_by_doi:
            url = str(self.config.get("sources.arxiv", "html_url"))
        else:
            url = paper.html_url
        return urlsplit(url).netloc.lower() or paper.source

    def _host_recently_down(self, host: str) -> bool:
        failed = self._hosts_down.get(host)
        return failed is not None and (self.now() - failed).total_seconds() < HOST_DOWN_S

    def _full_text_fetcher(self, paper: Paper) -> tuple[Callable[[], Awaitable[FullText | None]], str, str] | None:
        """How to read the paper's full text, and the badges for none and for a failure; None when its
        source has no full text."""
        cache = self._full_text_cache()
        if paper.page_url is None and not paper.known_by_doi:  # an arXiv paper, whoever listed it
            html_url = str(self.config.get("sources.arxiv", "html_url"))
            return (
                lambda: fetch_full_text(self.arxiv, paper.id, paper.version, html_url, cache),
                NO_HTML_BADGE,
                UNFETCHED_BADGE,
            )
        source = as_jats_source(self.sources.get(paper.source))
        if source is not None and paper.known_by_doi:
            return (
                lambda: fetch_jats_full_text(source, paper.id, paper.version, paper.html_url, cache),
                NO_JATS_BADGE,
                UNFETCHED_JATS_BADGE,
            )
        return None

    def _full_text_cache(self) -> TextCache:
        # Next to the database; an in-memory store (tests, previews) keeps them in memory.
        on_disk = self.store.path not in ("", ":memory:") and not self.store.path.startswith("file:")
        return FullTextCache(Path(self.store.path).resolve().parent / "fulltext") if on_disk else self._memory_texts

    # --- explanations ahead of posting ------------------------------------------------------------

    async def prepare_explanations(self, papers: Sequence[Paper], *, window_s: float | None = None) -> PrepareReport:
        """Explain ``papers`` (in digest priority order) before posting time, each on the basis an
        interactive ``/paper explain`` computes (same full text, same cache key), so that one is a hit.

        Full texts are fetched first, in order, sharing each service's politeness (arXiv: one request per
        3 s with the feed and the API, so at most 20 pages a minute), until ``FETCH_SHARE`` of the prepare
        window (``[llm] prepare_minutes``; ``window_s`` overrides) has passed: the rest are prepared from the
        abstract, and the log says how many. A source failing ``MAX_FETCH_FAILURES`` times in a row is not
        asked again this time. The LLM (concurrent calls or a Message Batch) gets what is left of the window."""
        window = 60.0 * float(self.config.get("llm", "prepare_minutes")) if window_s is None else window_s
        distinct = list({(p.id, p.version): p for p in papers}.values())
        if self.explainer.provider is None:
            return await self.explainer.prepare(distinct)
        started = time.monotonic()
        fetch_until = started + FETCH_SHARE * window
        full_texts: dict[tuple[str, int], FullText | None] = {}
        failures: dict[str, int] = {}
        missing = failed = skipped = 0
        for paper in distinct:
            if self._full_text_fetcher(paper) is None:
                continue
            service = "arxiv" if paper.page_url is None and not paper.known_by_doi else paper.source
            left = fetch_until - time.monotonic()
            if left <= 0 or failures.get(service, 0) >= MAX_FETCH_FAILURES:
                skipped += 1
                continue
            with acting_for(False):  # a person's request, arriving meanwhile, goes first
                full_text, badge = await self._full_text_within(paper, left)
            unfetched = badge in (UNFETCHED_BADGE, UNFETCHED_JATS_BADGE)
            failures[service] = failures.get(service, 0) + 1 if unfetched else 0
            failed += unfetched
            missing += full_text is None and not unfetched
            full_texts[(paper.id, paper.version)] = full_text
        fetching_s = time.monotonic() - started
        missing += len(distinct) - len(full_texts) - skipped  # their source has no full text at all
        log.info(
            "preparing explanations: full text of %d of %d papers in %.0f s (fetch deadline %.0f s); "
            "%d from the abstract (%d without a full text, %d not fetched in time or failed, "
            "%d past the deadline or of a failing source)",
            len(distinct) - missing - failed - skipped,
            len(distinct),
            fetching_s,
            FETCH_SHARE * window,
            missing + failed + skipped,
            missing,
            failed,
            skipped,
        )
        return await self.explainer.prepare(distinct, full_texts=full_texts, deadline_s=max(60.0, window - fetching_s))

    # --- deadlines -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _deadline(self, interactive: bool, service: str = "arXiv") -> AsyncIterator[None]:
        """Bound the source's work inside by the interactive deadline (nothing when not interactive)."""
        if not interactive:
            yield
            return
        limit = self.interactive_deadline_s
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                yield
        except TimeoutError:
            if not scope.expired():
                raise  # not ours
            log.info("%s did not answer within the interactive deadline of %g s", service, limit)
            message = f"{service} did not answer within {limit:g} s; try again in a few minutes."
            raise SourceUnreachable(message) from None
