"""Block Kit drawing: Slack's limits on real papers and on hostile ones, and escaping of untrusted text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from adapters.slack_blocks import (
    EXPLAIN_ACTION_ID,
    MAX_BLOCKS,
    MAX_MESSAGE_CHARS,
    SECTION_MAX,
    SlackMessage,
    blocks_size,
    clip,
    escape,
    render_digest,
    render_reply,
    render_text,
)
from bot.cards import Card, DigestMessage, Explanation, ExplanationSection, Reply, listing_links, make_card
from bot.commands import help_text
from bot.models import Paper
from bot.sources.arxiv import parse_rss
from bot.text import clean_text
from bot.untrusted import MAX_UNTRUSTED_CHARS
from tests.support import DATA

# Real feeds (tests/data/PROVENANCE.md): the stat feed of 2024-03-26 (123 items) and arXiv's spec example.
FEEDS = {"rss-stat-2024-03-26.xml": ["stat"], "rss-spec-example-math.OC.xml": ["math.OC"]}
PAPERS = [item.paper for name, cats in FEEDS.items() for item in parse_rss((DATA / name).read_bytes(), cats).items]
STAT_PAPERS = [p for p in PAPERS if p.primary_category.startswith("stat") or "stat" in ",".join(p.categories)]

OUR_LINK = re.compile(r"^https://arxiv\.org/[A-Za-z0-9._/+-]*\|[^<>]*$")
HOSTILE = (
    "<!channel> <!here> <!everyone> @everyone @here <@U123> <@W999|boss> <#C123> <#C9|general> "
    "<https://evil.example|arxiv.org> <mailto:x@evil.example|mail> &lt;!channel&gt; a & b < c > d *bold* _it_ `code`"
)
HEAVY_TEX = (
    r"Let $\mathcal{H}$ be a Hilbert space and $\|x\|_{\mathcal{H}}^2 = \langle x, x \rangle$. We show "
    r"$\sum_{i=1}^{n} \frac{1}{\sqrt{\lambda_i}} \leq \int_0^\infty e^{-t^2} \, dt$ for "
    r"$\boldsymbol{\Sigma} \in \mathbb{R}^{d \times d}$, $\hat{\theta}_{n} \xrightarrow{p} \theta^{\star}$, "
    r"and $\operatorname{argmin}_{w} \mathbb{E}[\ell(w; Z)] + \tfrac{\lambda}{2}\|w\|^2 < \epsilon$. " * 6
)


def texts(message: SlackMessage) -> Iterator[str]:
    """Every text string a message carries: the fallback and each text object in its blocks."""
    yield message.text

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                yield from walk(item)

    yield from walk(list(message.blocks))


def assert_within_limits(messages: list[SlackMessage]) -> None:
    for message in messages:
        assert 0 < len(message.blocks) <= MAX_BLOCKS
        assert message.size == blocks_size(message.blocks) <= MAX_MESSAGE_CHARS
        assert message.text.strip()
        for block in message.blocks:
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= 3000
            if block["type"] == "context":
                assert 0 < len(block["elements"]) <= 10
                assert all(len(e["text"]) <= 3000 for e in block["elements"])


def assert_inert(messages: list[SlackMessage]) -> None:
    """No mention, broadcast or channel link; the only <…> are arxiv.org links we built."""
    for message in messages:
        for text in texts(message):
            for forbidden in ("<!", "<@", "<#", "<mailto"):
                assert forbidden not in text, text[:200]
            for inner in re.findall(r"<([^<>]*)>", text):
                assert OUR_LINK.match(inner), inner
            # Every "<" opens one of our links: nothing unbalanced that Slack could pair up with content.
            assert text.count("<") == len(re.findall(r"<https://arxiv\.org/[^<>]*>", text))


def hostile_paper(**changes: Any) -> Paper:
    base = Paper(
        id="2403.00001",
        version=2,
        title=HOSTILE,
        authors=(HOSTILE, "<@U123>", "Ann & Bob"),
        categories=("stat.ML", "cs.LG"),
        primary_category="stat.ML",
        abstract=HOSTILE + " " + HOSTILE,
        announce_type="new",
    )
    return replace(base, **changes)


def digest_of(cards: tuple[Card, ...], more: int = 0, categories: tuple[str, ...] = ("stat",)) -> DigestMessage:
    return DigestMessage(
        categories=categories,
        announced=date(2024, 3, 26),
        cards=cards,
        more_count=more,
        more_links=listing_links(categories) if more else (),
    )


# --- real papers -----------------------------------------------------------------------------------


def test_the_recorded_feeds_are_all_there() -> None:
    assert len([p for p in PAPERS if p.id]) == 124  # 123 stat items + the math.OC example


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_every_recorded_paper_draws_within_limits(paper: Paper) -> None:
    card = make_card(paper, math_line="x ∈ ℝⁿ minimises ‖Ax − b‖² + λ‖x‖₁")
    messages = render_digest(digest_of((card,)))
    assert [m.paper_id for m in messages] == [None, paper.id]  # the header, then the card on its own
    assert_within_limits(messages)
    assert_inert(messages)
    section = next(b for b in messages[1].blocks if b["type"] == "section")
    assert section["accessory"]["action_id"] == EXPLAIN_ACTION_ID
    assert section["accessory"]["value"] == paper.id
    assert f"<{paper.url}|" in section["text"]["text"]
    assert "∑ x ∈ ℝⁿ" in section["text"]["text"]
    reply = render_reply(Reply(cards=(card,), abstract=paper.abstract))
    assert_within_limits(reply)
    assert_inert(reply)


def test_a_digest_of_all_123_papers_is_a_header_and_a_message_per_card() -> None:
    stat = [item.paper for item in parse_rss((DATA / "rss-stat-2024-03-26.xml").read_bytes(), ["stat"]).items]
    cards = tuple(make_card(p, math_line="a short math line") for p in stat)
    messages = render_digest(digest_of(cards, more=0))
    assert len(stat) == 123
    assert len(messages) == 124
    assert_within_limits(messages)
    assert_inert(messages)
    header, *card_messages = messages
    assert header.paper_id is None
    assert [b["type"] for b in header.blocks] == ["header", "context"]
    assert header.blocks[0]["text"]["text"] == "arXiv digest · stat · Tue 26 Mar 2024"
    assert header.blocks[1]["elements"][0]["text"] == "123 papers"
    assert [m.paper_id for m in card_messages] == [p.id for p in stat]  # every card once, in order
    for message, paper in zip(card_messages, stat, strict=True):  # exactly one card, with its button
        [section] = [b for b in message.blocks if b["type"] == "section"]
        assert section["accessory"]["action_id"] == EXPLAIN_ACTION_ID
        assert section["accessory"]["value"] == paper.id
        assert message.blocks[1]["type"] == "context"
        assert paper.id in message.text  # the notification names the paper


def test_the_default_digest_of_ten_has_the_counts_and_the_more_line_in_its_header_message() -> None:
    cards = tuple(make_card(p) for p in STAT_PAPERS[:10])
    messages = render_digest(digest_of(cards, more=113))
    assert len(messages) == 11
    assert_within_limits(messages)
    assert messages[0].blocks[1]["elements"][0]["text"] == "10 papers shown of 123"
    last = messages[0].blocks[-1]["text"]["text"]
    assert last == "… and 113 more at <https://arxiv.org/list/stat/new|all of stat>"
    assert messages[0].text.startswith("arXiv digest · stat · Tue 26 Mar 2024: 10 papers shown of 123.")


def test_numbered_cards_show_the_number_a_briefing_cites() -> None:
    cards = tuple(replace(make_card(p), number=n) for n, p in enumerate(STAT_PAPERS[:3], start=1))
    messages = render_digest(digest_of(cards))
    for n, message in enumerate(messages[1:], start=1):
        assert message.blocks[0]["text"]["text"].startswith(f"*{n}. <https://arxiv.org/abs/")
    unnumbered = render_digest(digest_of(tuple(make_card(p) for p in STAT_PAPERS[:1])))
    assert unnumbered[1].blocks[0]["text"]["text"].startswith("*<https://arxiv.org/abs/")


def test_an_empty_digest_says_so() -> None:
    messages = render_digest(digest_of(()))
    assert_within_limits(messages)
    assert "No new papers" in messages[0].blocks[-1]["text"]["text"]


def test_many_categories_keep_the_header_and_the_more_line_within_limits() -> None:
    categories = tuple(f"math.{c}" for c in "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG".split())
    cards = tuple(make_card(p) for p in STAT_PAPERS[:3])
    messages = render_digest(digest_of(cards, more=4000, categories=categories * 2))
    assert_within_limits(messages)
    header = messages[0].blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    assert not header[:-1].endswith(("math.", "mat"))  # cut between categories, not inside one
    assert "… and 4,000 more" in messages[0].blocks[-1]["text"]["text"]


# --- hostile text ------------------------------------------------------------------------------------


def test_escape_is_applied_exactly_once() -> None:
    assert escape("x < y & z > w") == "x &lt; y &amp; z &gt; w"
    # Text that already looks escaped is shown as written, not decoded into markup.
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    card = make_card(hostile_paper(title="a < b &lt; c"))
    text = render_digest(digest_of((card,)))[1].blocks[0]["text"]["text"]
    assert "a &lt; b &amp;lt; c" in text
    assert "&amp;amp;" not in text and "&amp;lt; b" not in text


def test_hostile_strings_cannot_mention_or_disguise_links() -> None:
    paper = hostile_paper()
    card = make_card(paper, math_line=HOSTILE)
    explanation = Explanation(
        source="anthropic",
        text=HOSTILE,
        sections=(ExplanationSection("Problem <!channel>", HOSTILE), ExplanationSection("Idea", HOSTILE * 3)),
        note="<!here> check <https://evil.example|arxiv.org>",
    )
    for messages in (
        render_digest(digest_of((card, card), more=3)),
        render_reply(Reply(text=HOSTILE, cards=(card,), explanation=explanation, abstract=paper.abstract)),
        render_reply(Reply(text=HOSTILE, is_error=True, ephemeral=True)),
    ):
        assert_within_limits(messages)
        assert_inert(messages)
        joined = "\n".join(t for m in messages for t in texts(m))
        assert "&lt;!channel&gt;" in joined and "&lt;@U123&gt;" in joined
        assert "&lt;https:\u2060//evil.example|arxiv.org&gt;" in joined  # shown, neither a link nor a ping
        assert "@everyone" not in joined and "@\u2060everyone" in joined


def test_a_note_message_escapes_its_notification_text_like_its_blocks() -> None:
    """Quiet-day lines and admin reports: the notification ``text`` is what phones show and Slack parses."""
    note = "Quiet day <!channel> <@U1> <https://evil.example|arxiv.org> @here\u202e" + " word" * 200
    digest = DigestMessage(categories=("stat",), announced=None, cards=(), note=note)
    for message in render_digest(digest):
        assert_inert([message])
        for forbidden in ("<!", "<@", "<https://evil", "@here", "\u202e"):
            assert forbidden not in message.text
        assert message.text.startswith("Quiet day &lt;!channel&gt;") and len(message.text) <= 400


def test_every_notification_text_is_escaped() -> None:
    """Each place a SlackMessage's ``text`` is built: digests, replies, plain text, continuation parts."""
    paper = hostile_paper()
    card = make_card(paper)
    many = tuple(make_card(hostile_paper(id=f"2403.{i:05d}")) for i in range(40))
    for messages in (
        render_digest(digest_of((card,))),
        render_digest(digest_of(many)),
        render_reply(Reply(text=HOSTILE, cards=(card,), abstract=HOSTILE * 30)),
        render_reply(Reply(cards=(card,))),
        render_text(HOSTILE * 40),
    ):
        for message in messages:
            assert not re.search(r"<[!@#]|<https://evil|@(everyone|here|channel)", message.text), message.text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("see https://evil.example/x now", "see https:\u2060//evil.example/x now"),
        ("see https://arxiv.org/abs/2403.00001", "see https://arxiv.org/abs/2403.00001"),
        ("@everyone1 @hereby @CHANNEL", "@\u2060everyone1 @\u2060hereby @\u2060CHANNEL"),
        ("[a](https://evil.example)", "[a]\u2060(https:\u2060//evil.example)"),
        ("\u202elpmaxe.live//:sptth \x1b]8;;http://evil/\x07link\x1b]8;;\x07", "lpmaxe.live//:sptth link"),
        ("h\u200bttps://evil.example", "https:\u2060//evil.example"),  # stripped first, then defanged
    ],
)
def test_escape_strips_invisible_characters_and_breaks_mentions_and_foreign_links(raw: str, shown: str) -> None:
    assert escape(raw) == shown


