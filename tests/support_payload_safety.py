"""The payload-safety checker and the hostile strategies, shared by the payload-safety property tests.

``unsafe_parts`` describes every unsafe thing in one output string: a live mention, a link to a host the bot
did not choose (or a disguised one: a link whose label reads as another address), a control, bidi or
zero-width character other than the joiners the escapers insert. ``payloads`` yields every string every
renderer produces for a scene; the strategies mix hostile fragments into arbitrary text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import discord
from hypothesis import strategies as st

from adapters import discord_embeds, discord_layouts, slack_blocks, slack_layouts
from bot.cards import (
    DigestMessage,
    Explanation,
    ExplanationEquation,
    ExplanationSection,
    Layout,
    Link,
    Reply,
    listing_links,
    make_card,
    render_digest_text,
    render_reply_text,
)
from bot.explain.sanitize import safe_llm_text
from bot.models import ANNOUNCE_TYPES, Paper
from bot.text import clean_text

# --- the checker -------------------------------------------------------------------------------------

# The hosts our cards link to (each registered source's pages, DOIs, the GitHub code links Hugging Face lists)
# and their subdomains; written out here so that a new source's hosts are a decision, not a side effect.
ALLOWED_HOSTS = ("arxiv.org", "doi.org", "huggingface.co", "github.com", "biorxiv.org", "medrxiv.org")
JOINERS = "\u200b\u2060"  # zero width space (Discord's escapes), word joiner (ours)
JOINED_AFTER = "@\uff20\ufe6b<:]"  # where a joiner is a deliberate neutraliser
MASS = ("everyone", "here", "channel")
AT_SIGNS = re.compile("[@\uff20\ufe6b]")  # every character whose NFKC form is "@"

_HOST = re.compile(r"(?i)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?(?::\d+)?")
_ANGLE_CONTROL = re.compile(r"<[!@#/:]")  # mentions, channels, roles, Discord commands and emoji
_ANGLE_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^|>\s]*)")
_MASKED_LINK = re.compile(r"\[[^\]]*\]\(\s*<?\s*([^\s)>]*)")
_LIVE_TARGET = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*:(?![\u200b\u2060])|//|www\.)")


def allowed(url: str) -> bool:
    """An http(s) URL whose authority is exactly an allowed host (no user info, no odd characters)."""
    m = re.match(r"(?i)(https?)://", url)
    if m is None:
        return False
    authority = url[m.end() :].split("/")[0].split("?")[0].split("#")[0]
    authority = re.split(r"\s", authority)[0]  # up to the path, query, fragment or a blank
    if not _HOST.fullmatch(authority):
        return False
    host = authority.split(":")[0].rstrip(".").lower()
    return any(host == h or host.endswith("." + h) for h in ALLOWED_HOSTS)


# Blank or invisible to a reader though not format characters: Hangul fillers, the combining grapheme joiner,
# Khmer inherent vowels, the braille blank. Variation selectors are fine on a visible character, one at a time.
INVISIBLE_LETTERS = "\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5\u2800"
VARIATION_SELECTOR = re.compile("[\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _as_read(text: str) -> str:
    """What a reader (or a lenient parser) sees: compatibility forms folded, marks and invisibles gone."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = (
        ch
        for ch in decomposed
        if ch not in INVISIBLE_LETTERS
        and not VARIATION_SELECTOR.match(ch)
        and unicodedata.category(ch) not in ("Mn", "Me", "Cf")
    )
    return "".join(kept).casefold()


def _emoji_side(ch: str) -> bool:
    return ch == "\ufe0f" or unicodedata.category(ch) in ("So", "Sk")


# The bot's own links in the scenes (an explanation's glossary entries and equation anchors, one of them at a
# configured mirror of the HTML versions): to any host, since the bot chose them, and drawn as real links.
OWN_URLS = (
    "https://en.wikipedia.org/wiki/Transportation_theory_(mathematics)",
    "https://en.wikipedia.org/wiki/H%C3%B6lder%27s_inequality",
    "https://arxiv.org/html/2403.00001v1#S2.E1",
    "https://html.mirror.example/2403.00001v2#S3.E12",
)


def own_forms(urls: Iterable[str]) -> tuple[str, ...]:
    """How the bot's own URLs may appear: as they are, or with parentheses encoded (Discord's masked links)."""
    return tuple(sorted({form for u in urls for form in (u, u.replace("(", "%28").replace(")", "%29"))}))


