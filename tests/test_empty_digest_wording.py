"""An empty digest says what it means: a channel's has nothing it has not already seen; a preview, for no
channel, found nothing at all (it never says "not already seen" when nothing existed)."""

from __future__ import annotations

from dataclasses import replace

from bot.cards import render_digest_text
from bot.models import ChannelRef, Subscription
from tests.support import make_engine

CHANNEL = ChannelRef("test", "w", "c")


async def test_an_empty_preview_says_there_are_no_papers_not_that_they_were_seen() -> None:
    engine = make_engine()
    selection = await engine.preview(["stat"])
    nothing = replace(selection, papers=(), more_count=0)  # a day whose feed holds only replacements, say
    text = render_digest_text(engine.digest_message(nothing))
    assert "No papers in this announcement." in text and "already seen" not in text
    await engine.aclose()


async def test_an_empty_channel_digest_says_the_channel_has_seen_everything() -> None:
    engine = make_engine()
    engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category="stat"))
    selection = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    engine.mark_posted(selection)
    again = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    text = render_digest_text(engine.digest_message(again))
    assert "this channel has not already seen" in text
    await engine.aclose()
