"""Drawing paperbot's neutral cards, digests and replies as Discord messages. Pure: no I/O.

Every string that came from a paper or an LLM is untrusted. ``escape`` makes it literal text: unsafe
characters are stripped and mass mentions and links to hosts other than arXiv's are broken with a joiner
(``bot.untrusted``); markdown is backslash-escaped, every bracket included, so no ``[label](url)`` can
become a disguised link whatever surrounds it; anything that could mention someone (``@everyone1``,
``<@123>``, ``<@&456>``, ``<@!1>``, ``<#1>``, ``</cmd:1>``, ``<t:…>``) gets a zero-width space that
breaks the syntax without changing what people read. Only a bare arxiv.org/doi.org URL made of plain
URL characters (no brackets, parentheses or backslashes: it cannot hold a masked link) is passed through
unescaped, so that it stays a working link. The client also sends ``AllowedMentions.none()``; escaping is
the second lock, and it keeps the raw mention syntax from even *rendering* as a pill. Links we build
ourselves go into the embed ``url`` and masked links in fields, never next to untrusted text: a card's
pages (to the hosts the sources link to) and an explanation's equation anchors and glossary entries (any
host: the bot chose the URL), each URL from ``bot.own_links`` (http(s), plain host, brackets, parentheses
and blanks percent-encoded, so nothing can end the link early), each label escaped text that never reads
as an address other than the link's own.

Discord's limits (title 256, description 4,096, ≤ 25 fields, field name 256 / value 1,024, footer
2,048, ≤ 10 embeds and ≤ 6,000 characters per message, content 2,000) are met by construction: text
is cut at a word boundary (mid-word only when one "word" alone is longer than the limit) and a digest
or a long explanation is split across messages. Lengths are measured in UTF-16 code units, which is
never less than ``len()``: math like 𝒪 or 𝔼 is one code point but two units, and a budget that holds
under both counts holds whichever Discord uses.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import discord

from bot.cards import Card, DigestMessage, Explanation, Link, Reply, with_own_links
from bot.own_links import LABEL_MAX, card_url, drawn_links, masked_link_url
from bot.untrusted import bounded, defang, is_allowed_link, strip_unsafe_chars

__all__ = [
    "CONTENT_LIMIT",
    "DESCRIPTION_LIMIT",
    "EMBEDS_PER_MESSAGE",
    "FIELDS_PER_EMBED",
    "FIELD_NAME_LIMIT",
    "FIELD_VALUE_LIMIT",
    "FOOTER_LIMIT",
    "MESSAGE_EMBED_TOTAL",
    "SOURCE_COLOURS",
    "TITLE_LIMIT",
    "DiscordMessage",
    "PaperButton",
    "digest_heading",
    "embed_units",
    "escape",
    "escape_plain",
    "message_nonce",
    "more_embed",
    "more_line",
    "opening_embeds",
    "render_card",
    "render_digest",
    "render_reply",
    "units",
]

# Discord's documented limits.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_PER_EMBED = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBEDS_PER_MESSAGE = 10
MESSAGE_EMBED_TOTAL = 6000
CONTENT_LIMIT = 2000

# Our own budgets inside those limits, so that one paper's embed stays a readable card.
_AUTHORS_BUDGET = 500
_TEASER_BUDGET = 1500
_MATH_LINE_BUDGET = 600
_WHY_BUDGET = 300

SOURCE_COLOURS = {
    "arxiv": 0xB31B1B,  # arXiv's red
    "huggingface": 0xFFD21E,  # Hugging Face yellow
    "biorxiv": 0xBC2635,
    "medrxiv": 0x0E4C92,
}
_NEUTRAL_COLOUR = 0x5865F2
_EXPLANATION_COLOUR = 0x2E8B57

# --- escaping ------------------------------------------------------------------------------------

# A bare URL that stays intact, as a backslash inside one would break the link: only characters that
# cannot form markdown links ("[", "]", "(", ")", "<", ">", "|", "\\" and blanks are not among them), and
# only once defang() has left "://" nowhere but in links to allowed hosts. Trailing punctuation is text.
_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]*[A-Za-z0-9_~/#=%-]", re.I)
_INLINE_MARKUP = re.compile(r"[\\*_~|`\[\]]")  # emphasis, code, spoilers, masked-link brackets, escapes
_LINE_START = re.compile(r"^([ \t]*)(#|>|-|\+|(?P<num>\d+)\.)", re.M)  # headings, quotes, lists, subtext
# <@user> <@!user> <@&role> <#channel> </command:id> <:emoji:id> <a:emoji:id> <t:unix> <id:customize>
_ANGLE_MARKUP = re.compile(r"<(?=[@#:/!&]|[A-Za-z][A-Za-z0-9+.-]*:)")
_AT_MENTION = re.compile(r"@(?=[!&]?\d)")  # mass mentions are defanged before, whatever follows them
_ZWSP = "\u200b"


def _neutralise_mentions(text: str) -> str:
    text = _ANGLE_MARKUP.sub("<" + _ZWSP, text)
    return _AT_MENTION.sub("@" + _ZWSP, text)


def _escape_markup(text: str) -> str:
    text = _INLINE_MARKUP.sub(lambda m: "\\" + m.group(0), text)

    def line_start(m: re.Match[str]) -> str:
        if m.group("num") is not None:
            return f"{m.group(1)}{m.group('num')}\\."  # "\1." would show the backslash: escape the dot
        return f"{m.group(1)}\\{m.group(2)}"

    return _LINE_START.sub(line_start, text)


def escape(text: str) -> str:
    """Untrusted text as literal Discord markdown: no formatting, no masked links, no mentions."""
    text = defang(strip_unsafe_chars(bounded(text)), _ZWSP)
    parts: list[str] = []
    last = 0
    for url in _URL.finditer(text):
        if not is_allowed_link(url.group(0)):  # defang() leaves none; kept as a guard of the one exception
            continue
        parts.append(_escape_markup(text[last : url.start()]))
        parts.append(url.group(0))
        last = url.end()
    parts.append(_escape_markup(text[last:]))
    return _neutralise_mentions("".join(parts))


def escape_plain(text: str) -> str:
    """For places Discord shows without markdown (footers): stripped, defanged and mentions neutralised,
    but no backslashes, since one there would be shown as it is."""
    return _neutralise_mentions(defang(strip_unsafe_chars(bounded(text)), _ZWSP))


# --- measuring and cutting -----------------------------------------------------------------------


def units(text: str) -> int:
    """Length in UTF-16 code units: ≥ len(text), equal for text without astral characters."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2  # C speed: measured many times per message


