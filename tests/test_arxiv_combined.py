"""arXiv's feeds of one refresh come in one combined request, and each category is recorded exactly as its
own feed would have recorded it (listings with their types and positions, the fetch and its item count).
A combined answer that fails, may be cut at arXiv's 2,000 items, or holds nothing for a category, gives
way to one request per category. Feeds are what rss.arxiv.org serves, derived from the recorded one."""

from __future__ import annotations

from typing import Any

from bot.engine import Engine
from bot.sources.arxiv_combined import CombinedFeeds, category_type, group_categories
from tests.fakes.arxiv_server import big_feed
from tests.support import FakeArxiv, make_engine
from tests.support_arxiv_feeds import arxiv_feed

CATEGORIES = ("stat.ML", "cs.LG", "stat.ME", "math.ST", "stat.AP")


def serving(*paths: str) -> FakeArxiv:
    """arXiv serving each category alone and each given combination (``"stat.ML+cs.LG"``)."""
    return FakeArxiv(feeds={path: arxiv_feed(path) for path in {*CATEGORIES, *paths}})


def recorded(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    conn = engine.store.db.conn
    return {
        "listings": conn.execute(
            "SELECT category, announced, paper_id, announce_type, position FROM listings ORDER BY 1, 5"
        ).fetchall(),
        "fetches": conn.execute(
            "SELECT category, announced, items, error FROM fetches WHERE error IS NULL ORDER BY 1"
        ).fetchall(),
        "papers": conn.execute(
            "SELECT id, version, title, authors, categories, abstract FROM papers ORDER BY 1"
        ).fetchall(),
    }


async def one_by_one(categories: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(serving())
    for category in categories:
        await engine.refresh([category])  # a refresh of one feed: its own request
    try:
        return recorded(engine)
    finally:
        await engine.aclose()


def rss_paths(fake: FakeArxiv) -> list[str]:
    return [r.url.path.removeprefix("/rss/") for r in fake.requests if r.url.path.startswith("/rss/")]


async def test_a_combined_fetch_records_each_category_as_its_own_feed_would() -> None:
    # Never fetched before, each counts as a busy category: two a request, under arXiv's cap.
    combinations = ["stat.ML+cs.LG", "stat.ME+math.ST", "stat.AP"]
    fake = serving(*combinations)
    engine = make_engine(fake)
    result = await engine.refresh(list(CATEGORIES))
    assert result.fetched == CATEGORIES and not result.failed
    assert rss_paths(fake) == combinations
    together = recorded(engine)
    await engine.aclose()
    assert together == await one_by_one(CATEGORIES)
    # Not vacuous: a paper new in its primary category is a cross-listing in another one.
    types = {(row[0], row[2]): row[3] for row in together["listings"]}
    assert any(types.get((c, p)) == "new" and types.get((o, p)) == "cross" for (c, p) in types for o in CATEGORIES)
    assert len(together["fetches"]) == len(CATEGORIES) and all(row[2] > 0 for row in together["fetches"])


async def test_a_failing_category_among_several_fails_alone() -> None:
    combined = "stat.ME+stat.ML"
    fake = serving(combined)
    fake.status["/rss/" + combined] = 400  # the combined request refused as a whole
    fake.status["/rss/stat.ME"] = 503  # and one of its categories down on its own
    engine = make_engine(fake)
    result = await engine.refresh(["stat.ME", "stat.ML"])
    assert set(result.failed) == {"stat.ME"} and result.fetched == ("stat.ML",)
    assert rss_paths(fake)[0] == combined and rss_paths(fake)[-1] == "stat.ML"
    alone = await one_by_one(("stat.ML",))
    assert recorded(engine) == alone
    await engine.aclose()


async def test_a_category_the_combined_answer_has_nothing_for_is_asked_alone() -> None:
    # astro-ph.SR lists nothing in this feed: alone, an empty feed on an announcement day is reported, as ever.
    fake = FakeArxiv(feeds={"stat.ML+astro-ph.SR": arxiv_feed("stat.ML"), **{c: arxiv_feed(c) for c in CATEGORIES}})
    engine = make_engine(fake)
    result = await engine.refresh(["stat.ML", "astro-ph.SR"])
    assert result.fetched == ("stat.ML",) and set(result.failed) == {"astro-ph.SR"}
    assert rss_paths(fake) == ["stat.ML+astro-ph.SR", "astro-ph.SR"]
    assert recorded(engine) == await one_by_one(("stat.ML",))
    await engine.aclose()


async def test_a_combined_answer_at_arxivs_limit_is_not_used() -> None:
    combined = "stat.ML+cs.LG"
    fake = serving()
    fake.feeds[combined] = big_feed(2000)  # 2,000 items: maybe cut at arXiv's cap
    engine = make_engine(fake)
    result = await engine.refresh(["stat.ML", "cs.LG"])
    assert result.fetched == ("stat.ML", "cs.LG")
    assert rss_paths(fake) == [combined, "stat.ML", "cs.LG"]
    assert recorded(engine) == await one_by_one(("stat.ML", "cs.LG"))
    await engine.aclose()


async def test_only_the_feeds_due_are_asked_for_together() -> None:
    fake = serving("cs.LG+stat.ME")
    engine = make_engine(fake)
    await engine.refresh(["stat.ML"])
    result = await engine.refresh(["stat.ML", "cs.LG", "stat.ME"])
    assert result.reused == ("stat.ML",) and result.fetched == ("cs.LG", "stat.ME")
    assert rss_paths(fake) == ["stat.ML", "cs.LG+stat.ME"]
    await engine.aclose()


def test_categories_are_grouped_under_arxivs_cap_by_their_last_listings() -> None:
    last = {"cs.LG": 900, "cs.AI": 500, "cs.CL": 400, "stat.ML": 300, "math.OC": 100}
    groups = group_categories(list(last), last.get)
    assert groups == [("cs.LG", "cs.AI"), ("cs.CL", "stat.ML", "math.OC")]
    assert group_categories(["a", "b", "c"], lambda _: None) == [("a", "b"), ("c",)]  # unknown: a busy day


def test_a_category_sees_the_type_its_own_feed_shows() -> None:
    assert [category_type("new", primary) for primary in (True, False)] == ["new", "cross"]
    assert [category_type("replace", primary) for primary in (True, False)] == ["replace", "replace-cross"]
    assert [category_type("cross", primary) for primary in (True, False)] == [None, "cross"]
    assert category_type("replace-cross", False) == "replace-cross"


async def test_a_plan_left_over_from_an_earlier_refresh_is_never_served_again() -> None:
    fake = serving("stat.ML+cs.LG")
    engine = make_engine(fake)
    feeds = CombinedFeeds(engine.arxiv)
    feeds.plan(["stat.ML", "cs.LG"], lambda _: 100)
    await feeds.fetch("stat.ML")  # cs.LG never asked for: a refresh cut short
    feeds.plan(["stat.ML", "cs.LG"], lambda _: 100)  # the next refresh
    await feeds.fetch("cs.LG")
    assert rss_paths(fake) == ["stat.ML+cs.LG", "stat.ML+cs.LG"]  # asked anew, not the old answer
    await engine.aclose()


async def test_an_empty_combined_feed_on_an_announcement_day_fails_each_category_without_more_requests() -> None:
    fake = serving()
    fake.feeds["stat.ML+cs.LG"] = arxiv_feed("astro-ph.SR")  # nothing at all: throttling, usually
    engine = make_engine(fake)
    result = await engine.refresh(["stat.ML", "cs.LG"])
    assert set(result.failed) == {"stat.ML", "cs.LG"} and not result.fetched
    assert rss_paths(fake) == ["stat.ML+cs.LG"]
    await engine.aclose()


async def test_every_group_of_a_plan_is_asked_for_at_the_plan_one_request_each() -> None:
    fake = serving("stat.ML+cs.LG", "stat.ME+math.ST")
    engine = make_engine(fake)
    feeds = CombinedFeeds(engine.arxiv)
    feeds.plan(["stat.ML", "cs.LG", "stat.ME", "math.ST"], lambda _: 700)  # two groups under the budget
    ordered = [await feeds.fetch(c) for c in ("stat.ML", "cs.LG", "stat.ME", "math.ST")]
    assert rss_paths(fake) == ["stat.ML+cs.LG", "stat.ME+math.ST"]
    assert [f.categories for f in ordered] == [("stat.ML",), ("cs.LG",), ("stat.ME",), ("math.ST",)]
    await engine.aclose()


async def test_a_group_nobody_came_for_is_dropped_with_its_plan() -> None:
    """A refresh cut short before it reached a group: its request is called off, and nothing is left over."""
    fake = serving("stat.ML+cs.LG")
    engine = make_engine(fake)
    feeds = CombinedFeeds(engine.arxiv)
    feeds.plan(["stat.ML", "cs.LG"], lambda _: 100)
    feeds.forget(["stat.ML", "cs.LG"])  # before the loop ran the request
    assert await feeds.fetch("stat.ML") == await engine.arxiv.fetch_feed(["stat.ML"])  # no plan: its own feed
    assert rss_paths(fake) == ["stat.ML", "stat.ML"]
    await engine.aclose()
