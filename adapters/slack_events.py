"""What Slack's events mean to paperbot: reactions that teach a channel's radar, mentions that ask about a paper.

Pure translation, no I/O but the store: the adapter (``adapters.slack``) receives the events through bolt,
reads threads through the Web API and posts the answers.

- ``reaction_added`` / ``reaction_removed``: 👍 or ⭐ on a message the bot posted about one paper (a card, an
  explanation, an answer) is a like of that paper for the channel's radar, 👎 a dislike; taking the reaction
  back takes back exactly that person's entry. The origin is ``reaction:<user>``, so one person counts once
  per paper however often they react.
- ``app_mention``: a question, when it is asked in the thread of a message the bot posted; the thread so far
  becomes ``ThreadMessage``s in plain text (Slack's markup resolved, the text still untrusted).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.models import ChannelRef
from bot.questions import MAX_THREAD_MESSAGES, ThreadMessage
from bot.radar import DISLIKE, LIKE, Learned
from bot.radar import learn_from_reaction as radar_learning
from bot.store import Store
from bot.untrusted import bounded

__all__ = [
    "DISLIKE_REACTIONS",
    "LIKE_REACTIONS",
    "THREAD_HINT",
    "Mention",
    "Reaction",
    "learn_from_reaction",
    "question_text",
    "reaction_weight",
    "read_mention",
    "read_reaction",
    "thread_messages",
    "ts_order",
]

log = logging.getLogger(__name__)

# Slack's names for the emoji, as events carry them (a skin tone comes as a suffix: "+1::skin-tone-3").
LIKE_REACTIONS = frozenset({"+1", "thumbsup", "star", "star2", "glowing_star"})
DISLIKE_REACTIONS = frozenset({"-1", "thumbsdown"})
THREAD_HINT = "Ask me about a paper in the thread of its card or explanation."
THREAD_TEXT_MAX = 4_000  # one earlier message of a thread, as passed on: the question is what matters
# What Slack's ids and timestamps look like ("C0123ABC", "1711440000.000123"). An event field of any other
# shape is treated as missing: passed on, it would make requests Slack refuses in ways that are not JSON
# (a 10 KB ts makes a URL no server takes) and rows no lookup ever finds.
_SLACK_ID = re.compile(r"[A-Za-z0-9]{1,40}")
_SLACK_TS = re.compile(r"\d{1,12}\.\d{1,9}")


def reaction_weight(name: str) -> float | None:
    """The radar weight of a reaction by its name: a like, a dislike, or None for any other emoji."""
    base = name.split("::", 1)[0].strip(":").lower()
    if base in LIKE_REACTIONS:
        return LIKE
    if base in DISLIKE_REACTIONS:
        return DISLIKE
    return None


@dataclass(frozen=True, slots=True)
class Reaction:
    """A like or dislike given to (or taken from) one message of a channel by one person."""

    channel: ChannelRef
    user: str
    message_ts: str
    weight: float

    @property
    def origin(self) -> str:
        return f"reaction:{self.user[:40]}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _id(value: Any) -> str:
    """A Slack id from an event field, or "" when the field is not one."""
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else ""


def _ts(value: Any) -> str:
    """A Slack message ts from an event field, or "" when the field is not one."""
    return value if isinstance(value, str) and _SLACK_TS.fullmatch(value) else ""


def read_reaction(event: Mapping[str, Any], team: str, bot_user: str, bot_id: str = "") -> Reaction | None:
    """A ``reaction_added``/``reaction_removed`` event as a Reaction, or None when it teaches nothing: the
    bot's own reaction, another emoji, a reaction on a file rather than a message, a malformed event."""
    item = event.get("item")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        return None
    user, channel, ts = _id(event.get("user")), _id(item.get("channel")), _ts(item.get("ts"))
    if not user or not channel or not ts or user in (bot_user, bot_id):
        return None
    weight = reaction_weight(_text(event.get("reaction")))
    if weight is None:
        return None
    return Reaction(ChannelRef("slack", team, channel), user, ts, weight)