def embed_units(embed: discord.Embed) -> int:
    """What counts towards the 6,000 per message: like ``len(embed)``, in UTF-16 units."""
    total = units(embed.title or "") + units(embed.description or "")
    for field in embed.fields:
        total += units(field.name or "") + units(field.value or "")
    total += units(embed.footer.text or "") + units(embed.author.name or "")
    return total


def _cut(text: str, budget: int) -> str:
    """``text`` shortened to at most ``budget`` units with "…", at a word boundary when there is one."""
    if units(text) <= budget:
        return text
    if budget <= 1:
        return "…"[:budget]
    cut = text[: budget - 1]
    while (over := units(cut) - (budget - 1)) > 0:
        cut = cut[: len(cut) - (over + 1) // 2]  # each character is one or two units: halves the excess at least
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space > 0 and text[len(cut) : len(cut) + 1] not in ("", " ", "\n", "\t"):
        cut = cut[:space]  # the cut fell inside a word: go back to the last whole word
    return cut.rstrip(" \n\t,;:") + "…"


def _fit(text: str, limit: int, *, plain: bool = False) -> str:
    """Escaped ``text`` within ``limit`` units. Cuts the raw text, then escapes, so an escape sequence
    is never cut in half; escaping adds characters, so search for the longest cut that still fits."""
    esc = escape_plain if plain else escape
    text = bounded(text)  # the search below measures the text a dozen times: keep that cheap
    out = esc(text)
    if units(out) <= limit:
        return out
    low, high = 1, limit  # the largest raw budget whose escaped cut fits; a budget of 1 ("…") always does
    while low < high:
        mid = (low + high + 1) // 2
        if units(esc(_cut(text, mid))) <= limit:
            low = mid
        else:
            high = mid - 1
    return esc(_cut(text, low))


_TOKENS = re.compile(r"\s+|\S+")
_LINE_START_SLACK = 2  # what escaping may add at the start of a line ("1." -> "1\\.", a ZWSP)


def _escaped_units(token: str) -> int:
    return units(escape(token))


def _split_token(token: str, limit: int) -> list[str]:
    """A single "word" longer than ``limit`` once escaped (a URL, a run of symbols), cut into raw
    slices that each fit: the one place a word is ever cut."""
    slices: list[str] = []
    while token:
        low, high = 1, len(token)
        while low < high:  # the longest prefix whose escaped form fits
            mid = (low + high + 1) // 2
            if _escaped_units(token[:mid]) <= limit:
                low = mid
            else:
                high = mid - 1
        slices.append(token[:low])
        token = token[low:]
    return slices


def _chunks(text: str, limit: int) -> list[str]:
    """Escaped ``text`` split into pieces of at most ``limit`` units, at whitespace."""
    text = bounded(text)  # escaped word by word below: a megabyte would take seconds and fill dozens of messages
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    budget = limit - _LINE_START_SLACK
    for token in _TOKENS.findall(text.strip()):
        if token.isspace():
            current.append(token)
            size += units(token)
            continue
        parts = [token] if _escaped_units(token) <= budget else _split_token(token, budget)
        for part in parts:
            cost = _escaped_units(part)
            if current and size + cost > budget:
                pieces.append("".join(current))
                current, size = [], 0
            current.append(part)
            size += cost
    if current:
        pieces.append("".join(current))
    # Escaping token by token never undercounts the whole (line-start escapes only happen at token
    # starts); _fit is the guarantee should that ever change.
    return [_fit(piece.strip(), limit) for piece in pieces if piece.strip()]


# --- messages --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperButton:
    """A 👍/👎 button under a compact digest (``adapters.discord_layouts``): its label holds no paper text."""

    label: str
    custom_id: str
    row: int


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message to send: optional content and up to ten embeds, within every Discord limit.
    ``paper_id``: the one paper the message shows (a digest's card, an explanation's parts), so that a
    reaction or a reply to it can be traced back to that paper; None for a message about no single paper.
    The other layouts (``adapters.discord_layouts``) add: ``papers``, the digest's papers in order when the
    message shows several (recorded so "#3" finds its card); ``buttons``; ``thread_name``, a thread to
    start from this message; ``in_thread``, the message goes in the thread started before it."""

    content: str | None = None
    embeds: tuple[discord.Embed, ...] = ()
    paper_id: str | None = None
    papers: tuple[str, ...] = ()
    buttons: tuple[PaperButton, ...] = ()
    thread_name: str | None = None
    in_thread: bool = False

    @property
    def embed_units(self) -> int:
        return sum(embed_units(e) for e in self.embeds)


def _pack(items: Iterable[str | discord.Embed]) -> list[DiscordMessage]:
    """Group content pieces and embeds into messages. Content starts a new message unless the current
    one is still empty; embeds join the current message while it has room."""
    messages: list[DiscordMessage] = []
    content: str | None = None
    embeds: list[discord.Embed] = []
    size = 0

    def flush() -> None:
        nonlocal content, embeds, size
        if content is not None or embeds:
            messages.append(DiscordMessage(content=content, embeds=tuple(embeds)))
        content, embeds, size = None, [], 0

    for item in items:
        if isinstance(item, str):
            flush()
            content = item
            continue
        cost = embed_units(item)
        if len(embeds) >= EMBEDS_PER_MESSAGE or size + cost > MESSAGE_EMBED_TOTAL:
            flush()
        embeds.append(item)
        size += cost
    flush()
    return messages


def message_nonce(*parts: object) -> str:
    """A stable nonce (≤ 25 characters) from what identifies a message: a resend is recognised, not posted twice."""
    key = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()  # 24 hex characters


# --- cards -------------------------------------------------------------------------------------------


def _colour(source: str) -> discord.Colour:
    return discord.Colour(SOURCE_COLOURS.get(source, _NEUTRAL_COLOUR))


def _links_values(links: Sequence[Link], *, trusted: bool, separator: str = " · ", preview: bool = True) -> list[str]:
    """Masked links ``[label](url)`` (``bot.own_links.drawn_links``) packed into values of at most 1,024 units, a
    link too long for one left out, never cut; not ``preview``: ``[label](<url>)``, shown in content unpreviewed."""
    values: list[str] = []
    current = ""
    for label, url in drawn_links(links, trusted=trusted):
        target = masked_link_url(url) if preview else f"<{masked_link_url(url)}>"
        part = f"[{_fit(label, LABEL_MAX)}]({target})"
        if units(part) > FIELD_VALUE_LIMIT:
            continue
        if current and units(current + separator + part) > FIELD_VALUE_LIMIT:
            values.append(current)
            current = ""
        current = current + separator + part if current else part
    return [*values, current] if current else values


def _embed_url(url: str) -> str | None:
    drawn = card_url(url)
    return masked_link_url(drawn) if drawn is not None else None


def _links_value(links: Sequence[Link], *, preview: bool = True) -> str:
    """A card's (or a digest's "more") links in one field value: what does not fit is left out."""
    values = _links_values(links, trusted=False, preview=preview)
    return values[0] if values else ""


def render_card(card: Card, index: int | None = None) -> discord.Embed:
    """One paper as an embed: linked title, authors, teaser, math line, the radar's why, categories, links, id."""
    prefix = f"{index}. " if index is not None else ""
    title = prefix + _fit(card.title or "(untitled)", TITLE_LIMIT - units(prefix))
    lines = [_fit(card.authors, _AUTHORS_BUDGET)] if card.authors else []
    if card.teaser:
        lines.append(_fit(card.teaser, _TEASER_BUDGET))
    if card.math_line:
        lines.append("∑ " + _fit(card.math_line, _MATH_LINE_BUDGET))
    if card.why:  # the radar's reason, words a member typed among them: escaped like any other text
        lines.append("★ " + _fit(" ".join(card.why.split()), _WHY_BUDGET))
    embed = discord.Embed(
        title=title,
        url=_embed_url(card.url),
        description="\n\n".join(lines) or None,
        colour=_colour(card.source),
    )
    if card.categories:
        ordered = [card.primary_category] + [c for c in card.categories if c != card.primary_category]
        shown = [c for c in ordered if c]
        embed.add_field(name="Categories", value=_fit(", ".join(shown), FIELD_VALUE_LIMIT), inline=True)
    links = _links_value(card.links)
    if links:
        embed.add_field(name="Links", value=links, inline=True)
    footer = f"{card.paper_id}v{card.version}" if card.version else card.paper_id
    if card.badge:
        footer += f" · {card.badge}"
    if card.stats:
        footer += f" · {card.stats}"
    embed.set_footer(text=_fit(footer, FOOTER_LIMIT, plain=True))
    return embed


