"""Block Kit drawing of the neutral cards and replies: pure functions, no I/O.

Blocks are built with ``slack_sdk.models.blocks`` and turned into dicts with ``to_dict()``, which runs the
SDK's validators (header ≤ 150, section ≤ 3,000, context ≤ 10 elements...), so a limit we get wrong fails
here and in the tests, not in a channel at 3 a.m. On top of those per-block limits Slack refuses a message
whose blocks add up to about 13k characters (``msg_blocks_too_long``): long replies are split into several
messages of at most ``MAX_BLOCKS`` blocks and ``MAX_MESSAGE_CHARS`` characters.

A digest is a header message (header, counts, "… and N more") followed by one message per card, so that a
reaction or a thread under a message is about exactly one paper; each ``SlackMessage`` says which paper it
shows (``paper_id``), which is what the adapter records about it.

Safety: paper and LLM text is untrusted. Every such string, the notification ``text`` included, goes
through :func:`escape`: unsafe characters are stripped, mass mentions and links to other hosts are broken
with a joiner (``bot.untrusted``), then ``&``, ``<``, ``>`` are escaped, which makes ``<!channel>``,
``<@U…>``, ``<#C…>`` and disguised ``<url|text>`` links inert. Text is cut only after that preparation, and
a cut piece is defanged again (a cut can turn ``https://arxiv.org/…`` into a link to ``arx…``). The only
``<url|text>`` sequences in the output are the bot's own links, built by :func:`link` (a card's pages, to
the hosts the sources link to) and :func:`own_link` (an explanation's equation anchors and glossary entries,
from the bot's configuration and glossary): their URLs come from ``bot.own_links`` (http(s), plain host,
every character that could end the link percent-encoded, ``&`` escaped), their labels are escaped text with
no ``|`` and never an address other than the target's. Blocks holding such links are not defanged again:
that would put a joiner into a link to a host the sources do not list (a glossary page).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.cards import Card, DigestMessage, Explanation, Link, Reply, with_own_links
from bot.own_links import LABEL_MAX, card_url, drawn_links, looks_like_address, own_url, shown_label
from bot.untrusted import bounded, defang, inert_text, strip_unsafe_chars

__all__ = [
    "EXPLAIN_ACTION_ID",
    "MAX_BLOCKS",
    "MAX_MESSAGE_CHARS",
    "SlackMessage",
    "blocks_size",
    "card_message",
    "clip",
    "escape",
    "link",
    "own_link",
    "render_digest",
    "render_reply",
    "render_text",
]

EXPLAIN_ACTION_ID = "paper_explain"
MAX_BLOCKS = 50
# Slack's msg_blocks_too_long starts at about 13k characters of blocks; stay well under it.
MAX_MESSAGE_CHARS = 11_000
HEADER_MAX = 150
SECTION_MAX = 3_000
FALLBACK_MAX = 400  # the notification text: a summary, not the message

# Per-field bounds inside a card (escaped characters): a hostile 10k-character title or author string
# still leaves a card far below the section limit, and several cards per message.
_TITLE_MAX = 300
_AUTHORS_MAX = 300
_TEASER_MAX = 700
_MATH_MAX = 400
_WHY_MAX = 300
_CATEGORIES_SHOWN = 6
_MORE_LINKS_SHOWN = 10

_ELLIPSIS = "…"
_CONTINUED_RESERVE = 300
_JOINERS = "\u2060\u200b"  # what bot.untrusted inserts to break a mention or a link
_GLUE_RESERVE = 2  # room for the joiners _mrkdwn may add where markup is glued to untrusted text


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage / respond() payload: a notification fallback and validated block dicts, and the
    paper it is about (a card, an explanation), or None (a digest's header, a note, a list of results)."""

    text: str
    blocks: tuple[dict[str, Any], ...]
    paper_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}

    @property
    def size(self) -> int:
        return blocks_size(self.blocks)


