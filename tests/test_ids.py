"""arXiv id parsing: every form users paste, and the ones we must turn away politely."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.errors import BadIdError, UsageError
from bot.ids import ACCEPTED_FORMS, ArxivId, looks_like_arxiv_id, parse_arxiv_id

DATA = Path(__file__).parent / "data"

GOOD: list[tuple[str, str, int | None]] = [
    # plain new-style ids
    ("2604.11422", "2604.11422", None),
    ("2604.11422v2", "2604.11422", 2),
    ("2604.11422V3", "2604.11422", 3),
    ("2604.11422v12", "2604.11422", 12),
    ("0704.0001", "0704.0001", None),  # first new-style id
    ("1412.9999v1", "1412.9999", 1),  # last 4-digit month
    ("1501.00001", "1501.00001", None),  # first 5-digit month
    ("  2604.11422\n", "2604.11422", None),
    # arXiv: prefix
    ("arXiv:2604.11422", "2604.11422", None),
    ("arxiv:2604.11422v2", "2604.11422", 2),
    ("ARXIV: 2604.11422", "2604.11422", None),
    ("arXiv:hep-th/9901001", "hep-th/9901001", None),
    # links
    ("https://arxiv.org/abs/2604.11422v1", "2604.11422", 1),
    ("http://arxiv.org/abs/2604.11422", "2604.11422", None),
    ("arxiv.org/abs/2604.11422", "2604.11422", None),
    ("https://www.arxiv.org/abs/2604.11422", "2604.11422", None),
    ("www.arxiv.org/abs/2604.11422v4", "2604.11422", 4),
    ("https://export.arxiv.org/abs/2604.11422", "2604.11422", None),
    ("https://arxiv.org/pdf/2604.11422", "2604.11422", None),
    ("https://arxiv.org/pdf/2604.11422v2.pdf", "2604.11422", 2),
    ("https://arxiv.org/pdf/2604.11422.pdf", "2604.11422", None),
    ("https://arxiv.org/html/2604.11422v1", "2604.11422", 1),
    ("https://arxiv.org/html/2604.11422v1/", "2604.11422", 1),
    ("https://arxiv.org/abs/2604.11422/", "2604.11422", None),
    ("https://arxiv.org/abs/2604.11422?context=cs", "2604.11422", None),
    ("https://arxiv.org/html/2604.11422v1#S3", "2604.11422", 1),
    ("HTTPS://ARXIV.ORG/ABS/2604.11422", "2604.11422", None),
    ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001", 1),
    ("https://arxiv.org/pdf/math/0601001v1.pdf", "math/0601001", 1),
    ("arxiv.org/abs/hep-th%2F9901001", "hep-th/9901001", None),
    # Slack wraps links in angle brackets, with or without a label
    ("<https://arxiv.org/abs/2604.11422|arxiv.org/abs/2604.11422>", "2604.11422", None),
    ("<https://arxiv.org/abs/2604.11422v3>", "2604.11422", 3),
    # old style
    ("math/0601001", "math/0601001", None),
    ("hep-th/9901001v2", "hep-th/9901001", 2),
    ("hep-th/9108001", "hep-th/9108001", None),  # the first month of arXiv
    ("cond-mat/0703999", "cond-mat/0703999", None),  # the last month of the old scheme
    ("astro-ph/0601001", "astro-ph/0601001", None),
    ("quant-ph/0201082", "quant-ph/0201082", None),
    ("cmp-lg/9404001", "cmp-lg/9404001", None),  # a retired archive is still a valid old id
    ("HEP-TH/9901001", "hep-th/9901001", None),
    # subject-class form: arXiv's canonical id drops the class (its API answers math/0309136)
    ("math.GT/0309136", "math/0309136", None),
    ("math.GT/0309136v2", "math/0309136", 2),
    ("cs.AI/0101001", "cs/0101001", None),
    ("arXiv:math.CA/0611800v2", "math/0611800", 2),
]

BAD: list[str] = [
    "",
    "   ",
    "x" * 201,
    "abc",
    "2604",
    "2604.1142",  # too short
    "2604.114223",  # too long
    "2613.12345",  # month 13
    "2600.12345",  # month 0
    "0000.0000",
    "1412.12345",  # 5 digits before 2015
    "1501.0001",  # 4 digits from 2015
    "0612.1234",  # new style before April 2007
    "0808.05394",  # 5 digits in 2008 (arXiv's API knows no such paper)
    "2604.00000",  # numbering starts at 1
    "2604.11422v0",
    "2604.11422v",
    "2604.11422v-1",
    "2604.11422 v2",
    "2604,11422",
    "٢٦٠٤.١١٤٢٢",  # Arabic-Indic digits
    "https://example.com/abs/2604.11422",
    "https://arxiv.org.example.com/abs/2604.11422",
    "ftp://arxiv.org/abs/2604.11422",
    "https://arxiv.org/list/cs.LG/new",
    "https://arxiv.org/abs/",
    "foo/0601001",  # unknown archive
    "stat/0601001",  # stat only exists in the new scheme
    "test/9901001",
    "math.XY/0309136",  # unknown subject class
    "math/060100",  # 6 digits
    "math/06010011",  # 8 digits
    "hep-th/9107001",  # before arXiv existed
    "hep-th/0704001",  # after the old scheme ended
    "hep-th/9913001",  # month 13
    "hep-th/9901000",
    "hep-th/9901001v0",
    "2604.11422 2604.11423",
    "[",
    "<>",
    "<!channel>",
]


@pytest.mark.parametrize(("text", "expected_id", "expected_version"), GOOD)
def test_accepts(text: str, expected_id: str, expected_version: int | None) -> None:
    parsed = parse_arxiv_id(text)
    assert parsed == ArxivId(expected_id, expected_version)
    assert looks_like_arxiv_id(text)


@pytest.mark.parametrize("text", BAD)
def test_rejects(text: str) -> None:
    with pytest.raises(BadIdError):
        parse_arxiv_id(text)
    assert not looks_like_arxiv_id(text)


@pytest.mark.parametrize(
    ("parsed", "expected"),
    [
        (ArxivId("2604.11422", 2), "2604.11422v2"),
        (ArxivId("2604.11422", None), "2604.11422"),
        (ArxivId("hep-th/9901001", 1), "hep-th/9901001v1"),
    ],
)
def test_str(parsed: ArxivId, expected: str) -> None:
    assert str(parsed) == expected


def test_str_round_trips() -> None:
    for text, _, _ in GOOD:
        parsed = parse_arxiv_id(text)
        assert parse_arxiv_id(str(parsed)) == parsed


def test_arxiv_id_is_frozen_and_hashable() -> None:
    parsed = parse_arxiv_id("2604.11422v2")
    with pytest.raises(AttributeError):
        parsed.version = 3  # type: ignore[misc]
    assert {parsed, parse_arxiv_id("arXiv:2604.11422v2")} == {parsed}


def test_error_message_is_the_documented_one() -> None:
    with pytest.raises(BadIdError) as caught:
        parse_arxiv_id("abc")
    assert str(caught.value) == (
        '"abc" is not an arXiv id. Try 2604.11422, 2604.11422v2, arXiv:2604.11422, '
        "an arxiv.org/abs/… link, arXiv's DOI 10.48550/arXiv.2604.11422, or an old-style id like math/0601001."
    )
    assert ACCEPTED_FORMS in str(caught.value)
    assert "\n" not in ACCEPTED_FORMS


def test_error_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_arxiv_id("abc")


def test_error_message_truncates_long_input() -> None:
    with pytest.raises(BadIdError) as caught:
        parse_arxiv_id("not an id " * 15)
    message = str(caught.value)
    assert message.startswith('"not an id not an id ')
    assert "…" in message.split(" is not")[0]
    assert len(message) < 40 + len(ACCEPTED_FORMS) + 40


def test_error_message_for_empty_input_says_what_to_type() -> None:
    with pytest.raises(BadIdError) as caught:
        parse_arxiv_id("  ")
    assert "2604.11422" in str(caught.value)
    assert '""' not in str(caught.value)


def test_error_message_is_one_line_without_markup() -> None:
    # The echo goes back into chat: no newlines and no Slack control sequences like <!channel>.
    with pytest.raises(BadIdError) as caught:
        parse_arxiv_id("<!channel>\nhello")
    message = str(caught.value)
    assert "\n" not in message
    assert "<" not in message and ">" not in message


def test_looks_like_arxiv_id_never_raises() -> None:
    for text in ["", "x" * 10_000, "\x00", "[", "//", "https://[::1/abs/2604.11422"]:
        assert looks_like_arxiv_id(text) is False


def _abs_links(text: str) -> list[str]:
    return re.findall(r"https?://arxiv\.org/abs/[^<\s\"]+", text)


def test_parses_every_link_in_a_recorded_rss_feed() -> None:
    # tests/data/rss-stat-2024-03-26.xml: a real rss.arxiv.org feed (see tests/data/PROVENANCE.md).
    links = _abs_links((DATA / "rss-stat-2024-03-26.xml").read_text())
    assert len(links) >= 123
    for link in links:
        parsed = parse_arxiv_id(link)
        assert link.endswith(str(parsed))


def test_parses_the_ids_arxiv_api_returns() -> None:
    # Recorded export-API answers: the <id> of each entry is a versioned abs link.
    body = json.loads((DATA / "api" / "id_astro-ph_0601001_s0_m100_3150dca9dc76.json").read_text())["body"]
    assert {parse_arxiv_id(link) for link in _abs_links(body)} == {ArxivId("astro-ph/0601001", 1)}