def test_a_cut_never_turns_an_arxiv_link_into_a_link_elsewhere() -> None:
    """Cutting ``https://arxiv.org/…`` inside its host leaves ``https://arx…``: a link to another host."""
    url = "https://export.arxiv.org/abs/2403.00001"
    for limit in range(10, len(url) + 3):
        out = clip(url, limit)
        assert len(out) <= limit
        assert "://" not in out or "://export.arxiv.org/" in out, out
    # One "word" longer than a section, cut into pieces with the cut inside the host.
    long_word = "(" * (SECTION_MAX - 12) + url
    pieces = [b["text"]["text"] for b in render_text(long_word)[0].blocks if b["type"] == "section"]
    assert len(pieces) == 2
    for piece in pieces:
        assert "://" not in piece or "://export.arxiv.org/" in piece, piece[-40:]


def test_3000_authors_are_shortened() -> None:
    authors = tuple(f"Author{i} Surname{i}" for i in range(3000))
    card = make_card(hostile_paper(authors=authors))
    messages = render_digest(digest_of((card,) * 12))
    assert_within_limits(messages)
    assert (
        "Author0 Surname0, Author1 Surname1, Author2 Surname2 … and 2,997 more" in messages[1].blocks[0]["text"]["text"]
    )


def test_huge_fields_are_shortened_at_word_boundaries() -> None:
    title = " ".join(f"word{i}" for i in range(3000))
    author = "Ampersand&" * 2000  # one long "word": escaping multiplies its length
    card = make_card(hostile_paper(title=title, authors=(author,), abstract="& " * 20000), math_line="< " * 5000)
    messages = render_digest(digest_of((card,) * 30, more=1))
    assert_within_limits(messages)
    assert_inert(messages)
    text = messages[1].blocks[0]["text"]["text"]
    shown_title = text.split("|", 1)[1].split(">", 1)[0]
    assert shown_title.endswith("…")
    assert re.fullmatch(r"(word\d+ )*word\d+…", shown_title)  # whole words only
    assert not re.search(r"&(a|am|amp|l|lt|g|gt)?…", text)  # no escape sequence cut in half


