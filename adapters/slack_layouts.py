"""A digest laid out for Slack as its channel chose (``/paper layout``, bot.cards.Layout): pure, no I/O.

- ``cards``: a header message, then one message per card (``adapters.slack_blocks.render_digest``).
- ``compact``: the header and every card in one message, each card with an actions row (Explain, 👍, 👎:
  the buttons stand in for reactions, which could not tell the cards of one message apart). Split into
  several messages only at Slack's limits (``MAX_BLOCKS`` blocks, ``MAX_MESSAGE_CHARS`` characters: Slack
  refuses about 13k characters of blocks even when each block is within its own limit), never inside a card.
- ``thread``: the header in the channel, each card a message in the header's thread. A digest that opens
  with the day's briefing (``DigestMessage.opening``) has it in the header message, drawn as the briefing
  note is (one section, escaped); the cards layout draws it in its header too, compact never gets one.

Each part says what the adapter records about it (bot.posted_messages): a compact message or a thread
layout's header is a ``DIGEST`` holding every paper of the digest in order, so that "#3" in its thread is
the third card whichever part shows it; a card is a ``CARD`` of its paper. A digest without cards and a
note are drawn as in the cards layout.

Safety: the cards are drawn by ``slack_blocks.card_blocks`` (every untrusted string escaped there); the
buttons carry the paper id as their ``value`` (never shown) and our own labels, the number in their
accessibility label is the card's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, PlainTextObject

from adapters.slack_blocks import (
    _GLUE_RESERVE,  # the room the note's section keeps for joiners, kept by the opening's alike
    EXPLAIN_ACTION_ID,
    FALLBACK_MAX,
    SECTION_MAX,
    SlackMessage,
    _context,  # the one way this adapter draws a context line
    _digest_header,  # the header message, as the cards layout draws it
    _pack,  # the one packing of whole units into messages within Slack's limits
    _section,  # the one way this adapter draws a section of untrusted text
    card_blocks,
    card_message,
    clip,
    render_digest,
)
from bot.cards import Card, DigestMessage, Layout
from bot.posted_messages import MessageKind

__all__ = ["DISLIKE_ACTION_ID", "LIKE_ACTION_ID", "VOTE_ACTION_IDS", "DigestPart", "compact_card_blocks", "lay_out"]

LIKE_ACTION_ID = "paper_like"
DISLIKE_ACTION_ID = "paper_dislike"
VOTE_ACTION_IDS = (LIKE_ACTION_ID, DISLIKE_ACTION_ID)
_VALUE_MAX = 100  # a paper id longer than this is not one: no button for it (Slack takes 2,000)


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a laid-out digest and what the adapter records about it. ``in_thread``: posted in the
    thread of the digest's first message (the thread layout's cards)."""

    message: SlackMessage
    kind: MessageKind
    papers: tuple[str, ...] = ()  # a DIGEST message's papers, every one of the digest, in order
    in_thread: bool = False


def lay_out(digest: DigestMessage) -> list[DigestPart]:
    """The digest's messages in posting order, for its layout. Drawn once per distinct digest (a fan-out
    gives many channels the same one): the block dicts are shared, treat them as read-only."""
    return list(_lay_out(digest))


@lru_cache(maxsize=64)
def _lay_out(digest: DigestMessage) -> tuple[DigestPart, ...]:
    if digest.is_note:
        kind = MessageKind.BRIEFING if digest.briefing else MessageKind.NOTE
        return tuple(DigestPart(message, kind) for message in render_digest(digest))
    if digest.layout == Layout.COMPACT and digest.cards:
        return tuple(DigestPart(m, MessageKind.DIGEST, digest.paper_ids) for m in _compact(digest))
    if digest.layout == Layout.THREAD and digest.cards:
        header = _thread_header(digest)
        cards = (DigestPart(card_message(card), MessageKind.CARD, in_thread=True) for card in digest.cards)
        return (DigestPart(header, MessageKind.DIGEST, digest.paper_ids), *cards)
    messages = render_digest(digest)
    if digest.opening and digest.cards:
        messages[0] = _opened(messages[0], digest.opening)
    return tuple(DigestPart(m, MessageKind.CARD if m.paper_id else MessageKind.HEADER) for m in messages)


def _opened(header: SlackMessage, opening: str) -> SlackMessage:
    """The header message with the day's briefing under its first two blocks (the title and the counts),
    as one section drawn as the briefing note is: escaped, clipped to a section. A few blocks and at most
    two sections of text in all: far within Slack's limits whatever the text."""
    briefing = _section(clip(opening, SECTION_MAX - _GLUE_RESERVE))
    return SlackMessage(header.text, (*header.blocks[:2], briefing, *header.blocks[2:]), header.paper_id)


# --- compact ---------------------------------------------------------------------------------------


def _compact(digest: DigestMessage) -> list[SlackMessage]:
    header = _digest_header(digest)
    units = [compact_card_blocks(card) for card in digest.cards]
    # Raw text: _pack escapes what it draws. The notification names the digest and its first papers.
    count = len(digest.cards)
    titles = "; ".join(" ".join(card.title.split()) for card in digest.cards[:3])
    fallback = f"{digest.header}: {count} paper{'s' if count != 1 else ''}. {titles}"
    return _pack(units, list(header.blocks), f"{' '.join(digest.header.split())[:80]} …", fallback)


def compact_card_blocks(card: Card) -> list[dict[str, Any]]:
    """A card as the cards layout draws it, its Explain button moved into an actions row with 👍 and 👎."""
    blocks = card_blocks(card, explain=False)
    if len(card.paper_id) > _VALUE_MAX:
        return blocks
    which = f"#{card.number}" if card.number > 0 else "this paper"
    buttons = [
        ButtonElement(
            text=PlainTextObject(text="Explain", emoji=False),
            action_id=EXPLAIN_ACTION_ID,
            value=card.paper_id,
            accessibility_label=f"Explain {which}",
        ),
        ButtonElement(
            text=PlainTextObject(text="👍", emoji=True),
            action_id=LIKE_ACTION_ID,
            value=card.paper_id,
            accessibility_label=f"More papers like {which}",
        ),
        ButtonElement(
            text=PlainTextObject(text="👎", emoji=True),
            action_id=DISLIKE_ACTION_ID,
            value=card.paper_id,
            accessibility_label=f"Fewer papers like {which}",
        ),
    ]
    return [*blocks, ActionsBlock(elements=buttons).to_dict()]  # to_dict() checks Slack's limits


# --- thread ----------------------------------------------------------------------------------------

THREAD_NOTE = (
    "The cards are in this message's thread: react to one there, or mention me there naming its number "
    "(“what does #2 assume?”)."
)


def _thread_header(digest: DigestMessage) -> SlackMessage:
    header = _digest_header(digest)
    if digest.opening:
        header = _opened(header, digest.opening)
    return SlackMessage(header.text, (*header.blocks, _context(clip(THREAD_NOTE, FALLBACK_MAX))))
