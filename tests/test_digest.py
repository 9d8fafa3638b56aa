"""Digest selection over the real recorded stat feed: types, dedupe, delivered papers, order, cap."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.digest import DigestSelection, select_digest
from bot.errors import SourceError, StaleFeed
from bot.models import ChannelRef, Subscription
from tests.support import FEED_MORNING, STAT_FEED, FakeArxiv, feed_for, make_engine

CHANNEL = ChannelRef("test", "w1", "c1")
OTHER = ChannelRef("test", "w1", "c2")


def _expected(category: str, types: tuple[str, ...]) -> list[str]:
    """The feed's own answer, read with ElementTree, independent of the parser under test."""
    ns = {"arxiv": "http://arxiv.org/schemas/atom"}
    ids = []
    for item in ET.fromstring(STAT_FEED).iter("item"):
        cats = [c.text for c in item.findall("category")]
        kind = item.findtext("arxiv:announce_type", namespaces=ns)
        if kind in types and any(c == category or (c or "").startswith(category + ".") for c in cats):
            ids.append(item.findtext("link", "").rsplit("/", 1)[-1])
    return ids


def _sub(category: str, channel: ChannelRef = CHANNEL, **kw: object) -> Subscription:
    return Subscription(id=0, channel=channel, category=category, **kw)  # type: ignore[arg-type]


async def _engine_with(categories: list[str]):  # type: ignore[no-untyped-def]
    engine = make_engine(FakeArxiv())
    await engine.refresh(categories)
    return engine


async def test_new_and_cross_only_by_default_in_feed_order() -> None:
    engine = await _engine_with(["stat.ML"])
    sel = select_digest(engine.store, CHANNEL, [_sub("stat.ML")], limit=0)
    new, cross = _expected("stat.ML", ("new",)), _expected("stat.ML", ("cross",))
    assert [p.id for p in sel.papers] == new + cross
    assert {p.announce_type for p in sel.papers} == {"new", "cross"}
    assert sel.announced is not None and sel.announced.isoformat() == "2024-03-26"
    assert sel.more_count == 0


async def test_replacements_on_request() -> None:
    engine = await _engine_with(["stat.ML"])
    sel = select_digest(engine.store, CHANNEL, [_sub("stat.ML", include_replacements=True)], limit=0)
    assert len(sel.papers) == len(_expected("stat.ML", ("new", "cross", "replace", "replace-cross")))


async def test_dedupe_across_categories_of_a_channel() -> None:
    engine = await _engine_with(["stat.ML", "stat.ME"])
    sel = select_digest(engine.store, CHANNEL, [_sub("stat.ML"), _sub("stat.ME")], limit=0)
    ids = [p.id for p in sel.papers]
    union = set(_expected("stat.ML", ("new", "cross"))) | set(_expected("stat.ME", ("new", "cross")))
    assert len(ids) == len(set(ids)) == len(union)
    both = set(_expected("stat.ML", ("new", "cross"))) & set(_expected("stat.ME", ("new", "cross")))
    assert both, "the recorded feed has papers in both categories"


async def test_cap_with_more_count_and_listing_link() -> None:
    engine = await _engine_with(["stat.ML"])
    total = len(_expected("stat.ML", ("new", "cross")))
    sel = select_digest(engine.store, CHANNEL, [_sub("stat.ML")], limit=10)
    assert len(sel.papers) == 10 and sel.more_count == total - 10
    message = sel.message()
    assert [link.url for link in message.more_links] == ["https://arxiv.org/list/stat.ML/new"]


async def test_delivered_papers_are_never_selected_again() -> None:
    engine = await _engine_with(["stat.ML", "stat.ME"])
    first = select_digest(engine.store, CHANNEL, [_sub("stat.ML")], limit=5)
    engine.mark_posted(first)
    second = select_digest(engine.store, CHANNEL, [_sub("stat.ML"), _sub("stat.ME")], limit=0)
    assert not {p.id for p in first.papers} & {p.id for p in second.papers}
    # Another channel is unaffected.
    other = select_digest(engine.store, OTHER, [_sub("stat.ML", OTHER)], limit=5)
    assert [p.id for p in other.papers] == [p.id for p in first.papers]


async def test_next_day_repeats_nothing_already_received() -> None:
    # Day 2's feed lists one paper again (as arXiv does for a cross-list a day later) plus one fresh one.
    day2 = STAT_FEED.replace(b"Tue, 26 Mar 2024 00:00:00 -0400", b"Wed, 27 Mar 2024 00:00:00 -0400")
    day2 = day2.replace(b"2403.15527", b"2403.99999")  # one paper the channel never saw
    fake = FakeArxiv()
    now = [FEED_MORNING]
    engine = make_engine(fake, now=lambda: now[0])
    await engine.refresh(["stat.ML"])
    day1 = select_digest(engine.store, CHANNEL, [_sub("stat.ML")], limit=0)
    engine.mark_posted(day1)
    fake.feeds["stat.ML"] = feed_for("stat.ML", day2)
    now[0] = FEED_MORNING + timedelta(days=1)
    result = await engine.refresh(["stat.ML"])
    assert result.fetched == ("stat.ML",)
    sel = select_digest(engine.store, CHANNEL, [_sub("stat.ML")], limit=0)
    assert sel.announced is not None and sel.announced.isoformat() == "2024-03-27"
    assert [p.id for p in sel.papers] == ["2403.99999"]