# --- text ------------------------------------------------------------------------------------------


def _prepare(raw: str) -> str:
    """Untrusted text made inert except for Slack's own markup: what every length below is measured on.
    Bounded first, so that a megabyte of it costs milliseconds and a few messages."""
    return defang(strip_unsafe_chars(bounded(raw)))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(text: str) -> str:
    """The one escaping function for untrusted text in mrkdwn and message ``text`` fields."""
    return _html(_prepare(text))


def _escaped_len(text: str) -> int:
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(raw: str, limit: int) -> tuple[str, str]:
    """Split raw text into a head whose escaped form fits ``limit`` and the rest, at a word boundary.

    The cut is made on the raw text, so an escape sequence is never split. A single word longer than the
    limit (a URL, hostile input) is the only case cut mid-word.
    """
    used = 0
    end = 0
    for i, ch in enumerate(raw):
        used += _escaped_len(ch)
        if used > limit:
            break
        end = i + 1
    else:
        return raw, ""
    if end > 1 and raw[end] in _JOINERS:
        end -= 1  # a joiner stays with the character it neutralises: alone it would be a stray invisible
    head = raw[:end]
    if not raw[end].isspace():
        blank = max(head.rfind(" "), head.rfind("\n"))
        if blank > 0:
            head = head[:blank]
    rest = raw[len(head) :]
    return head.rstrip(), rest.lstrip()


def clip(raw: str, limit: int) -> str:
    """``raw`` escaped, shortened at a word boundary with "…" so that the result has ≤ ``limit`` chars."""
    text = _prepare(raw)
    if _escaped_len(text) <= limit:
        return _html(text)
    # One character spare: a URL cut short may need a joiner of its own.
    head, _ = _cut(text, limit - len(_ELLIPSIS) - 1)
    return _html(defang(head.rstrip(" ,;:–—-(") + _ELLIPSIS))


def _pieces(raw: str, limit: int) -> list[str]:
    """Escaped text split into pieces of ≤ ``limit`` chars at line, then word boundaries. Nothing is lost
    up to the bound on one untrusted field (``MAX_UNTRUSTED_CHARS``, ten arXiv abstracts): this is for the
    full abstract and explanations, which are shown whole across several blocks."""
    pieces: list[str] = []
    current = ""
    for line in _prepare(raw).split("\n"):
        while _escaped_len(line) > limit:
            head, line = _cut(line, limit - 1)  # one spare: a URL cut in two may need a joiner
            if current:
                pieces.append(current)
                current = ""
            pieces.append(_html(defang(head)))
        escaped = _html(line)
        if current and len(current) + 1 + len(escaped) > limit:
            pieces.append(current)
            current = escaped
        else:
            current = f"{current}\n{escaped}" if current else escaped
    if current.strip():
        pieces.append(current)
    return pieces


def _link_text(url: str, label: str) -> str:
    """``<url|label>`` for a URL from bot.own_links: ``&`` escaped as Slack asks, the label (already escaped)
    without "|", which would end it; "∣" reads the same in |x|."""
    return f"<{url.replace('&', '&amp;')}|{label.replace('|', '∣')}>"


def link(url: str, label: str) -> str:
    """``<url|label>`` for a card's link (a host a source links to: ``bot.own_links.card_url``); anything
    else becomes the (escaped) label alone. ``label`` must already be escaped."""
    drawn = card_url(url)
    return label if drawn is None else _link_text(drawn, label)


def own_link(url: str, label: str) -> str:
    """``<url|label>`` for one of the bot's own links (an equation's anchor, a glossary entry): any host,
    since the bot chose the URL, but only a URL ``bot.own_links.own_url`` accepts; ``label`` is raw."""
    drawn = own_url(url)
    if drawn is None:
        return clip(label, LABEL_MAX)
    return _link_text(drawn, clip(shown_label(label, drawn), LABEL_MAX))


