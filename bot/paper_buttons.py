"""A 👍 or 👎 button pressed under one of the bot's digest messages teaches the channel's radar, as the
same reaction on a card does (``bot.radar.learn_from_reaction``), on any platform.

The button names a paper; the bot believes it only when the message it was pressed on is one the bot
recorded as showing that paper (``bot.posted_messages``): a forged button naming another paper, or a
message the bot did not post, changes nothing. A press counts as that person's reaction to the paper
(origin ``reaction:<user>``): once per person and paper, the latest verdict wins (👍 then 👎 is a
dislike), and pressing the same button again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from bot import posted_messages
from bot.errors import UsageError
from bot.models import ChannelRef
from bot.radar import Radar
from bot.store import Store

__all__ = ["Press", "Pressed", "learn_from_button"]

log = logging.getLogger(__name__)


class Pressed(Enum):
    LIKED = "liked"
    DISLIKED = "disliked"
    ALREADY = "already counted"  # the same verdict by the same person: nothing changes
    NOT_SHOWN = "not a paper of that message"  # a forged or stale button
    UNKNOWN_MESSAGE = "not a message of the bot's"  # never posted by the bot, or pruned since
    RADAR_FULL = "the radar is full of typed entries"


@dataclass(frozen=True, slots=True)
class Press:
    """What a press did, and the card number of its paper in that message's digest (0 when none)."""

    outcome: Pressed
    number: int = 0


def learn_from_button(
    store: Store, channel: ChannelRef, message_id: str, user: str, paper_id: str, weight: float
) -> Press:
    """Apply one press (``weight`` LIKE or DISLIKE for ``paper_id``) on the bot's message ``message_id``."""
    posted = posted_messages.find(store, channel, message_id)
    if posted is None:
        return Press(Pressed.UNKNOWN_MESSAGE)
    shown = posted.papers or ((posted.paper_id,) if posted.paper_id else ())
    if paper_id not in shown:
        return Press(Pressed.NOT_SHOWN)
    number = shown.index(paper_id) + 1
    radar = Radar(store)
    origin = f"reaction:{user[:40]}"
    current = next(
        (e.weight for e in radar.entries(channel) if e.kind == "like" and e.value == paper_id and e.origin == origin),
        None,
    )
    if current == weight:
        return Press(Pressed.ALREADY, number)
    try:
        radar.like(channel, paper_id, weight, origin)
    except UsageError as err:  # a radar full of typed entries: nothing is learned, nothing breaks
        log.info("not learning from a button in %s: %s", channel, err)
        return Press(Pressed.RADAR_FULL, number)
    return Press(Pressed.LIKED if weight > 0 else Pressed.DISLIKED, number)
