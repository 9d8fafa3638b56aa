"""Reactions and replies on Discord: 👍 ⭐ 🌟 / 👎 on the bot's message about a paper teach the channel's
radar (``adapters.discord_feedback``), and a reply that pings the bot is a question about the paper
(``adapters.discord_questions``), answered as a Discord reply to it; a mention that replies to nothing
of the bot's about one paper gets a one-line hint. A question is answered in a task of its own, off the
gateway handler, at most ``QUESTIONS_AT_ONCE`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

import discord

from adapters.discord_commands import NO_MENTIONS, PaperbotClient
from adapters.discord_embeds import message_nonce, render_reply
from adapters.discord_feedback import learn_from_reaction
from adapters.discord_questions import HINT, from_a_person, mentions_user, question_text, reply_channel, thread_context
from bot import posted_messages, questions
from bot.cards import Reply
from bot.commands import apology, refusal
from bot.engine import Engine
from bot.errors import PaperbotError
from bot.hint_limit import HintLimiter
from bot.models import ChannelRef
from bot.posted_messages import MessageKind

__all__ = ["QUESTIONS_AT_ONCE", "DiscordThreads"]

log = logging.getLogger("adapters.discord")

QUESTIONS_AT_ONCE = 4  # questions answered in parallel (each may wait on the LLM); more wait their turn


class DiscordThreads:
    """The reaction and message listeners; set up by DiscordAdapter.__init__."""

    engine: Engine
    client: PaperbotClient
    _work: set[asyncio.Task[None]]  # questions being answered, off the gateway handler
    _questions: asyncio.Semaphore
    hints: HintLimiter  # one "how to ask" per person and channel an hour (bot.hint_limit)

    async def _hint(self, message: discord.Message, text: str = HINT) -> None:
        """How to ask, once an hour per person and channel: Discord has no private replies, so a hint is a
        public message, and mentioning the bot again and again must not make it post again and again."""
        if self.hints.allow(message.channel.id, message.author.id):
            await self._send_answer(message, Reply(text=text), paper_id=None)

    def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction added or removed anywhere the bot can see: teach the radar when it is 👍 ⭐ 🌟 or
        👎 on a message of the bot's about one paper. Quick (one lookup, one row) and never raises."""
        me = self.client.user
        if payload.guild_id is None or me is None or payload.user_id == me.id:
            return
        if payload.member is not None and payload.member.bot:  # other bots' reactions are not readers'
            return
        channel = ChannelRef("discord", str(payload.guild_id), str(payload.channel_id))
        try:
            learned = learn_from_reaction(
                self.engine.store,
                channel,
                str(payload.message_id),
                str(payload.user_id),
                payload.emoji.name,
                custom=payload.emoji.id is not None,
                added=payload.event_type == "REACTION_ADD",
            )
        except Exception:
            log.exception("a reaction in %s could not be applied to the radar", channel)
            return
        log.debug("reaction %s on %s in %s: %s", payload.emoji.name, payload.message_id, channel, learned.value)

    def on_message(self, message: discord.Message) -> None:
        """A message the bot can see. Only one that mentions the bot is looked at (the others reach it
        without text anyway); the work runs in a task of its own, off the gateway handler."""
        me = self.client.user
        if me is None or not from_a_person(message) or message.guild is None or not mentions_user(message, me.id):
            return
        self._spawn(self._answer_mention(message, me.id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name="discord-question")
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def idle(self) -> None:
        """Wait until every question being answered is done (tests; a graceful stop)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)

    async def _answer_mention(self, message: discord.Message, bot_id: int) -> None:
        try:
            async with self._questions:
                await self._answer_question(message, bot_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("answering message %s in %s failed [ref %s]", message.id, message.channel.id, ref)

    async def _answer_question(self, message: discord.Message, bot_id: int) -> None:
        """A mention of the bot: a question when it replies to the bot's message about a paper."""
        channel = reply_channel(message)
        if channel is None:
            return
        reference = message.reference
        # A forwarded message carries a reference too, to a message elsewhere: only a reply here counts.
        is_reply = (
            reference is not None
            and reference.type is discord.MessageReferenceType.reply
            and reference.channel_id == message.channel.id
        )
        replied_to = reference.message_id if reference is not None and is_reply else None
        if replied_to is None:
            await self._hint(message)
            return
        posted = posted_messages.find(self.engine.store, channel, str(replied_to))
        if posted is None:  # a reply to someone else's message: not a question to the bot
            return
        text = question_text(message.content, bot_id)
        paper_id = questions.paper_in_thread(self.engine.store, posted, text)
        if paper_id is None:  # a header, a note, or the briefing without a card number
            await self._hint(message, questions.BRIEFING_HINT if questions.names_a_card(posted) else HINT)
            return
        if not text:  # a ping without words (an image, a sticker): nothing to answer
            return
        with contextlib.suppress(discord.HTTPException):
            await message.channel.typing()  # "paperbot is typing…" while the answer is prepared
        question = questions.ThreadQuestion(
            channel=channel,
            user=str(message.author.id),
            paper_id=paper_id,
            text=text,
            thread=await thread_context(message, bot_id),
        )
        try:
            reply = await questions.answer_question(self.engine, question)
        except PaperbotError as err:  # a limit, a paper gone: the message says what to do
            reply = refusal(err)
        except Exception:
            reply = apology(log, "answering a question about %s in %s failed", paper_id, channel)
        # A refusal or a limit is about no paper: reacting to it or replying to it teaches and asks nothing.
        about = None if reply.is_error or reply.ephemeral else paper_id
        await self._send_answer(message, reply, paper_id=about)

    async def _send_answer(self, question: discord.Message, reply: Reply, *, paper_id: str | None) -> None:
        """Post a reply to ``question`` as Discord replies (no ping, no mention of anyone), each part with
        a nonce of its own; the parts of an answer about a paper are recorded as answers in its thread."""
        channel = reply_channel(question)
        reference = question.to_reference(fail_if_not_exists=False)
        for index, message in enumerate(render_reply(reply)):
            sent = await question.channel.send(
                content=message.content,
                embeds=list(message.embeds),
                reference=reference,
                allowed_mentions=NO_MENTIONS,
                mention_author=False,
                nonce=message_nonce("answer", question.id, index),
            )
            if paper_id is not None and channel is not None:
                posted_messages.record(
                    self.engine.store,
                    channel,
                    str(sent.id),
                    MessageKind.ANSWER,
                    paper_id=paper_id,
                    thread_id=str(question.id),
                )
