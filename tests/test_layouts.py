"""Per-channel digest layouts, the engine's side: `/paper layout cards|compact|thread` (set, shown by
`/paper list`, a bad value, unchanged, managers only), the layout carried by every digest drawn for a
channel (scheduled and requested) while previews and notes stay cards, and the terminal's drawing of each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from bot import briefing, layouts
from bot.cards import DigestMessage, Layout, make_card, render_digest_text
from bot.commands import REGISTRY, Invocation, dispatch, help_text
from bot.engine import PREVIEW_CHANNEL
from bot.models import ChannelRef, Subscription
from bot.scheduler import DigestScheduler
from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.support import STAT_FEED, FakeArxiv, make_engine
from tests.support_history import RecordingPoster

SLOT = ("09:00", "UTC")
LAB, DESK = ChannelRef("test", "w", "lab"), ChannelRef("test", "w", "desk")
PAPERS = parse_rss(STAT_FEED, ["stat"]).items


def _subscribe(engine: Any, *channels: ChannelRef) -> None:
    for channel in channels:
        engine.store.subscribe(Subscription(id=0, channel=channel, category="stat.ML", time=SLOT[0], timezone=SLOT[1]))


def _digest(count: int, layout: Layout) -> DigestMessage:
    cards = tuple(replace(make_card(item.paper), number=n) for n, item in enumerate(PAPERS[:count], start=1))
    return DigestMessage(categories=("stat",), announced=date(2024, 3, 26), cards=cards, layout=layout)


# --- the command ------------------------------------------------------------------------------------


async def test_the_command_sets_the_layout_and_list_and_help_show_it() -> None:
    engine = make_engine(FakeArxiv())
    _subscribe(engine, LAB)
    assert "/paper layout cards|compact|thread" in help_text()
    listed = await dispatch(engine, Invocation(channel=LAB), "/paper list")
    assert "Layout: cards (" in listed.text and "/paper layout compact|thread changes it" in listed.text
    compact = await dispatch(engine, Invocation(channel=LAB), "/paper layout compact")
    assert not compact.is_error and "now laid out as compact" in compact.text and "👍/👎 buttons" in compact.text
    assert layouts.layout_of(engine.store, LAB) == Layout.COMPACT
    assert layouts.layout_of(engine.store, DESK) == Layout.CARDS  # per channel; cards unless asked for
    listed = await dispatch(engine, Invocation(channel=LAB), "/paper list")
    assert "Layout: compact (every card in one message" in listed.text
    assert "/paper layout cards|thread changes it" in listed.text
    again = await dispatch(engine, Invocation(channel=LAB), "/paper layout COMPACT")
    assert not again.is_error and "already laid out as compact; nothing changed" in again.text
    thread = await dispatch(engine, Invocation(channel=LAB), "/paper layout thread")
    assert "now laid out as thread" in thread.text and layouts.layout_of(engine.store, LAB) == Layout.THREAD


async def test_a_bad_or_missing_layout_gets_one_line_naming_the_choices() -> None:
    engine = make_engine(FakeArxiv())
    _subscribe(engine, LAB)
    for wrong in ("/paper layout grid", "/paper layout", "/paper layout cards now", "/paper layout <!channel>"):
        refused = await dispatch(engine, Invocation(channel=LAB), wrong)
        assert refused.is_error and "/paper layout cards|compact|thread" in refused.text, wrong
        assert "Traceback" not in refused.text
    grid = await dispatch(engine, Invocation(channel=LAB), "/paper layout grid")
    assert "'grid' is not a layout: say cards or compact or thread" in grid.text
    assert layouts.layout_of(engine.store, LAB) == Layout.CARDS


async def test_only_people_who_manage_the_channel_change_it_and_a_channel_without_feeds_is_told() -> None:
    engine = make_engine(FakeArxiv())
    assert REGISTRY["layout"].needs_manager() and REGISTRY["briefing"].needs_manager()
    denied = await dispatch(engine, Invocation(channel=LAB, can_manage=False), "/paper layout thread")
    assert denied.is_error and "manage this channel" in denied.text
    assert layouts.layout_of(engine.store, LAB) == Layout.CARDS
    unfollowed = await dispatch(engine, Invocation(channel=LAB), "/paper layout thread")
    assert "now laid out as thread" in unfollowed.text and "follows no feeds yet" in unfollowed.text


def test_its_table_has_a_named_rerunnable_migration_and_survives_a_restart(tmp_path: Any) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    assert layouts.set_layout(store, LAB, Layout.THREAD)
    assert not layouts.set_layout(store, LAB, Layout.THREAD)
    layouts.migrations.apply(store.db)
    assert [m.name for m in layouts.migrations.applied(store.db)] == ["m001_layout_settings"]
    store.close()
    reopened = Store(tmp_path / "p.db")
    reopened.migrate()
    assert layouts.layout_of(reopened, LAB) == Layout.THREAD
    # A layout written by a newer release is read as the default every adapter draws.
    reopened.db.conn.execute("UPDATE layout_settings SET layout='mosaic'")
    assert layouts.layout_of(reopened, LAB) == Layout.CARDS


# --- the digest carries it ----------------------------------------------------------------------------


async def test_scheduled_digests_carry_each_channels_layout_and_the_briefing_stays_a_note() -> None:
    engine = make_engine(FakeArxiv())
    _subscribe(engine, LAB, DESK)
    layouts.set_layout(engine.store, LAB, Layout.COMPACT)
    briefing.set_on(engine.store, LAB, True)
    poster = RecordingPoster(engine.store)
    await DigestScheduler(engine, {"test": poster}, now=engine.now).run_slot(SLOT)
    drawn = {(channel.channel, digest.is_note): digest for channel, digest in poster.digests}
    assert drawn[("lab", False)].layout == Layout.COMPACT and drawn[("lab", False)].cards
    assert drawn[("lab", True)].layout == Layout.CARDS and drawn[("lab", True)].briefing  # a note, as it was
    assert drawn[("desk", False)].layout == Layout.CARDS


async def test_a_requested_digest_carries_the_layout_and_a_preview_stays_cards() -> None:
    engine = make_engine(FakeArxiv())
    _subscribe(engine, LAB)
    layouts.set_layout(engine.store, LAB, Layout.THREAD)
    reply = await dispatch(engine, Invocation(channel=LAB), "/paper digest")
    assert reply.digest is not None and reply.digest.layout == Layout.THREAD and reply.digest.cards
    layouts.set_layout(engine.store, PREVIEW_CHANNEL, Layout.THREAD)  # even a setting stored for it is ignored
    assert reply.selection is not None
    preview = engine.digest_message(replace(reply.selection, channel=PREVIEW_CHANNEL))
    assert preview.layout == Layout.CARDS and not preview.for_channel


# --- the terminal -------------------------------------------------------------------------------------


def test_the_terminal_draws_compact_as_one_block_and_thread_as_a_header_over_indented_cards() -> None:
    cards = render_digest_text(_digest(3, Layout.CARDS))
    compact = render_digest_text(_digest(3, Layout.COMPACT))
    thread = render_digest_text(_digest(3, Layout.THREAD))
    titles = [item.paper.title for item in PAPERS[:3]]
    for drawn in (cards, compact, thread):
        assert all(title[:40] in " ".join(drawn.split()) for title in titles)
        assert drawn.splitlines()[0].startswith("arXiv digest · stat")
    assert "\n\n" in cards  # a blank line between cards
    assert "\n\n" not in compact  # one block: no blank line anywhere
    head, _, rest = thread.partition("\n\n")
    assert "3 papers, in the thread below" in head and "1." not in head
    card_lines = [line for line in rest.splitlines() if line.strip()]
    assert card_lines and all(line.startswith("  │ ") for line in card_lines)
    assert "  │ 1. " in thread and "  │ 3. " in thread
