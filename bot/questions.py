"""Questions about one paper, asked in the thread of the bot's card or explanation (interface).

Adapters turn a platform event (a Slack app_mention in a thread, a Discord reply to the bot's message)
into a ``ThreadQuestion`` and post the returned Reply in the same thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.cards import Reply
from bot.models import ChannelRef

if TYPE_CHECKING:
    from bot.engine import Engine

MAX_THREAD_MESSAGES = 10  # earlier messages of the thread an adapter passes, newest kept


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One earlier message of the thread, oldest first. ``text`` is untrusted."""

    text: str
    from_bot: bool


@dataclass(frozen=True, slots=True)
class ThreadQuestion:
    channel: ChannelRef
    user: str
    # The paper of the thread's parent message (from bot.posted_messages); None when the parent is the
    # bot's but about no single paper (a digest header, a briefing).
    paper_id: str | None
    text: str  # the question, with the mention of the bot removed; untrusted
    thread: tuple[ThreadMessage, ...] = ()


async def answer_question(engine: Engine, question: ThreadQuestion) -> Reply:
    raise NotImplementedError
