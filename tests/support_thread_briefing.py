"""Shared by the thread-layout briefing tests: a channel following stat.ML with the briefing on, in a
layout, and what the outbox holds."""

from __future__ import annotations

from bot import briefing, layouts
from bot.cards import Layout
from bot.engine import Engine
from bot.models import ChannelRef, Subscription

OPENS = "Briefing · 10 papers · "  # how the offline briefing (no LLM in these tests) begins


def follow(engine: Engine, channel: ChannelRef, layout: Layout, *, briefing_on: bool = True) -> list[Subscription]:
    """The channel follows stat.ML in ``layout``, with the day's briefing on; its subscriptions."""
    engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML"))
    briefing.set_on(engine.store, channel, briefing_on)
    layouts.set_layout(engine.store, channel, layout)
    return engine.store.channel_subscriptions(channel)


def outbox_kinds(engine: Engine) -> dict[str, str]:
    """Each outbox row's kind and state (one row of each kind in these tests)."""
    return dict(engine.store.db.conn.execute("SELECT kind, state FROM outbox").fetchall())
