"""Each distinct arXiv RSS item is read once: item by item, a feed reads exactly as it does whole.

The reference is the same document given whole to feedparser (``split_items`` answering None), which is
how every feed was read before; the recorded feeds are real (tests/data, see /work/shared/data/README.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import Feed
from bot.sources import arxiv as arxiv_module
from bot.sources import arxiv_items
from bot.sources.arxiv import parse_rss
from bot.sources.arxiv_items import ItemCache, item_key, slim_item, split_items, typed_item_key
from tests.support import STAT_FEED, feed_for
from tests.support_arxiv_feeds import arxiv_feed

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("rss-*.xml"))
_ITEM = re.compile(rb"<item>.*?</item>", re.S)


def whole(data: bytes, categories: list[str], monkeypatch: pytest.MonkeyPatch) -> Feed:
    """The feed read the way it always was: the whole document through feedparser."""
    with monkeypatch.context() as patch:
        patch.setattr(arxiv_module, "split_items", lambda _: None)
        return parse_rss(data, categories)


class ItemsGiven:
    """Counts the items each feedparser call was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: list[int] = []
        real = arxiv_module._feedparse

        def counting(data: bytes) -> Any:
            self.counts.append(len(_ITEM.findall(data)))
            return real(data)

        monkeypatch.setattr(arxiv_module, "_feedparse", counting)


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_every_recorded_feed_reads_item_by_item_as_it_does_whole(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    assert split_items(data) is not None  # the recorded feeds are cut, not read whole
    assert parse_rss(data, ["stat"]) == whole(data, ["stat"], monkeypatch)


def test_a_second_read_of_the_same_feed_gives_feedparser_no_item(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ItemCache()
    first = parse_rss(STAT_FEED, ["stat"], cache)
    given = ItemsGiven(monkeypatch)
    again = parse_rss(STAT_FEED, ["stat"], cache)
    assert given.counts == [0]
    assert again == first == whole(STAT_FEED, ["stat"], monkeypatch)


def test_a_cross_listed_item_is_read_in_the_first_feed_only(monkeypatch: pytest.MonkeyPatch) -> None:
    machine, methodology = feed_for("stat.ML"), feed_for("stat.ME")
    shared = set(_ITEM.findall(machine)) & set(_ITEM.findall(methodology))
    assert shared  # the recorded day has items in both
    cache = ItemCache()
    parse_rss(machine, ["stat.ML"], cache)
    given = ItemsGiven(monkeypatch)
    second = parse_rss(methodology, ["stat.ME"], cache)
    assert given.counts == [len(_ITEM.findall(methodology)) - len(shared)]
    assert second == whole(methodology, ["stat.ME"], monkeypatch)


def test_an_item_listed_twice_in_one_feed_is_read_once_and_kept_at_both_positions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _ITEM.search(STAT_FEED)
    assert first is not None
    doubled = STAT_FEED.replace(first.group(0), first.group(0) + b"\n    " + first.group(0), 1)
    given = ItemsGiven(monkeypatch)
    feed = parse_rss(doubled, ["stat"])
    assert given.counts == [len(_ITEM.findall(STAT_FEED))]
    assert feed == whole(doubled, ["stat"], monkeypatch)
    assert [i.position for i in feed.items[:3]] == [0, 1, 2]


@pytest.mark.parametrize(
    "change",
    [
        (b"<title>Conformal online", b"<title><![CDATA[Conformal]]> online"),
        (b"</item>", b"</item><!-- a comment -->"),
        (b"<skipDays>", b"<!-- <item><title>x</title></item> --><skipDays>"),
        (b"<item>", b'<item xml:lang="en">'),
        (b"</item>", b"</item><image><url>https://arxiv.org/x.png</url></image>"),
        (b"</item>", b"</item><?pi?>"),
    ],
    ids=[
        "CDATA",
        "a comment",
        "an item in a comment of the head",
        "an attribute on an item",
        "an element between items",
        "an instruction",
    ],
)
def test_a_document_the_cut_could_misread_is_read_whole(
    change: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = STAT_FEED.replace(*change, 1)
    assert split_items(data) is None
    assert parse_rss(data, ["stat"]) == whole(data, ["stat"], monkeypatch)


def test_the_link_stays_when_the_guid_holds_no_readable_id(monkeypatch: pytest.MonkeyPatch) -> None:
    data = STAT_FEED.replace(b"oai:arXiv.org:2403.15527v1</guid>", b"oai:arXiv.org:nonsense</guid>", 1)
    data = data.replace(b"arXiv:2403.15527v1 Announce Type", b"Announce Type", 1)
    item = _ITEM.search(data)
    assert item is not None and b"<link>" in slim_item(item.group(0))
    feed = parse_rss(data, ["stat"])
    assert feed == whole(data, ["stat"], monkeypatch)
    assert feed.items[0].paper.id == "2403.15527"  # from its abs link


def test_the_licence_and_a_plain_guid_s_link_are_what_feedparser_is_spared() -> None:
    item = _ITEM.search(STAT_FEED)
    assert item is not None
    slim = slim_item(item.group(0))
    assert b"<dc:rights>" not in slim and b"<link>" not in slim
    assert b"<guid" in slim and b"<dc:creator>" in slim and b"<description>" in slim


def test_the_same_item_under_another_root_is_another_item() -> None:
    split = split_items(STAT_FEED)
    assert split is not None
    other = split_items(STAT_FEED.replace(b'version="2.0">', b'version="2.0" xml:base="https://example.org/">', 1))
    assert other is not None
    assert item_key(split.context, split.items[0]) != item_key(other.context, other.items[0])


def test_the_cache_keeps_the_most_recently_used() -> None:
    feed = parse_rss(STAT_FEED, ["stat"])
    papers = [item.paper for item in feed.items[:3]]
    cache = ItemCache(limit=2)
    cache.put(b"a", papers[0])
    cache.put(b"b", papers[1])
    assert cache.get(b"a") is papers[0]
    cache.put(b"c", papers[2])
    assert len(cache) == 2 and cache.get(b"b") is None and cache.get(b"a") is papers[0]


def test_a_whole_run_of_blanks_in_an_item_is_not_quadratic_to_slim() -> None:
    # The licence pattern has no leading "\s*": it would be tried at each of a million blanks.
    item = b"<item>" + b" " * 1_000_000 + b"<dc:rights>x</dc:rights></item>"
    assert slim_item(item) == b"<item>" + b" " * 1_000_000 + b"</item>"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=_TEXT, creator=_TEXT, abstract=_TEXT)
def test_any_item_text_reads_the_same_item_by_item_and_whole(
    title: str, creator: str, abstract: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def xml_text(text: str) -> bytes:
        # Characters XML 1.0 cannot carry at all are not a feed's: leave them out.
        allowed = "".join(c for c in text if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd")
        return escape(allowed).encode()

    first = _ITEM.search(STAT_FEED)
    assert first is not None
    # Replacements as functions: the generated text is data, never a template ("\\1" is no group reference).
    new_title = b"<title>" + xml_text(title) + b"</title>"
    new_creator = b"<dc:creator>" + xml_text(creator) + b"</dc:creator>"
    item = re.sub(rb"<title>[^<]*</title>", lambda _: new_title, first.group(0))
    item = re.sub(rb"<dc:creator>[^<]*</dc:creator>", lambda _: new_creator, item)
    item = item.replace(b"Abstract: Conformal", b"Abstract: " + xml_text(abstract) + b" Conformal", 1)
    data = STAT_FEED.replace(first.group(0), item, 1)
    assert parse_rss(data, ["stat"]) == whole(data, ["stat"], monkeypatch)


def test_the_module_exports_what_it_says() -> None:
    assert set(arxiv_items.__all__) == {
        "ItemCache",
        "SplitFeed",
        "item_key",
        "slim_item",
        "split_items",
        "typed_item_key",
    }


@pytest.mark.parametrize("creator", ["\\1", "\\0", "\\g<0>"])
def test_backslashes_in_an_item_read_the_same_item_by_item_and_whole(
    creator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cases the property test found (its own template bug): backslash text in an author field."""
    first = _ITEM.search(STAT_FEED)
    assert first is not None
    new_creator = b"<dc:creator>" + escape(creator).encode() + b"</dc:creator>"
    item = re.sub(rb"<dc:creator>[^<]*</dc:creator>", lambda _: new_creator, first.group(0))
    data = STAT_FEED.replace(first.group(0), item, 1)
    assert parse_rss(data, ["stat"]) == whole(data, ["stat"], monkeypatch)


def _ids(data: bytes) -> set[bytes]:
    return set(re.findall(rb"oai:arXiv\.org:([^<]+)</guid>", data))


@pytest.mark.parametrize(
    ("first", "second"),
    [("stat.ML+stat.ME", "stat.ME+stat.AP"), ("stat.ML", "stat.ME"), ("stat.ME+stat.AP", "stat.ML")],
    ids=["combined then combined", "one then one", "combined then one"],
)
def test_a_paper_is_read_once_whatever_type_each_feed_gives_it_and_each_feed_keeps_its_own(
    first: str, second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cross-listed paper is "new" in one feed (or combined request) and "cross" in another: its item is
    read in the first only, and the second feed still lists it with the second feed's own type."""
    one, two = arxiv_feed(first), arxiv_feed(second)
    types = {m.group(1) for m in re.finditer(rb"<arxiv:announce_type>([^<]+)<", two)}
    assert len(types) > 1
    shared = _ids(one) & _ids(two)
    retyped = [i for i in _ITEM.findall(two) if i not in set(_ITEM.findall(one)) and _ids(i) & shared]
    assert retyped  # the two feeds give some shared paper different types
    cache = ItemCache()
    parse_rss(one, first.split("+"), cache)
    given = ItemsGiven(monkeypatch)
    read = parse_rss(two, second.split("+"), cache)
    assert given.counts == [len(_ids(two) - shared)]
    assert read == whole(two, second.split("+"), monkeypatch)


def test_the_typed_key_leaves_out_the_announce_type_only() -> None:
    item = _ITEM.findall(arxiv_feed("stat.ML"))[0]
    context = split_items(STAT_FEED).context  # type: ignore[union-attr]
    key, announce_type = typed_item_key(context, item)
    assert announce_type is not None
    other = "cross" if announce_type != "cross" else "new"
    retyped = item.replace(f">{announce_type}<".encode(), f">{other.upper()}<".encode(), 1)
    retyped = retyped.replace(f"Announce Type: {announce_type}".encode(), f"Announce Type: {other}".encode(), 1)
    assert typed_item_key(context, retyped) == (key, other)
    assert typed_item_key(context, item.replace(b"<title>", b"<title>A ", 1))[0] != key  # anything else counts
    assert typed_item_key(context + b" ", item)[0] != key
    assert typed_item_key(context, item)[0] != item_key(context, item)  # never confused with a whole-item key


@pytest.mark.parametrize(
    "change",
    [
        (b"</arxiv:announce_type>", b"</arxiv:announce_type><dc:announce_type>new</dc:announce_type>"),
        (b"<arxiv:announce_type>", b"<arxiv:announce_type> "),
        (b"</arxiv:announce_type>", b"&#97;</arxiv:announce_type>"),
    ],
    ids=["a second type element", "blank in the type", "an entity in the type"],
)
def test_an_item_whose_type_is_not_one_plain_word_is_keyed_whole(change: tuple[bytes, bytes]) -> None:
    item = _ITEM.findall(STAT_FEED)[0].replace(*change, 1)
    assert typed_item_key(b"", item) == (item_key(b"", item), None)
