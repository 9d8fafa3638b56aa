"""Who taught a channel's radar what, and how much of it one person may hold.

Typed entries (``origin`` "command") come from people who manage the channel; learned ones from anyone
who reacts to a card or clicks Explain (``reaction:<user>``, ``explain:<user>``). Learned entries are
bounded so that no one person can fill a radar and lock its managers out:

- each person holds at most ``MAX_LEARNED_PER_PERSON`` learned entries: a further reaction of theirs
  replaces their own oldest one (so it never displaces anyone else's);
- learned entries give way to typed ones: when what a manager adds does not fit, the oldest learned
  entries are forgotten to make room, and only a radar full of typed entries refuses.

The queries run inside the caller's transaction (``Radar``'s methods), on the radar's own table.
"""

from __future__ import annotations

import re
import sqlite3

from bot.models import ChannelRef

__all__ = [
    "MAX_LEARNED_PER_PERSON",
    "forget_oldest_learned",
    "forget_person",
    "learned_count",
    "person_of",
    "shown_person",
    "trim_person",
]

MAX_LEARNED_PER_PERSON = 20
_LEARNED = "(origin LIKE 'reaction:%' OR origin LIKE 'explain:%')"
_SHOWN = re.compile(r"[^A-Za-z0-9_.-]")


def person_of(origin: str) -> str | None:
    """The person behind a learned entry's origin ("reaction:U1" and "explain:U1" are both "U1"); None
    for a typed entry."""
    kind, _, person = origin.partition(":")
    return person if kind in ("reaction", "explain") and person else None


def shown_person(person: str) -> str:
    """A person's id as a radar listing shows it: the platform's id as plain text (letters, digits, ``_.-``),
    never a mention (``<@U1>`` would notify them; the renderers escape, this keeps it readable too)."""
    return _SHOWN.sub("", person)[:40] or "someone"


def _where(channel: ChannelRef) -> tuple[str, str, str]:
    return (channel.platform, channel.workspace, channel.channel)


def learned_count(conn: sqlite3.Connection, channel: ChannelRef) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND {_LEARNED}",
        _where(channel),
    ).fetchone()
    return int(row[0]) if row is not None else 0


def _person_rowids(conn: sqlite3.Connection, channel: ChannelRef, person: str) -> list[int]:
    rows = conn.execute(
        "SELECT rowid FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND origin IN (?, ?)"
        " ORDER BY created_at, rowid",
        (*_where(channel), f"reaction:{person}", f"explain:{person}"),
    ).fetchall()
    return [int(row[0]) for row in rows]


def _delete(conn: sqlite3.Connection, rowids: list[int]) -> int:
    for rowid in rowids:
        conn.execute("DELETE FROM radar_entries WHERE rowid=?", (rowid,))
    return len(rowids)


def trim_person(conn: sqlite3.Connection, channel: ChannelRef, origin: str) -> int:
    """Before a new learned entry of ``origin``'s person: forget their oldest ones so that, with it, they
    hold at most ``MAX_LEARNED_PER_PERSON``; how many went."""
    person = person_of(origin)
    if person is None:
        return 0
    rowids = _person_rowids(conn, channel, person)
    excess = len(rowids) - (MAX_LEARNED_PER_PERSON - 1)
    return _delete(conn, rowids[:excess]) if excess > 0 else 0


def forget_oldest_learned(conn: sqlite3.Connection, channel: ChannelRef, count: int) -> int:
    """Forget up to ``count`` learned entries, oldest first, whoever taught them; how many went."""
    if count <= 0:
        return 0
    rows = conn.execute(
        f"SELECT rowid FROM radar_entries WHERE platform=? AND workspace=? AND channel=? AND {_LEARNED}"
        " ORDER BY created_at, rowid LIMIT ?",
        (*_where(channel), count),
    ).fetchall()
    return _delete(conn, [int(row[0]) for row in rows])


def forget_person(conn: sqlite3.Connection, channel: ChannelRef, person: str) -> int:
    """Forget everything one person taught this channel's radar (``/paper radar remove <their id>``)."""
    return _delete(conn, _person_rowids(conn, channel, person))