def test_heavy_latex_cleaned_to_unicode_draws_within_limits() -> None:
    paper = hostile_paper(title=clean_text(HEAVY_TEX[:400]), abstract=clean_text(HEAVY_TEX), authors=("A. Author",))
    card = make_card(paper, math_line=clean_text(HEAVY_TEX[:300]))
    messages = render_reply(Reply(cards=(card,), abstract=paper.abstract))
    assert_within_limits(messages)
    assert_inert(messages)
    joined = "\n".join(t for m in messages for t in texts(m))
    assert "\\" not in joined and "ℋ" in joined


def test_raw_latex_is_still_escaped_and_bounded() -> None:
    card = make_card(hostile_paper(title=HEAVY_TEX, abstract=HEAVY_TEX * 5))
    messages = render_digest(digest_of((card,) * 20))
    assert_within_limits(messages)
    assert_inert(messages)


def test_clip_respects_the_limit_after_escaping() -> None:
    for raw in ("& " * 3000, "<" * 5000, "word " * 2000, "x" * 9000):
        clipped = clip(raw, 150)
        assert len(clipped) <= 150 and clipped.endswith("…")
    assert clip("short & sweet", 150) == "short &amp; sweet"
    assert clip("one two three four", 12) == "one two…"


# --- command replies -----------------------------------------------------------------------------------


