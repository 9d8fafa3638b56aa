"""A channel's digest in its ``/paper layout`` on Discord (``bot.cards.Layout``). Pure: no I/O.

- ``cards`` (the default): a header message, then one message per paper (``discord_embeds.render_digest``).
- ``compact``: the header (and "… and N more" with its links) as the content of one message holding every
  card as an embed, split into more messages only at Discord's limits (2,000 characters of content, 10
  embeds and 6,000 characters of embed text per message): a digest of ten cards is one message. Under each
  message, a 👍 and a 👎 button per paper it shows, labelled with the card's number only (no paper text):
  two papers to a row, so ten papers fill Discord's five rows of five buttons. Every message of the digest
  names all its papers in digest order (``DiscordMessage.papers``), so that a question replying to any of
  them finds card #n as the reader sees it numbered.
- ``thread``: the header as one message that names the papers, the cards as messages in a thread started
  from it (``DiscordMessage.thread_name`` / ``in_thread``). A digest that opens with the day's briefing
  (``DigestMessage.opening``) has it in the header message as an embed, before "… and N more": drawn by
  ``discord_embeds.opening_embeds``, as the cards layout's header draws it where no thread can be held.

A button's custom_id is ``paper:like:<paper id>`` or ``paper:dislike:<paper id>`` (Discord allows 100
characters; a paper whose id would not fit gets no buttons). ``read_button`` parses it back; what it names
is checked against the message it was pressed on before anything is learned (``bot.votes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import discord

from adapters.discord_embeds import (
    CONTENT_LIMIT,
    EMBEDS_PER_MESSAGE,
    MESSAGE_EMBED_TOTAL,
    DiscordMessage,
    PaperButton,
    digest_heading,
    embed_units,
    escape_plain,
    more_embed,
    more_line,
    opening_embeds,
    render_card,
    render_digest,
    units,
)
from bot.cards import Card, DigestMessage, Layout, Link
from bot.radar import DISLIKE, LIKE

__all__ = [
    "BUTTON_PREFIX",
    "CUSTOM_ID_LIMIT",
    "PAPERS_PER_ROW",
    "THREAD_NAME_LIMIT",
    "button_id",
    "read_button",
    "render_compact",
    "render_layout",
    "render_thread",
    "thread_name",
]

BUTTON_PREFIX = "paper:"
CUSTOM_ID_LIMIT = 100  # Discord's limit for a component's custom_id
THREAD_NAME_LIMIT = 100  # Discord's limit for a channel's (and a thread's) name
PAPERS_PER_ROW = 2  # 👍 and 👎 of two papers: four buttons of five; ten papers fill the five rows
_VERBS = {"like": LIKE, "dislike": DISLIKE}


@lru_cache(maxsize=2048)
def _drawn_card(card: Card, number: int) -> tuple[discord.Embed, int]:
    embed = render_card(card, number)
    return embed, embed_units(embed)


def _card_embed(card: Card, number: int) -> discord.Embed:
    """A card drawn once however many channels show it at that place (a fan-out draws the same papers
    for hundreds of channels: escaping them again each time cost more than pacing the sends); each message
    gets a copy of its own, so none shares a mutable embed with another."""
    return _drawn_card(card, number)[0].copy()


def render_layout(digest: DigestMessage) -> list[DiscordMessage]:
    """The digest in its channel's layout. A note (no cards: a quiet day, the briefing, a report) and an
    empty digest are drawn the same in every layout."""
    if digest.is_note or not digest.cards or digest.layout is Layout.CARDS:
        return render_digest(digest)
    if digest.layout is Layout.COMPACT:
        return render_compact(digest)
    return render_thread(digest)


# --- compact ---------------------------------------------------------------------------------------------


def _compact_line(count: int) -> str:
    papers = f"{count:,} paper{'' if count == 1 else 's'}"
    return (
        f"{papers}. Press 👍 or 👎 under a paper to teach this channel's radar, or reply to this message "
        "naming a card's number (“what does #2 assume?”) to ask about it."
    )


def button_id(verb: str, paper_id: str) -> str:
    return f"{BUTTON_PREFIX}{verb}:{paper_id}"


def read_button(custom_id: str) -> tuple[float, str] | None:
    """(radar weight, paper id) of one of our buttons, or None for any other custom_id."""
    if not custom_id.startswith(BUTTON_PREFIX) or len(custom_id) > CUSTOM_ID_LIMIT:
        return None
    verb, _, paper_id = custom_id.removeprefix(BUTTON_PREFIX).partition(":")
    weight = _VERBS.get(verb)
    if weight is None or not paper_id.strip():
        return None
    return weight, paper_id


def _buttons(numbered: Sequence[tuple[int, Card]]) -> tuple[PaperButton, ...]:
    return _numbered_buttons(tuple((number, card.paper_id) for number, card in numbered))


@lru_cache(maxsize=256)
def _numbered_buttons(numbered: tuple[tuple[int, str], ...]) -> tuple[PaperButton, ...]:
    """Drawn once for every channel shown the same papers in the same places (like the cards)."""
    buttons: list[PaperButton] = []
    for place, (number, paper_id) in enumerate(numbered):
        row = place // PAPERS_PER_ROW
        ids = (button_id("like", paper_id), button_id("dislike", paper_id))
        if max(len(i) for i in ids) > CUSTOM_ID_LIMIT:
            continue
        buttons += [PaperButton(f"👍 {number}", ids[0], row), PaperButton(f"👎 {number}", ids[1], row)]
    return tuple(buttons)


@lru_cache(maxsize=256)
def _more_in_content(count: int, listings: tuple[Link, ...]) -> str:
    """The "… and N more" line of a compact digest's content, drawn once for every channel that shows it."""
    return "\n" + more_line(count, listings, content=True)


