"""Posting to Slack: digests (a header message, then one message per card, each a part carrying the
outbox key in its metadata so a restart can see what is already there), replies, equation images, paced
to one message per second per channel; every message about a paper recorded with its ts
(bot.posted_messages), for reactions and questions in its thread. Also the adapter's background work:
listeners acknowledge at once and hand their work to ``_spawn``."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_blocks import SlackMessage, render_digest
from adapters.slack_client import UNAVAILABLE, error_code
from adapters.slack_uploads import upload_equation_images
from bot.cards import DigestMessage, Reply
from bot.engine import Engine
from bot.errors import ChannelUnavailable
from bot.models import ChannelRef
from bot.posted_messages import MessageKind, record

log = logging.getLogger("adapters.slack")

POST_INTERVAL_S = 1.0  # Slack allows about one message per second per channel
METADATA_EVENT = "paperbot_digest"  # message metadata that marks a digest part with its outbox key
HISTORY_PAGES = 5  # conversations.history pages (200 messages each) searched for a digest's parts


class SlackPosting:
    """What the Slack adapter posts and how; set up by SlackAdapter.__init__."""

    engine: Engine
    client: AsyncWebClient
    clock: Callable[[], float]
    post_interval_s: float
    _tasks: set[asyncio.Task[None]]
    _channel_locks: defaultdict[str, asyncio.Lock]
    _last_post: dict[str, float]
    _present_parts: dict[str, set[int]]

    # --- background work ------------------------------------------------------------------------

    async def idle(self) -> None:
        """Wait until the work started by commands and clicks is done (tests, benchmarks, shutdown)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # The work catches everything it can answer; what escapes (answering itself failed) is logged here
        # rather than as asyncio's "exception was never retrieved".
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack background work failed", exc_info=task.exception())

    # --- posting -----------------------------------------------------------------------------------

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        for message in render_digest(digest):
            await self._post_recorded(channel, message, _digest_kind(digest, message))

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        """Post with the outbox key in each message's metadata, so that after a crash the bot can see
        in the channel's history what it already posted. Parts found there by already_posted are
        skipped: Slack itself has no dedupe."""
        messages = render_digest(digest)
        present = self._present_parts.pop(key, set())
        for index, message in enumerate(messages):
            if index in present:
                continue
            kind = _digest_kind(digest, message)
            payload: dict[str, Any] = {"key": key, "part": index, "parts": len(messages), "kind": str(kind)}
            if message.paper_id:
                payload["paper"] = message.paper_id  # so that a restart can record a part it finds
            metadata = {"event_type": METADATA_EVENT, "event_payload": payload}
            await self._post_recorded(channel, message, kind, metadata=metadata, outbox_key=key)

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        """Whether every part of the digest with this key is in the channel's recent history. None when
        Slack will not tell (no channels:history scope): the digest is then sent again. The parts found
        are recorded as posted (a crash may have come between posting one and recording it)."""
        parts: dict[int, dict[str, Any]] = {}
        total = 0
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                response = await self.client.conversations_history(
                    channel=channel.channel, limit=200, include_all_metadata=True, cursor=cursor
                )
            except SlackApiError as err:
                log.info("cannot check %s history (%s): resending", channel, error_code(err))
                return None
            for message in response.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if meta.get("event_type") == METADATA_EVENT and payload.get("key") == key:
                    parts[int(payload.get("part", 0))] = {"ts": message.get("ts"), **payload}
                    total = int(payload.get("parts", 0))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if (total and len(parts) >= total) or not response.get("has_more") or not cursor:
                break
        for found in parts.values():
            self._record_found_part(channel, key, found)
        if total and set(parts) == set(range(total)):
            return True
        self._present_parts[key] = set(parts)
        return False

    def _record_found_part(self, channel: ChannelRef, key: str, found: dict[str, Any]) -> None:
        try:
            kind = MessageKind(str(found.get("kind") or ""))
        except ValueError:  # a part posted before parts said what they are: about no paper we can tell
            kind = MessageKind.NOTE
        paper = found.get("paper")
        record(
            self.engine.store,
            channel,
            str(found.get("ts") or ""),
            kind,
            paper_id=paper if isinstance(paper, str) else None,
            outbox_key=key,
        )

    async def _post_recorded(
        self,
        channel: ChannelRef,
        message: SlackMessage,
        kind: MessageKind,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        outbox_key: str | None = None,
    ) -> str:
        """Post one message and record it (its ts, what it is, its paper), for reactions and threads."""
        ts = await self._post(channel.channel, message, thread_ts=thread_ts, metadata=metadata)
        record(
            self.engine.store,
            channel,
            ts,
            kind,
            paper_id=message.paper_id,
            thread_id=thread_ts,
            outbox_key=outbox_key,
        )
        return ts

    async def _post(
        self,
        channel_id: str,
        message: SlackMessage,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """chat.postMessage, paced per channel; returns the message ts."""
        async with self._channel_locks[channel_id]:
            await self._wait_turn(channel_id)
            try:
                response = await self.client.chat_postMessage(
                    channel=channel_id,
                    text=message.text,
                    blocks=list(message.blocks),
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata=metadata,
                )
            except SlackApiError as err:
                code = error_code(err)
                if code in UNAVAILABLE:
                    raise ChannelUnavailable(f"Slack says {code}: {UNAVAILABLE[code]}") from None
                raise
            finally:
                # Counted from the answer, not the send: the previous message has surely arrived by now,
                # so the next one reaches Slack at least POST_INTERVAL_S later whatever the network does.
                self._last_post[channel_id] = self.clock()
            return str(response.get("ts") or "")

    async def _wait_turn(self, channel_id: str) -> None:
        last = self._last_post.get(channel_id)
        if last is not None:
            wait = last + self.post_interval_s - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _pace(self, channel_id: str) -> None:
        """An upload waits its turn like a message (about one a second per channel)."""
        async with self._channel_locks[channel_id]:
            await self._wait_turn(channel_id)
            self._last_post[channel_id] = self.clock()

    async def _upload_images(self, channel: ChannelRef, thread_ts: str, reply: Reply) -> None:
        """The explanation's equation images, into its thread. Never private: Slack has no ephemeral files."""
        if reply.images and thread_ts:
            await upload_equation_images(self.client, channel.channel, thread_ts, reply.images, pace=self._pace)


def _digest_kind(digest: DigestMessage, message: SlackMessage) -> MessageKind:
    if digest.is_note:
        return MessageKind.BRIEFING if digest.briefing else MessageKind.NOTE
    return MessageKind.CARD if message.paper_id else MessageKind.HEADER