def _link_of(item: Link) -> str:
    drawn = card_url(item.url)
    if drawn is None:
        return escape(item.label)
    return _link_text(drawn, clip(shown_label(item.label, drawn), LABEL_MAX))


# --- blocks ----------------------------------------------------------------------------------------


def _dict(block: Block) -> dict[str, Any]:
    return block.to_dict()  # validates the block against Slack's limits


def _mrkdwn(text: str) -> MarkdownTextObject:
    # Defanged once more as composed: markup glued to escaped text ("*" after a title ending in
    # "https://arxiv.org") would make that URL's host "arxiv.org*". Adds at most a joiner or two.
    return MarkdownTextObject(text=defang(text), verbatim=True)  # verbatim: no auto-linking of #channel names


def _section(text: str, accessory: ButtonElement | None = None) -> dict[str, Any]:
    return _dict(SectionBlock(text=_mrkdwn(text), accessory=accessory))


def _links_sections(links: Sequence[Link], heading: str = "") -> list[dict[str, Any]]:
    """The bot's own links as sections of "↗ <url|label>" lines, not defanged again (see the module doc):
    each label is escaped and each URL checked, and the lines around them are our own text."""
    lines = [f"↗ {_link_text(url, clip(label, LABEL_MAX))}" for label, url in drawn_links(links)]
    blocks: list[dict[str, Any]] = []
    current = defang(heading)  # glued markup ("*" after a URL) judged as in _mrkdwn, before any link joins it
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_MAX:
            blocks.append(_dict(SectionBlock(text=MarkdownTextObject(text=current, verbatim=True))))
            current = ""
        current = f"{current}\n{line}" if current else line
    if current and (lines or not blocks):
        blocks.append(_dict(SectionBlock(text=MarkdownTextObject(text=current, verbatim=True))))
    return blocks if lines else []


def _context(*texts: str) -> dict[str, Any]:
    return _dict(ContextBlock(elements=[_mrkdwn(t) for t in texts if t]))


def blocks_size(blocks: Iterable[dict[str, Any]]) -> int:
    """Characters of the blocks as sent (JSON), the measure we keep under Slack's message limit."""
    return len(json.dumps(list(blocks), ensure_ascii=False))


def explain_button(paper_id: str) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text="Explain", emoji=False), action_id=EXPLAIN_ACTION_ID, value=paper_id)


def card_blocks(card: Card, *, explain: bool = True) -> list[dict[str, Any]]:
    """A card: the linked title, authors, teaser and math line, an Explain button, a context line with
    the id, categories and links, and one with the radar's why when there is one."""
    title = clip(_one_line(card.title), _TITLE_MAX)
    if not looks_like_address(card.title[: _TITLE_MAX * 4]):  # else the title would disguise its own link
        title = link(card.url, title)
    badge = f"  _{escape(card.badge)}_" if card.badge and card.badge != "new" else ""
    number = f"{card.number}. " if card.number > 0 else ""  # what the day's briefing cites as #n
    lines = [f"*{number}{title}*{badge}", clip(_one_line(card.authors), _AUTHORS_MAX)]
    if card.teaser:
        lines.append(clip(_one_line(card.teaser), _TEASER_MAX))
    if card.math_line:
        lines.append("∑ " + clip(_one_line(card.math_line), _MATH_MAX))
    button = explain_button(card.paper_id) if explain and len(card.paper_id) <= 100 else None
    shown = [escape(c) for c in card.categories[:_CATEGORIES_SHOWN]]
    if len(card.categories) > _CATEGORIES_SHOWN:
        shown.append(f"+{len(card.categories) - _CATEGORIES_SHOWN}")
    meta = [f"`{clip(card.paper_id, 60)}v{card.version}`", " ".join(shown), escape(card.stats)]
    meta += [_link_of(item) for item in card.links[:5]]
    blocks = [_section("\n".join(lines), button), _context(" · ".join(m for m in meta if m))]
    if card.why:  # the radar's reason, words a member typed among them: escaped like any other text
        blocks.append(_context("★ " + clip(_one_line(card.why), _WHY_MAX)))
    return blocks