_OWN_FORMS = own_forms(OWN_URLS)
# Addresses a label can read as (after _as_read): the label of a link must not name another one.
_ADDRESS_IN_LABEL = re.compile(r"://|\bwww\.|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]*)\|([^>]*)>")
_DISCORD_LINK = re.compile(r"(?<!\\)\[((?:[^\]\\]|\\.)*)\]\(<?(https?://[^)\s>]*)>?\)")  # (<url>): no preview


def _own(text: str, start: int = 0, forms: tuple[str, ...] = _OWN_FORMS) -> bool:
    """Whether one of the bot's own URLs starts at ``start`` and ends where a link ends."""
    ends = ("", "|", ">", ")", " ", "\n")
    return any(text.startswith(f, start) and text[start + len(f) : start + len(f) + 1] in ends for f in forms)


def _disguised(label: str, url: str) -> bool:
    """Whether a link's label reads as an address other than the link's own host."""
    read = _as_read(label.replace("\\", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    host = url.split("://", 1)[1].split("/")[0].split("#")[0].lower()
    for m in _ADDRESS_IN_LABEL.finditer(read):
        named = m.group()
        if named in ("://", "www.") or not (host == named or host.endswith("." + named)):
            return True
    return False


def unsafe_parts(text: str, own: Iterable[str] = ()) -> list[str]:
    """Every unsafe thing in one output string, described; [] when it is safe. The bot's own URLs
    (``OWN_URLS``, and ``own``: those a test's reply carries in its links, as drawn) count as allowed;
    a link whose label names another address counts as disguised."""
    extra = tuple(own)
    forms = own_forms((*OWN_URLS, *extra)) if extra else _OWN_FORMS
    found: list[str] = []
    for m in _ANGLE_CONTROL.finditer(text):
        found.append(f"live angle markup {text[m.start() : m.start() + 20]!r}")
    for m in _SLACK_LINK.finditer(text):
        if _disguised(m.group(2), m.group(1)):
            found.append(f"disguised link {m.group()[:80]!r}")
    for m in _DISCORD_LINK.finditer(text):
        if _disguised(m.group(1), m.group(2)):
            found.append(f"disguised link {m.group()[:80]!r}")
    for m in _ANGLE_LINK.finditer(text):
        if not allowed(m.group(1)) and not _own(text, m.start(1), forms):
            found.append(f"angle link to {m.group(1)!r}")
    for m in AT_SIGNS.finditer(text):
        i = m.start()
        following = text[i + 1 : i + 2]
        if following.isascii() and following.lower() not in "ehc":
            continue  # a visible character no mass mention starts with (or the end): decided at once
        if following not in JOINERS:
            after = _as_read(text[i + 1 : i + 40])
            if after.startswith(MASS):
                found.append(f"live mass mention {text[i : i + 12]!r}")
    unescaped = re.sub(r"\\.", "\x00", text, flags=re.S)  # Discord: a backslash-escaped bracket is text
    for m in _MASKED_LINK.finditer(unescaped):
        target = m.group(1)
        if _LIVE_TARGET.match(target) and not allowed(target) and not _own(unescaped, m.start(1), forms):
            found.append(f"masked link to {target!r}")
    for m in re.finditer("://", text):
        start = m.start()
        while start and (text[start - 1].isascii() and (text[start - 1].isalnum() or text[start - 1] in "+.-")):
            start -= 1
        url = text[start:]
        if not allowed(url) and not _own(text, start, forms):
            found.append(f"link to {text[start : m.end() + 30]!r}")
    for m in re.finditer(f"[{INVISIBLE_LETTERS}]", text):
        found.append(f"invisible letter U+{ord(m.group()):04X} at {m.start()}")
    for m in VARIATION_SELECTOR.finditer(text):
        before = text[m.start() - 1 : m.start()]
        if not before or before.isspace() or VARIATION_SELECTOR.match(before):
            found.append(f"variation selector U+{ord(m.group()):04X} on nothing at {m.start()}")
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in "\n\t" or category not in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            continue
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        if ch in JOINERS and ((before and before in JOINED_AFTER) or text.endswith("&lt;", 0, i)):  # Slack's "<"
            continue
        if ch == "\u200d" and before and after and _emoji_side(before) and unicodedata.category(after) == "So":
            continue
        found.append(f"invisible/control U+{ord(ch):04X} at {i} in {text[max(0, i - 10) : i + 10]!r}")
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string inside a payload (dicts, lists, tuples)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def discord_strings(messages: Iterable[discord_embeds.DiscordMessage]) -> Iterator[str]:
    """Every string of Discord messages as sent: content, then each embed's."""
    for message in messages:
        yield message.content or ""
        for embed in message.embeds:
            yield from strings(embed.to_dict())


def payloads(
    digest: DigestMessage, reply: Reply, echo: str, explanation: Explanation, *, other_layouts: bool = True
) -> Iterator[tuple[str, str]]:
    """(renderer, string) for every string every renderer produces for these inputs (``other_layouts``: the
    digest drawn in each /paper layout too)."""
    for name, slack in [
        ("slack.render_digest", slack_blocks.render_digest(digest)),
        ("slack.render_reply", slack_blocks.render_reply(reply)),
        ("slack.render_text", slack_blocks.render_text(echo)),
    ]:
        for message in slack:
            for text in strings(message.payload()):
                yield name, text
    for unit in slack_blocks.explanation_blocks(explanation):
        for text in strings(unit):
            yield "slack.explanation_blocks", text
    for name, messages in [
        ("discord.render_digest", discord_embeds.render_digest(digest)),
        ("discord.render_reply", discord_embeds.render_reply(reply)),
    ]:
        for msg in messages:
            yield name, msg.content or ""
            for embed in msg.embeds:
                for text in strings(embed.to_dict()):
                    yield name, text
    for card in digest.cards:
        drawn: discord.Embed = discord_embeds.render_card(card)
        for text in strings(drawn.to_dict()):
            yield "discord.render_card", text
    yield "console.render_digest_text", render_digest_text(digest)
    yield "console.render_reply_text", render_reply_text(reply)
    if other_layouts:
        yield from laid_out(digest)


def laid_out(digest: DigestMessage) -> Iterator[tuple[str, str]]:
    """The digest in the other layouts (/paper layout), its cards numbered as a channel's are: Slack's
    compact message with its buttons, the thread layout's header and cards, Discord's and the terminal's."""
    cards = tuple(replace(card, number=n) for n, card in enumerate(digest.cards, start=1))
    for layout in (Layout.COMPACT, Layout.THREAD):
        laid = replace(digest, cards=cards, layout=layout)
        for part in slack_layouts.lay_out(laid):
            for text in strings(part.message.payload()):
                yield f"slack.lay_out.{layout}", text
        yield f"console.render_digest_text.{layout}", render_digest_text(laid)
        # Discord's: a note is drawn alike in every layout; button labels and a thread's name are shown too.
        for msg in discord_layouts.render_layout(laid) if digest.cards else ():
            shown = [msg.content or "", msg.thread_name or "", *(b.label for b in msg.buttons)]
            shown += [text for embed in msg.embeds for text in strings(embed.to_dict())]
            yield from ((f"discord.render_layout[{layout}]", text) for text in shown)


# --- the strategies ----------------------------------------------------------------------------------

HOSTILE = [
    "<!channel>", "<!here|here>", "<!everyone>", "<@U123>", "<@&456>", "<@!1>", "<#C1|general>", "</paper explain:1>",
    "@everyone", "@here", "@channel", "@everyone1", "@everyoneX", "@hereby", "@EVERYONE", "＠everyone", "﹫here",
    "@\u200beveryone", "@\u2060here", "[a](https://evil.example)", "[arxiv.org](https://evil.example/x)",
    "<x:/[arxiv.org](https://evil.example)>", "<https://evil.example|arxiv.org>", "<https://evil.example>",
    "<mailto:x@evil.example|mail>", "https://evil.example/p", "http://evil.example", "www.evil.example",
    "https://arxiv.org/abs/2403.00001", "https://arxiv.org", "https://arxiv.org.evil.example/x",
    "https://arxiv.org@evil.example/", "https://evil.example\\.arxiv.org/", "https://arxiv.org:1@evil.example",
    "javascript:alert(1)", "h{}ttps://evil.example", "<{}!channel>", "[arxiv.org]{}(h{}ttps://evil.example)",
    "{}", "\\relax", "\\!", "\\,", "\\ ", "\\textless", "\\textgreater", "\\textbar", "\\lbrack", "\\rbrack",
    "\\url{https://evil.example}", "\\href{https://evil.example}{arxiv.org}", "$", "$x$", "<", ">", "|", "[",
    "]", "(", ")", "\\", "&", "&lt;!channel&gt;", ":", "//", "`", "*", "_", "~", "# ", "> ", "-# ", "1. ",
    "\u202e", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d",
    "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\x1b]8;;http://evil/\x07", "\x1b]8;;https://evil.example\x1b\\",
    "\x1b[31m", "\x1b", "\x07", "\x00", "\x85", "\x9b", "\r", "\u2028", "\ud800", "\n",
    "👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈",
    # mass mentions split by what a reader does not see, and blanks that look like nothing
    "@every\u0301one", "@e\ufe0fveryone", "@ever\u034fyone", "@every\u3164one", "@\u115feveryone", "@here\u20dd",
    "@every\u2800one", "@\uff45\uff56eryone", "\u3164", "\u2800", "\ufe0f", "\ufe0f\ufe0f", "\U000e0100\U000e0101",
    # Slack and Discord angle markup, and links in every disguise
    "<!subteam^S1|@team>", "<!date^1392734382^{date}|x>", "<tel:+1|call>", "<slack://open|x>", "<t:1700000000:R>",
    "<id:guide>", "<@\uff11\uff12>", "[x](<https://evil.example>)", "[x][1]", "[1]: https://evil.example",
    "HTTPS://evil.example", "hxxps://evil.example", "https://\u0430rxiv.org/", "https://xn--rxiv-abc.org/",
    "https://127.0.0.1/", "https://[::1]/", "https://arxiv.org\uff0eevil.example/", "https://arxiv.org/?u=https://e.x",
]  # fmt: skip

fragments = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6))
hostile_text = st.lists(fragments, max_size=10).map("".join)
short_hostile = st.lists(fragments, max_size=4).map("".join)
PAPER_IDS = ["2403.00001", "2403.12345", "quant-ph/0201082", "math/0601001"]


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    """A paper as ingest builds it (fields through clean_text), or with raw fields: renderers trust neither."""
    clean = draw(st.booleans())

    def field(strategy: st.SearchStrategy[str]) -> str:
        text = draw(strategy)
        return clean_text(text) if clean else text

    categories = tuple(draw(st.lists(short_hostile, min_size=1, max_size=3)))  # the feed's terms, never cleaned
    return Paper(
        id=draw(st.sampled_from(PAPER_IDS)),
        version=draw(st.integers(1, 9)),
        title=field(hostile_text),
        authors=tuple(field(short_hostile) for _ in range(draw(st.integers(0, 5)))),
        categories=categories,
        primary_category=categories[0],
        abstract=field(hostile_text),
        abstract_tex=draw(hostile_text),
        announce_type=draw(st.sampled_from((*ANNOUNCE_TYPES, ""))),
        comment=draw(short_hostile),
    )


