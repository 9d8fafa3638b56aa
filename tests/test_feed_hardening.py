"""Hostile feeds: fields that make feedparser slow, characters XML forbids, and the event loop kept free
while a feed is parsed. Every feed here is the recorded arXiv feed (tests/data) with one thing injected."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import FeedFormatError
from bot.sources import arxiv as arxiv_module
from bot.sources.arxiv import ArxivClient, parse_api, parse_rss
from bot.sources.xml_guard import MAX_FIELD_CHARS, MAX_RUN_CHARS, UnreadableXml, bound_author_fields
from tests.fakes import FakeArxivServer, big_feed, one_item_feed, recorded_feed
from tests.support import FEED_MORNING, STAT_FEED, FakeArxiv, api_body, make_engine
from tests.support_hostile_feed import (
    FIRST_CREATOR,
    FIRST_TITLE,
    HOSTILE_AUTHOR_FIELDS,
    HOSTILE_FOR_US,
    hostile_feed,
    with_first_creator,
    without_skip_days,
    word,
)

# ---------------------------------------------------------------- hostile fields cost milliseconds


@pytest.mark.parametrize("case", list(HOSTILE_AUTHOR_FIELDS))
def test_a_hostile_author_field_costs_milliseconds_and_keeps_the_feed(case: str) -> None:
    # What makes it cheap is checked here: no word run longer than MAX_RUN_CHARS reaches feedparser's
    # e-mail expression (the one that costs seconds). What it costs is timed by bench/bench_feed_hardening.py.
    bounded = bound_author_fields(hostile_feed(case))
    assert not re.search(rb"[A-Za-z0-9_.+\-@]{%d}" % (MAX_RUN_CHARS * 2 + 2), bounded), case
    feed = parse_rss(hostile_feed(case), ["stat"])
    assert len(feed.items) == 123  # nothing lost: the hostile item is kept, its field bounded
    first = feed.items[0].paper
    assert first.id == "2403.15527" and first.title == "Conformal online model aggregation"
    assert not any(re.search(rf"[A-Za-z0-9_.+\-]{{{MAX_RUN_CHARS + 1}}}", name) for name in first.authors)
    untouched = parse_rss(recorded_feed(), ["stat"]).items[1].paper.authors
    assert feed.items[1].paper.authors[-len(untouched) :] == untouched


@pytest.mark.parametrize("case", list(HOSTILE_FOR_US))
def test_a_hostile_field_costs_our_own_parsing_milliseconds(case: str) -> None:
    old, new = HOSTILE_FOR_US[case]
    raw = recorded_feed()
    assert old in raw
    feed = parse_rss(raw.replace(old, new, 1), ["stat"])  # its cost: bench/bench_feed_hardening.py
    assert len(feed.items) >= 122


def test_many_skip_days_tags_in_text_cost_milliseconds() -> None:
    # A feed without the element, and its opening tag many times over in a title (as text).
    raw = without_skip_days(recorded_feed())
    raw = raw.replace(FIRST_TITLE, b"<title><![CDATA[" + b"<skipDays>" * 20_000 + b"]]></title>", 1)
    feed = parse_rss(raw, ["stat"])  # its cost: bench/bench_feed_hardening.py
    assert feed.skip_days == () and len(feed.items) == 123


def test_a_long_real_author_list_is_untouched() -> None:
    # A large collaboration: thousands of ordinary names is not hostile.
    names = ", ".join(f"Author{n} Surname-{n}" for n in range(3000))
    element = f"<dc:creator>{names}</dc:creator>".encode()
    feed = parse_rss(with_first_creator(recorded_feed(), element), ["stat"])
    assert len(feed.items[0].paper.authors) == 3000
    assert bound_author_fields(with_first_creator(recorded_feed(), element)) == with_first_creator(
        recorded_feed(), element
    )


def test_an_enormous_author_list_is_cut_between_names() -> None:
    names = ", ".join(f"N{n}" for n in range(MAX_FIELD_CHARS // 3))
    feed = parse_rss(with_first_creator(recorded_feed(), f"<dc:creator>{names}</dc:creator>".encode()), ["stat"])
    authors = feed.items[0].paper.authors
    assert 0 < sum(len(a) + 2 for a in authors) <= MAX_FIELD_CHARS + 2
    assert all(a.startswith("N") and a[1:].isdigit() for a in authors)  # no name cut in half


def test_bounding_changes_nothing_else_in_the_document() -> None:
    raw = with_first_creator(recorded_feed(), b"<dc:creator>" + word() + b" &amp; &lt;b&gt; \xc3\xa9</dc:creator>")
    bounded = bound_author_fields(raw)
    head, tail = raw.split(b"<dc:creator>", 1)[0], raw.split(b"</dc:creator>", 1)[1]
    assert bounded.startswith(head + b"<dc:creator>") and bounded.endswith(b"</dc:creator>" + tail)
    content = bounded[len(head) + len(b"<dc:creator>") : -len(b"</dc:creator>" + tail)]
    assert content == b"a" * MAX_RUN_CHARS + b"&#8230; &amp; &lt;b&gt; &#233;"  # escaped, ASCII
    assert bound_author_fields(STAT_FEED) is STAT_FEED  # nothing to bound: the very same bytes


def test_an_api_answer_with_a_hostile_author_name_is_bounded() -> None:
    _, body = api_body("id_1605.08386_s0_m100_199195aa31ad.json")
    hostile = body.replace(b"<name>", b"<name>" + word(), 1)
    (paper,) = parse_api(hostile)  # its cost: bench/bench_feed_hardening.py
    assert paper.id == "1605.08386" and paper.authors[0].startswith("a" * MAX_RUN_CHARS)
    assert paper.authors[1:] == parse_api(body)[0].authors[1:]


def test_entity_declarations_are_refused() -> None:
    laughs = b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    raw = recorded_feed().replace(b"<rss ", laughs + b"\n<rss ", 1).replace(b"Matteo", b"&b;Matteo", 1)
    with pytest.raises(FeedFormatError, match=r"\(an entity declaration .* at line \d+\)"):
        parse_rss(raw, ["stat"])
    with pytest.raises(UnreadableXml):
        bound_author_fields(raw)


def test_a_utf16_document_with_a_hostile_field_is_refused_not_rewritten() -> None:
    # The bounded text is spliced in as ASCII, which a UTF-16 document cannot take (arXiv sends UTF-8).
    text = "<?xml version='1.0' encoding='UTF-16'?><rss><dc:creator xmlns:dc='x'>{}</dc:creator></rss>"
    assert bound_author_fields(text.format("A. Author").encode("utf-16")) == text.format("A. Author").encode("utf-16")
    with pytest.raises(UnreadableXml, match="not UTF-8"):
        bound_author_fields(text.format("a" * 1000).encode("utf-16"))


# ---------------------------------------------------------------- the event loop stays free


class ParseWatch:
    """Wraps a parser to see where and how it runs: the thread it ran in, and how many times the event
    loop's ticker ran while it parsed (0 if the parse held the loop). Outcomes, not wall-clock thresholds:
    those belong in bench/."""

    def __init__(self, parse: Callable[..., Any]) -> None:
        self.parse = parse
        self.threads: list[int] = []
        self.parsing = threading.Event()
        self.ticks_while_parsing = 0

    def __call__(self, *args: Any) -> Any:
        self.threads.append(threading.get_ident())
        self.parsing.set()
        try:
            return self.parse(*args)
        finally:
            self.parsing.clear()

    async def tick_until(self, work: asyncio.Future[Any]) -> None:
        while not work.done():
            await asyncio.sleep(0)
            if self.parsing.is_set():
                self.ticks_while_parsing += 1


async def test_fetching_a_big_hostile_feed_never_blocks_the_event_loop(
    arxiv_server: FakeArxivServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,000 real items (about a second of parsing), a hundred of them with a 40 KB one-word author.
    raw = big_feed(1000)
    raw = raw.replace(b"<dc:creator>", b"<dc:creator>" + word(40_000) + b", ", 100)
    arxiv_server.set_feed("stat", raw)
    watch = ParseWatch(arxiv_module.parse_rss)
    monkeypatch.setattr(arxiv_module, "parse_rss", watch)
    async with ArxivClient(
        arxiv_server.rss_url, arxiv_server.api_url, min_interval_s=0, now=lambda: FEED_MORNING
    ) as client:
        fetch = asyncio.ensure_future(client.fetch_feed(["stat"]))
        await watch.tick_until(fetch)
        feed = await fetch
    assert len(feed.items) == 1000
    assert watch.threads and threading.get_ident() not in watch.threads  # parsed in a worker thread
    assert watch.ticks_while_parsing > 0  # and the event loop kept running meanwhile


async def test_an_export_api_answer_is_parsed_off_the_event_loop(
    arxiv_server: FakeArxivServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, body = api_body("id_1605.08386_s0_m100_199195aa31ad.json")
    entry = body[body.index(b"<entry>") : body.index(b"</entry>") + len(b"</entry>")]
    many = body.replace(entry, entry * 800)  # a large answer: about a second of feedparser
    arxiv_server.set_api("1605.08386", many)
    watch = ParseWatch(arxiv_module.parse_api)
    monkeypatch.setattr(arxiv_module, "parse_api", watch)
    async with ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, min_interval_s=0) as client:
        fetch = asyncio.ensure_future(client.fetch_papers(["1605.08386"]))
        await watch.tick_until(fetch)
        papers = await fetch
    assert len(papers) == 800
    assert watch.threads and threading.get_ident() not in watch.threads
    assert watch.ticks_while_parsing > 0


# ---------------------------------------------------------------- characters XML forbids

FORBIDDEN = [
    b"&#xD800;",  # a lone high surrogate
    b"&#55296;",  # the same, decimal
    b"&#xDFFF;",  # a lone low surrogate
    b"&#xD83D;&#xDE00;",  # a surrogate pair written as two references (still two invalid characters)
    b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 bytes
    b"&#x1;",  # C0 control
    b"&#0;",
    b"&#xFFFE;",  # a non-character
    b"&#x110000;",  # beyond Unicode
    b"\x00",
]


def _inject(raw: bytes, where: str, bad: bytes) -> bytes:
    spots = {
        "title": (FIRST_TITLE, b"<title>" + bad + b"Conformal online model aggregation</title>"),
        "creator": (FIRST_CREATOR, b"<dc:creator>Matteo Gasparin" + bad + b", Aaditya Ramdas</dc:creator>"),
        "description": (b"Abstract: Conformal prediction", b"Abstract: " + bad + b"Conformal prediction"),
        "category": (b"<category>stat.ML</category>", b"<category>stat" + bad + b".ML</category>"),
        "attribute": (b'<guid isPermaLink="false">', b'<guid isPermaLink="' + bad + b'">'),
        "channel": (b"<title>stat updates", b"<title>" + bad + b"stat updates"),
    }
    old, new = spots[where]
    assert old in raw
    return raw.replace(old, new, 1)


@pytest.mark.parametrize("bad", FORBIDDEN, ids=lambda b: repr(b)[2:-1])
@pytest.mark.parametrize("where", ["title", "creator", "description", "category", "attribute", "channel"])
def test_a_character_xml_forbids_is_a_typed_feed_error(where: str, bad: bytes) -> None:
    with pytest.raises(FeedFormatError, match=r"^arXiv sent a feed we could not read for stat \(invalid XML at line"):
        parse_rss(_inject(recorded_feed(), where, bad), ["stat"])


@pytest.mark.parametrize("bad", FORBIDDEN[:5], ids=lambda b: repr(b)[2:-1])
def test_a_character_xml_forbids_in_an_api_answer_is_a_typed_error(bad: bytes) -> None:
    _, body = api_body("id_1605.08386_s0_m100_199195aa31ad.json")
    with pytest.raises(FeedFormatError, match="could not read"):
        parse_api(body.replace(b"<title>", b"<title>" + bad, 1))


async def test_a_forbidden_character_is_a_recorded_failed_fetch_retried_later() -> None:
    fake = FakeArxiv()
    fake.feeds["stat.ML"] = _inject(STAT_FEED, "title", b"&#xD800;")
    now = [FEED_MORNING]
    engine = make_engine(fake, now=lambda: now[0])
    result = await engine.refresh(["stat.ML"])
    assert isinstance(result.failed["stat.ML"], FeedFormatError)
    tried = engine.store.last_fetch("stat.ML", ok_only=False)
    assert tried is not None and tried.error is not None and "could not read" in tried.error
    assert engine.store.db["papers"].count == 0  # nothing of the broken feed is stored
    # The scheduler's retry, once the recent failure has aged: fetched again, and arXiv fixed it.
    del fake.feeds["stat.ML"]
    now[0] = FEED_MORNING + timedelta(minutes=10)
    result = await engine.refresh(["stat.ML"])
    assert result.fetched == ("stat.ML",) and fake.count("/rss/") == 2


def _as_xml_text(codepoints: list[int]) -> bytes:
    """Each code point as a character reference, or as raw UTF-8 (surrogates too) when asked by its parity:
    what a broken or hostile upstream could send."""
    out = bytearray()
    for n in codepoints:
        if n % 2 and n < 0x110000 and n not in (0x3C, 0x26):
            out += chr(n).encode("utf-8", "surrogatepass")
        else:
            out += f"&#x{n:X};".encode()
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.lists(st.integers(0, 0x110001), max_size=12),
    creator=st.lists(st.integers(0, 0x110001), max_size=12),
)
def test_whatever_characters_a_feed_holds_parsing_stores_only_encodable_text_or_fails_typed(
    title: list[int], creator: list[int]
) -> None:
    raw = one_item_feed()
    raw = raw.replace(b"<title>", b"<title>" + _as_xml_text(title), 2)  # the channel's and the item's
    raw = raw.replace(b"<dc:creator>", b"<dc:creator>" + _as_xml_text(creator), 1)
    try:
        feed = parse_rss(raw, ["math.OC"])
    except FeedFormatError:
        return
    for item in feed.items:
        paper = item.paper
        for text in (paper.title, paper.abstract, paper.abstract_tex, *paper.authors, *paper.categories):
            text.encode("utf-8")  # what sqlite and every chat API will do; a lone surrogate raises here


def test_fields_stored_without_clean_text_carry_no_control_or_bidi_characters() -> None:
    """Categories, DOIs and journal references are kept as sent, but never with a bidi override or a C1
    control (XML 1.0 forbids C0 controls and ESC, not these): they are shown in cards and in the JSON."""
    hostile = "\u202e\u2066\x9b31m\x85\u2069".encode()
    raw = one_item_feed()
    for tag in (b"category>math.AP", b"arxiv:DOI>10.5802/jep.257", b"arxiv:journal_reference>Journal"):
        name, value = tag.split(b">")
        raw = raw.replace(tag, name + b">" + value + hostile, 1)
    paper = parse_rss(raw, ["math.OC"]).items[0].paper
    shown = (*paper.categories, paper.doi or "", paper.journal_ref or "")
    for text in shown:
        assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert "math.AP" in paper.categories[0] and (paper.doi or "").startswith("10.5802/jep.257")
