"""Each channel's research radar: the keywords, authors, liked papers and mutes its digest is ranked by.

The radar owns its tables (a migration set of its own, applied on first use after the store's). One row
per entry: a keyword or a muted keyword (a word or a phrase), an author's name, or a liked paper with a
weight (1.0 a like, 0.3 a weak like from clicking Explain, −1.0 a dislike) and where it came from
("command", "reaction:<user>", "explain:<user>"), so one person's reaction counts once per paper and
taking the reaction back removes exactly it. A channel holds at most ``MAX_ENTRIES`` entries of at most
``MAX_VALUE_CHARS`` characters each. What people teach by reacting is bounded per person and gives way
to what managers type (bot.radar_teachers); typed entries that would exceed the limit are refused with
it stated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import sqlite_utils

from bot import posted_messages
from bot.errors import UsageError
from bot.models import ChannelRef, Paper
from bot.quotes import straight_quotes
from bot.radar_teachers import forget_oldest_learned, forget_person, learned_count, person_of, trim_person
from bot.ranking import Like, RadarProfile, Ranked, author_key, keyword_terms, rank, terms
from bot.store import Store, TableMigrations, _paper_from_row, utcnow
from bot.user_input import as_typed

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.digest import DigestSelection
    from bot.engine import Engine

__all__ = [
    "KINDS",
    "LEARNED_ORIGINS",
    "MAX_ENTRIES",
    "MAX_VALUE_CHARS",
    "Learned",
    "Radar",
    "RadarFull",
    "RadarProfile",
    "profile_of",
    "rank_preview",
    "split_keywords",
]

MAX_ENTRIES = 100
MAX_VALUE_CHARS = 100
KINDS = ("keyword", "author", "like", "mute")
LIKE, WEAK_LIKE, DISLIKE = 1.0, 0.3, -1.0
LEARNED_ORIGINS = ("reaction", "explain")  # "reaction:<user>", "explain:<user>": learned, not typed
_ORIGIN = re.compile(r"^(command|(reaction|explain):[^\s]{1,80})$")

migrations = TableMigrations("paperbot.radar")


@migrations()
def m001_radar(db: sqlite_utils.Database) -> None:
    # ``key`` is the value as compared (folded words, a paper id), ``value`` as the person typed it.
    db.execute(
        """CREATE TABLE IF NOT EXISTS radar_entries (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
               weight REAL NOT NULL DEFAULT 1.0, origin TEXT NOT NULL DEFAULT 'command',
               created_at TEXT NOT NULL,
               PRIMARY KEY (platform, workspace, channel, kind, key, origin))"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS radar_settings (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               only_matching INTEGER NOT NULL DEFAULT 0,
               PRIMARY KEY (platform, workspace, channel))"""
    )


def migrate(store: Store) -> None:
    """Apply the radar's migrations (refusing a file written by a newer paperbot); cheap to repeat."""
    migrations.apply_to(store)


class RadarFull(UsageError):
    """Adding would take a channel's radar past ``MAX_ENTRIES``."""


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    value: str
    weight: float = 1.0
    origin: str = "command"


_QUOTES = '"“”„«»‟″'
_QUOTED = re.compile(f"[{_QUOTES}]([^{_QUOTES}]*)(?:[{_QUOTES}]|$)|([^\\s,;{_QUOTES}]+)")


def split_keywords(text: str) -> list[str]:
    """A command's words as keywords: each quoted "phrase" one keyword (typographic “quotes” and 'single
    quotes' too; an unclosed quote runs to the end), every other word its own; commas and semicolons
    separate too."""
    found: list[str] = []
    for phrase, word in _QUOTED.findall(straight_quotes(as_typed(text))):
        value = " ".join((phrase or word).split())
        if value:
            found.append(value)
    return found


def _clean(value: str) -> str:
    return " ".join(as_typed(value).split()).strip(_QUOTES + " ")


def _checked_length(value: str, what: str) -> str:
    if not value:
        raise UsageError(f"Give a {what}.")
    if len(value) > MAX_VALUE_CHARS:
        raise UsageError(f"A {what} may have at most {MAX_VALUE_CHARS} characters; that one has {len(value)}.")
    return value


