"""Which papers a channel gets: the latest announcement of each category it follows, new and cross-listed
papers first (replacements only on request), each paper once across categories and once ever per channel;
ranked by the channel's research radar when it has one (bot.radar, bot.ranking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

from bot.cards import DigestMessage, listing_links, make_card
from bot.embeddings import vector_lookup
from bot.models import ChannelRef, Paper, Subscription
from bot.radar import Radar
from bot.ranking import Corpus, RadarProfile, VectorLookup, rank, top
from bot.store import Store

NEW_TYPES = ("new", "cross")
REPLACEMENT_TYPES = ("replace", "replace-cross")
_TYPE_RANK = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}


@dataclass(frozen=True, slots=True)
class DigestSelection:
    channel: ChannelRef
    categories: tuple[str, ...]
    announced: date | None  # the newest announcement among the categories
    papers: tuple[Paper, ...]  # what the channel gets, in order, after the cap
    more_count: int  # new-to-the-channel papers cut by the cap
    # Categories whose feed still shows an older announcement than today's (set by previews only:
    # a scheduled digest waits for the new announcement instead).
    stale: tuple[str, ...] = ()
    # Feeds left out of this digest because their source failed (``plan_digest(partial=True)``); their
    # papers come in a later digest. ``held_reason`` is the first failure, for the retry and the report.
    held_back: tuple[str, ...] = ()
    held_reason: str = ""
    # Why the radar put each paper where it is: (paper id, "matches: … · author: …"), for the cards.
    why: tuple[tuple[str, str], ...] = ()

    @property
    def stale_note(self) -> str:
        """One line saying the preview is of an older announcement, or "" when every feed is current."""
        if not self.stale:
            return ""
        return (
            f"arXiv's feed for {', '.join(self.stale)} still shows an earlier announcement than today's "
            "(it is usually rebuilt within minutes): this preview shows that earlier one."
        )

    def message(self, teaser_chars: int = 280, one_liners: Mapping[str, str] | None = None) -> DigestMessage:
        lines = one_liners or {}
        reasons = dict(self.why)
        return DigestMessage(
            categories=self.categories,
            announced=self.announced,
            cards=tuple(make_card(p, teaser_chars, lines.get(p.id, ""), reasons.get(p.id, "")) for p in self.papers),
            more_count=self.more_count,
            more_links=listing_links(self.categories) if self.more_count else (),
        )


def select_digest(
    store: Store,
    channel: ChannelRef,
    subscriptions: Sequence[Subscription],
    limit: int,
    *,
    include_delivered: bool = False,
    profile: RadarProfile | None = None,
) -> DigestSelection:
    """Select the digest for ``channel`` from the stored latest announcements of its subscriptions.

    ``limit`` 0 means no cap. Without a radar the order is stable: new before cross-listed before revised,
    then by the order the channel follows its categories, then by arXiv's own order in the listing. With
    one (the channel's, or ``profile``), the fresh papers are ranked by it before the cap, each kept paper
    with its why; in "only" mode the papers that match nothing are left out (and not counted as more).
    """
    categories = tuple(dict.fromkeys(s.category for s in subscriptions))
    announced_dates, unique, _ = _candidates(store, subscriptions)
    fresh: Sequence[Paper] = unique
    if not include_delivered:
        seen = store.delivered_ids(channel, [p.id for p in unique])
        if seen:
            fresh = [p for p in fresh if p.id not in seen]
    radar = Radar(store)
    wanted = profile if profile is not None else radar.profile(channel)
    why: tuple[tuple[str, str], ...] = ()
    if wanted.ranks and fresh:
        corpus = candidate_corpus(store, subscriptions)
        # Only the kept papers are put in order (and explained): a fan-out ranks thousands per channel.
        ranked, total = top(fresh, wanted, radar.liked_papers(wanted), limit, corpus=corpus)
        kept = [r.paper for r in ranked]
        more = total - len(kept)
        why = tuple((r.paper.id, r.why) for r in ranked if r.why)
    else:
        kept = list(fresh if limit == 0 else fresh[:limit])
        more = len(fresh) - len(kept)
    return DigestSelection(
        channel=channel,
        categories=categories,
        announced=max(announced_dates) if announced_dates else None,
        papers=tuple(kept),
        more_count=more,
        why=why,
    )


def radar_reasons(
    store: Store,
    channel: ChannelRef,
    categories: Sequence[str],
    papers: Sequence[Paper],
    listed: Sequence[Paper] = (),
) -> tuple[tuple[str, str], ...]:
    """The why lines of a digest drawn again after a restart (its papers and their order come from the
    outbox row), from the channel's radar as it is now. The corpus is the channel's candidates when they
    still hold every paper (then the lines are the ones first drawn), else ``listed`` (the listings the
    row's papers come from) with the papers themselves. ``categories``: the feeds of the digest."""
    radar = Radar(store)
    profile = radar.profile(channel)
    if not profile.ranks or not papers:
        return ()
    ids = {p.id for p in papers}
    subs = [s for s in store.channel_subscriptions(channel) if s.category in categories]
    corpus = candidate_corpus(store, subs)
    if not ids <= corpus.position.keys():
        corpus = Corpus(list({p.id: p for p in (*listed, *papers)}.values()), _vectors(store))
    reasons = {r.paper.id: r.why for r in rank(papers, profile, radar.liked_papers(profile), corpus=corpus)}
    return tuple((p.id, reasons[p.id]) for p in papers if reasons.get(p.id))


def candidates(store: Store, subscriptions: Sequence[Subscription]) -> tuple[Paper, ...]:
    """Every paper these subscriptions' latest announcements offer, in the unranked digest order."""
    return _candidates(store, subscriptions)[1]


def candidate_corpus(store: Store, subscriptions: Sequence[Subscription]) -> Corpus:
    """The word statistics of these subscriptions' candidates, the corpus their radars rank against: built
    once per fan-out (until the listings change), like the candidates themselves. Liked papers compare by
    their cached embeddings too where there are some (``bot.embeddings``)."""
    key = ("radar-corpus", _plan(store, subscriptions))
    cached = store.derived.get(key)
    if isinstance(cached, Corpus):
        return cached
    _, papers, feeds = _candidates(store, subscriptions)
    corpus = Corpus(papers, _vectors(store), feeds)
    store.derived[key] = corpus
    return corpus


def _vectors(store: Store) -> VectorLookup | None:
    """Where the store's cached paper embeddings are read, or None without any: found out with the
    candidates, once per fan-out (until the papers or the vectors change), so a channel's ranking spends
    no query on it."""
    key = ("radar-vectors",)
    if key not in store.derived:
        store.derived[key] = vector_lookup(store)
    return cast("VectorLookup | None", store.derived[key])


def _plan(store: Store, subscriptions: Sequence[Subscription]) -> tuple[tuple[str, date, bool, int], ...]:
    plan = []
    for sub in subscriptions:
        fetch = store.last_fetch(sub.category)
        if fetch is not None and fetch.announced is not None:
            plan.append((sub.category, fetch.announced, sub.include_replacements, sub.min_upvotes or 0))
    return tuple(plan)


def _candidates(
    store: Store, subscriptions: Sequence[Subscription]
) -> tuple[list[date], tuple[Paper, ...], tuple[str, ...]]:
    """The announcement dates, the ranked, deduplicated papers of these subscriptions and the feed each
    came from (the first that lists it), before the channel's own history is applied. The same for every
    channel with the same subscriptions, so a fan-out computes it once (until the listings change)."""
    plan = _plan(store, subscriptions)
    key = ("digest-candidates", plan)
    cached = store.derived.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    # The order is (type, the channel's order of its feeds, arXiv's order): each feed's papers by type are
    # the same for every channel following it, so they are sorted once and only merged per plan.
    buckets = [_by_type(store, *entry) for entry in plan]
    unique: dict[str, tuple[Paper, str]] = {}
    for type_rank in range(len(_TYPE_RANK)):
        for (category, *_), by_type in zip(plan, buckets, strict=True):
            for paper in by_type[type_rank]:
                unique.setdefault(paper.id, (paper, category))
    result = (
        [entry[1] for entry in plan],
        tuple(paper for paper, _ in unique.values()),
        tuple(feed for _, feed in unique.values()),
    )
    store.derived[key] = result
    _vectors(store)
    return result


def _by_type(
    store: Store, category: str, announced: date, replacements: bool, min_upvotes: int
) -> tuple[tuple[Paper, ...], ...]:
    """One feed's listing as a digest takes it: its papers of each type (in ``_TYPE_RANK`` order) in arXiv's
    order, those the subscription leaves out (replacements, below the upvote floor) left out. Kept with the
    candidates, until the listings change."""
    key = ("digest-listing", category, announced, replacements, min_upvotes)
    cached = store.derived.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    allowed = NEW_TYPES + (REPLACEMENT_TYPES if replacements else ())
    by_type: list[list[Paper]] = [[] for _ in _TYPE_RANK]
    for paper in store.listed_papers(category, announced):
        if min_upvotes and (paper.upvotes or 0) < min_upvotes:
            continue  # below this channel's Hugging Face floor
        if paper.announce_type in allowed:
            by_type[_TYPE_RANK[paper.announce_type]].append(paper)
    result = tuple(tuple(papers) for papers in by_type)
    store.derived[key] = result
    return result