def learn_from_reaction(store: Store, reaction: Reaction, *, added: bool) -> bool:
    """Teach (or, ``added`` False, un-teach) the channel's radar (bot.radar.learn_from_reaction); whether
    anything changed."""
    learned = radar_learning(store, reaction.channel, reaction.message_ts, reaction.user, reaction.weight, added=added)
    return learned is not Learned.NOTHING


@dataclass(frozen=True, slots=True)
class Mention:
    """An ``app_mention``: who asked what, where; ``thread_ts`` is the thread's parent (None outside one)."""

    channel: ChannelRef
    user: str
    ts: str
    thread_ts: str | None
    text: str

    @property
    def in_thread(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


def read_mention(event: Mapping[str, Any], team: str, bot_user: str, bot_id: str = "") -> Mention | None:
    """An ``app_mention`` event as a Mention, or None for one the bot should not answer (its own, malformed)."""
    user, channel, ts = _id(event.get("user")), _id(event.get("channel")), _ts(event.get("ts"))
    if not user or not channel or not ts or user in (bot_user, bot_id) or event.get("bot_id"):
        return None
    thread_ts = _ts(event.get("thread_ts")) or None
    return Mention(ChannelRef("slack", team, channel), user, ts, thread_ts, _text(event.get("text")))


def question_text(text: str, bot_user: str) -> str:
    """The question as asked: the bot's own mention taken out, Slack's markup resolved."""
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text)
    return " ".join(plain_text(text).split())


_MARKUP = re.compile(r"<([^<>]*)>")


def plain_text(text: str) -> str:
    """Slack's message markup as plain text for the LLM: ``<@U1>`` → "@someone", ``<!here>`` → "@here",
    ``<https://x|label>`` → "label (https://x)", ``&lt;`` → "<". Still untrusted: every answer is drawn by
    the renderers, which neutralise mentions and links whatever the text holds."""

    def resolve(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or "someone")
        if target.startswith("#"):
            return "#" + (label or "channel")
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^", 1)[0])
        return f"{label} ({target})" if label else target

    resolved = _MARKUP.sub(resolve, bounded(text))
    # Slack escapes exactly these three in message text; "&amp;" last, so "&amp;lt;" stays "&lt;" as typed.
    return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def ts_order(ts: str) -> tuple[int, int]:
    """A Slack ts ("1711440000.000123") as a sortable pair: as a float the last digits would be lost."""
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds), int(micros or 0)
    except ValueError:
        return (0, 0)


def _blocks_text(blocks: Any) -> str:
    """The text of a message's section and context blocks: what the bot's own cards and explanations say
    (their notification ``text`` is only a one-line summary)."""
    lines: list[str] = []
    if not isinstance(blocks, list):
        return ""
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        text = block.get("text")
        if isinstance(text, Mapping) and isinstance(text.get("text"), str):
            lines.append(text["text"])
        for element in block.get("elements") or ():
            if isinstance(element, Mapping) and isinstance(element.get("text"), str):
                lines.append(element["text"])
    return "\n".join(lines)


def thread_messages(
    messages: Iterable[Mapping[str, Any]], *, before: str, bot_user: str, bot_id: str
) -> tuple[ThreadMessage, ...]:
    """The thread so far as the question sees it: the messages older than the question (``before``), oldest
    first, at most ``MAX_THREAD_MESSAGES`` of the newest, each marked whether the bot wrote it."""
    limit = ts_order(before)
    earlier = sorted(
        (m for m in messages if _text(m.get("ts")) and ts_order(_text(m.get("ts"))) < limit),
        key=lambda m: ts_order(_text(m.get("ts"))),
    )
    kept: list[ThreadMessage] = []
    for message in earlier[-MAX_THREAD_MESSAGES:]:
        from_bot = bool((bot_id and message.get("bot_id") == bot_id) or (bot_user and message.get("user") == bot_user))
        raw = (_blocks_text(message.get("blocks")) if from_bot else "") or _text(message.get("text"))
        text = question_text(raw, bot_user)[:THREAD_TEXT_MAX]
        if text:
            kept.append(ThreadMessage(text=text, from_bot=from_bot))
    return tuple(kept)
