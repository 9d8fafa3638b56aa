"""The record of what the bot posted where: a reaction, a thread or a reply finds its paper through it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot import posted_messages
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.store import Store, utcnow

SLACK = ChannelRef("slack", "T1", "C1")
OTHER = ChannelRef("slack", "T1", "C2")


def test_a_card_is_found_by_its_message_id_in_its_channel_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    store.migrate()
    posted_messages.record(store, SLACK, "1700000000.000100", MessageKind.CARD, paper_id="2403.12345", outbox_key="k")
    found = posted_messages.find(store, SLACK, "1700000000.000100")
    assert found is not None and found.paper_id == "2403.12345" and found.kind == MessageKind.CARD
    assert found.outbox_key == "k"
    assert posted_messages.find(store, OTHER, "1700000000.000100") is None
    assert posted_messages.find(store, SLACK, "1700000000.999999") is None
    assert posted_messages.find(store, SLACK, "") is None


def test_recording_again_keeps_one_row_and_a_header_has_no_paper(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    store.migrate()
    posted_messages.record(store, SLACK, "m1", MessageKind.HEADER)
    posted_messages.record(store, SLACK, "m1", MessageKind.HEADER)
    count = store.db.execute("SELECT count(*) FROM posted_messages").fetchone()[0]
    assert count == 1
    found = posted_messages.find(store, SLACK, "m1")
    assert found is not None and found.paper_id is None


def test_old_messages_are_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    store.migrate()
    posted_messages.record(store, SLACK, "old", MessageKind.CARD, paper_id="2403.1")
    later = utcnow() + timedelta(days=posted_messages.KEEP_DAYS + 1)
    assert posted_messages.prune(store, now=later) == 1
    assert posted_messages.find(store, SLACK, "old") is None