# --- digests -----------------------------------------------------------------------------------------


def digest_heading(digest: DigestMessage) -> str:
    """A digest's first line, in bold: what it is, its feeds and its day."""
    return defang("**" + _fit(digest.header, CONTENT_LIMIT - 200) + "**", _ZWSP)  # "**" glued to a URL: see _fit


def more_line(count: int, listings: Sequence[Link], *, content: bool = False) -> str:
    """The "… and N more in this announcement at <listings>" line, for an embed or a message's ``content``."""
    links, text = _links_value(listings, preview=not content), f"… and {count:,} more"
    return f"{text} in this announcement at {links}" if links else text + " in this announcement."


def more_embed(digest: DigestMessage) -> discord.Embed:
    return discord.Embed(description=more_line(digest.more_count, digest.more_links), colour=_NEUTRAL_COLOUR)


def opening_embeds(digest: DigestMessage) -> tuple[discord.Embed, ...]:
    """The day's briefing in a digest's header (``DigestMessage.opening``): one embed, escaped as notes are."""
    shown = digest.opening if digest.cards else ""  # drawn only when there is one: a fan-out draws many headers
    return (discord.Embed(description=_fit(shown, DESCRIPTION_LIMIT), colour=_NEUTRAL_COLOUR),) if shown else ()