def keyword_key(value: str, what: str = "keyword") -> str:
    """The stored form of a keyword or mute, or UsageError when it has no word to match."""
    value = _checked_length(_clean(value), what)
    if not keyword_terms(value):
        shown = value[:40]
        raise UsageError(
            f"{shown!r} has no word to match (only common words like “the” or “of”, or no letters at all): "
            f"give a more specific {what}, e.g. “conformal prediction”."
        )
    return " ".join(terms(value))


def person_key(value: str) -> str:
    value = _checked_length(_clean(value), "name")
    key = author_key(value)
    if not any(ch.isalpha() for ch in key):
        raise UsageError(
            f"{value[:40]!r} is not a name: give an author as printed on papers, e.g. Yang Song or Y. Song."
        )
    return key


def _channel(channel: ChannelRef) -> tuple[str, str, str]:
    return (channel.platform, channel.workspace, channel.channel)


def _limit_message(have: int, adding: int, learned: int = 0) -> str:
    gives_way = f" ({learned} learned from reactions, which give way)" if learned else ""
    return (
        f"A channel's radar holds at most {MAX_ENTRIES} entries; this one has {have}{gives_way} and that would "
        f"add {adding}. Remove some first (/paper radar list shows them, /paper radar remove <entry> or clear "
        "drops them)."
    )


def _liked_key(paper_id: str) -> tuple[str, str]:
    return ("radar-liked-paper", paper_id)