async def test_refresh_reuses_a_feed_fetched_since_the_last_rebuild() -> None:
    fake = FakeArxiv()
    engine = make_engine(fake)
    await engine.refresh(["stat.ML"])
    result = await engine.refresh(["stat.ML"])
    assert result.reused == ("stat.ML",) and fake.count("/rss/") == 1


async def test_paused_subscriptions_are_skipped() -> None:
    engine = await _engine_with(["stat.ML"])
    sel = await engine.plan_digest(CHANNEL, [replace(_sub("stat.ML"), paused_reason="channel archived")])
    assert sel.papers == () and sel.announced is None


@pytest.mark.parametrize("limit", [1, 3])
async def test_order_is_stable_between_runs(limit: int) -> None:
    a = await _engine_with(["stat.ML"])
    b = await _engine_with(["stat.ML"])
    sa = select_digest(a.store, CHANNEL, [_sub("stat.ML")], limit=limit)
    sb = select_digest(b.store, CHANNEL, [_sub("stat.ML")], limit=limit)
    assert [p.id for p in sa.papers] == [p.id for p in sb.papers]


async def test_a_broken_feed_changes_nothing_and_is_recorded_as_a_failed_fetch() -> None:
    fake = FakeArxiv()
    engine = make_engine(fake)
    await engine.refresh(["stat.ML"])
    before = engine.store.db["papers"].count
    fake.feeds["stat.ML"] = STAT_FEED[: len(STAT_FEED) // 2]  # cut off mid-transfer
    result = await engine.refresh(["stat.ML"], force=True)
    assert "could not read" in str(result.failed["stat.ML"])
    assert engine.store.db["papers"].count == before
    last_ok = engine.store.last_fetch("stat.ML")
    last_any = engine.store.last_fetch("stat.ML", ok_only=False)
    assert last_ok is not None and last_ok.items > 0
    assert last_any is not None and last_any.error is not None


# ---------------------------------------------------------------- previews: the same answer in any order

WEDNESDAY = FEED_MORNING + timedelta(days=1)  # the feed should show the 27th; arXiv still serves the 26th


def _preview_ids(selection: DigestSelection) -> list[str]:
    return [p.id for p in selection.papers]


async def test_a_preview_of_a_stale_feed_is_the_same_on_a_fresh_and_on_a_used_database() -> None:
    fresh = make_engine(FakeArxiv(), now=lambda: WEDNESDAY)
    first = await fresh.preview(["stat.ML"], limit=0)

    used = make_engine(FakeArxiv(), now=lambda: WEDNESDAY)
    with pytest.raises(StaleFeed):  # the scheduler saw the same feed first and is waiting for the new one
        await used.plan_digest(CHANNEL, [_sub("stat.ML")])
    second = await used.preview(["stat.ML"], limit=0)
    third = await fresh.preview(["stat.ML"], limit=0)  # and again, after a preview

    assert (
        _preview_ids(first)
        == _preview_ids(second)
        == _preview_ids(third)
        == _expected("stat.ML", ("new",)) + _expected("stat.ML", ("cross",))
    )
    for selection in (first, second, third):
        assert selection.announced is not None and selection.announced.isoformat() == "2024-03-26"
        assert selection.stale == ("stat.ML",)
        assert "stat.ML still shows an earlier announcement" in selection.stale_note


async def test_a_preview_after_a_preview_and_a_refused_digest_keeps_its_answer() -> None:
    engine = make_engine(FakeArxiv(), now=lambda: WEDNESDAY)
    before = await engine.preview(["stat.ML"], limit=5)
    with pytest.raises(StaleFeed):
        await engine.plan_digest(CHANNEL, [_sub("stat.ML")])
    after = await engine.preview(["stat.ML"], limit=5)
    assert (_preview_ids(after), after.more_count, after.stale) == (
        _preview_ids(before),
        before.more_count,
        before.stale,
    )


async def test_a_current_feed_previews_without_a_note() -> None:
    selection = await make_engine(FakeArxiv()).preview(["stat.ML"], limit=3)
    assert selection.stale == () and selection.stale_note == ""
    assert len(selection.papers) == 3


async def test_a_preview_still_fails_when_we_hold_no_current_copy() -> None:
    fake = FakeArxiv(status={"/rss/": 503})
    with pytest.raises(SourceError, match="arXiv"):
        await make_engine(fake).preview(["stat.ML"])
