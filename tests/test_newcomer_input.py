"""What people paste into `/paper`: ids and categories carrying invisible characters (a zero-width
space or soft hyphen from a web page or PDF, a bidi mark) or typed in full-width forms by an input
method. They mean the same id or category, so they are read as it; the echo of a refused input carries
none of those characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import taxonomy
from bot.errors import BadIdError, UnknownCategoryError
from bot.ids import ArxivId, parse_arxiv_id

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e", "\u2066"]


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda m: f"U+{ord(m):04X}")
def test_an_id_with_an_invisible_character_is_the_same_id(mark: str) -> None:
    assert parse_arxiv_id(f"2604.{mark}11422v2") == ArxivId("2604.11422", 2)
    assert parse_arxiv_id(f"{mark}arXiv:2604.11422{mark}") == ArxivId("2604.11422")
    assert parse_arxiv_id(f"https://arxiv.org/abs/2604.11422{mark}") == ArxivId("2604.11422")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("２６０４.１１４２２", ArxivId("2604.11422")),
        ("ａｒＸｉｖ：２６０４．１１４２２ｖ３", ArxivId("2604.11422", 3)),
        ("ｍａｔｈ／０６０１００１", ArxivId("math/0601001")),
    ],
)
def test_full_width_forms_are_the_same_id(text: str, expected: ArxivId) -> None:
    assert parse_arxiv_id(text) == expected


def test_digits_of_other_scripts_are_still_refused() -> None:
    # They are not the digits of an arXiv id (NFKC leaves them as they are): refused, not guessed.
    with pytest.raises(BadIdError):
        parse_arxiv_id("٢٦٠٤.١١٤٢٢")


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda m: f"U+{ord(m):04X}")
def test_a_category_with_an_invisible_character_is_the_same_category(mark: str) -> None:
    assert taxonomy.resolve(f"cs.LG{mark}").id == "cs.LG"
    assert taxonomy.resolve(f"{mark}math.{mark}OC").id == "math.OC"
    found = taxonomy.get(f"cs.LG{mark}")
    assert found is not None and found.id == "cs.LG"


@pytest.mark.parametrize(
    ("text", "expected"), [("ｃｓ.ＬＧ", "cs.LG"), ("ｍａｔｈ．ＯＣ", "math.OC"), ("ｓｔａｔ", "stat")]
)
def test_full_width_categories_are_the_same_category(text: str, expected: str) -> None:
    assert taxonomy.resolve(text).id == expected


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_the_echo_of_a_refused_input_has_no_invisible_character(text: str) -> None:
    for attempt, error in ((parse_arxiv_id, BadIdError), (taxonomy.resolve, UnknownCategoryError)):
        try:
            attempt(text)
        except error as err:
            message = str(err)
            assert not any(ch in message for ch in INVISIBLE), repr(message)
