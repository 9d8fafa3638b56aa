"""A fan-out selects a ranked digest per channel: the database work per channel must not grow with the
size of its radar (one query for the radar, one for the liked papers not yet loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.digest import candidates, select_digest
from bot.models import ChannelRef
from bot.radar import Radar
from tests.test_radar_digest import _engine, _sub

FEW = ChannelRef("test", "w", "few-likes")
MANY = ChannelRef("test", "w", "many-likes")


@contextmanager
def counted(conn) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


async def test_a_ranked_selection_costs_the_same_few_queries_however_many_papers_the_radar_likes() -> None:
    engine = await _engine()
    store = engine.store
    papers = candidates(store, [_sub()])
    assert len(papers) > 8  # fewer than 500: one query for the channel's delivered papers
    radar = Radar(store)
    for channel, liked in ((FEW, papers[:1]), (MANY, papers[1:8])):
        radar.add_keyword(channel, "conformal prediction")
        radar.set_only(channel, False)
        for paper in liked:
            radar.like(channel, paper.id, -1.0 if paper is papers[7] else 1.0)
    select_digest(store, ChannelRef("test", "w", "warm"), [_sub()], limit=5)  # listings and corpus loaded

    for channel in (FEW, MANY):
        with counted(store.db.conn) as statements:
            selection = select_digest(store, channel, [_sub(channel)], limit=5)
        assert selection.why
        # The delivered papers, the whole radar (entries and setting), the liked papers' text.
        assert len(statements) == 3, statements
        with counted(store.db.conn) as statements:
            select_digest(store, channel, [_sub(channel)], limit=5)
        assert len(statements) == 2, statements  # liked papers are remembered until the papers change
