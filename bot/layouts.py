"""How each channel's digest is laid out (``/paper layout cards|compact|thread``), and `/paper layout` itself.

    cards    a header, then one message per paper (the default)
    compact  one message holding every card, split only at the platform's limits, 👍/👎 buttons per paper
    thread   the header (and the day's briefing) in the channel, the cards in the header's thread

The engine puts the channel's layout on the digest it draws for posting (``Engine.digest_message``);
previews and notes stay ``cards``. Adapters draw each layout their own way (bot.cards.Layout).

This module owns one table, ``layout_settings`` (a migration set of its own, applied on first use after
the store's): a channel without a row has the default layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlite_utils

from bot.cards import Layout, Reply
from bot.errors import UsageError
from bot.models import ChannelRef
from bot.store import Store, TableMigrations, utcnow

if TYPE_CHECKING:
    from bot.commands import Invocation, SubCommand
    from bot.engine import Engine

__all__ = ["DEFAULT_LAYOUT", "describe", "layout_command", "layout_line", "layout_of", "migrate", "set_layout"]

DEFAULT_LAYOUT = Layout.CARDS

# What each layout does, in the words `/paper layout` and `/paper list` use.
_WHAT = {
    Layout.CARDS: "a header, then one message per paper; react 👍/👎 on a card, ask in its thread",
    Layout.COMPACT: "every card in one message, with 👍/👎 buttons per paper; ask in its thread naming #n",
    Layout.THREAD: "the header in the channel, the cards in its thread; ask there naming #n",
}

migrations = TableMigrations("paperbot.layouts")


@migrations()
def m001_layout_settings(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS layout_settings (
               platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
               layout TEXT NOT NULL, updated_at TEXT NOT NULL,
               PRIMARY KEY (platform, workspace, channel))"""
    )


def migrate(store: Store) -> None:
    """Apply this table's migrations once per store (refusing a file written by a newer paperbot)."""
    migrations.apply_to(store)


def layout_of(store: Store, channel: ChannelRef) -> Layout:
    """The channel's layout; the default for a channel that never chose one."""
    migrate(store)
    row = store.db.conn.execute(
        "SELECT layout FROM layout_settings WHERE platform=? AND workspace=? AND channel=?",
        (channel.platform, channel.workspace, channel.channel),
    ).fetchone()
    try:
        return Layout(row[0]) if row else DEFAULT_LAYOUT
    except ValueError:  # a layout of a newer release: the one every adapter draws
        return DEFAULT_LAYOUT


def set_layout(store: Store, channel: ChannelRef, layout: Layout) -> bool:
    """Set the channel's layout; whether that changed anything."""
    was = layout_of(store, channel)
    with store.db.atomic():
        store.db.conn.execute(
            "INSERT INTO layout_settings (platform, workspace, channel, layout, updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT DO UPDATE SET layout=excluded.layout, updated_at=excluded.updated_at",
            (channel.platform, channel.workspace, channel.channel, str(layout), utcnow().isoformat()),
        )
    return was != layout


def describe(layout: Layout) -> str:
    return _WHAT[layout]


def layout_line(store: Store, channel: ChannelRef) -> str:
    """`/paper list`'s line: the channel's layout and how to change it."""
    layout = layout_of(store, channel)
    others = "|".join(str(other) for other in Layout if other != layout)
    return f"Layout: {layout} ({describe(layout)}; /paper layout {others} changes it)."


# --- /paper layout ----------------------------------------------------------------------------------

_EXAMPLE = "/paper layout compact"


async def _layout(engine: Engine, inv: Invocation) -> Reply:
    typed = inv.args["layout"].strip().lower()
    try:
        layout = Layout(typed)
    except ValueError:
        choices = " or ".join(str(choice) for choice in Layout)
        raise UsageError(
            f"{typed[:20]!r} is not a layout: say {choices}. Usage: /paper layout {'|'.join(Layout)}\n"
            f"Example: {_EXAMPLE}"
        ) from None
    if not set_layout(engine.store, inv.channel, layout):
        return Reply(text=f"This channel's digest is already laid out as {layout}; nothing changed.")
    text = f"This channel's digest is now laid out as {layout}: {describe(layout)}. It applies from the next digest."
    if not engine.store.channel_subscriptions(inv.channel):
        text += " This channel follows no feeds yet: /paper subscribe cs.LG (or hf)."
    return Reply(text=text)


def layout_command() -> SubCommand:
    """The `/paper layout` declaration for the registry: it changes what the channel receives, so like
    `briefing` it is for people who manage the channel."""
    from bot.commands import Param, SubCommand

    choice = Param(
        "layout",
        "cards: a message per paper (default); compact: one message, 👍/👎 buttons; thread: cards in a thread",
        "choice",
        choices=tuple(str(layout) for layout in Layout),
    )
    return SubCommand(
        "layout",
        "Lay out this channel's digest: a message per paper, one compact message, or cards in a thread",
        (choice,),
        _layout,
        _EXAMPLE,
        manages_channel=True,
    )
