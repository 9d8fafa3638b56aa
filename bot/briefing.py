"""The day's briefing: a short message opening a channel's digest, over the papers the channel gets that
day (all its feeds, in its radar order, cited by card number 1..n as the cards are numbered).

    /paper briefing on|off        per channel (off by default)

With an LLM, the briefing is the model's themes, papers to read first and connections across fields
(bot.briefing_answer), over each paper's one-liner or main result and closing sentences and the channel's
radar terms (bot.briefing_prompt), asked ONCE per distinct (day, ordered paper set, radar terms, prompt
version, model): every channel with the same papers and radar shares the answer through the ``briefings``
cache, concurrent asks share
one call, and the scheduler's prepare job asks ahead of posting time. Each call's worst case is reserved
in the daily budget before it is made and settled in the ledger (purpose "briefing") after it
(bot.explain.budget). Without an LLM, over budget, or when the call fails,
the briefing is made from the papers' data (bot.briefing_offline): never a stub. The channel's radar
line is the channel's own and is added to either.

The text is composed here, sanitised (each LLM string by ``safe_llm_text``, the whole by ``inert_text``)
and bounded to ``MAX_BRIEFING_CHARS``, within one Discord message and one Slack section. The outbox row
of the briefing holds this text, so a restart posts the same words (bot.delivery).

This module owns two tables (a migration set of its own, applied on first use after the store's):
``briefing_settings`` (which channels want one) and ``briefings`` (the shared LLM answers).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import sqlite_utils

from bot.briefing_answer import (
    BRIEFING_PROMPT_VERSION,
    MAX_PROMPT_PAPERS,
    SYSTEM_PROMPT,
    BriefingAnswer,
    briefing_tool,
    read_briefing,
)
from bot.briefing_offline import Facts, facts_of
from bot.briefing_prompt import radar_terms, user_message
from bot.explain.answers import without_surrogates
from bot.explain.llm import LLMFailure
from bot.explain.offline import math_in_a_sentence_offline
from bot.explain.prompt import MalformedAnswer
from bot.explain.sanitize import fit_lines, safe_llm_text
from bot.models import ChannelRef, Paper
from bot.radar import Radar
from bot.ranking import RadarProfile
from bot.single_flight import once
from bot.store import Store, TableMigrations, utcnow
from bot.untrusted import inert_text

if TYPE_CHECKING:
    from bot.digest import DigestSelection
    from bot.engine import Engine
    from bot.explain.service import Explainer

__all__ = [
    "MAX_BRIEFING_CHARS",
    "BriefingCache",
    "briefing_key",
    "briefing_note",
    "is_on",
    "prepare_briefings",
    "prepared_one_liners",
    "set_on",
    "shared_answer",
]

log = logging.getLogger(__name__)

# One Discord message (2,000) and one Slack section (3,000) with room for escaping and the header.
MAX_BRIEFING_CHARS = 1_800
_TITLE_MAX, _SUMMARY_MAX, _WHY_MAX, _LINK_MAX, _NAME_MAX = 60, 220, 180, 240, 60
NO_LLM = "no LLM is configured"
OVER_BUDGET = "today's LLM budget is spent"
LLM_FAILED = "the LLM did not answer usably"

migrations = TableMigrations("paperbot.briefing")


@migrations()
def m001_briefing(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS briefing_settings (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               enabled INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
               PRIMARY KEY (platform, workspace, channel))"""
    )
    # ``key`` hashes (day, ordered paper ids, prompt version, model); ``cards`` is n, for reading back.
    db.execute(
        """CREATE TABLE IF NOT EXISTS briefings (
               key TEXT PRIMARY KEY, day TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL,
               provider TEXT NOT NULL, cards INTEGER NOT NULL, answer TEXT NOT NULL, created_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS briefings_day ON briefings (day)")


def migrate(store: Store) -> None:
    """Apply the briefing's migrations (refusing a file written by a newer paperbot); cheap to repeat."""
    migrations.apply_to(store)


# --- the per-channel setting -------------------------------------------------------------------


def is_on(store: Store, channel: ChannelRef) -> bool:
    migrate(store)
    row = store.db.conn.execute(
        "SELECT enabled FROM briefing_settings WHERE platform=? AND workspace=? AND channel=?",
        (channel.platform, channel.workspace, channel.channel),
    ).fetchone()
    return bool(row and row[0])


def set_on(store: Store, channel: ChannelRef, on: bool) -> bool:
    """Turn the channel's briefing on or off; whether that changed anything."""
    was = is_on(store, channel)
    with store.db.atomic():
        store.db.conn.execute(
            "INSERT INTO briefing_settings (platform, workspace, channel, enabled, updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT DO UPDATE SET enabled=excluded.enabled, updated_at=excluded.updated_at",
            (channel.platform, channel.workspace, channel.channel, int(on), utcnow().isoformat()),
        )
    return was != on


# --- the shared LLM answer ---------------------------------------------------------------------


RadarTerms = Sequence[tuple[str, str]]


def briefing_key(day: date, paper_ids: Sequence[str], model: str, radar: RadarTerms = ()) -> str:
    """One answer per (day, ordered paper set, radar terms, prompt version, model): the order is the card
    numbering, and the radar terms are in the prompt."""
    terms = [f"radar {kind}: {term}" for kind, term in radar]
    text = "\n".join([day.isoformat(), BRIEFING_PROMPT_VERSION, model, *paper_ids, *terms])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class BriefingCache:
    def __init__(self, store: Store) -> None:
        migrate(store)
        self.db = store.db

    def get(self, key: str, cards: int) -> BriefingAnswer | None:
        row = self.db.conn.execute("SELECT answer, cards FROM briefings WHERE key = ?", (key,)).fetchone()
        if row is None or int(row[1]) != cards:
            return None
        try:  # read again as any answer is: a row is only as trustworthy as the reader that wrote it
            return read_briefing(json.loads(row[0]), cards)
        except (MalformedAnswer, ValueError):
            return None

    def put(self, key: str, day: date, model: str, provider: str, cards: int, answer: BriefingAnswer) -> None:
        with self.db.atomic():
            self.db.conn.execute(
                "INSERT OR REPLACE INTO briefings (key, day, prompt_version, model, provider, cards, answer,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    key,
                    day.isoformat(),
                    BRIEFING_PROMPT_VERSION,
                    model,
                    provider,
                    cards,
                    without_surrogates(json.dumps(answer.to_json(), ensure_ascii=False)),
                    utcnow().isoformat(),
                ),
            )


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    answer: BriefingAnswer | None
    model: str = ""
    offline_reason: str = ""  # why there is no answer: no LLM, over budget, failed


