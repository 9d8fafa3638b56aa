"""The record of what the bot posted where: a reaction, a thread or a reply finds its paper through it."""

from __future__ import annotations

import asyncio
import sqlite3
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


def test_a_several_card_message_keeps_its_papers_in_order_and_a_question_names_one_by_number(
    tmp_path: Path,
) -> None:
    from bot import questions

    store = Store(tmp_path / "bot.db")
    store.migrate()
    papers = ("2403.00001", "2403.00002", "2403.00003")
    posted_messages.record(store, SLACK, "m1", MessageKind.DIGEST, papers=papers, outbox_key="k")
    found = posted_messages.find(store, SLACK, "m1")
    assert found is not None and found.kind == MessageKind.DIGEST and found.paper_id is None
    assert found.papers == papers
    assert found.paper_number(1) == "2403.00001" and found.paper_number(3) == "2403.00003"
    assert found.paper_number(0) is None and found.paper_number(4) is None
    assert questions.names_a_card(found)
    assert questions.paper_in_thread(store, found, "what does #2 assume?") == "2403.00002"
    # No number, two numbers, or a number past the last card: no one paper to tell.
    for text in ("what does it assume?", "compare #1 and #2", "what about #4?", "##2", "a#2"):
        assert questions.paper_in_thread(store, found, text) is None, text
    card = posted_messages.find(store, SLACK, "m1")
    posted_messages.record(store, SLACK, "m2", MessageKind.CARD, paper_id="2403.00009")
    single = posted_messages.find(store, SLACK, "m2")
    assert card is not None and single is not None and single.papers == () and not questions.names_a_card(single)


def _rows_on_disk(path: Path) -> int:
    """Rows another connection sees: what is committed."""
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT count(*) FROM posted_messages").fetchone()[0])


async def test_messages_recorded_in_one_turn_of_the_loop_are_found_at_once_and_committed_together(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "bot.db")
    store.migrate()
    posted_messages.migrate(store)
    for n in range(5):
        posted_messages.record(store, SLACK, f"m{n}", MessageKind.CARD, paper_id=f"2403.{n}")
    assert _rows_on_disk(tmp_path / "bot.db") == 0  # one commit for the turn, not one a message
    await asyncio.sleep(0)  # the loop's next turn, before it reads any event
    assert _rows_on_disk(tmp_path / "bot.db") == 5
    # A message is found as soon as it is recorded, in the same turn: reading writes what is pending.
    posted_messages.record(store, SLACK, "m5", MessageKind.CARD, paper_id="2403.5")
    posted_messages.record(store, SLACK, "m5", MessageKind.CARD, paper_id="2403.6")  # recorded again: the last wins
    found = posted_messages.find(store, SLACK, "m5")
    assert found is not None and found.paper_id == "2403.6"
    assert _rows_on_disk(tmp_path / "bot.db") == 6
    await asyncio.sleep(0)  # nothing left to write: the scheduled turn finds nothing
    assert _rows_on_disk(tmp_path / "bot.db") == 6
