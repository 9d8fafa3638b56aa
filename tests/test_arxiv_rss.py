"""Parsing rss.arxiv.org feeds and export-API answers: recorded real data first, then broken documents."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bot.errors import BadIdError, FeedFormatError
from bot.models import Feed
from bot.sources.arxiv import parse_api, parse_rss, split_authors
from tests.fakes import big_feed, empty_feed, recorded_feed

DATA = Path(__file__).parent / "data"
SPEC_FEED = DATA / "rss-spec-example-math.OC.xml"


@pytest.fixture(scope="module")
def stat_feed() -> Feed:
    return parse_rss(recorded_feed(), ["stat"])


def api_body(name: str) -> bytes:
    (path,) = (DATA / "api").glob(f"{name}_s0_*.json")
    body: str = json.loads(path.read_text(encoding="utf-8"))["body"]
    return body.encode("utf-8")


# ---------------------------------------------------------------- the real stat feed


def test_real_feed_has_every_item_and_type(stat_feed: Feed) -> None:
    assert len(stat_feed.items) == 123
    kinds = Counter(item.paper.announce_type for item in stat_feed.items)
    assert kinds == {"new": 35, "cross": 27, "replace": 41, "replace-cross": 20}
    assert [item.position for item in stat_feed.items] == list(range(123))


def test_real_feed_items_are_clean(stat_feed: Feed) -> None:
    for item in stat_feed.items:
        paper = item.paper
        assert re.fullmatch(r"\d{4}\.\d{4,5}", paper.id), paper.id
        assert paper.version >= 1
        assert paper.title.strip()
        assert paper.authors and all(name and "," not in name for name in paper.authors)
        assert paper.categories and paper.primary_category == paper.categories[0]
        assert "Announce Type" not in paper.abstract and not paper.abstract.startswith("arXiv:")
        assert "Abstract:" not in paper.abstract[:20]
        assert "\n" not in paper.abstract_tex and "  " not in paper.abstract_tex
        assert paper.announced == date(2024, 3, 26)  # the channel pubDate: items carry none here
        assert item.listed_in == ("stat",)


def test_known_item(stat_feed: Feed) -> None:
    paper = next(item.paper for item in stat_feed.items if item.paper.id == "2403.15527")
    assert paper.version == 1
    assert paper.title == "Conformal online model aggregation"
    assert paper.authors == ("Matteo Gasparin", "Aaditya Ramdas")
    assert paper.categories == ("stat.ML", "cs.LG")
    assert paper.primary_category == "stat.ML"
    assert paper.announce_type == "new"
    assert paper.abstract.startswith("Conformal prediction equips machine learning models")


def test_tex_is_kept_in_abstract_tex(stat_feed: Feed) -> None:
    paper = next(item.paper for item in stat_feed.items if item.paper.id == "2403.15670")
    assert r"$\mathcal{O}(n^3)$" in paper.abstract_tex


def test_channel_date_and_skip_days(stat_feed: Feed) -> None:
    # "Tue, 26 Mar 2024 00:00:00 -0400" is 04:00 UTC: still the 26th, as written.
    assert stat_feed.announced == date(2024, 3, 26)
    assert stat_feed.skip_days == ("Saturday", "Sunday")
    assert stat_feed.categories == ("stat",)


def test_replacements_keep_their_version(stat_feed: Feed) -> None:
    last = stat_feed.items[-1].paper
    assert (last.id, last.version, last.announce_type) == ("2403.14050", 2, "replace-cross")


# ---------------------------------------------------------------- the spec example


def test_spec_example_item() -> None:
    feed = parse_rss(SPEC_FEED.read_bytes(), ["math.OC"])
    (item,) = feed.items
    paper = item.paper
    assert (paper.id, paper.version, paper.announce_type) == ("2203.01250", 3, "replace-cross")
    assert paper.doi == "10.5802/jep.257"
    assert paper.journal_ref is not None and "Tome 11 (2024), pp. 431-472" in paper.journal_ref
    assert paper.authors == ("Antonin Monteil", "Paul Pegon")
    assert paper.categories == ("math.AP", "math.OC") and paper.primary_category == "math.AP"
    assert paper.announced == date(2024, 8, 23)  # the item pubDate wins over the channel's
    assert feed.announced == date(2024, 2, 23)
    assert item.listed_in == ("math.OC",)


# ---------------------------------------------------------------- listed_in


def test_listed_in_for_a_combined_request() -> None:
    feed = parse_rss(recorded_feed(), ["cs.LG", "math", "stat.ME"])
    by_id = {item.paper.id: item for item in feed.items}
    assert by_id["2403.15527"].listed_in == ("cs.LG",)  # stat.ML, cs.LG
    for item in feed.items:
        cats = item.paper.categories
        expected = tuple(
            want
            for want, hit in (
                ("cs.LG", "cs.LG" in cats),
                ("math", any(c.startswith("math.") for c in cats)),
                ("stat.ME", "stat.ME" in cats),
            )
            if hit
        )
        assert item.listed_in == (expected or ("cs.LG", "math", "stat.ME"))
    assert any(len(item.listed_in) >= 2 for item in feed.items)


def test_archive_request_does_not_match_a_lookalike_archive() -> None:
    feed = parse_rss(_one_item_feed("math-ph"), ["math", "cs.LG"])
    assert feed.items[0].listed_in == ("math", "cs.LG")  # no match: credited to every request


# ---------------------------------------------------------------- authors


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Matteo Gasparin, Aaditya Ramdas", ("Matteo Gasparin", "Aaditya Ramdas")),
        ("A. One, B. Two, and C. Three", ("A. One", "B. Two", "C. Three")),
        ("A. One and B. Two", ("A. One", "B. Two")),
        ("A. One, B. Two and C. Three", ("A. One", "B. Two", "C. Three")),
        ("Ann Anderson, Sandra Landers", ("Ann Anderson", "Sandra Landers")),
        ("A. One (MIT, USA), B. Two", ("A. One (MIT, USA)", "B. Two")),
        ("  Solo   Author ", ("Solo Author",)),
    ],
)
def test_split_authors(raw: str, expected: tuple[str, ...]) -> None:
    assert split_authors(raw) == expected


def test_three_authors_with_and_in_a_feed() -> None:
    feed = parse_rss(_one_item_feed("cs.LG", creator="Ada Lovelace, Alan Turing, and Grace Hopper"), ["cs.LG"])
    assert feed.items[0].paper.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")


# ---------------------------------------------------------------- broken and odd documents


def test_truncated_feed_is_an_error_even_though_items_parsed() -> None:
    raw = recorded_feed()
    with pytest.raises(FeedFormatError, match=r"could not read for stat \(the feed is cut off\)"):
        parse_rss(raw[: len(raw) // 2], ["stat"])


def test_feed_cut_between_items_is_an_error() -> None:
    raw = recorded_feed()
    cut = raw.index(b"</item>", len(raw) // 2) + len(b"</item>")
    with pytest.raises(FeedFormatError, match="cut off"):
        parse_rss(raw[:cut], ["stat"])


def test_invalid_xml_is_an_error() -> None:
    broken = recorded_feed().replace(b"</item>", b"</itme>", 1)
    with pytest.raises(FeedFormatError, match="invalid XML") as caught:
        parse_rss(broken, ["cs.LG"])
    assert str(caught.value).endswith("; nothing was changed")
    assert "cs.LG" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>busy</body></html>",
        b"<html><body><h1>Rate exceeded.</h1></body></html>",
        b"",
        b"  \n",
        b'{"error": "throttled"}',
        b"Rate exceeded.",
        b"/etc/passwd",  # feedparser would open a bytes argument as a file name
        SPEC_FEED.read_bytes().replace(b"<rss", b"<feed", 1).replace(b"</rss>", b"</feed>"),
    ],
)
def test_non_rss_bodies_are_errors(body: bytes) -> None:
    with pytest.raises(FeedFormatError, match=r"^arXiv sent a feed we could not read for cs\.LG \("):
        parse_rss(body, ["cs.LG"])


def test_empty_announcement_is_a_valid_empty_feed() -> None:
    feed = parse_rss(empty_feed(), ["stat"])
    assert feed.items == ()
    assert feed.announced == date(2024, 3, 26)


def test_item_without_a_readable_id_is_skipped() -> None:
    raw = recorded_feed()
    first_item = raw[raw.index(b"<item>") : raw.index(b"</item>")]
    broken = first_item.replace(b"oai:arXiv.org:2403.15527v1", b"oai:arXiv.org:nonsense")
    broken = broken.replace(b"arXiv:2403.15527v1", b"arXiv:nonsense").replace(b"abs/2403.15527", b"abs/x")
    feed = parse_rss(raw.replace(first_item, broken), ["stat"])
    assert len(feed.items) == 122
    assert feed.items[0].position == 1  # positions stay arXiv's


def test_description_prefix_fills_in_for_missing_guid_and_type() -> None:
    raw = SPEC_FEED.read_bytes()
    raw = re.sub(rb"\s*<guid[^>]*>.*?</guid>", b"", raw)
    raw = re.sub(rb"\s*<arxiv:announce_type>.*?</arxiv:announce_type>", b"", raw)
    paper = parse_rss(raw, ["math.OC"]).items[0].paper
    assert (paper.id, paper.version, paper.announce_type) == ("2203.01250", 3, "replace-cross")


def test_text_that_looks_like_html_survives() -> None:
    raw = _one_item_feed("cs.LG", abstract="We show $p&lt;0.05$ for &lt;b&gt; tags &amp; R&amp;D.")
    paper = parse_rss(raw, ["cs.LG"]).items[0].paper
    assert paper.abstract_tex == "We show $p<0.05$ for <b> tags & R&D."
    assert "<b> tags & R&D." in paper.abstract


def test_title_zero_survives() -> None:
    raw = _one_item_feed("cs.LG", title="0")
    assert parse_rss(raw, ["cs.LG"]).items[0].paper.title == "0"


def test_two_thousand_items() -> None:
    feed = parse_rss(big_feed(2000), ["stat"])
    assert len(feed.items) == 2000
    assert len({item.paper.id for item in feed.items}) == 2000
    assert feed.items[-1].position == 1999


# ---------------------------------------------------------------- export API


def test_api_single_id() -> None:
    (paper,) = parse_api(api_body("id_1605.08386"))
    assert (paper.id, paper.version) == ("1605.08386", 1)
    assert paper.title == "Heat-bath random walks with Markov bases"
    assert paper.authors == ("Caprice Stanley", "Tobias Windisch")
    assert paper.categories == ("math.CO", "math.ST") and paper.primary_category == "math.CO"
    assert paper.comment == "20 pages, 3 figures"
    assert paper.announce_type == "" and paper.announced is None
    assert paper.abstract.startswith("Graphs on lattice points")


def test_api_unknown_id_is_an_empty_list() -> None:
    assert parse_api(api_body("id_0000.0000")) == []


def test_api_error_entry_is_a_bad_id() -> None:
    with pytest.raises(BadIdError, match="incorrect id format for abc"):
        parse_api(api_body("id_abc"))


def test_api_old_style_id() -> None:
    (paper,) = parse_api(api_body("id_astro-ph_0601001"))
    assert (paper.id, paper.version, paper.primary_category) == ("astro-ph/0601001", 1, "astro-ph")
    assert paper.journal_ref == "ActaAstron.56:1-50,2006"
    assert paper.abstract.startswith("We derive") and "V_max<17.5" in paper.abstract
    assert paper.comment is not None and "~gould/" in paper.comment  # not TeX-cleaned


def test_api_search_page() -> None:
    papers = parse_api(api_body("q_testing"))
    assert len(papers) == 10
    assert papers[0].doi == "10.1109/ICSTW55395.2022.00035"


def test_api_title_zero_survives() -> None:
    body = api_body("id_1605.08386").replace(b"Heat-bath random walks with Markov bases", b"0")
    assert parse_api(body)[0].title == "0"


def test_api_paper_titled_error_is_not_an_error_entry() -> None:
    body = api_body("id_1605.08386").replace(b"Heat-bath random walks with Markov bases", b"Error")
    assert parse_api(body)[0].title == "Error"


def test_api_legacy_2016_format() -> None:
    (paper,) = parse_api((DATA / "api" / "legacy2016_id_list_1111.2011v2.xml").read_bytes())
    assert (paper.id, paper.version) == ("1111.2011", 2)
    assert paper.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert paper.primary_category == "cond-mat.str-el"
    assert paper.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert paper.doi == "10.1103/PhysRevB.85.115117"
    assert paper.journal_ref == "Phys. Rev. B 85, 115117 (2012)"


def test_api_garbage_is_a_format_error() -> None:
    with pytest.raises(FeedFormatError):
        parse_api(b"<html><body>Rate exceeded</body></html>")


# ---------------------------------------------------------------- helpers


def _one_item_feed(category: str, *, creator: str = "A. Author", title: str = "T", abstract: str = "A.") -> bytes:
    """The spec example with one item rewritten (fields given as XML-escaped text)."""
    raw = SPEC_FEED.read_bytes()
    raw = re.sub(
        rb"<category>.*?</category>\s*<category>.*?</category>", f"<category>{category}</category>".encode(), raw
    )
    raw = re.sub(rb"<dc:creator>.*?</dc:creator>", f"<dc:creator>{creator}</dc:creator>".encode(), raw)
    raw = re.sub(rb"<item>\s*<title>.*?</title>", f"<item><title>{title}</title>".encode(), raw)
    return re.sub(rb"Abstract: .*?</description>", f"Abstract: {abstract}</description>".encode(), raw, flags=re.S)