# Asks in progress per explainer: channels of one fan-out asking for the same set wait for one call.
_inflight: weakref.WeakKeyDictionary[Explainer, dict[str, asyncio.Future[SharedAnswer]]] = weakref.WeakKeyDictionary()


async def shared_answer(
    engine: Engine, day: date, papers: Sequence[Paper], radar: RadarProfile | None = None
) -> SharedAnswer:
    """The LLM's briefing over ``papers`` (the first MAX_PROMPT_PAPERS) for a channel with this radar, from
    the cache or one call."""
    explainer = engine.explainer
    provider = explainer.provider
    if provider is None:
        return SharedAnswer(None, offline_reason=NO_LLM)
    shown = papers[:MAX_PROMPT_PAPERS]
    terms = radar_terms(radar)
    key = briefing_key(day, [p.id for p in shown], provider.model, terms)
    cache = BriefingCache(engine.store)
    cached = cache.get(key, len(shown))
    if cached is not None:
        return SharedAnswer(cached, provider.model)
    running = _inflight.setdefault(explainer, {})
    return await once(running, key, lambda: _ask(engine, explainer, key, day, shown, terms, cache))


def prepared_one_liners(explainer: Explainer, papers: Sequence[Paper]) -> dict[str, str]:
    """The papers' one-liners from explanations already made (the LLM's "math in a sentence"); the
    offline concepts line the explainer gives a paper without one is no summary of its result."""
    lines = explainer.one_liners(papers)
    return {p.id: line for p in papers if (line := lines.get(p.id)) and line != math_in_a_sentence_offline(p)}


