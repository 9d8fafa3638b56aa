"""What reaches a channel is safe whatever the paper or the model wrote: a property test over every renderer.

For arbitrary paper text (built into Paper and Card the way ingest does, and also raw) and arbitrary LLM text
(through ``safe_llm_text`` and straight into the Explanation model), no payload of any renderer (Slack blocks
and notification text, Discord content and embeds, the console) contains

- a live mention: ``<!…>``, ``<@…>``, ``<#…>``, ``<@&…>``, or ``@everyone``/``@here``/``@channel`` (or a
  look-alike ``＠``) without a joiner right after the ``@``;
- a link whose target is not an allowed host: ``<url|label>``, ``<url>``, ``<scheme:…>``, a masked
  ``[label](url)`` (unless its brackets are backslash-escaped), or any bare ``scheme://``;
- a bidi, control or zero-width character, other than the joiners our escapers insert on purpose (right
  after ``@``, ``<`` (or Slack's ``&lt;``), ``:`` or ``]``) and a ZWJ inside an emoji sequence.

The strategies mix hostile fragments into arbitrary text, so the search finds compositions (TeX that vanishes
between the characters of a URL, a bracket that an escape exposes, a control character inside a mention).
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from xml.sax.saxutils import escape as xml_escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import discord_embeds, slack_blocks
from bot.cards import (
    DigestMessage,
    Explanation,
    Reply,
    make_card,
    render_reply_text,
)
from bot.explain.sanitize import safe_llm_text
from bot.sources.arxiv import parse_rss
from bot.untrusted import MAX_UNTRUSTED_CHARS, bounded, defang, strip_unsafe_chars
from tests.support_payload_safety import (
    HOSTILE,
    HOSTILE_SHAPES,
    OWN_URLS,
    answers,
    discord_strings,
    explanations,
    hostile_text,
    payloads,
    render_everything,
    scenes,
    strings,
    unsafe_parts,
)

# --- the properties ----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenes())
def test_no_renderer_ever_sends_a_live_mention_a_foreign_link_or_a_control_character(
    scene: tuple[DigestMessage, Reply, str, Explanation],
) -> None:
    problems = [(name, p) for name, text in payloads(*scene) for p in unsafe_parts(text)]
    assert not problems, problems[:5]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(explanations())
def test_hostile_link_labels_and_section_text_leave_the_bot_own_links_live_and_nothing_else(
    explanation: Explanation,
) -> None:
    """Whatever the labels and the text around them, every renderer draws each of the bot's own links as a
    real link (Slack <url|…>, a Discord masked link, "label: url" on a terminal) and nothing else: no live
    mention, no foreign or disguised link."""
    reply = Reply(text="", explanation=explanation)
    slack = [t for unit in slack_blocks.explanation_blocks(explanation) for b in unit for t in strings(b)]
    discord = [t for m in discord_embeds.render_reply(reply) for e in m.embeds for t in strings(e.to_dict())]
    console = [render_reply_text(reply)]
    for out in (*slack, *discord, *console):
        assert not unsafe_parts(out), unsafe_parts(out)
    own = {link.url for s in explanation.sections for link in s.links if link.url in OWN_URLS}
    for url in own:
        assert any(f"<{url}|" in t for t in slack), url
        assert any(f"]({url.replace('(', '%28').replace(')', '%29')})" in t for t in discord), url
        assert f": {url}\n" in console[0] + "\n", url


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answers())
def test_hostile_reply_link_labels_and_answer_text_leave_the_bot_own_links_live_and_nothing_else(reply: Reply) -> None:
    """An answer's own links (its equations' anchors, the paper's full text) are drawn as real links by every
    renderer whatever their labels and the answer's text; the text's own URLs stay text (a foreign one broken),
    and nothing is a live mention, a foreign link or a link whose label names another address."""
    slack = [t for m in slack_blocks.render_reply(reply) for t in strings(m.payload())]
    discord = list(discord_strings(discord_embeds.render_reply(reply)))
    console = render_reply_text(reply)
    for out in (*slack, *discord, console):
        assert not unsafe_parts(out), unsafe_parts(out)
    for url in {link.url for link in reply.links if link.url in OWN_URLS}:
        assert any(f"<{url}|" in t for t in slack), url
        assert any(f"]({url.replace('(', '%28').replace(')', '%29')})" in t for t in discord), url
        assert f": {url}\n" in console + "\n", url


@settings(max_examples=1000, deadline=None)
@given(hostile_text, st.integers(20, 900))
def test_safe_llm_text_output_is_safe_and_bounded(text: str, max_chars: int) -> None:
    out = safe_llm_text(text, max_chars)
    assert not unsafe_parts(out)
    assert not re.search(r"<[!@#]", out)  # removed, not merely escaped
    assert len(out) <= max_chars + 8  # the joiners of a few neutralised mentions at most


def test_the_checker_knows_each_kind_of_hole() -> None:
    """The checker itself: each of these strings is unsafe, each fixed form is not."""
    unsafe = [
        "<!channel>", "<@U1>", "<#C1>", "<@&4>", "@everyone", "@hereby", "＠everyone", "<https://evil.example|x>",
        "<https://evil.example>", "[a](https://evil.example)", "see https://evil.example", "https://arxiv.org@evil.x",
        "https://evil.example\\.arxiv.org/", "\u202elive", "\x1b]8;;x\x07", "a\u200bb", "<mailto:x@y|z>",
        "@every\u0301one", "@e\ufe0fveryone", "@\u3164here", "a\u3164b", "x\ufe0f\ufe0f", "\U000e0100",
        "<https://arxiv.org/abs/1|evil.example>", "[https:\u200b//evil.example](https://arxiv.org/abs/1)",
        "<https://arxiv.org/abs/1|www.arxiv.org.example>", "<https://en.wikipedia.org/wiki/X|ｅｖｉｌ．ｅｘａｍｐｌｅ>",
    ]  # fmt: skip
    safe = [
        "&lt;!channel&gt;", "<\u200b@U1>", "@\u2060everyone", "\\[a\\](https:\u2060//evil.example)",
        "see https:\u2060//evil.example", "<https://arxiv.org/abs/1|abs>", "[abs](https://arxiv.org/abs/1)",
        "https://export.arxiv.org/api", "https://doi.org/10.1/x", "👨\u200d👩", "a < b > c", "x: y",
        "@\u2060every\u0301one", "☺\ufe0f", "Poincaré", "e\u0301",
        "<https://en.wikipedia.org/wiki/Transportation_theory_(mathematics)|Optimal transport>",
        "[Optimal transport](https://en.wikipedia.org/wiki/Transportation_theory_%28mathematics%29)",
        "<https://arxiv.org/abs/1|arxiv.org>", "\\[evil.example\\](https://arxiv.org/abs/1)",
    ]  # fmt: skip
    assert all(unsafe_parts(text) for text in unsafe), [t for t in unsafe if not unsafe_parts(t)]
    assert not any(unsafe_parts(text) for text in safe), [(t, unsafe_parts(t)) for t in safe if unsafe_parts(t)]


# --- bounded work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(HOSTILE_SHAPES))
def test_a_megabyte_of_hostile_text_renders_bounded_and_safe(shape: str) -> None:
    """One hostile field (a feed's abstract, a model's answer, a pasted command) is cut before any
    renderer works on it, and shown cut rather than spread over dozens of messages. (What it costs in
    time is measured in bench/bench_payload.py: a timing threshold here would fail on a loaded machine.)"""
    text = HOSTILE_SHAPES[shape]
    outputs = render_everything(text)
    assert sum(map(len, outputs)) < 40 * MAX_UNTRUSTED_CHARS
    assert not [p for out in outputs if len(out) < 30_000 for p in unsafe_parts(out)]  # the checker is slow on big text


def test_a_cut_long_text_says_so() -> None:
    shown = bounded("word " * 10_000)
    assert len(shown) <= MAX_UNTRUSTED_CHARS and shown.endswith("…")
    assert bounded(shown) == shown
    assert bounded("short") == "short"


# --- through the real ingest path ----------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _rss_item(number: int, text: str) -> str:
    field = xml_escape(text)
    return (
        f"<item><title>{field}</title><link>https://arxiv.org/abs/2403.{number:05d}</link>"
        f"<description>arXiv:2403.{number:05d}v1 Announce Type: new \nAbstract: {field} {field}</description>"
        f'<guid isPermaLink="false">oai:arXiv.org:2403.{number:05d}v1</guid>'
        f"<category>stat.ML</category><category>{field}</category>"
        f"<arxiv:announce_type>new</arxiv:announce_type><dc:creator>{field}, {field}</dc:creator></item>"
    )


def test_every_hostile_fragment_fed_through_the_arxiv_feed_parser_reaches_no_channel_alive() -> None:
    """Each fragment (alone, and glued to a neighbour) as the title, abstract, authors and a category of an
    RSS item, parsed as ingest parses it, drawn by every renderer."""
    legal = [f for f in HOSTILE if not _XML_ILLEGAL.search(f)]
    texts = legal + [a + b for a, b in itertools.pairwise(legal)]
    items = "".join(_rss_item(10_000 + i, text) for i, text in enumerate(texts))
    feed = parse_rss(
        (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>stat</title>'
            "<link>https://rss.arxiv.org/rss/stat</link><description>d</description>"
            f"<pubDate>Tue, 26 Mar 2024 00:00:00 -0400</pubDate>{items}</channel></rss>"
        ).encode(),
        ["stat"],
    )
    assert len(feed.items) == len(texts)
    problems = []
    for item, text in zip(feed.items, texts, strict=True):
        card = make_card(item.paper, math_line=safe_llm_text(text, 200))
        digest = DigestMessage(categories=("stat",), announced=date(2024, 3, 26), cards=(card,), more_count=1)
        explanation = Explanation(source="anthropic", text=safe_llm_text(text, 900), note=text)
        reply = Reply(text=text, cards=(card,), explanation=explanation, abstract=item.paper.abstract, is_error=True)
        problems += [
            (text, name, p) for name, out in payloads(digest, reply, text, explanation) for p in unsafe_parts(out)
        ]
    assert not problems, problems[:5]


# --- the classes, one example each ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hidden",
    ["@every\u0301one", "@e\ufe0fveryone", "@ever\u034fyone", "@every\u3164one", "@\u115feveryone", "@\uff45veryone",
     "@HERE\u20dd", "＠chan\u17b4nel"],
)  # fmt: skip
def test_a_mass_mention_split_by_what_nobody_sees_is_broken(hidden: str) -> None:
    shown = defang(strip_unsafe_chars(hidden))
    assert shown.startswith(("@\u2060", "＠\u2060")) and not unsafe_parts(shown)
    assert defang(strip_unsafe_chars(shown)) == shown


def test_invisible_letters_and_stray_variation_selectors_are_removed_and_real_ones_kept() -> None:
    assert strip_unsafe_chars("a\u3164b\u115fc\uffa0d\u034fe\u17b4f") == "abcdef"
    assert strip_unsafe_chars("braille\u2800blank") == "braille blank"
    assert strip_unsafe_chars("x\ufe0f\ufe0f\U000e0100 \ufe0fy") == "x\ufe0f y"  # smuggled data: one kept at most
    assert strip_unsafe_chars("\ufe0f\u200b\ufe0fa") == "a"  # a selector left on nothing by a removal goes too
    for real in ["☺\ufe0f", "1\ufe0f\u20e3", "≩\ufe00", "🏳\ufe0f\u200d🌈", "Poincare\u0301"]:
        assert strip_unsafe_chars(real) == real
