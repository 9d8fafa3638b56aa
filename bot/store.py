"""The SQLite store (sqlite-utils): papers, per-announcement listings, subscriptions and deliveries.

Migrations are named functions applied in order and recorded, so re-running them is harmless; the bot
migrates at start. WAL lets the CLI read while the bot writes. A database file that cannot serve (a
folder, a device, damaged, read-only) is refused when it is opened, with one line naming the file.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from bot.errors import ConfigError
from bot.models import ChannelRef, Feed, Paper, Subscription
from bot.store_writes import PAPER_UPSERT, index_new_papers, last_paper_row

migrations = Migrations("paperbot")


@migrations()
def m001_papers(db: sqlite_utils.Database) -> None:
    db.table("papers").create(
        {
            "id": str,
            "version": int,
            "title": str,
            "authors": str,
            "categories": str,
            "primary_category": str,
            "abstract": str,
            "abstract_tex": str,
            "doi": str,
            "journal_ref": str,
            "comment": str,
            "source": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"version", "title", "authors", "categories", "primary_category", "abstract"},
        if_not_exists=True,
    )


@migrations()
def m002_listings_and_fetches(db: sqlite_utils.Database) -> None:
    # A listing is a paper as it appeared in one category's announcement: the announce type
    # depends on the category (new in cs.LG, cross in stat.ML), so it cannot live on the paper.
    db.table("listings").create(
        {"category": str, "announced": str, "paper_id": str, "announce_type": str, "position": int},
        pk=("category", "announced", "paper_id"),
        if_not_exists=True,
    )
    db.table("fetches").create(
        {"id": int, "category": str, "fetched_at": str, "announced": str, "items": int, "error": str},
        pk="id",
        if_not_exists=True,
    )
    db.table("fetches").create_index(["category", "fetched_at"], if_not_exists=True)


@migrations()
def m003_subscriptions_and_deliveries(db: sqlite_utils.Database) -> None:
    db.table("subscriptions").create(
        {
            "id": int,
            "platform": str,
            "workspace": str,
            "channel": str,
            "category": str,
            "options": str,
            "created_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("subscriptions").create_index(
        ["platform", "workspace", "channel", "category"], unique=True, if_not_exists=True
    )
    # One row per paper a channel received: the guarantee that nothing is posted twice.
    db.table("deliveries").create(
        {"platform": str, "workspace": str, "channel": str, "paper_id": str, "announced": str, "delivered_at": str},
        pk=("platform", "workspace", "channel", "paper_id"),
        if_not_exists=True,
    )
    # One row per digest posted (a channel's categories at one time slot): a restart on the same
    # announcement does not post it again.
    db.table("digest_posts").create(
        {
            "platform": str,
            "workspace": str,
            "channel": str,
            "announced": str,
            "categories": str,
            "papers": int,
            "posted_at": str,
        },
        pk=("platform", "workspace", "channel", "announced", "categories"),
        if_not_exists=True,
    )


@migrations()
def m004_explanations_and_llm_ledger(db: sqlite_utils.Database) -> None:
    # One explanation per paper version, prompt version and model, shared by every channel.
    db.table("explanations").create(
        {
            "paper_id": str,
            "version": int,
            "prompt_version": str,
            "model": str,
            "provider": str,
            "answer": str,
            "one_liner": str,
            "created_at": str,
        },
        pk=("paper_id", "version", "prompt_version", "model"),
        not_null={"answer"},
        if_not_exists=True,
    )
    # Every LLM call, successful or not: tokens and estimated cost, for the budget and /paper usage.
    db.table("llm_calls").create(
        {
            "id": int,
            "at": str,
            "provider": str,
            "model": str,
            "paper_id": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "batch": int,
            "outcome": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("llm_calls").create_index(["at"], if_not_exists=True)


@migrations()
def m005_outbox(db: sqlite_utils.Database) -> None:
    # Each digest is a row that moves planned -> sending -> sent (or failed, with a reason), written before
    # and after every platform call, so a crash at any point neither loses nor repeats a digest.
    db.table("outbox").create(
        {
            "key": str,
            "platform": str,
            "workspace": str,
            "channel": str,
            "announced": str,
            "categories": str,
            "kind": str,
            "state": str,
            "paper_ids": str,
            "attempts": int,
            "error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="key",
        not_null={"state"},
        if_not_exists=True,
    )
    db.table("outbox").create_index(["state", "updated_at"], if_not_exists=True)
    # Digests posted before the outbox existed count as sent.
    db.execute(
        "INSERT OR IGNORE INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
        " paper_ids, attempts, error, created_at, updated_at)"
        " SELECT platform || ':' || workspace || ':' || channel || ':' || announced || ':' || categories,"
        " platform, workspace, channel, announced, categories, 'digest', 'sent', '[]', 1, NULL, posted_at, posted_at"
        " FROM digest_posts"
    )


@migrations()
def m006_abstract_tex_only_when_different(db: sqlite_utils.Database) -> None:
    # The TeX abstract equals the clean one in about two papers of three, and papers are most of the
    # database: keep it only where it differs (NULL reads back as the abstract). Safe to run again.
    db.execute("UPDATE papers SET abstract_tex = NULL WHERE abstract_tex = abstract")


@migrations()
def m007_what_other_sources_add(db: sqlite_utils.Database) -> None:
    # Hugging Face's upvotes, comments and links and bioRxiv's journal DOI ride on the paper row, so a
    # card shows them whichever source saw the paper first. Safe to run again.
    papers = db.table("papers")
    for column, kind in (
        ("upvotes", int),
        ("num_comments", int),
        ("github_url", str),
        ("project_url", str),
        ("published_doi", str),
    ):
        if column not in papers.columns_dict:
            papers.add_column(column, kind)


@migrations()
def m008_pages_of_papers_not_on_arxiv(db: sqlite_utils.Database) -> None:
    # A preprint server's paper lives on its own site: its source says where, the card links there.
    papers = db.table("papers")
    for column in ("page_url", "pdf_link", "html_link"):
        if column not in papers.columns_dict:
            papers.add_column(column, str)


@migrations()
def m009_what_each_llm_call_was_for(db: sqlite_utils.Database) -> None:
    # Explanations, briefings and thread questions share one ledger and one daily budget; /paper usage
    # shows each beside the others. Rows written before this were all explanations.
    if "purpose" not in db.table("llm_calls").columns_dict:
        db.execute("ALTER TABLE llm_calls ADD COLUMN purpose TEXT NOT NULL DEFAULT 'explain'")


@migrations()
def m010_delivered_forever(db: sqlite_utils.Database) -> None:
    # What dedupe needs, kept forever and small: which papers each channel was sent, a channel number and a
    # paper id per row (about 20 bytes, against about 110 for a row of ``deliveries``, which keeps the day
    # and time and is pruned with the outbox by [retention]). Filled from ``deliveries``; safe to run again.
    db.execute(
        """CREATE TABLE IF NOT EXISTS delivery_channels (
               id INTEGER PRIMARY KEY, platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               UNIQUE (platform, workspace, channel))"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS delivered (
               channel_id INTEGER NOT NULL, paper_id TEXT NOT NULL, PRIMARY KEY (channel_id, paper_id)) WITHOUT ROWID"""
    )
    db.execute(
        "INSERT OR IGNORE INTO delivery_channels (platform, workspace, channel)"
        " SELECT DISTINCT platform, workspace, channel FROM deliveries"
    )
    db.execute(
        "INSERT OR IGNORE INTO delivered (channel_id, paper_id) SELECT c.id, d.paper_id FROM deliveries d"
        " JOIN delivery_channels c ON c.platform = d.platform AND c.workspace = d.workspace AND c.channel = d.channel"
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FetchRecord:
    category: str
    fetched_at: datetime
    announced: date | None
    items: int
    error: str | None


class Store:
    """All reads and writes of the bot's state. One instance per process, one connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # A fan-out selects from the same few listings for every channel: keep them decoded. Only
        # save_papers (and so save_feed) changes what they hold, and it clears this.
        self._listing_cache: dict[tuple[str, date], tuple[Paper, ...]] = {}
        # Values computed from the listings (digest candidates), dropped with them.
        self.derived: dict[object, object] = {}
        self._fetch_cache: dict[tuple[str, bool], FetchRecord | None] = {}
        conn = open_database(self.path)
        self.db = sqlite_utils.Database(conn)

    def migrate(self) -> None:
        try:
            refuse_newer_schema(self.db, self.path, migrations)
            migrations.apply(self.db)
            from bot import search_index  # a local import: the index's module imports this one

            search_index.migrate(self)
        except sqlite3.Error as err:
            raise database_error(self.path, err) from None

    def close(self) -> None:
        self.db.conn.close()

    def clear_caches(self) -> None:
        """Forget the decoded listings and what was computed from them: rows were deleted underneath."""
        self._listing_cache.clear()
        self.derived.clear()

    # --- papers -----------------------------------------------------------------------------

    def save_papers(self, papers: Iterable[Paper]) -> None:
        """Insert or update papers, keeping the highest version ever seen of each."""
        self._listing_cache.clear()
        self.derived.clear()
        now = utcnow().isoformat()
        rows = [
            (
                p.id,
                p.version,
                p.title,
                json.dumps(p.authors, ensure_ascii=False),
                json.dumps(p.categories),
                p.primary_category,
                p.abstract,
                p.abstract_tex if p.abstract_tex != p.abstract else None,
                p.doi,
                p.journal_ref,
                p.comment,
                p.source,
                now,
                p.upvotes,
                p.num_comments,
                p.github_url,
                p.project_url,
                p.published_doi,
                p.page_url,
                p.pdf_link,
                p.html_link,
            )
            for p in papers
        ]
        with self.db.atomic():  # bot.store_writes: an unchanged row is left alone; new rows indexed at once
            newest = last_paper_row(self.db.conn)
            self.db.conn.executemany(PAPER_UPSERT, rows)
            index_new_papers(self.db.conn, newest)

    def get_paper(self, paper_id: str) -> Paper | None:
        cursor = self.db.conn.execute("SELECT * FROM papers WHERE id = ?", (paper_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return _paper_from_row(dict(zip([d[0] for d in cursor.description], row, strict=True)))

    def save_feed(self, feed: Feed, fetched_at: datetime | None = None) -> None:
        """Store a fetched feed: its papers, where each was listed, and the fetch itself, atomically."""
        self._fetch_cache.clear()
        fetched = (fetched_at or utcnow()).isoformat()
        announced_default = feed.announced.isoformat() if feed.announced else ""
        listing_rows = []
        for item in feed.items:
            # The listing belongs to the feed's announcement (channel pubDate); an item's own pubDate
            # is only a fallback for feeds without one.
            announced = announced_default or (item.paper.announced.isoformat() if item.paper.announced else "")
            for category in item.listed_in:
                listing_rows.append((category, announced, item.paper.id, item.paper.announce_type, item.position))
        with self.db.atomic():
            self.save_papers(i.paper for i in feed.items)
            self.db.conn.executemany(
                """INSERT INTO listings (category, announced, paper_id, announce_type, position)
                   VALUES (?,?,?,?,?)
                   ON CONFLICT DO UPDATE SET announce_type=excluded.announce_type,
                                             position=excluded.position""",
                listing_rows,
            )
            self.db.conn.executemany(
                "INSERT INTO fetches (category, fetched_at, announced, items, error) VALUES (?,?,?,?,NULL)",
                [(c, fetched, announced_default, _count_for(feed, c)) for c in feed.categories],
            )

    def record_fetch_error(self, categories: Sequence[str], error: str, at: datetime | None = None) -> None:
        self._fetch_cache.clear()
        now = (at or utcnow()).isoformat()
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT INTO fetches (category, fetched_at, announced, items, error) VALUES (?,?,NULL,0,?)",
                [(c, now, error) for c in categories],
            )

    def last_fetch(self, category: str, ok_only: bool = True) -> FetchRecord | None:
        """The latest fetch of a category (only successful ones by default). Cached until this store
        records another fetch: a fan-out asks for the same few categories for every channel."""
        key = (category, ok_only)
        if key not in self._fetch_cache:
            self._fetch_cache[key] = self._load_last_fetch(category, ok_only)
        return self._fetch_cache[key]

    def _load_last_fetch(self, category: str, ok_only: bool) -> FetchRecord | None:
        where = "category = ?" + (" AND error IS NULL" if ok_only else "")
        row = self.db.conn.execute(
            f"SELECT category, fetched_at, announced, items, error FROM fetches WHERE {where} "
            "ORDER BY fetched_at DESC, id DESC LIMIT 1",
            (category,),
        ).fetchone()
        if row is None:
            return None
        return FetchRecord(
            category=row[0],
            fetched_at=datetime.fromisoformat(row[1]),
            announced=date.fromisoformat(row[2]) if row[2] else None,
            items=row[3],
            error=row[4],
        )

    def latest_listing_day(self, category: str, on_or_before: date) -> date | None:
        """The newest day ``category`` has a listing for, on or before ``on_or_before``."""
        row = self.db.conn.execute(
            "SELECT max(announced) FROM listings WHERE category = ? AND announced <= ?",
            (category, on_or_before.isoformat()),
        ).fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def listed_papers(self, category: str, announced: date) -> tuple[Paper, ...]:
        """Papers of one category's announcement, in arXiv's order, with that listing's announce type."""
        key = (category, announced)
        cached = self._listing_cache.get(key)
        if cached is None:
            cached = self._listing_cache[key] = self._load_listing(category, announced)
        return cached

    def _load_listing(self, category: str, announced: date) -> tuple[Paper, ...]:
        cursor = self.db.conn.execute(
            """SELECT p.*, l.announce_type AS l_type, l.announced AS l_announced FROM listings l
               JOIN papers p ON p.id = l.paper_id
               WHERE l.category = ? AND l.announced = ? ORDER BY l.position""",
            (category, announced.isoformat()),
        )
        names = [d[0] for d in cursor.description]
        return tuple(_paper_from_row(dict(zip(names, row, strict=True))) for row in cursor)

    # --- subscriptions ----------------------------------------------------------------------

    def subscribe(self, sub: Subscription) -> tuple[Subscription, bool]:
        """Add or update a subscription; returns it and whether it is new."""
        existing = self.find_subscription(sub.channel, sub.category)
        options = _options_json(sub)
        with self.db.atomic():
            if existing is None:
                self.db.conn.execute(
                    "INSERT INTO subscriptions (platform, workspace, channel, category, options, created_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (*_channel_tuple(sub.channel), sub.category, options, utcnow().isoformat()),
                )
            else:
                self.db.conn.execute("UPDATE subscriptions SET options = ? WHERE id = ?", (options, existing.id))
        saved = self.find_subscription(sub.channel, sub.category)
        assert saved is not None
        return saved, existing is None

    def unsubscribe(self, channel: ChannelRef, category: str) -> bool:
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "DELETE FROM subscriptions WHERE platform=? AND workspace=? AND channel=? AND category=?",
                (*_channel_tuple(channel), category),
            )
        return cursor.rowcount > 0

    def find_subscription(self, channel: ChannelRef, category: str) -> Subscription | None:
        subs = self._subscriptions(
            "platform=? AND workspace=? AND channel=? AND category=?", (*_channel_tuple(channel), category)
        )
        return subs[0] if subs else None

    def channel_subscriptions(self, channel: ChannelRef) -> list[Subscription]:
        return self._subscriptions("platform=? AND workspace=? AND channel=?", _channel_tuple(channel))

    def all_subscriptions(self, platform: str | None = None) -> list[Subscription]:
        if platform is None:
            return self._subscriptions("1=1", ())
        return self._subscriptions("platform=?", (platform,))

    def pause(self, channel: ChannelRef, reason: str) -> None:
        for sub in self.channel_subscriptions(channel):
            self.subscribe(_replace_pause(sub, reason))

    def _subscriptions(self, where: str, params: Sequence[Any]) -> list[Subscription]:
        rows = self.db.conn.execute(
            f"SELECT id, platform, workspace, channel, category, options FROM subscriptions WHERE {where}"
            " ORDER BY platform, workspace, channel, category",
            tuple(params),
        ).fetchall()
        return [_subscription_from_row(row) for row in rows]

    # --- deliveries -------------------------------------------------------------------------

    def delivered_ids(self, channel: ChannelRef, paper_ids: Iterable[str]) -> set[str]:
        """Which of ``paper_ids`` the channel was ever sent (the record kept forever, never pruned)."""
        ids = list(paper_ids)
        # A channel's whole record is usually shorter than a day's candidates (a month of digests: 300 ids):
        # read in order, it costs less than looking each candidate up. Read up to twice their number, and
        # look them up only when the record is longer than that.
        record = self.db.conn.execute(
            "SELECT d.paper_id FROM delivery_channels c JOIN delivered d ON d.channel_id = c.id"
            " WHERE c.platform=? AND c.workspace=? AND c.channel=? LIMIT ?",
            (*_channel_tuple(channel), 2 * len(ids) + 1),
        ).fetchall()
        if len(record) <= 2 * len(ids):
            return {row[0] for row in record}.intersection(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.conn.execute(
                "SELECT d.paper_id FROM delivery_channels c JOIN delivered d ON d.channel_id = c.id"
                f" WHERE c.platform=? AND c.workspace=? AND c.channel=? AND d.paper_id IN ({marks})",
                (*_channel_tuple(channel), *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    def digest_posted(self, channel: ChannelRef, announced: date, categories: Sequence[str]) -> bool:
        row = self.db.conn.execute(
            "SELECT state FROM outbox WHERE key = ?", (outbox_key(channel, announced, categories),)
        ).fetchone()
        return row is not None and row[0] == "sent"

    def record_delivery(
        self, channel: ChannelRef, announced: date, categories: Sequence[str], paper_ids: Sequence[str]
    ) -> None:
        """Mark a digest as sent, with every paper in it, in one transaction."""
        key = outbox_key(channel, announced, categories)
        now = utcnow().isoformat()
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO deliveries (platform, workspace, channel, paper_id, announced,"
                " delivered_at) VALUES (?,?,?,?,?,?)",
                [(*_channel_tuple(channel), pid, announced.isoformat(), now) for pid in paper_ids],
            )
            self.db.conn.execute(
                "INSERT OR IGNORE INTO delivery_channels (platform, workspace, channel) VALUES (?,?,?)",
                _channel_tuple(channel),
            )
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO delivered (channel_id, paper_id) SELECT id, ? FROM delivery_channels"
                " WHERE platform=? AND workspace=? AND channel=?",
                [(pid, *_channel_tuple(channel)) for pid in paper_ids],
            )
            self.db.conn.execute(
                "INSERT INTO outbox (key, platform, workspace, channel, announced, categories, kind, state,"
                " paper_ids, attempts, error, created_at, updated_at) VALUES (?,?,?,?,?,?,'digest','sent',?,1,NULL,?,?)"
                " ON CONFLICT(key) DO UPDATE SET state='sent', error=NULL, updated_at=excluded.updated_at",
                (
                    key,
                    *_channel_tuple(channel),
                    announced.isoformat(),
                    _categories_key(categories),
                    json.dumps(list(paper_ids)),
                    now,
                    now,
                ),
            )


# --- opening the database file -----------------------------------------------------------------

# What each SQLite primary result code means for the person who configured the path, and what to do.
_LOCKED = "is locked by another program: stop it or try again in a moment"
_PROBLEMS = {
    sqlite3.SQLITE_READONLY: (
        "is read-only: paperbot writes to it, so make the file and its folder writable by this user, "
        "or choose another path"
    ),
    sqlite3.SQLITE_CANTOPEN: (
        "cannot be opened: check that its folder exists and that this user may create files there"
    ),
    sqlite3.SQLITE_PERM: "cannot be opened: permission denied",
    sqlite3.SQLITE_NOTADB: (
        "is not a paperbot database (not SQLite, or damaged): move it away to start a new one, or choose another path"
    ),
    sqlite3.SQLITE_CORRUPT: (
        "is damaged (SQLite finds it malformed): restore a backup, or move it away to start a new one"
    ),
    sqlite3.SQLITE_IOERR: "cannot be read or written (disk I/O error): is it on a working, writable disk?",
    sqlite3.SQLITE_FULL: "cannot grow: the disk is full",
    sqlite3.SQLITE_BUSY: _LOCKED,
    sqlite3.SQLITE_LOCKED: _LOCKED,
}


def database_error(path: str, err: sqlite3.Error) -> ConfigError:
    """One line naming the file and saying what is wrong with it, for an SQLite error about it."""
    code = getattr(err, "sqlite_errorcode", None)
    problem = _PROBLEMS.get(code & 0xFF) if isinstance(code, int) else None
    return ConfigError(f"[database] path = {path!r} {problem or f'cannot be used: {err}'}")


def open_database(path: str) -> sqlite3.Connection:
    """A connection to the database at ``path``, checked sound and writable (":memory:" for tests).

    The path is always a file name: it is handed to SQLite as a URI built here, so nothing in it
    (``?mode=ro``, ``?immutable=1``) can change how the file is opened.
    """
    if path == ":memory:":
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    file = database_file(path)
    if not file.parent.is_dir():
        # A typo in a folder name must not quietly start an empty database somewhere new (and lose every
        # subscription the real one holds): the folder is the operator's to make.
        raise ConfigError(
            f"[database] path = {path!r}: the folder {str(file.parent)!r} does not exist; "
            "create it first or fix the path"
        )
    try:
        conn = sqlite3.connect(file.as_uri(), uri=True, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as err:
        raise database_error(path, err) from None
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file: pruned pages can go back to the disk
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # (an existing file is left untouched: it would write)
        _check_sound(conn, path)
        # WAL lets the CLI read while the bot writes. In WAL mode NORMAL survives a crashed or killed
        # process (only a power cut can lose the last commits) and spares an fsync per outbox step,
        # which a 1,000-channel fan-out needs.
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("PRAGMA synchronous = NORMAL")
        check_writable(conn)
    except sqlite3.Error as err:
        conn.close()
        raise database_error(path, err) from None
    except ConfigError:
        conn.close()
        raise
    return conn


class TableMigrations(Migrations):
    """A module's own migration set (the outbox's, the radar's…): its tables' changes live beside the code
    that uses them, applied once per store after the store's own, and refused on a file written by a newer
    paperbot like the store's."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._applied: weakref.WeakSet[Store] = weakref.WeakSet()

    def apply_to(self, store: Store) -> None:
        """Apply what is missing; cheap to repeat."""
        if store not in self._applied:
            refuse_newer_schema(store.db, store.path, self)
            self.apply(store.db)
            self._applied.add(store)


def refuse_newer_schema(db: sqlite_utils.Database, path: str, known: Migrations) -> None:
    """ConfigError when the file records a migration of ``known``'s set that this version does not have.

    Such a file was used by a newer paperbot: its tables may have changed in ways this version would
    misread or undo (subscriptions lost, digests repeated), so it is left untouched and refused.
    """
    names = {m.name for m in known.pending(sqlite_utils.Database(memory=True))}  # every migration of the set
    unknown = [m.name for m in known.applied(db) if m.name not in names]
    if unknown:
        raise ConfigError(
            f"[database] path = {path!r} was used by a newer paperbot (it has migration {unknown[0][:60]!r},"
            " unknown to this version): upgrade paperbot, or choose another path"
        )


def database_file(path: str) -> Path:
    """The path as an absolute file path; ConfigError for what can never be a database file (checked
    without creating or opening anything)."""
    if not path.strip():
        raise ConfigError('[database] path is empty: give the path of a file, e.g. "paperbot.db"')
    if "\x00" in path:
        raise ConfigError(f"[database] path = {path!r} contains a NUL character: use a plain file path")
    # "~/paperbot.db" means the home folder, as in a shell: not a folder named "~" next to the config.
    try:
        file = Path(path).expanduser().absolute()
    except RuntimeError:  # "~someone" with no such user, or no home folder at all
        raise ConfigError(f"[database] path = {path!r}: its home folder is unknown; give a full path") from None
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        return file  # created at the first start
    except OSError as err:
        raise ConfigError(f"[database] path = {path!r} cannot be used: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(
            f"[database] path = {path!r} is a folder: give a file path, e.g. {path.rstrip('/')}/paperbot.db"
        )
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"[database] path = {path!r} is not a regular file (a device, pipe or socket):"
            ' give the path of a file, e.g. "paperbot.db"'
        )
    return file


def _check_sound(conn: sqlite3.Connection, path: str) -> None:
    # quick_check reads every page once (about 2 ms per megabyte from a warm cache): a damaged file is refused
    # at start instead of failing in the middle of a fan-out.
    rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    if rows != [("ok",)]:
        found = " ".join(str(rows[0][0]).split()) if rows else "no answer"
        raise ConfigError(f"[database] path = {path!r} {_PROBLEMS[sqlite3.SQLITE_CORRUPT]} ({found[:120]})")


def check_writable(conn: sqlite3.Connection) -> None:
    """Raise SQLite's read-only error now when the database cannot be written (a read-only file, folder
    or disk, an immutable file): otherwise it would only show at the first write, mid-command.

    The probe creates a table inside a transaction that is rolled back: nothing reaches the file.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE _paperbot_write_probe (x)")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _count_for(feed: Feed, category: str) -> int:
    return sum(1 for item in feed.items if category in item.listed_in)


def outbox_key(channel: ChannelRef, announced: date, categories: Sequence[str], kind: str = "digest") -> str:
    """Stable id of one digest: also the platform-side dedupe key (Discord nonce, Slack metadata)."""
    where = f"{channel.platform}:{channel.workspace}:{channel.channel}"
    base = f"{where}:{announced.isoformat()}:{_categories_key(categories)}"
    return base if kind == "digest" else f"{base}:{kind}"


def _categories_key(categories: Sequence[str]) -> str:
    return "+".join(sorted(categories))


def _channel_tuple(channel: ChannelRef) -> tuple[str, str, str]:
    return (channel.platform, channel.workspace, channel.channel)


def _paper_from_row(row: dict[str, Any]) -> Paper:
    announced = row.get("l_announced")
    return Paper(
        id=row["id"],
        version=row["version"],
        title=row["title"],
        authors=tuple(json.loads(row["authors"])),
        categories=tuple(json.loads(row["categories"])),
        primary_category=row["primary_category"],
        abstract=row["abstract"],
        abstract_tex=row["abstract"] if row["abstract_tex"] is None else row["abstract_tex"],
        announce_type=row.get("l_type") or "",
        announced=date.fromisoformat(announced) if announced else None,
        doi=row["doi"],
        journal_ref=row["journal_ref"],
        comment=row["comment"],
        source=row["source"] or "arxiv",
        upvotes=row.get("upvotes"),
        num_comments=row.get("num_comments"),
        github_url=row.get("github_url"),
        project_url=row.get("project_url"),
        published_doi=row.get("published_doi"),
        page_url=row.get("page_url"),
        pdf_link=row.get("pdf_link"),
        html_link=row.get("html_link"),
    )


def _options_json(sub: Subscription) -> str:
    options = {
        "time": sub.time,
        "timezone": sub.timezone,
        "include_replacements": sub.include_replacements,
        "paused_reason": sub.paused_reason,
        "say_when_quiet": sub.say_when_quiet,
        "min_upvotes": sub.min_upvotes,
    }
    return json.dumps({k: v for k, v in options.items() if v not in (None, False)})


def _subscription_from_row(row: Sequence[Any]) -> Subscription:
    options = json.loads(row[5] or "{}")
    return Subscription(
        id=row[0],
        channel=ChannelRef(row[1], row[2], row[3]),
        category=row[4],
        time=options.get("time"),
        timezone=options.get("timezone"),
        include_replacements=bool(options.get("include_replacements", False)),
        paused_reason=options.get("paused_reason"),
        say_when_quiet=bool(options.get("say_when_quiet", False)),
        min_upvotes=_int_or_none(options.get("min_upvotes")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _replace_pause(sub: Subscription, reason: str) -> Subscription:
    from dataclasses import replace

    return replace(sub, paused_reason=reason)