async def _ask(
    engine: Engine,
    explainer: Explainer,
    key: str,
    day: date,
    papers: Sequence[Paper],
    radar: RadarTerms,
    cache: BriefingCache,
) -> SharedAnswer:
    provider = explainer.provider
    assert provider is not None
    if explainer.budget_spent():
        return SharedAnswer(None, offline_reason=OVER_BUDGET)
    tool = briefing_tool(len(papers))
    lines = prepared_one_liners(explainer, papers)
    budget = int(engine.config.get("llm", "max_input_tokens"))
    # Reading 40 abstracts for their results is CPU work: off the event loop.
    prompt = await asyncio.to_thread(user_message, papers, lines, radar, max_input_tokens=budget)
    reservation = explainer.reserve(
        provider, tool, SYSTEM_PROMPT, prompt, subject=f"briefing:{key[:16]}", purpose="briefing"
    )
    if reservation is None:
        return SharedAnswer(None, offline_reason=OVER_BUDGET)
    with reservation:  # released if the call never ends (cancelled at shutdown)
        try:
            reply = await provider.ask(tool, SYSTEM_PROMPT, prompt)
        except LLMFailure as failure:
            log.warning("LLM briefing %s failed (%s); offline briefing instead", key[:12], failure.kind)
            reservation.settle(failure.input_tokens, failure.output_tokens, outcome=failure.kind)
            return SharedAnswer(None, offline_reason=LLM_FAILED)
        except Exception:  # an answer no provider foresaw: the channel still gets the offline briefing
            log.exception("LLM briefing %s raised unexpectedly; offline briefing instead", key[:12])
            reservation.settle(0, 0, outcome="error")
            return SharedAnswer(None, offline_reason=LLM_FAILED)
        reservation.settle(reply.input_tokens, reply.output_tokens, outcome="ok")
    cache.put(key, day, provider.model, provider.name, len(papers), reply.value)
    return SharedAnswer(reply.value, provider.model)


async def prepare_briefings(engine: Engine, selections: Sequence[DigestSelection]) -> int:
    """Ask ahead for the briefings of upcoming digests of channels that want one: each distinct paper
    set and radar once. Returns how many distinct sets were asked for (cached ones included)."""
    if engine.explainer.provider is None:
        return 0
    radar = Radar(engine.store)
    wanted: dict[tuple[date, tuple[str, ...], tuple[tuple[str, str], ...]], tuple[DigestSelection, RadarProfile]] = {}
    for selection in selections:
        if selection.announced is None or not selection.papers or not is_on(engine.store, selection.channel):
            continue
        ids = tuple(p.id for p in selection.papers[:MAX_PROMPT_PAPERS])
        profile = radar.profile(selection.channel)
        wanted.setdefault((selection.announced, ids, radar_terms(profile)), (selection, profile))
    limit = asyncio.Semaphore(int(engine.config.get("llm", "concurrency")))

    async def one(selection: DigestSelection, profile: RadarProfile) -> None:
        assert selection.announced is not None
        async with limit:
            await shared_answer(engine, selection.announced, selection.papers, profile)

    await asyncio.gather(*(one(s, p) for s, p in wanted.values()))
    return len(wanted)


# --- the text ----------------------------------------------------------------------------------


