"""Which candidates a channel was already sent: the same answer whether its record is short (read whole) or
longer than twice the candidates (looked up one by one)."""

from __future__ import annotations

from datetime import date, timedelta

from bot.models import ChannelRef
from bot.store import Store

CHANNEL = ChannelRef("test", "w", "c")
OTHER = ChannelRef("test", "w", "other")


def _store_with(days: int) -> Store:
    store = Store(":memory:")
    store.migrate()
    start = date(2026, 1, 1)
    for day in range(days):
        ids = [f"26{day:02d}.{n:05d}" for n in range(10)]
        store.record_delivery(CHANNEL, start + timedelta(days=day), ("cs.LG",), ids)
    store.record_delivery(OTHER, start, ("cs.LG",), ["2600.00001", "2700.00001"])
    return store


def test_a_short_record_and_a_long_one_give_the_same_answer() -> None:
    # 2700.00001 went to another channel; the rest were never sent.
    candidates = ["2600.00003", "2601.00009", "2700.00001", *(f"9999.{n:05d}" for n in range(21))]
    for days in (1, 2, 30):  # 10, 20, 300 ids: shorter, and longer, than twice the 24 candidates
        store = _store_with(days)
        expected = {"2600.00003"} | ({"2601.00009"} if days > 1 else set())
        assert store.delivered_ids(CHANNEL, candidates) == expected
        assert store.delivered_ids(CHANNEL, []) == set()
        assert store.delivered_ids(ChannelRef("test", "w", "new"), candidates) == set()