@st.composite
def llm_texts(draw: st.DrawFn, max_chars: int) -> str:
    """What the model said, after safe_llm_text as the explainer does it, or raw."""
    text = draw(hostile_text)
    return safe_llm_text(text, max_chars) if draw(st.booleans()) else text


# Link labels: untrusted (an equation's label comes from the paper), so hostile, and some dressed as addresses.
LINK_LABELS = st.one_of(
    short_hostile,
    st.sampled_from(["Eq. (3)", "Optimal transport", "arxiv.org/abs/1", "evil.example", "ｅｖｉｌ．ｅｘａｍｐｌｅ",
                     "https://arxiv.org/abs/1", "www.evil.example", "evil\u3164.example", "a|b", "<!channel>"]),
)  # fmt: skip
# What a bug in a producer could put in ``links``: none of it may be drawn as a link.
BROKEN_URLS = ("javascript:alert(1)", "https://arxiv.org@evil.example/", "https://evil.example\u202e/x",
               "https://a.example/a b", "", "data:text/html,x", "https://evil.example\\.arxiv.org/")  # fmt: skip
links = st.builds(Link, LINK_LABELS, st.sampled_from(OWN_URLS + BROKEN_URLS))


@st.composite
def sections(draw: st.DrawFn) -> ExplanationSection:
    """A section in either shape: the bot's own links in ``links``, or (as producers used to write) its own
    URLs at the end of the text's lines, among hostile text."""
    text = draw(llm_texts(900))
    if draw(st.booleans()):
        for url in draw(st.lists(st.sampled_from(OWN_URLS), max_size=3)):
            text += draw(st.sampled_from([" ", " — ", "\n"])) + url
    title = draw(st.sampled_from(["The problem", "Idea", "Key equations", "Concepts"])) + draw(short_hostile)
    return ExplanationSection(title, text, tuple(draw(st.lists(links, max_size=4))))