def _counts_line(count: int) -> str:
    papers = f"{count:,} paper{'' if count == 1 else 's'}"
    return (
        f"{papers} below, one per message. React 👍 or 👎 to a paper to teach this channel's radar, "
        "or reply to it to ask about it."
    )


def render_digest(digest: DigestMessage) -> list[DiscordMessage]:
    """A channel's digest: a header message (the header, the count, and "… and N more" with its links),
    then one message per paper with its card, so that a reaction or a reply is about exactly one paper.
    Each card message names its paper (``paper_id``); the header and a note name none."""
    if digest.is_note:  # no announcement today, or an admin report: plain lines, escaped
        return _pack(_chunks(digest.note, CONTENT_LIMIT - 100))
    header = digest_heading(digest)
    if digest.cards:
        header += "\n" + _counts_line(len(digest.cards))
    else:
        header += "\n" + digest.empty_line
    more = (*opening_embeds(digest), *((more_embed(digest),) if digest.more_count else ()))
    messages = [DiscordMessage(content=header, embeds=more)]
    messages += [
        DiscordMessage(embeds=(render_card(card, i),), paper_id=card.paper_id)
        for i, card in enumerate(digest.cards, start=1)
    ]
    return messages


# --- replies -----------------------------------------------------------------------------------------


def _abstract_embeds(abstract: str, colour: discord.Colour) -> list[discord.Embed]:
    pieces = _chunks(abstract, DESCRIPTION_LIMIT)
    return [
        discord.Embed(title="Abstract" if i == 0 else "Abstract (continued)", description=piece, colour=colour)
        for i, piece in enumerate(pieces)
    ]