def _stored_papers(store: Store, paper_ids: Sequence[str]) -> dict[str, Paper]:
    """The stored papers among ``paper_ids``, by id: one query per 500 (SQLite's bound-parameter limit)."""
    found: dict[str, Paper] = {}
    for start in range(0, len(paper_ids), 500):
        chunk = paper_ids[start : start + 500]
        cursor = store.db.conn.execute(f"SELECT * FROM papers WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            paper = _paper_from_row(dict(zip(names, row, strict=True)))
            found[paper.id] = paper
    return found


class Radar:
    """The radar entries of every channel, in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self.forgotten = 0  # learned entries the last typed addition pushed out (for the reply)
        migrate(store)

    # --- reading -----------------------------------------------------------------------------------

    def profile(self, channel: ChannelRef) -> RadarProfile:
        # One query (a fan-out reads a radar per channel): the "only" setting comes as a row of its own,
        # ordered before the entries.
        rows = self.db.conn.execute(
            "SELECT 'only', '', only_matching, '', '', '', 0 FROM radar_settings"
            " WHERE platform=? AND workspace=? AND channel=?"
            " UNION ALL SELECT kind, value, weight, origin, key, created_at, rowid FROM radar_entries"
            " WHERE platform=? AND workspace=? AND channel=? ORDER BY 6, 7",
            _channel(channel) * 2,
        ).fetchall()
        only = False
        kinds: dict[str, list[str]] = {"keyword": [], "author": [], "mute": []}
        likes: list[Like] = []
        for kind, value, weight, origin, key, _, _ in rows:
            if kind == "only":
                only = bool(weight)
            elif kind == "like":
                likes.append(Like(key, float(weight), origin))
            elif kind in kinds:
                kinds[kind].append(value)
        return RadarProfile(
            keywords=tuple(kinds["keyword"]),
            authors=tuple(kinds["author"]),
            likes=tuple(likes),
            mutes=tuple(kinds["mute"]),
            only=only,
        )

    def entries(self, channel: ChannelRef) -> list[Entry]:
        rows = self.db.conn.execute(
            "SELECT kind, value, weight, origin FROM radar_entries WHERE platform=? AND workspace=? AND channel=?"
            " ORDER BY created_at, rowid",
            _channel(channel),
        ).fetchall()
        return [Entry(kind, value, float(weight), origin) for kind, value, weight, origin in rows]

    def size(self, channel: ChannelRef) -> int:
        row = self.db.conn.execute(
            "SELECT count(*) FROM radar_entries WHERE platform=? AND workspace=? AND channel=?", _channel(channel)
        ).fetchone()
        return int(row[0])

    def liked_papers(self, profile: RadarProfile) -> dict[str, Paper]:
        """The stored text of the profile's liked and disliked papers (a paper no longer stored is skipped).
        Remembered until the store's papers change: a fan-out asks for the same few for many channels."""
        derived = self.store.derived
        missing = [
            pid for pid in dict.fromkeys(like.paper_id for like in profile.likes) if _liked_key(pid) not in derived
        ]
        if missing:  # the ones not remembered yet, in one query
            loaded = _stored_papers(self.store, missing)
            for pid in missing:
                derived[_liked_key(pid)] = loaded.get(pid)
        found: dict[str, Paper] = {}
        for like in profile.likes:
            paper = derived.get(_liked_key(like.paper_id))
            if isinstance(paper, Paper):
                found[paper.id] = paper
        return found

    # --- changing ----------------------------------------------------------------------------------

    def add_keyword(self, channel: ChannelRef, keyword: str) -> bool:
        """Add a word or phrase; False when the radar already has it."""
        return bool(self.add_many(channel, "keyword", [keyword]))

    def add_author(self, channel: ChannelRef, name: str) -> bool:
        return bool(self.add_many(channel, "author", [name]))

    def mute(self, channel: ChannelRef, keyword: str) -> bool:
        return bool(self.add_many(channel, "mute", [keyword]))

    def add_many(self, channel: ChannelRef, kind: str, values: Sequence[str]) -> tuple[str, ...]:
        """Add keywords, authors or mutes at once, all or none; returns those that were new (as stored).
        Learned entries give way, oldest first, to what does not fit (``forgotten`` says how many went);
        RadarFull (naming the limit) when the typed entries alone leave no room; UsageError for a value
        that cannot be used."""
        if kind not in ("keyword", "author", "mute"):
            raise ValueError(f"not a typed radar entry kind: {kind!r}")
        if len(values) > MAX_ENTRIES:  # refused before any of it is read
            raise RadarFull(_limit_message(self.size(channel), len(values)))
        keyed: dict[str, str] = {}
        for raw in values:
            key = (
                person_key(raw) if kind == "author" else keyword_key(raw, "muted word" if kind == "mute" else "keyword")
            )
            keyed.setdefault(key, _clean(raw))
        with self.db.atomic():
            existing = {
                row[0]
                for row in self.db.conn.execute(
                    "SELECT key FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND kind=?",
                    (*_channel(channel), kind),
                )
            }
            new = {k: v for k, v in keyed.items() if k not in existing}
            self._make_room(channel, len(new))
            now = utcnow().isoformat()
            self.db.conn.executemany(
                "INSERT INTO radar_entries (platform, workspace, channel, kind, key, value, weight, origin, created_at)"
                " VALUES (?,?,?,?,?,?,1.0,'command',?)",
                [(*_channel(channel), kind, key, value, now) for key, value in new.items()],
            )
        return tuple(new.values())

    def like(self, channel: ChannelRef, paper_id: str, weight: float = LIKE, origin: str = "command") -> bool:
        """Record that ``origin`` likes (weight > 0) or dislikes (< 0) a paper; returns whether it is new.
        Idempotent per (paper, origin): a second reaction by the same person replaces the first. A learned
        like (a reaction, an Explain click) replaces its person's oldest one when they hold
        ``MAX_LEARNED_PER_PERSON``, else the oldest learned one when the radar is full; a typed like
        pushes out the oldest learned entry, and is refused with the limit when only typed ones are left."""
        paper_id = _checked_length(paper_id.strip(), "paper id")
        if not -1.0 <= weight <= 1.0 or weight == 0:
            raise ValueError(f"a like's weight is in [-1, 1] and not 0, not {weight!r}")
        if not _ORIGIN.match(origin):
            raise ValueError(f"unknown like origin {origin!r}")
        where = (*_channel(channel), paper_id, origin)
        with self.db.atomic():
            exists = self.db.conn.execute(
                "SELECT 1 FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND kind='like'"
                " AND key=? AND origin=?",
                where,
            ).fetchone()
            if exists:
                self.db.conn.execute(
                    "UPDATE radar_entries SET weight=? WHERE platform=? AND workspace=? AND channel=? AND kind='like'"
                    " AND key=? AND origin=?",
                    (weight, *where),
                )
                return False
            if person_of(origin) is not None:
                # One person's learning is bounded: their new entry replaces their own oldest one.
                trim_person(self.db.conn, channel, origin)
                if self.size(channel) >= MAX_ENTRIES and not forget_oldest_learned(self.db.conn, channel, 1):
                    raise RadarFull(_limit_message(self.size(channel), 1))
            else:
                self._make_room(channel, 1)
            self.db.conn.execute(
                "INSERT INTO radar_entries (platform, workspace, channel, kind, key, value, weight, origin, created_at)"
                " VALUES (?,?,?,'like',?,?,?,?,?)",
                (*_channel(channel), paper_id, paper_id, weight, origin, utcnow().isoformat()),
            )
        return True

    def _make_room(self, channel: ChannelRef, adding: int) -> None:
        """Inside a transaction, before typed entries are added: forget the oldest learned entries that
        stand in their way, or RadarFull when typed entries alone would pass the limit."""
        self.forgotten = 0
        have = self.size(channel)
        over = have + adding - MAX_ENTRIES
        if over <= 0:
            return
        learned = learned_count(self.db.conn, channel)
        if over > learned:
            raise RadarFull(_limit_message(have, adding, learned))
        self.forgotten = forget_oldest_learned(self.db.conn, channel, over)
        log.info("radar of %s: %d learned entries gave way to typed ones", channel, self.forgotten)

    def forget_person(self, channel: ChannelRef, person: str) -> int:
        """Forget everything one person taught (their reactions and Explain clicks); how many entries."""
        with self.db.atomic():
            return forget_person(self.db.conn, channel, person.strip())

    def unlike(self, channel: ChannelRef, paper_id: str, origin: str = "command") -> bool:
        """Take back one origin's like or dislike of a paper (a removed reaction); whether there was one."""
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "DELETE FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND kind='like'"
                " AND key=? AND origin=?",
                (*_channel(channel), paper_id.strip(), origin),
            )
        return cursor.rowcount > 0

    def remove(self, channel: ChannelRef, kind: str | None, value: str) -> int:
        """Remove the entries of ``kind`` (any kind when None) equal to ``value`` as compared (a paper id
        removes every like and dislike of it); how many went."""
        keys: dict[str, str] = {}
        cleaned = _clean(value)
        for each in KINDS if kind is None else (kind,):
            if each not in KINDS:
                raise ValueError(f"unknown radar entry kind {each!r}")
            if each == "like":
                keys[each] = cleaned
            elif each == "author":
                keys[each] = author_key(cleaned)
            else:
                keys[each] = " ".join(terms(cleaned))
        removed = 0
        with self.db.atomic():
            for each, key in keys.items():
                cursor = self.db.conn.execute(
                    "DELETE FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND kind=? AND key=?",
                    (*_channel(channel), each, key),
                )
                removed += cursor.rowcount
        return removed

    def clear(self, channel: ChannelRef) -> int:
        """Forget the whole radar (entries and the only flag); how many entries went."""
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "DELETE FROM radar_entries WHERE platform=? AND workspace=? AND channel=?", _channel(channel)
            )
            self.db.conn.execute(
                "DELETE FROM radar_settings WHERE platform=? AND workspace=? AND channel=?", _channel(channel)
            )
        return cursor.rowcount

    def set_only(self, channel: ChannelRef, only: bool) -> None:
        with self.db.atomic():
            self.db.conn.execute(
                "INSERT INTO radar_settings (platform, workspace, channel, only_matching) VALUES (?,?,?,?)"
                " ON CONFLICT DO UPDATE SET only_matching=excluded.only_matching",
                (*_channel(channel), int(only)),
            )