def text_blocks(raw: str, *, title: str = "") -> list[dict[str, Any]]:
    """Untrusted text of any length as one or more sections, nothing cut."""
    heading = f"*{clip(_one_line(title), HEADER_MAX)}*\n" if title else ""
    pieces = _pieces(raw, SECTION_MAX - len(heading) - _GLUE_RESERVE)
    return [_section(heading + piece if i == 0 else piece) for i, piece in enumerate(pieces)]


# --- packing blocks into messages --------------------------------------------------------------


def _pack(
    units: Sequence[list[dict[str, Any]]],
    first: list[dict[str, Any]],
    continued: str,
    fallback: str,
) -> list[SlackMessage]:
    """Greedily fill messages with whole units (a card is never split across messages).

    ``first`` opens the first message; later ones open with a small "continued" context line.
    """
    groups: list[list[dict[str, Any]]] = [list(first)]
    for unit in units:
        current = groups[-1]
        opening = len(first) if len(groups) == 1 else 0
        # Later messages get a "continued" context line: keep a block and some characters free for it.
        spare_blocks, spare_chars = (0, 0) if len(groups) == 1 else (1, _CONTINUED_RESERVE)
        fits = (
            len(current) + len(unit) + spare_blocks <= MAX_BLOCKS
            and blocks_size(current + unit) + spare_chars <= MAX_MESSAGE_CHARS
        )
        if not fits and len(current) > opening:
            groups.append([])
            current = groups[-1]
        current.extend(unit)
    total = len(groups)
    messages: list[SlackMessage] = []
    for n, blocks in enumerate(groups, start=1):
        if n > 1:
            blocks.insert(0, _context(clip(f"{continued} (part {n} of {total})", _CONTINUED_RESERVE - 100)))
        text = fallback if n == 1 else f"{continued} (part {n} of {total})"
        messages.append(SlackMessage(text=clip(text, FALLBACK_MAX), blocks=tuple(blocks)))
    return messages


# --- digests ---------------------------------------------------------------------------------------


def render_digest(digest: DigestMessage) -> list[SlackMessage]:
    """A channel's digest: a header message (the header, the counts, "… and N more"), then one message
    per card, in order. A note (a quiet day, an admin report) is one message.

    Drawn once per distinct digest: a fan-out gives many channels the same one. The block dicts are
    shared between callers, so treat them as read-only."""
    return list(_render_digest(digest))


@lru_cache(maxsize=64)
def _render_digest(digest: DigestMessage) -> tuple[SlackMessage, ...]:
    if digest.is_note:  # no announcement today, or an admin report: escaped plain lines
        note = clip(digest.note, SECTION_MAX - _GLUE_RESERVE)
        return (SlackMessage(text=clip(_one_line(digest.note), FALLBACK_MAX), blocks=(_section(note),)),)
    return (_digest_header(digest), *(card_message(card) for card in digest.cards))


def _digest_header(digest: DigestMessage) -> SlackMessage:
    header = digest.header
    blocks = [_dict(HeaderBlock(text=PlainTextObject(text=_plain_clip(header, HEADER_MAX), emoji=False)))]
    count = len(digest.cards)
    summary = f"{count} paper{'s' if count != 1 else ''}"
    if digest.more_count:
        summary += f" shown of {count + digest.more_count:,}"
    blocks.append(_context(escape(summary)))
    if not digest.cards:
        blocks.append(_section(escape(digest.empty_line)))
    if digest.more_count:
        links = [_link_of(item) for item in digest.more_links[:_MORE_LINKS_SHOWN]]
        if len(digest.more_links) > _MORE_LINKS_SHOWN:
            links.append(_ELLIPSIS)
        more = f"{_ELLIPSIS} and {digest.more_count:,} more"
        blocks += [_dict(DividerBlock()), _section(more + (" at " + "  ".join(links) if links else "."))]
    titles = "; ".join(_one_line(card.title) for card in digest.cards[:3])
    fallback = f"{header}: {summary}" + (f". {titles}" if titles else "")
    return SlackMessage(text=clip(fallback, FALLBACK_MAX), blocks=tuple(blocks))