def _explanation_embeds(explanation: Explanation) -> list[discord.Embed]:
    """The note and the explanation's text as descriptions, each section as one or more fields; a new
    embed whenever 25 fields or the per-embed total would be exceeded."""
    title = "The math, explained"
    colour = discord.Colour(_EXPLANATION_COLOUR)
    footer = f"Explanation: {explanation.source}" + (" · cached" if explanation.cached else "")
    footer = _fit(footer, FOOTER_LIMIT, plain=True)
    # Room for the footer and a continuation title in every embed, so any embed can be the last one.
    room = MESSAGE_EMBED_TOTAL - units(footer) - TITLE_LIMIT

    descriptions: list[str] = []
    if explanation.note:
        descriptions += ["ⓘ " + piece for piece in _chunks(explanation.note, DESCRIPTION_LIMIT - 2)]
    if not explanation.sections and explanation.text:
        descriptions += _chunks(explanation.text, DESCRIPTION_LIMIT)
    embeds = [discord.Embed(description=d, colour=colour) for d in descriptions]

    for section in with_own_links(explanation).sections:
        name = _fit(section.title or "…", FIELD_NAME_LIMIT - 12)
        texts = _chunks(section.text, FIELD_VALUE_LIMIT)
        links = _links_values(section.links, trusted=True, separator="\n")
        values = [*texts, *links] or ["…"]
        for i, value in enumerate(values):
            field_name = name if i == 0 else f"{name} (cont.)" if i < len(texts) else f"{name} (links)"
            cost = units(field_name) + units(value)
            last = embeds[-1] if embeds else None
            if last is None or len(last.fields) >= FIELDS_PER_EMBED or embed_units(last) + cost > room:
                last = discord.Embed(colour=colour)
                embeds.append(last)
            last.add_field(name=field_name, value=value, inline=False)

    if not embeds:
        return []
    for i, embed in enumerate(embeds):
        embed.title = title if i == 0 else f"{title} (continued)"
    embeds[-1].set_footer(text=footer)
    return embeds


def _links_embeds(links: Sequence[Link]) -> list[discord.Embed]:
    """The bot's own links of a reply's text, as its explanation sections' are: masked links, one a line,
    in embeds (content is the untrusted text's, escaped whole)."""
    values = _links_values(links, trusted=True, separator="\n")
    return [discord.Embed(description=value, colour=_NEUTRAL_COLOUR) for value in values]


def render_reply(reply: Reply) -> list[DiscordMessage]:
    """A command's answer: its text as content, then cards, the abstract, the explanation, a digest."""
    items: list[str | discord.Embed] = list(_chunks(reply.text, CONTENT_LIMIT)) if reply.text else []
    items += _links_embeds(reply.links)  # the answer's own links, with its (last) text
    items += [render_card(card) for card in reply.cards]
    colour = _colour(reply.cards[0].source) if reply.cards else discord.Colour(_NEUTRAL_COLOUR)
    if reply.abstract:
        items += _abstract_embeds(reply.abstract, colour)
    if reply.explanation is not None:
        items += _explanation_embeds(reply.explanation)
    messages = _pack(items)
    if len(reply.cards) == 1:  # an explanation or a single paper: every part of it is about that paper
        messages = [replace(m, paper_id=reply.cards[0].paper_id) for m in messages]
    if reply.digest is not None:
        messages += render_digest(reply.digest)
    if not messages:
        messages = [DiscordMessage(content="Done.")]
    return messages