def profile_of(interests: Iterable[str], authors: Iterable[str]) -> RadarProfile:
    """A radar given on the command line (``paperbot digest --interest "graph neural networks" --author
    NAME``), checked like the chat command's. Each --interest is one keyword (a phrase when it has
    several words: the shell's quotes already grouped them)."""
    keywords: dict[str, str] = {}
    for text in interests:
        keywords.setdefault(keyword_key(text, "--interest"), _clean(text))
    names: dict[str, str] = {}
    for name in authors:
        names.setdefault(person_key(name), _clean(name))
    if len(keywords) + len(names) > MAX_ENTRIES:
        raise RadarFull(_limit_message(0, len(keywords) + len(names)))
    return RadarProfile(keywords=tuple(keywords.values()), authors=tuple(names.values()))


def rank_preview(engine: Engine, selection: DigestSelection, interests: list[str], authors: list[str]) -> list[Ranked]:
    """``paperbot digest … --interest WORDS --author NAME``: every candidate of the previewed feeds (the
    papers the preview chose from, before its cap) ranked by that radar, best first, with score and why.
    The caller cuts the list to its ``--limit``. UsageError for an interest or name that cannot be used."""
    from bot.digest import candidate_corpus

    profile = profile_of(interests, authors)
    corpus = candidate_corpus(engine.store, engine.preview_subscriptions(selection.categories))
    if not corpus.papers:  # nothing stored for those feeds (a selection built elsewhere): rank what it holds
        return rank(selection.papers, profile)
    return rank(corpus.papers, profile, corpus=corpus)