def test_help_text_is_escaped_not_dropped() -> None:
    messages = render_reply(Reply(text=help_text(), ephemeral=True))
    assert_within_limits(messages)
    text = messages[0].blocks[0]["text"]["text"]
    assert "/paper explain &lt;paper-id&gt;" in text
    assert "<paper-id>" not in text


def test_an_explanation_has_its_note_as_context_and_each_section_as_a_section() -> None:
    paper = STAT_PAPERS[0]
    explanation = Explanation(
        source="offline",
        text="",
        sections=(ExplanationSection("Problem", "What is solved."), ExplanationSection("Idea", "How.")),
        note="No LLM is configured: a summary from the abstract.",
    )
    messages = render_reply(Reply(cards=(make_card(paper),), explanation=explanation))
    assert len(messages) == 1
    blocks = list(messages[0].blocks)
    assert "accessory" not in blocks[0]  # no Explain button on the explanation itself
    assert blocks[2] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "ⓘ No LLM is configured: a summary from the abstract.", "verbatim": True}
        ],
    }
    assert blocks[3]["text"]["text"] == "*Problem*\nWhat is solved."
    assert blocks[4]["text"]["text"] == "*Idea*\nHow."
    assert blocks[5]["elements"][0]["text"] == "Explanation: offline"


def test_a_long_abstract_and_explanation_are_shown_whole_across_blocks_and_messages() -> None:
    words = [f"w{i}&" for i in range(2500)]
    long_text = " ".join(words)  # 15k characters: eight arXiv abstracts, under the bound on one untrusted field
    explanation = Explanation(
        source="openai", text="", sections=tuple(ExplanationSection(f"S{i}", long_text) for i in range(3))
    )
    messages = render_reply(Reply(abstract=long_text, explanation=explanation, cards=(make_card(STAT_PAPERS[1]),)))
    assert len(messages) > 1
    assert_within_limits(messages)
    sections = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section"][1:]
    shown = " ".join(sections).replace("&amp;", "&").split()
    assert shown.count("w2499&") == 4  # abstract + three sections, nothing cut


def test_text_beyond_the_bound_on_one_field_is_cut_and_says_so() -> None:
    huge = " ".join(f"w{i}" for i in range(200_000))  # a hostile megabyte abstract
    messages = render_reply(Reply(abstract=huge, cards=(make_card(STAT_PAPERS[1]),)))
    assert_within_limits(messages)
    sections = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section"]
    assert sections[-1].endswith("…")
    assert sum(map(len, sections)) <= MAX_UNTRUSTED_CHARS + 1_000  # the card, the heading, the cut abstract


def test_an_error_reply_is_marked() -> None:
    messages = render_reply(Reply(text="That is not an arXiv id.", ephemeral=True, is_error=True))
    assert messages[0].blocks[0]["text"]["text"] == "⚠️ That is not an arXiv id."
    assert messages[0].text == "⚠️ That is not an arXiv id."
