"""The "… and N more" line of a digest in plain text says where the rest is, or ends the sentence: it
never ends on a bare colon (no list to point to, or a list drawn elsewhere)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from bot.cards import DigestMessage, Link, render_digest_text


@given(more=st.integers(min_value=1, max_value=10**6), links=st.integers(min_value=0, max_value=3))
def test_the_more_line_points_at_the_rest_or_ends_with_a_full_stop(more: int, links: int) -> None:
    more_links = tuple(Link(f"all of cs.LG {n}", f"https://arxiv.org/list/cs.LG/new?{n}") for n in range(links))
    digest = DigestMessage(("cs.LG",), date(2024, 3, 26), cards=(), more_count=more, more_links=more_links)
    last = render_digest_text(digest).splitlines()[-1]
    assert last.startswith(f"… and {more:,} more")
    assert not last.rstrip().endswith(":") and ": " not in last
    assert last.endswith(".") if not links else " more at https://arxiv.org/list/cs.LG/new" in last