def _groups(costs: Sequence[int]) -> list[list[int]]:
    """Indexes of embeds of these sizes packed into messages: a new message only at 10 embeds or 6,000 units."""
    groups: list[list[int]] = [[]]
    size = 0
    for index, cost in enumerate(costs):
        if len(groups[-1]) >= EMBEDS_PER_MESSAGE or size + cost > MESSAGE_EMBED_TOTAL:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += cost
    return groups


def render_compact(digest: DigestMessage) -> list[DiscordMessage]:
    """Every card in as few messages as Discord's limits allow, the header as the first one's content,
    each message with the 👍/👎 buttons of the papers it shows. "… and N more" is a line of that content
    (so ten cards and it are one message), or an embed last where the content has no room for it."""
    numbered = list(enumerate(digest.cards, start=1))
    embeds = [_card_embed(card, number) for number, card in numbered]
    groups = _groups([_drawn_card(card, number)[1] for number, card in numbered])
    papers = digest.paper_ids
    messages = [
        DiscordMessage(
            embeds=tuple(embeds[i] for i in group),
            papers=papers,
            buttons=_buttons([numbered[i] for i in group]),
        )
        for group in groups
    ]
    content = digest_heading(digest) + "\n" + _compact_line(len(digest.cards))
    more_text = _more_in_content(digest.more_count, tuple(digest.more_links)) if digest.more_count else ""
    if more_text and units(content + more_text) <= CONTENT_LIMIT:
        content, more_text = content + more_text, ""
    messages[0] = replace(messages[0], content=content)
    if more_text:  # a header too long to share the content with it: an embed, as the cards layout has it
        more = more_embed(digest)
        last = messages[-1]
        if len(last.embeds) < EMBEDS_PER_MESSAGE and last.embed_units + embed_units(more) <= MESSAGE_EMBED_TOTAL:
            messages[-1] = replace(last, embeds=(*last.embeds, more))
        else:
            messages.append(DiscordMessage(embeds=(more,)))
    return messages


# --- thread ----------------------------------------------------------------------------------------------


def _thread_line(count: int) -> str:
    papers = f"{count:,} paper{'' if count == 1 else 's'}"
    return (
        f"{papers} in this message's thread, one per message. React 👍 or 👎 to a paper there to teach this "
        "channel's radar, or reply to it to ask about it."
    )


def thread_name(digest: DigestMessage) -> str:
    """The thread's name: the digest's header as plain text (a name shows no markdown and pings nobody),
    cut to Discord's 100 characters."""
    name = " ".join(escape_plain(digest.header).split())
    return name if len(name) <= THREAD_NAME_LIMIT else name[: THREAD_NAME_LIMIT - 1].rstrip() + "…"


def render_thread(digest: DigestMessage) -> list[DiscordMessage]:
    """The header (naming every paper, for "#n" questions; with the day's briefing when the digest opens
    with it) as the message a thread starts from, then each card as a message of that thread."""
    more = (*opening_embeds(digest), *((more_embed(digest),) if digest.more_count else ()))
    header = DiscordMessage(
        content=digest_heading(digest) + "\n" + _thread_line(len(digest.cards)),
        embeds=more,
        papers=digest.paper_ids,
        thread_name=thread_name(digest),
    )
    cards = [
        DiscordMessage(embeds=(_card_embed(card, number),), paper_id=card.paper_id, in_thread=True)
        for number, card in enumerate(digest.cards, start=1)
    ]
    return [header, *cards]
