"""Reactions and questions on Slack: 👍/⭐/👎 on the bot's messages teach the channel's radar
(``reaction_added``/``reaction_removed``), and a mention of the bot in the thread of a card or an
explanation asks about that paper (``app_mention``): the thread so far is read with conversations.replies
and the answer goes into the same thread; a mention anywhere else gets a one-line hint for the asker only.
The events are read by ``adapters.slack_events``."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack_blocks import SlackMessage, render_reply
from adapters.slack_client import error_code
from adapters.slack_events import (
    THREAD_HINT,
    Mention,
    learn_from_reaction,
    question_text,
    read_mention,
    read_reaction,
    thread_messages,
)
from adapters.slack_posting import SlackPosting
from bot import questions
from bot.cards import Reply
from bot.commands import apology
from bot.engine import Engine
from bot.errors import ChannelUnavailable
from bot.hint_limit import HintLimiter
from bot.posted_messages import MessageKind, find
from bot.questions import ThreadMessage, ThreadQuestion

log = logging.getLogger("adapters.slack")

THREAD_PAGES = 3  # conversations.replies pages (200 each) read for a question's thread, newest kept
ANSWERED_REMEMBERED = 1_000  # mentions remembered, so that an event Slack delivers twice is answered once
RESPOND_LIMIT = 5  # messages sent in answer at most (a response_url's limit; the same for ephemerals)

AnswerQuestion = Callable[[Engine, ThreadQuestion], Awaitable[Reply]]


class SlackThreads(SlackPosting):
    """The reaction and mention listeners; set up by SlackAdapter.__init__."""

    bot_user_id: str
    bot_id: str
    _answered: OrderedDict[tuple[str, str], None]
    hints: HintLimiter  # one "how to ask" per person and channel an hour (bot.hint_limit)
    _answer_question: AnswerQuestion | None

    # --- reactions: feedback for the channel's radar ---------------------------------------------------

    async def _on_reaction_added(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        self._spawn(self._learn_from_reaction(event, body, added=True))  # bolt has acknowledged already

    async def _on_reaction_removed(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        self._spawn(self._learn_from_reaction(event, body, added=False))

    async def _learn_from_reaction(self, event: dict[str, Any], body: dict[str, Any], *, added: bool) -> None:
        reaction = read_reaction(event, _team_of(body, event), self.bot_user_id, self.bot_id)
        if reaction is None:
            return
        try:
            learn_from_reaction(self.engine.store, reaction, added=added)
        except Exception:
            log.exception("learning from a reaction in %s failed", reaction.channel)

    # --- questions in the thread of a paper ---------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        mention = read_mention(event, _team_of(body, event), self.bot_user_id, self.bot_id)
        if mention is None or not self._first_time(mention):
            return
        self._spawn(self._answer_mention(mention))

    def _first_time(self, mention: Mention) -> bool:
        """Slack delivers an event again when it thinks we missed it: one answer per mention."""
        key = (mention.channel.channel, mention.ts)
        if key in self._answered:
            return False
        self._answered[key] = None
        if len(self._answered) > ANSWERED_REMEMBERED:
            self._answered.popitem(last=False)
        return True

    async def _answer_mention(self, mention: Mention) -> None:
        parent = find(self.engine.store, mention.channel, mention.thread_ts or "") if mention.in_thread else None
        if parent is None:  # outside a thread, or under someone else's message: not a question for us
            await self._hint(mention, THREAD_HINT)
            return
        thread_ts = mention.thread_ts or ""
        text = question_text(mention.text, self.bot_user_id)
        paper_id = questions.paper_in_thread(self.engine.store, parent, text)
        if paper_id is None and questions.names_a_card(parent):  # the briefing or several cards: which one?
            await self._hint(mention, questions.BRIEFING_HINT)
            return
        question = ThreadQuestion(
            channel=mention.channel,
            user=mention.user,
            paper_id=paper_id,
            text=text,
            thread=await self._read_thread(mention.channel.channel, thread_ts, mention.ts),
        )
        answer = self._answer_question or questions.answer_question
        try:
            reply = await answer(self.engine, question)
        except Exception:
            reply = apology(log, "answering a question in %s (thread %s) failed", mention.channel, thread_ts)
        if reply.ephemeral or reply.is_error:
            await self._ephemeral(mention, reply)
            return
        try:
            for message in render_reply(reply):
                message = SlackMessage(message.text, message.blocks, paper_id)
                await self._post_recorded(mention.channel, message, MessageKind.ANSWER, thread_ts=thread_ts)
        except (ChannelUnavailable, SlackApiError) as err:
            log.warning("cannot answer in the thread %s of %s: %s", thread_ts, mention.channel, err)

    async def _read_thread(self, channel_id: str, thread_ts: str, question_ts: str) -> tuple[ThreadMessage, ...]:
        """The thread before the question (conversations.replies, oldest first, a few pages at most)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(THREAD_PAGES):
            try:
                response = await self.client.conversations_replies(
                    channel=channel_id, ts=thread_ts, latest=question_ts, inclusive=False, limit=200, cursor=cursor
                )
            except SlackApiError as err:  # no history scope: the question is answered without the thread
                log.info("cannot read the thread %s in %s (%s)", thread_ts, channel_id, error_code(err))
                break
            found += [m for m in response.get("messages") or [] if isinstance(m, dict)]
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        return thread_messages(found, before=question_ts, bot_user=self.bot_user_id, bot_id=self.bot_id)

    async def _hint(self, mention: Mention, text: str) -> None:
        """How to ask, to the asker only, once an hour per person and channel: fifty mentions are one hint."""
        if self.hints.allow(mention.channel, mention.user):
            await self._ephemeral(mention, Reply(text=text, ephemeral=True))

    async def _ephemeral(self, mention: Mention, reply: Reply) -> None:
        """A message only the person who asked sees, in the thread they asked in (if any)."""
        for message in render_reply(reply)[:RESPOND_LIMIT]:
            try:
                await self.client.chat_postEphemeral(
                    channel=mention.channel.channel,
                    user=mention.user,
                    text=message.text,
                    blocks=list(message.blocks),
                    thread_ts=mention.thread_ts if mention.in_thread else None,
                )
            except SlackApiError as err:
                log.info("cannot answer %s privately in %s (%s)", mention.user, mention.channel, error_code(err))
                return


def _team_of(body: dict[str, Any], event: dict[str, Any]) -> str:
    """The workspace an event comes from, as slash commands name it (``team_id``)."""
    return str(body.get("team_id") or event.get("team") or "")
