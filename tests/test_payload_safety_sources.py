"""The safety property of tests/test_payload_safety.py (its checker in tests/support_payload_safety.py), for
what the other sources bring: Hugging Face entries (titles, authors, summaries, GitHub and project links,
upvotes) and bioRxiv/medRxiv items (DOIs, subjects, journal DOIs) built from hostile text through the
sources' own parsers, drawn into cards and rendered by every renderer. No live mention, no link to a host
we did not choose, no control character."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cards import DigestMessage, Explanation, Reply, make_card
from bot.sources.huggingface import parse_daily_page
from bot.sources.preprint_details import parse_details
from tests.support_payload_safety import hostile_text, payloads, short_hostile, unsafe_parts

DAY = date(2024, 3, 25)
LINKS = st.sampled_from(
    [
        "https://github.com/a/b",
        "https://github.com/a/b)|<!channel>",
        "https://github.com.evil.example/a/b",
        "https://evil.example/x",
        "javascript:alert(1)",
        "https://github.com/a/b\u202e",
        "",
    ]
)


@st.composite
def hf_entry(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "paper": {
            "id": draw(st.sampled_from(["2403.00001", "2410.17243"])),
            "title": draw(hostile_text),
            "summary": draw(hostile_text),
            "authors": [{"name": draw(short_hostile)} for _ in range(draw(st.integers(0, 3)))],
            "upvotes": draw(st.integers(0, 10**6)),
            "githubRepo": draw(LINKS) or None,
            "projectPage": draw(LINKS) or None,
        },
        "numComments": draw(st.integers(0, 999)),
        "title": draw(short_hostile),
    }


@st.composite
def preprint_item(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "doi": draw(st.sampled_from(["10.1101/2024.12.31.630767", "10.1101/2024.01.01.000001"])),
        "title": draw(hostile_text),
        "authors": draw(hostile_text),
        "abstract": draw(hostile_text),
        "date": "2024-03-25",
        "version": "1",
        "category": draw(st.sampled_from(["neuroscience", "cancer biology"])) + draw(short_hostile),
        "published": draw(st.sampled_from(["NA", "10.1182/blood.2025016511", "10.1/x)|<!here>"])),
        "server": "bioRxiv",
    }


def _check(cards: tuple[Any, ...], text: str) -> None:
    digest = DigestMessage(categories=("hf", "biorxiv"), announced=DAY, cards=cards)
    reply = Reply(text=text, cards=cards[:1])
    for renderer, out in payloads(digest, reply, text, Explanation(source="offline", text=text)):
        assert not unsafe_parts(out), (renderer, out, unsafe_parts(out))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hf_entry(), min_size=1, max_size=3), st.lists(preprint_item(), min_size=1, max_size=3))
def test_hostile_entries_of_every_source_reach_no_channel_alive(
    entries: list[dict[str, Any]], items: list[dict[str, Any]]
) -> None:
    try:
        hf = parse_daily_page(json.dumps(entries).encode(), DAY).papers
    except Exception as err:  # a page with nothing usable is a typed source error: nothing is drawn
        assert type(err).__module__ == "bot.errors", err
        hf = ()
    body = {"messages": [{"status": "ok", "cursor": 0, "count": len(items), "total": str(len(items))}]}
    page = parse_details(json.dumps({**body, "collection": items}).encode(), "biorxiv", "the test day")
    cards = tuple(make_card(p) for p in (*hf, *page.papers))
    assert cards
    _check(cards, "")


def test_the_checker_allows_exactly_the_hosts_the_sources_link_to() -> None:
    from bot.untrusted import allowed_link_hosts
    from tests.support_payload_safety import ALLOWED_HOSTS

    assert set(allowed_link_hosts()) == set(ALLOWED_HOSTS)
