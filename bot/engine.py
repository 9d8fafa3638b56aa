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
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot import calendar
from bot.cards import DigestMessage, Reply, make_card
from bot.config import Config
from bot.digest import DigestSelection, select_digest
from bot.errors import NotFoundError, SourceError, SourceUnreachable, StaleFeed
from bot.explain.llm import build_provider
from bot.explain.service import Explainer
from bot.ids import parse_arxiv_id
from bot.models import ChannelRef, Paper, Subscription
from bot.sources.arxiv import ArxivClient
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

# Told what is about to be fetched ("Fetching 2403.15527 from arXiv…"); may be a coroutine function.
Progress = Callable[[str], Awaitable[None] | None]


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
    ) -> None:
        self.config = config
        self.store = store
        self.arxiv = arxiv
        self.now = now
        self.interactive_deadline_s = interactive_deadline_s
        self.explainer = explainer or Explainer(config, store, None, now=now)
        self._listeners: list[Callable[[], None]] = []
        # One refresh at a time: a command and a scheduled digest needing the same feed fetch it once.
        self._refresh_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Engine:
        store = Store(config.database_path)
        store.migrate()
        arxiv = ArxivClient(
            rss_url=config.get("sources.arxiv", "rss_url"),
            api_url=config.get("sources.arxiv", "api_url"),
            timeout_s=config.get("sources.arxiv", "timeout_s"),
            retries=config.get("sources.arxiv", "retries"),
        )
        explainer = Explainer(config, store, build_provider(config))
        return cls(config, store, arxiv, explainer=explainer)

    async def aclose(self) -> None:
        await self.arxiv.aclose()
        await self.explainer.aclose()
        self.store.close()

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
        async with self._deadline(interactive), self._refresh_lock:
            return await self._refresh(categories, force, progress)

    async def _refresh(self, categories: Sequence[str], force: bool, progress: Progress | None) -> RefreshResult:
        fetched: list[str] = []
        reused: list[str] = []
        failed: dict[str, SourceError] = {}
        now = self.now()
        for category in dict.fromkeys(categories):
            tried = self.store.last_fetch(category, ok_only=False)
            if not force and tried is not None and tried.error and now - tried.fetched_at < RECENT_FAILURE:
                # Failed moments ago (for another channel of the same fan-out): do not ask arXiv again,
                # fail the same way until the scheduler's retry.
                failed[category] = SourceError(tried.error)
                continue
            last = self.store.last_fetch(category)
            current = last is not None and not calendar.feed_rebuilt_since(last.fetched_at, now)
            if not force and last is not None and current and not self.is_stale(last.announced, now):
                reused.append(category)
                continue
            try:
                await _tell(progress, f"Fetching arXiv's feed of {category}…")
                feed = await self.arxiv.fetch_feed([category])
            except SourceError as err:
                log.warning("fetch of %s failed: %s", category, err)
                self.store.record_fetch_error([category], str(err), at=now)
                failed[category] = err
                continue
            self.store.save_feed(feed, fetched_at=now)
            fetched.append(category)
        return RefreshResult(tuple(fetched), tuple(reused), failed)

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
        stale = tuple(c for c in wanted if (last := self.store.last_fetch(c)) and self.is_stale(last.announced, now))
        return replace(selection, stale=stale)

    def _holds_current_copy(self, category: str, now: datetime) -> bool:
        """Whether the stored feed of ``category`` was fetched since arXiv last rebuilt it."""
        last = self.store.last_fetch(category)
        return last is not None and not calendar.feed_rebuilt_since(last.fetched_at, now)

    async def plan_digest(
        self,
        channel: ChannelRef,
        subscriptions: Sequence[Subscription],
        *,
        interactive: bool = False,
        progress: Progress | None = None,
    ) -> DigestSelection:
        """What ``channel`` should get now from these subscriptions. Raises SourceError when a feed
        could not be fetched, so the caller retries later instead of posting an incomplete digest.
        ``interactive`` for a person waiting (``/paper digest``), not for the scheduler."""
        active = [s for s in subscriptions if s.paused_reason is None]
        categories = [s.category for s in active]
        result = await self.refresh(categories, interactive=interactive, progress=progress)
        if result.failed:
            raise next(iter(result.failed.values()))
        now = self.now()
        for category in categories:
            last = self.store.last_fetch(category)
            if last is not None and self.is_stale(last.announced, now):
                error = StaleFeed(
                    f"arXiv's feed for {category} still shows the announcement of {last.announced}; "
                    "it is usually rebuilt within minutes: will try again"
                )
                self.store.record_fetch_error([category], str(error), at=now)
                raise error
        return select_digest(self.store, channel, active, self.default_limit)

    @staticmethod
    def is_stale(announced: date | None, now: datetime) -> bool:
        """A feed is stale when today's feed should hold a newer announcement than the one it shows."""
        if announced is None or not calendar.expects_announcement(now):
            return False
        return announced < calendar.feed_date(now)

    def digest_message(self, selection: DigestSelection) -> DigestMessage:
        """The digest as drawn: cards carry a "math in a sentence" line where one is ready."""
        return selection.message(one_liners=self.explainer.one_liners(selection.papers))

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
        """The paper for any id form, from the store or arXiv's API; and the version asked for."""
        wanted = parse_arxiv_id(id_text)
        paper = self.store.get_paper(wanted.id)
        if paper is None or (wanted.version is not None and wanted.version > paper.version):
            await _tell(progress, f"Fetching {wanted.id} from arXiv…")
            async with self._deadline(interactive):
                fetched = await self.arxiv.fetch_paper(wanted.id)
            self.store.save_papers([fetched])
            paper = self.store.get_paper(wanted.id) or fetched
        if wanted.version is not None and wanted.version > paper.version:
            raise NotFoundError(f"arXiv has no version {wanted.version} of {wanted.id} (latest is v{paper.version}).")
        return paper, wanted.version

    async def explain(
        self, id_text: str, *, interactive: bool = True, progress: Progress | None = None
    ) -> tuple[Paper, Reply]:
        """The card and the explanation of a paper. Takes seconds with an LLM: adapters acknowledge first.
        The interactive deadline bounds the arXiv lookup only; the LLM has its own timeout."""
        paper, asked_version = await self.lookup(id_text, interactive=interactive, progress=progress)
        text = ""
        if asked_version is not None and asked_version != paper.version:
            text = f"You asked for v{asked_version}; this is the latest version, v{paper.version}."
        explanation = await self.explainer.explain(paper)
        line = self.explainer.one_liners([paper]).get(paper.id, "")
        reply = Reply(text=text, cards=(make_card(paper, math_line=line),), explanation=explanation)
        return paper, reply

    # --- deadlines -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _deadline(self, interactive: bool) -> AsyncIterator[None]:
        """Bound the arXiv work inside by the interactive deadline (nothing when not interactive)."""
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
            log.info("arXiv did not answer within the interactive deadline of %g s", limit)
            raise SourceUnreachable(f"arXiv did not answer within {limit:g} s; try again in a few minutes.") from None


async def _tell(progress: Progress | None, message: str) -> None:
    if progress is None:
        return
    result = progress(message)
    if inspect.isawaitable(result):
        await result
