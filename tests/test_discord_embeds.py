"""Discord rendering (adapters/discord_embeds.py): every limit on real papers and on hostile text."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import discord
import pytest

from adapters.discord_embeds import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FOOTER_LIMIT,
    MESSAGE_EMBED_TOTAL,
    SOURCE_COLOURS,
    TITLE_LIMIT,
    DiscordMessage,
    embed_units,
    escape,
    message_nonce,
    render_card,
    render_digest,
    render_reply,
    units,
)
from bot.cards import Card, DigestMessage, Explanation, ExplanationSection, Link, Reply, listing_links, make_card
from bot.sources.arxiv import parse_rss
from bot.text import clean_text

DATA = Path(__file__).parent / "data"
STAT_FEED = DATA / "rss-stat-2024-03-26.xml"  # real rss.arxiv.org feed, see data/PROVENANCE.md

HOSTILE = "@everyone @here <@123> <@&456> <@!1> <#1> [evil](http://x) **bold** `code` ||spoiler||"
HEAVY_TEX = (
    r"Let $\mathcal{O}(n^{2})$ and $\mathbb{E}_{x\sim p}[\|\nabla f(x)\|^2] \leq \frac{1}{\sqrt{T}}$ with "
    r"$\mathfrak{g}\otimes\mathscr{H}$, $\sum_{i=1}^{n} \alpha_i^{(k)} \hat{\theta}_{\mathrm{MLE}}$ "
) * 40


def stat_cards() -> list[Card]:
    feed = parse_rss(STAT_FEED.read_bytes(), ["stat"])
    return [make_card(item.paper) for item in feed.items]


def all_text(message: DiscordMessage) -> list[str]:
    texts = [message.content or ""]
    for embed in message.embeds:
        texts += [embed.title or "", embed.description or "", embed.footer.text or "", embed.author.name or ""]
        texts += [part for f in embed.fields for part in (f.name or "", f.value or "")]
    return texts


def assert_within_limits(messages: list[DiscordMessage]) -> None:
    assert messages
    for message in messages:
        assert message.content is not None or message.embeds, "an empty message"
        assert units(message.content or "") <= CONTENT_LIMIT
        assert len(message.embeds) <= EMBEDS_PER_MESSAGE
        assert sum(len(e) for e in message.embeds) <= MESSAGE_EMBED_TOTAL  # discord.py's own count
        assert message.embed_units <= MESSAGE_EMBED_TOTAL  # and in UTF-16 units
        for embed in message.embeds:
            assert units(embed.title or "") <= TITLE_LIMIT
            assert units(embed.description or "") <= DESCRIPTION_LIMIT
            assert len(embed.fields) <= FIELDS_PER_EMBED
            for f in embed.fields:
                assert f.name and f.value, "Discord rejects empty field names and values"
                assert units(f.name) <= FIELD_NAME_LIMIT
                assert units(f.value) <= FIELD_VALUE_LIMIT
            assert units(embed.footer.text or "") <= FOOTER_LIMIT
            assert embed_units(embed) <= MESSAGE_EMBED_TOTAL
            embed.to_dict()  # serialisable as discord.py sends it


LIVE_MENTION = re.compile(r"@(everyone|here)|<[@#][!&]?\d+>", re.I)
UNESCAPED_MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?!https://arxiv\.org/)")


def assert_inert(messages: list[DiscordMessage]) -> None:
    for message in messages:
        for text in all_text(message):
            assert not LIVE_MENTION.search(text), text[:200]
            assert not UNESCAPED_MASKED_LINK.search(text), text[:200]


# --- escaping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("@everyone look", "@\u200beveryone look"),
        ("@here", "@\u200bhere"),
        ("@everyone1 @everyoneX @hereby @Everyone", "@\u200beveryone1 @\u200beveryoneX @\u200bhereby @\u200bEveryone"),
        ("＠everyone ﹫here", "＠\u200beveryone ﹫\u200bhere"),  # look-alikes, in case a client normalises
        ("@\u200beveryone @\u202eeveryone", "@\u200beveryone @\u200beveryone"),  # a stripped character exposes nothing
        ("<@123>", "<\u200b@\u200b123>"),
        ("<@&456>", "<\u200b@\u200b&456>"),
        ("<@!1>", "<\u200b@\u200b!1>"),
        ("<#1>", "<\u200b#1>"),
        ("</paper explain:1>", "<\u200b/paper explain:1>"),
        ("[evil](http://x)", "\\[evil\\]\u200b(http:\u200b//x)"),
        ("[a [b](http://x)", "\\[a \\[b\\]\u200b(http:\u200b//x)"),  # discord.py's escape_markdown leaves it live
        ("<x:/[arxiv.org](https://evil.example)>", "<\u200bx:/\\[arxiv.org\\]\u200b(https:\u200b//evil.example)>"),
        (
            "<https://evil.example/[a](https://arxiv.org/abs/1)>",
            "<\u200bhttps:\u200b//evil.example/\\[a\\]\u200b(https://arxiv.org/abs/1)>",
        ),
        (
            "https://arxiv.org/abs/1(x)[y](https://evil.example)",
            "https://arxiv.org/abs/1(x)\\[y\\]\u200b(https:\u200b//evil.example)",
        ),
        ("**bold** _i_ ~~s~~ `c` ||spoiler||", r"\*\*bold\*\* \_i\_ \~\~s\~\~ \`c\` \|\|spoiler\|\|"),
        ("# heading", r"\# heading"),
        ("> quote\n- item\n2. item", "\\> quote\n\\- item\n2\\. item"),
        ("a \\ backslash", "a \\\\ backslash"),
        ("see https://arxiv.org/abs/2403.00001v2.", "see https://arxiv.org/abs/2403.00001v2."),  # stays a link
        ("code at https://gitlab.com/a_b/c_d.", "code at https:\u200b//gitlab.com/a\\_b/c\\_d."),  # shown, not linked
        ("code at https://github.com/a/b.", "code at https://github.com/a/b."),  # a host we link: kept live
        ("\u202elpmaxe.live//:sptth\x1b]8;;http://evil/\x07x\x1b[0m", "lpmaxe.live//:sptthx"),
        ("x < y > z, e-mail a@b.org, 3 * 4", "x < y > z, e-mail a@b.org, 3 \\* 4"),
    ],
)
def test_escape(raw: str, shown: str) -> None:
    assert escape(raw) == shown


def test_escape_agrees_with_discord_py_on_mentions_it_knows() -> None:
    text = "@everyone <@12345678901234567> @here"
    assert not LIVE_MENTION.search(escape(text))
    assert discord.utils.escape_mentions(escape(text)) == escape(text)  # nothing left for discord.py to escape


# --- real papers -----------------------------------------------------------------------------------


def test_every_paper_of_the_recorded_feed_fits_one_embed() -> None:
    cards = stat_cards()
    assert len(cards) == 123
    for i, card in enumerate(cards, start=1):
        embed = render_card(card, i)
        assert_within_limits([DiscordMessage(embeds=(embed,))])
        assert embed.url == card.url
        assert embed.title is not None and embed.title.startswith(f"{i}. ")
        assert embed.footer.text is not None and embed.footer.text.startswith(f"{card.paper_id}v{card.version}")
        links = next(f.value for f in embed.fields if f.name == "Links")
        assert f"[abs]({card.url})" in (links or "")


def test_a_123_paper_digest_is_a_header_then_one_message_per_paper_in_order() -> None:
    cards = tuple(stat_cards())
    digest = DigestMessage(("stat",), date(2024, 3, 26), cards, more_count=7, more_links=listing_links(["stat"]))
    messages = render_digest(digest)
    assert_within_limits(messages)
    header, *papers = messages
    assert header.content is not None
    assert header.content.split("\n") == [
        "**arXiv digest · stat · Tue 26 Mar 2024**",
        "123 papers below, one per message. React 👍 or 👎 to a paper to teach this channel's radar, "
        "or reply to it to ask about it.",
    ]
    assert header.paper_id is None
    [more] = header.embeds  # "… and N more" stays with the header, with its masked links
    assert more.description == ("… and 7 more in this announcement at [all of stat](https://arxiv.org/list/stat/new)")
    assert len(papers) == 123
    assert all(m.content is None and len(m.embeds) == 1 for m in papers)  # each paper a message of its own
    assert [m.paper_id for m in papers] == [c.paper_id for c in cards]  # which paper each one shows
    titles = [m.embeds[0].title or "" for m in papers]
    assert [t.split(".", 1)[0] for t in titles] == [str(i) for i in range(1, 124)]
    assert all(m.embeds[0].url == c.url for m, c in zip(papers, cards, strict=True))


def test_one_paper_is_counted_in_the_singular_and_no_more_line_without_more() -> None:
    [header, paper] = render_digest(DigestMessage(("stat",), date(2024, 3, 26), tuple(stat_cards()[:1])))
    assert (header.content or "").split("\n")[1].startswith("1 paper below, one per message.")
    assert header.embeds == () and paper.paper_id == stat_cards()[0].paper_id


def test_a_note_is_about_no_paper() -> None:
    messages = render_digest(DigestMessage(("stat",), date(2024, 3, 26), (), note="No announcement today."))
    assert [(m.content, m.paper_id) for m in messages] == [("No announcement today.", None)]


def test_an_empty_digest_says_so() -> None:
    messages = render_digest(DigestMessage(("cs.LG",), None, ()))
    assert messages == [
        DiscordMessage(
            content="**arXiv digest · cs.LG · latest announcement**\n"
            "No new papers in this announcement that this channel has not already seen."
        )
    ]


def test_colour_per_source_and_the_math_line() -> None:
    card = stat_cards()[0]
    colours = {s: render_card(replace(card, source=s)).colour for s in ("arxiv", "huggingface", "biorxiv")}
    assert {s: c.value for s, c in colours.items() if c} == {s: SOURCE_COLOURS[s] for s in colours}
    with_line = render_card(replace(card, math_line="𝔼[X] ≤ 1/√T"))
    assert (with_line.description or "").endswith("∑ 𝔼\\[X\\] ≤ 1/√T")


# --- hostile text ----------------------------------------------------------------------------------


def hostile_card(**changes: object) -> Card:
    base = Card(
        paper_id="2403.00001",
        version=2,
        title=HOSTILE,
        url="https://arxiv.org/abs/2403.00001",
        authors=HOSTILE,
        categories=("stat.ML", "@everyone"),
        primary_category="stat.ML",
        badge="revised",
        teaser=HOSTILE + " [click](https://evil.example/@everyone)",
        links=(Link("abs", "https://arxiv.org/abs/2403.00001"), Link("[evil](http://x)", "javascript:alert(1)")),
        math_line=HOSTILE,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_hostile_strings_cannot_mention_or_hide_links() -> None:
    messages = render_digest(DigestMessage(("stat.ML",), None, (hostile_card(),)))
    assert_within_limits(messages)
    assert_inert(messages)
    text = "\n".join(t for m in messages for t in all_text(m))
    assert "\\[evil\\]\u200b(http:\u200b//x)" in text  # shown literally, not as a link
    assert "javascript:" not in text  # a link we cannot vouch for is left out
    assert "@\u200beveryone" in text


def test_huge_author_lists_and_heavy_latex_are_cut_at_a_word_boundary() -> None:
    authors = ", ".join(f"Author{i} Surname{i}" for i in range(3000))
    latex = clean_text(HEAVY_TEX)
    card = hostile_card(title=latex, authors=authors, teaser=latex, math_line=latex)
    embed = render_card(card, 1)
    assert_within_limits([DiscordMessage(embeds=(embed,))])
    description = embed.description or ""
    first_line = description.split("\n\n")[0]
    assert first_line.endswith("…")
    kept = first_line.removesuffix("…")
    assert authors.startswith(kept) and authors[len(kept)] in ", ", "cut inside a word"
    assert units(embed.title or "") <= TITLE_LIMIT and (embed.title or "").endswith("…")
    assert not re.search(r"\\[a-zA-Z]", embed.title or ""), "TeX commands reached the title"


def test_astral_math_is_measured_in_utf16_units() -> None:
    card = hostile_card(title="𝒪" * 200)  # 200 code points, 400 UTF-16 units
    title = render_card(card).title or ""
    assert units(title) <= TITLE_LIMIT
    assert len(title) < 200


def test_a_single_word_longer_than_the_limit_is_the_only_mid_word_cut() -> None:
    word = "x" * 5000
    messages = render_reply(Reply(text=word))
    assert_within_limits(messages)
    assert "".join(m.content or "" for m in messages) == word


# --- replies and explanations ----------------------------------------------------------------------


def test_explain_reply_has_the_card_the_note_and_each_section() -> None:
    card = stat_cards()[0]
    explanation = Explanation(
        source="offline",
        text="",
        sections=(ExplanationSection("Setting", "We observe " + HOSTILE), ExplanationSection("Key result", "α ≤ β")),
        note="LLM explanations are off.",
    )
    messages = render_reply(Reply(text="You asked for v1.", cards=(card,), explanation=explanation))
    assert_within_limits(messages)
    assert_inert(messages)
    [message] = messages
    assert message.paper_id == card.paper_id  # an explanation is about its paper
    assert message.content == "You asked for v1."
    card_embed, math = message.embeds
    assert card_embed.url == card.url
    assert math.title == "The math, explained"
    assert math.description == "ⓘ LLM explanations are off."
    assert [f.name for f in math.fields] == ["Setting", "Key result"]
    assert math.footer.text == "Explanation: offline"


def test_a_long_explanation_is_split_across_fields_embeds_and_messages() -> None:
    words = " ".join(f"w{i}" for i in range(700))  # ~4,000 characters per section
    sections = tuple(ExplanationSection(f"Section {i}", words) for i in range(30))
    explanation = Explanation(source="anthropic", text="", sections=sections, cached=True, note="n " * 3000)
    messages = render_reply(Reply(text="t " * 1500, explanation=explanation, abstract="a " * 3000))
    assert_within_limits(messages)
    assert len(messages) > 2
    assert {m.paper_id for m in messages} == {None}  # no card: about no paper we can name
    fields = [f for m in messages for e in m.embeds for f in e.fields]
    assert sum((f.value or "").count(" w699") + (f.value or "").startswith("w699") for f in fields) == 30
    assert [f.name for f in fields if not (f.name or "").endswith("(cont.)")] == [f"Section {i}" for i in range(30)]
    assert messages[-1].embeds[-1].footer.text == "Explanation: anthropic · cached"


def test_text_only_explanation_goes_into_descriptions() -> None:
    explanation = Explanation(source="openai", text="word " * 2000)
    messages = render_reply(Reply(explanation=explanation))
    assert_within_limits(messages)
    descriptions = [e.description or "" for m in messages for e in m.embeds]
    assert len(descriptions) == 3
    assert " ".join(descriptions).split() == ["word"] * 2000


def test_nonce_is_stable_short_and_distinct_per_part() -> None:
    a = message_nonce("discord:1/2", date(2024, 3, 26), ("stat.ML",), ("2403.1",), 0)
    assert a == message_nonce("discord:1/2", date(2024, 3, 26), ("stat.ML",), ("2403.1",), 0)
    assert a != message_nonce("discord:1/2", date(2024, 3, 26), ("stat.ML",), ("2403.1",), 1)
    assert len(a) <= 25
