"""Questions about one paper on Discord: a reply to the bot's card, explanation or answer.

A reply that pings the bot (Discord's default for a reply) mentions it, so its text reaches the bot
without the privileged MESSAGE_CONTENT intent; a reply without the ping arrives empty and is left alone,
as is every message that does not mention the bot. What the reply answers is looked up in
``bot.posted_messages``: a message the bot did not post is not a question to it; a message of the bot's
about no single paper (a digest's header, a note) and a mention outside any reply get a one-line hint.

The thread so far is the chain of replies above the question, walked through the message references
(each fetched message carries its parent, so about half the steps need no request) and bounded to
``bot.questions.MAX_THREAD_MESSAGES``. Only text Discord lets the bot see is in it: its own messages
and people's messages that addressed it.
"""

from __future__ import annotations

import logging
import re

import discord

from bot.models import ChannelRef
from bot.questions import MAX_THREAD_MESSAGES, ThreadMessage
from bot.untrusted import bounded

__all__ = [
    "HINT",
    "MESSAGE_TEXT_CHARS",
    "from_a_person",
    "mentions_user",
    "message_text",
    "question_text",
    "reply_channel",
    "thread_context",
]

log = logging.getLogger(__name__)

HINT = "Reply to one of my paper cards or explanations to ask about that paper."
MESSAGE_TEXT_CHARS = 4_000  # one earlier message of the thread, as context: a card or a long answer's gist


def from_a_person(message: discord.Message) -> bool:
    """Whether a person typed the message: not a bot, not a webhook (a feed relay or a bridge posts other
    people's text under a name that is not a bot's: ``author.bot`` is false), not a system message."""
    return not (message.author.bot or message.webhook_id is not None or message.is_system())


def mentions_user(message: discord.Message, user_id: int) -> bool:
    """Whether the message mentions this user itself (a ping or a reply ping; @everyone does not count)."""
    return any(user.id == user_id for user in message.mentions)


def question_text(content: str, bot_id: int) -> str:
    """The question as typed, without the mention of the bot."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def reply_channel(message: discord.Message) -> ChannelRef | None:
    """Where a message was posted, as the bot records its own messages; None outside a server."""
    if message.guild is None:
        return None
    return ChannelRef("discord", str(message.guild.id), str(message.channel.id))


def message_text(message: discord.Message) -> str:
    """What a message says, for the thread context: its content and its embeds' text, bounded."""
    parts = [message.content] if message.content else []
    for embed in message.embeds:
        parts += [text for text in (embed.title, embed.description) if text]
        parts += [f"{field.name}: {field.value}" for field in embed.fields if field.value]
    return bounded("\n".join(parts).strip(), MESSAGE_TEXT_CHARS)


async def _parent(message: discord.Message) -> discord.Message | None:
    """The message this one replies to: resolved by Discord when it sent it, else fetched."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    if isinstance(reference.resolved, discord.DeletedReferencedMessage):
        return None
    if reference.channel_id != message.channel.id:  # a forward or a cross-channel reference: not this thread
        return None
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException as err:  # deleted, or out of reach: the thread starts below it
        log.debug("thread context: message %s not fetched (HTTP %s)", reference.message_id, err.status)
        return None


async def thread_context(
    question: discord.Message, bot_id: int, limit: int = MAX_THREAD_MESSAGES
) -> tuple[ThreadMessage, ...]:
    """The replies above ``question``, oldest first: at most ``limit`` messages (the newest kept), and
    at most ``limit`` steps up the chain, so a long thread costs a bounded number of requests."""
    found: list[ThreadMessage] = []
    current = await _parent(question)
    steps = 1
    while current is not None and len(found) < limit:
        from_bot = current.author.id == bot_id
        text = message_text(current) if from_bot else question_text(message_text(current), bot_id)
        if text:  # a person's message that did not address the bot arrives empty: nothing to pass on
            found.append(ThreadMessage(text=text, from_bot=from_bot))
        if steps >= limit:
            break
        current = await _parent(current)
        steps += 1
    return tuple(reversed(found))