@st.composite
def explanations(draw: st.DrawFn) -> Explanation:
    equations = tuple(
        ExplanationEquation(label=draw(LINK_LABELS), tex=draw(short_hostile), unicode=draw(short_hostile), url=url)
        for url in draw(st.lists(st.sampled_from(OWN_URLS[2:] + BROKEN_URLS), max_size=3))
    )
    return Explanation(
        source=draw(st.sampled_from(["anthropic", "openai", "offline"])),
        text=draw(llm_texts(900)),
        sections=tuple(draw(st.lists(sections(), max_size=3))),
        cached=draw(st.booleans()),
        note=draw(st.sampled_from(["", "Generated by m from the abstract.", draw(hostile_text)])),
        equations=equations,
    )


@st.composite
def scenes(draw: st.DrawFn) -> tuple[DigestMessage, Reply, str, Explanation]:
    cards = tuple(
        make_card(paper, teaser_chars=draw(st.integers(0, 300)), math_line=draw(llm_texts(200)))
        for paper in draw(st.lists(papers(), max_size=3))
    )
    note = draw(hostile_text) if not cards and draw(st.booleans()) else ""  # a quiet-day line or admin report
    digest = DigestMessage(
        categories=("stat", "cs.LG"),
        announced=date(2024, 3, 26),
        cards=cards,
        more_count=draw(st.integers(0, 3)),
        more_links=listing_links(["stat"]),
        note=note,
        # The day's briefing opening the header: drawn by the thread layout (laid_out) and the cards one.
        opening=draw(llm_texts(1_800)) if draw(st.booleans()) else "",
    )
    explanation = draw(explanations())
    echo = draw(hostile_text)  # echoed user input in a reply's text
    reply = Reply(
        text=echo,
        cards=cards[:1],
        explanation=explanation if draw(st.booleans()) else None,
        abstract=cards[0].teaser if cards else draw(hostile_text),
        is_error=draw(st.booleans()),
        digest=digest if draw(st.booleans()) else None,
        links=tuple(draw(st.lists(links, max_size=4))),  # an answer's equations, hostile labels and all
    )
    return digest, reply, echo, explanation


