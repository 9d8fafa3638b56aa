"""Untrusted pages parsed in a worker process after a linear depth check: 100,000 nested <div>s are
refused before any parser runs (or, unchecked, killed at the time limit), real pages parse to exactly what
they parse to in the bot's process, and the bot's process survives all of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.fulltext import parse_full_text
from bot.isolated import WorkerPool, WorkerTimedOut
from bot.isolated_parse import MAX_DEPTH, NestingTooDeep, nesting_depth, parse_isolated, refuse_deep_nesting
from bot.jats import parse_jats
from tests.support_isolated import alive, lexbor_size

DATA = Path(__file__).parent / "data"
PAGE = DATA / "html" / "2501.11120v1.html"
JATS = DATA / "biorxiv" / "jats-2024.12.31.630767v1-handmade.xml"
NESTED = b"<html><body>" + b"<div>" * 100_000 + b"x" + b"</div>" * 100_000 + b"</body></html>"
BACKSTOP_S = 120.0


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    shared = WorkerPool(name="test-parse")
    yield shared
    shared.close()


def test_real_pages_nest_far_below_the_limit() -> None:
    assert 5 < nesting_depth(PAGE.read_bytes()) < MAX_DEPTH // 8
    assert 5 < nesting_depth(JATS.read_bytes()) < MAX_DEPTH // 8


def test_a_hundred_thousand_nested_divs_are_refused_by_the_scan() -> None:
    assert nesting_depth(NESTED, stop_above=MAX_DEPTH) == MAX_DEPTH + 1  # stopped there: no full scan
    assert nesting_depth(NESTED) == 100_000
    with pytest.raises(NestingTooDeep, match="deeper than 512"):
        refuse_deep_nesting(NESTED)


async def test_a_hundred_thousand_nested_divs_never_reach_the_parser(pool: WorkerPool) -> None:
    with pytest.raises(NestingTooDeep):
        await parse_isolated(lexbor_size, NESTED, pool=pool, timeout_s=BACKSTOP_S)
    assert await parse_isolated(lexbor_size, b"<p>fine</p>", pool=pool, timeout_s=BACKSTOP_S) > 0


async def test_unchecked_a_runaway_parse_is_killed_at_the_time_limit(pool: WorkerPool) -> None:
    """lexbor takes ~25 s over this page; the worker is killed at 1 s and the next page is parsed."""
    await parse_isolated(lexbor_size, b"<p>warm</p>", pool=pool, timeout_s=BACKSTOP_S)
    (worker,) = pool.pids
    with pytest.raises(WorkerTimedOut):
        await parse_isolated(lexbor_size, NESTED, pool=pool, timeout_s=1.0, max_depth=10**9)
    assert not alive(worker)
    assert await parse_isolated(lexbor_size, b"<p>next</p>", pool=pool, timeout_s=BACKSTOP_S) > 0


async def test_the_real_arxiv_page_parses_in_a_worker_to_the_same_full_text(pool: WorkerPool) -> None:
    data, url = PAGE.read_bytes(), "https://arxiv.org/html/2501.11120v1"
    isolated = await parse_isolated(parse_full_text, data, "2501.11120", 1, url, pool=pool, timeout_s=BACKSTOP_S)
    assert isolated == parse_full_text(data, "2501.11120", 1, url) and isolated.sections


async def test_the_jats_document_parses_in_a_worker_to_the_same_full_text(pool: WorkerPool) -> None:
    data, url = JATS.read_bytes(), "https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1.full"
    isolated = await parse_isolated(
        parse_jats, data, "10.1101/2024.12.31.630767", 1, url, pool=pool, timeout_s=BACKSTOP_S
    )
    assert isolated == parse_jats(data, "10.1101/2024.12.31.630767", 1, url) and isolated.equations


def test_elements_that_add_no_depth_are_not_counted() -> None:
    page = b"<!DOCTYPE html><html><head><meta charset=utf-8><link rel=x></head><body>" + b"<p>para<br>" * 5_000
    assert nesting_depth(page) == 0
    assert nesting_depth(b"<svg><path d='m0 0'/><g/></svg>") == 1
    assert nesting_depth(b"<div><!-- <div><div><div> --><![CDATA[<div><div>]]></div>") == 1
    assert nesting_depth(b"</div></div><div>") == 1  # stray end tags do not go below zero


def _trees() -> st.SearchStrategy[tuple[bytes, int]]:
    """A random well-formed element tree and its true depth."""
    leaf = st.sampled_from([(b"text", 0), (b"<br>", 0), (b"<x/>", 0), (b"<!-- <a> -->", 0)])

    def wrap(children: list[tuple[bytes, int]], name: bytes) -> tuple[bytes, int]:
        inner = b"".join(c for c, _ in children)
        return b"<" + name + b' class="a/b">' + inner + b"</" + name + b">", 1 + max(
            (d for _, d in children), default=0
        )

    names = st.sampled_from([b"div", b"span", b"math", b"mrow", b"sec", b"ltx:p"])
    return st.recursive(leaf, lambda kids: st.builds(wrap, st.lists(kids, max_size=3), names), max_leaves=40)


@given(_trees())
def test_the_scan_finds_the_true_depth_of_well_formed_trees(tree: tuple[bytes, int]) -> None:
    document, depth = tree
    assert nesting_depth(document) == depth


@given(st.binary(max_size=2_000))
def test_the_scan_takes_any_bytes(data: bytes) -> None:
    assert 0 <= nesting_depth(data) <= data.count(b"<")