class Learned(Enum):
    """What a reaction did to the radar (for the log and for tests)."""

    LIKED = "liked"
    DISLIKED = "disliked"
    TAKEN_BACK = "taken back"
    NOTHING = "nothing"


def learn_from_reaction(
    store: Store, channel: ChannelRef, message_id: str, user: str, weight: float, *, added: bool
) -> Learned:
    """A reaction (``weight`` LIKE or DISLIKE) added to or taken from one of the bot's messages, on any
    platform. Only messages recorded as being about one paper count (bot.posted_messages). Each person
    counts once per paper (origin ``reaction:<user>``; the latest reaction wins), and taking a reaction
    back removes that person's entry only when it is still of the same sense (👍, then 👎, then the 👍
    taken back: the dislike stays). Idempotent; never raises for anything a person can cause."""
    posted = posted_messages.find(store, channel, message_id)
    if posted is None or posted.paper_id is None:
        return Learned.NOTHING
    return learn_about_paper(store, channel, posted.paper_id, user, weight, added=added)


def learn_about_paper(
    store: Store, channel: ChannelRef, paper_id: str, user: str, weight: float, *, added: bool = True
) -> Learned:
    """What a reaction on a paper's card teaches, for a paper named otherwise (a compact digest's 👍/👎
    button): the same origin ``reaction:<user>``, so a person counts once per paper whichever they used."""
    radar = Radar(store)
    origin = f"reaction:{user[:40]}"
    if not added:
        current = learned_weight(radar, channel, paper_id, user)
        if current is None or (current > 0) != (weight > 0):  # nothing of this sense to take back
            return Learned.NOTHING
        radar.unlike(channel, paper_id, origin)
        return Learned.TAKEN_BACK
    try:
        radar.like(channel, paper_id, weight, origin)
    except UsageError as err:  # a radar full of typed entries: nothing is learned, nothing breaks
        log.info("not learning from a reaction in %s: %s", channel, err)
        return Learned.NOTHING
    return Learned.LIKED if weight > 0 else Learned.DISLIKED


def learned_weight(radar: Radar, channel: ChannelRef, paper_id: str, user: str) -> float | None:
    """The like (> 0) or dislike (< 0) this person's reactions or buttons gave the paper, None for none."""
    origin = f"reaction:{user[:40]}"
    entries = radar.entries(channel)
    return next((e.weight for e in entries if e.kind == "like" and e.value == paper_id and e.origin == origin), None)


def learn_from_explain(store: Store, channel: ChannelRef, paper_id: str, user: str) -> None:
    """Clicking "Explain" on a card is a weak like, once per person and paper (a second click changes
    nothing); it shows in `/paper radar list` and can be removed like any like."""
    try:
        Radar(store).like(channel, paper_id, WEAK_LIKE, f"explain:{user[:40]}")
    except UsageError as err:  # a radar full of typed entries: nothing is learned, nothing breaks
        log.info("not learning from an Explain click in %s: %s", channel, err)