def card_message(card: Card) -> SlackMessage:
    """One card as a message of its own, with its Explain button; the notification names the paper.
    Every field of a card is bounded, so a card always fits one message."""
    return SlackMessage(
        text=clip(f"{_one_line(card.title)} ({card.paper_id})", FALLBACK_MAX),
        blocks=tuple(card_blocks(card)),
        paper_id=card.paper_id,
    )


def _plain_clip(raw: str, limit: int) -> str:
    """Word-boundary shortening for plain_text fields (shown literally: inert, but no escaping there)."""
    text = inert_text(bounded(raw))
    if len(text) <= limit:
        return text
    head = text[: limit - 2]  # one spare for the joiner a URL cut short may need
    blank = head.rfind(" ")
    return inert_text((head[:blank] if blank > 0 else head).rstrip(" ,·") + _ELLIPSIS)


# --- command replies -------------------------------------------------------------------------------


def explanation_blocks(explanation: Explanation) -> list[list[dict[str, Any]]]:
    """The note as a context line, then each section; as units so a long one may move to a new message."""
    units: list[list[dict[str, Any]]] = []
    if explanation.note:
        units.append([_context("ⓘ " + clip(explanation.note, SECTION_MAX - 2 - _GLUE_RESERVE))])
    for section in with_own_links(explanation).sections:
        drawn = text_blocks(section.text, title=section.title)
        units.extend([block] for block in drawn)
        heading = "" if drawn else f"*{clip(_one_line(section.title), HEADER_MAX)}*"  # links alone: name them
        units.extend([block] for block in _links_sections(section.links, heading))
    if not explanation.sections and explanation.text:
        units.extend([block] for block in text_blocks(explanation.text))
    source = f"Explanation: {escape(explanation.source)}" + (" (cached)" if explanation.cached else "")
    units.append([_context(source)])
    return units


def render_reply(reply: Reply) -> list[SlackMessage]:
    """A command's answer: its text, cards, the full abstract, the explanation (and a digest, if any)."""
    units: list[list[dict[str, Any]]] = []
    prefix = "⚠️ " if reply.is_error else ""
    if reply.text:
        units.extend([block] for block in text_blocks(prefix + reply.text))
    units.extend([block] for block in _links_sections(reply.links))  # the answer's own links, after its text
    for card in reply.cards:
        units.append(card_blocks(card, explain=reply.explanation is None))
    if reply.abstract:
        units.extend([block] for block in text_blocks(reply.abstract, title="Abstract"))
    if reply.explanation is not None:
        units.extend(explanation_blocks(reply.explanation))
    fallback = reply.text or (reply.cards[0].title if reply.cards else "")
    # A reply about one paper (an explanation, one result) says so on each of its messages.
    about = reply.cards[0].paper_id if len(reply.cards) == 1 else None
    messages: list[SlackMessage] = []
    if units:
        first, rest = units[0], units[1:]
        label = _one_line(fallback)[:80] or "paperbot"
        packed = _pack(rest, first, f"{label} {_ELLIPSIS}", prefix + fallback)
        messages = [SlackMessage(m.text, m.blocks, about) for m in packed]
    if reply.digest is not None:
        messages.extend(render_digest(reply.digest))
    if not messages:
        messages = render_text("Done.")
    return messages


def render_text(raw: str) -> list[SlackMessage]:
    """Plain untrusted text as messages (e.g. a progress note or an apology)."""
    blocks = text_blocks(raw) or [_section(_ELLIPSIS)]
    return _pack([[b] for b in blocks[1:]], blocks[:1], _ELLIPSIS, raw)