@st.composite
def answers(draw: st.DrawFn) -> Reply:
    """A question's answer as posted: hostile model text (some of it a foreign URL, some a URL dressed as one of
    the bot's own), and the bot's own links under it with hostile labels, sometimes in front of its card."""
    text = draw(llm_texts(900))
    if draw(st.booleans()):
        text += draw(st.sampled_from([" ", "\n", " (", " — "])) + draw(st.sampled_from(OWN_URLS + BROKEN_URLS))
    cards = (make_card(draw(papers())),) if draw(st.booleans()) else ()
    return Reply(text=text, cards=cards, links=tuple(draw(st.lists(links, min_size=1, max_size=6))))


# --- bounded work ------------------------------------------------------------------------------------

MEGABYTE = 1_000_000
HOSTILE_SHAPES = {
    "one word": "a" * MEGABYTE,
    "at signs": "@" * MEGABYTE,
    "foreign links": "https://evil.example/x " * (MEGABYTE // 23),
    "markup": "[a](b)<@1>*" * (MEGABYTE // 11),
    "controls": "\u202e\x1b[" * (MEGABYTE // 3),
    "astral math": "𝔼" * (MEGABYTE // 2),
}


def render_everything(text: str) -> list[str]:
    """Every renderer's final payloads for one hostile ``text`` put in every field of a card, a digest, an
    explanation and a reply."""
    paper = Paper(
        id="2403.00001", version=1, title=text, authors=(text,), categories=("stat.ML", text),
        primary_category="stat.ML", abstract=text,
    )  # fmt: skip
    card = make_card(paper, math_line=text)
    explanation = Explanation(source="anthropic", text=text, sections=(ExplanationSection(text, text),), note=text)
    digest = DigestMessage(categories=("stat",), announced=None, cards=(card,), more_count=1, more_links=())
    own = (Link(text, OWN_URLS[3]), Link("Eq. (1)", OWN_URLS[2]))  # an answer's links, one with a hostile label
    reply = Reply(text=text, cards=(card,), explanation=explanation, abstract=text, is_error=True, links=own)
    quiet = DigestMessage(categories=("stat",), announced=None, cards=(), note=text)
    # The other layouts draw the same bounded cards: their budget is checked on its own (test_slack_layouts).
    return [text for _, text in payloads(digest, reply, text, explanation, other_layouts=False)] + [
        text
        for _, text in payloads(quiet, Reply(text=text), text, Explanation(source="x", text=text), other_layouts=False)
    ]