async def briefing_note(engine: Engine, selection: DigestSelection) -> str:
    """The briefing opening this selection's digest, or "" when the channel has none (off, no papers)."""
    if selection.announced is None or not selection.papers or not is_on(engine.store, selection.channel):
        return ""
    profile = Radar(engine.store).profile(selection.channel)
    shared = await shared_answer(engine, selection.announced, selection.papers, profile)
    feed_of = _feed_of(engine.store, selection)
    papers = selection.papers
    # Glossary and radar matching are CPU work over every abstract: off the event loop.
    facts = await asyncio.to_thread(facts_of, papers, feed_of, selection.categories, profile)
    return compose(selection.announced, len(papers), shared, facts)


def _feed_of(store: Store, selection: DigestSelection) -> dict[str, str]:
    """Which of the channel's feeds brought each paper (the first, in the channel's order, that lists it)."""
    assert selection.announced is not None
    wanted = {p.id for p in selection.papers}
    found: dict[str, str] = {}
    for feed in selection.categories:
        day = store.latest_listing_day(feed, selection.announced)
        if day is None:
            continue
        for paper in store.listed_papers(feed, day):
            if paper.id in wanted:
                found.setdefault(paper.id, feed)
    return found


def compose(day: date, count: int, shared: SharedAnswer, facts: Facts) -> str:
    """The briefing's text: a header, the LLM's sections or the data's, the radar line, and what it is
    built from. Every claim cites cards as #n; the whole is inert and at most MAX_BRIEFING_CHARS."""
    plural = "s" if count != 1 else ""
    lines = [f"Briefing · {count} paper{plural} · {day:%a %d %b %Y}"]
    answer = shared.answer
    if answer is not None:
        lines += _llm_lines(answer)
    else:
        lines += _fact_lines(facts)
    if facts.radar:
        lines.append("On this channel's radar:")
        lines += [f"• {safe_llm_text(name, _NAME_MAX)}: {_cites(cards)}" for name, cards in facts.radar]
    if answer is not None:
        briefed = min(count, MAX_PROMPT_PAPERS)
        scope = "" if briefed == count else f" (the first {briefed})"
        footer = (
            f"Written by {shared.model} from the papers' titles, results and conclusions{scope};"
            " #n is the card numbered n below."
        )
    else:
        footer = f"From the papers' data ({shared.offline_reason}); #n is the card numbered n below."
    # The lines that fit with the footer, a line "…" standing for the rest.
    fitted = fit_lines(lines, MAX_BRIEFING_CHARS - len(footer) - 2, keep_blank=True)
    return inert_text(fitted + "\n" + footer if fitted else footer)


def _llm_lines(answer: BriefingAnswer) -> list[str]:
    lines: list[str] = []
    themes = [
        f"• {title} ({_cites(t.cards)}): {safe_llm_text(t.summary, _SUMMARY_MAX)}".rstrip(": ")
        for t in answer.themes
        if (title := safe_llm_text(t.title, _TITLE_MAX))
    ]
    if themes:
        lines += ["Themes:", *themes]
    reads = [f"• #{m.card}: {safe_llm_text(m.why, _WHY_MAX)}".rstrip(": ") for m in answer.must_reads]
    if reads:
        lines += ["Read first:", *reads]
    links = [f"• {text} ({_cites(c.cards)})" for c in answer.connections if (text := safe_llm_text(c.text, _LINK_MAX))]
    if links:
        lines += ["Connections:", *links]
    return lines


def _fact_lines(facts: Facts) -> list[str]:
    lines: list[str] = []
    if facts.feeds:
        lines.append("By feed: " + " · ".join(f"{feed} {count}" for feed, count in facts.feeds))
    if facts.upvoted:
        lines.append("Most upvoted on Hugging Face: " + ", ".join(f"#{n} (▲ {votes:,})" for n, votes in facts.upvoted))
    if facts.concepts:
        lines.append("Concepts several papers are about:")
        lines += [f"• {term}: {_cites(cards)}" for term, cards in facts.concepts]
    else:
        lines.append("No glossary concept is what two of these papers are about.")
    return lines


def _cites(cards: Sequence[int]) -> str:
    return ", ".join(f"#{n}" for n in cards)

