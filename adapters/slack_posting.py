"""Posting to Slack: digests in the channel's layout (adapters.slack_layouts: a header then a message per
card, one compact message, or a header with its cards in its thread), each part carrying the outbox key in
its metadata so a restart can see what is already there (in the history, and in the thread layout's
thread, which the history does not show), replies, equation images, paced
to one message per second per channel; every message about a paper recorded with its ts
(bot.posted_messages), for reactions and questions in its thread. Also the adapter's background work:
listeners acknowledge at once and hand their work to ``_spawn``."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_blocks import SlackMessage
from adapters.slack_client import UNAVAILABLE, error_code
from adapters.slack_layouts import DigestPart, lay_out
from adapters.slack_uploads import upload_equation_images
from bot.cards import DigestMessage, Layout, Reply
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
    _resumed: dict[str, Resumed]  # digest key -> the layout and thread found after a crash

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
        await self._post_parts(channel, lay_out(digest), digest.layout)

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        """Post with the outbox key in each message's metadata, so that after a crash the bot can see
        in the channel's history (and a thread layout's thread) what it already posted. Parts found there
        by already_posted are skipped, in the layout they were posted in: Slack itself has no dedupe."""
        present = self._present_parts.pop(key, set())
        resumed = self._resumed.pop(key, None)
        if resumed is not None and resumed.layout != digest.layout:  # the channel changed its layout meanwhile
            digest = replace(digest, layout=resumed.layout)
        parent = resumed.thread_ts if resumed is not None else None
        await self._post_parts(channel, lay_out(digest), digest.layout, key=key, present=present, parent=parent)

    async def _post_parts(
        self,
        channel: ChannelRef,
        parts: Sequence[DigestPart],
        layout: Layout,
        *,
        key: str | None = None,
        present: set[int] | None = None,
        parent: str | None = None,
    ) -> None:
        """Post a laid-out digest's messages in order, each recorded; the thread layout's cards in the
        thread of its first message (``parent``: that message's ts, when it was posted before a restart)."""
        for index, part in enumerate(parts):
            if present and index in present:
                continue
            thread_ts = parent if part.in_thread else None
            if part.in_thread and not thread_ts:
                raise RuntimeError("a digest part for a thread with no thread to go in")  # lay_out puts it first
            metadata = part_metadata(key, index, len(parts), part, layout) if key is not None else None
            ts = await self._post_recorded(
                channel, part.message, part.kind, thread_ts=thread_ts, metadata=metadata, outbox_key=key,
                papers=part.papers,
            )  # fmt: skip
            if index == 0:
                parent = ts

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        """Whether every part of the digest with this key is in the channel: its recent history, and for
        the thread layout the header's thread (conversations.replies; thread replies are not in the
        history). None when Slack will not tell (no channels:history scope): the digest is then sent
        again. The parts found are recorded as posted (a crash may have come between posting one and
        recording it)."""
        parts = await self._parts_in_history(channel, key)
        if parts is None:
            return None
        header = parts.get(0)
        total = max((int(found.get("parts", 0)) for found in parts.values()), default=0)
        thread_ts = str(header.get("ts") or "") if header is not None else ""
        if header is not None and header.get("layout") == Layout.THREAD and len(parts) < total:
            parts.update(await self._parts_in_thread(channel, key, thread_ts))
        for found in parts.values():
            self._record_found_part(channel, key, found)
        if total and set(parts) == set(range(total)):
            return True
        self._present_parts[key] = set(parts)
        if header is not None and header.get("layout") in tuple(Layout):
            self._resumed[key] = Resumed(Layout(header["layout"]), thread_ts or None)
        return False

    async def _parts_in_history(self, channel: ChannelRef, key: str) -> dict[int, dict[str, Any]] | None:
        """The digest's parts in the channel's recent history (top-level messages), by part number."""
        parts: dict[int, dict[str, Any]] = {}
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                response = await self.client.conversations_history(
                    channel=channel.channel, limit=200, include_all_metadata=True, cursor=cursor
                )
            except SlackApiError as err:
                log.info("cannot check %s history (%s): resending", channel, error_code(err))
                return None
            parts.update(_keyed_parts(response.get("messages") or [], key))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if _complete_top_level(parts) or not response.get("has_more") or not cursor:
                break
        return parts

    async def _parts_in_thread(self, channel: ChannelRef, key: str, thread_ts: str) -> dict[int, dict[str, Any]]:
        """The thread layout's cards found in its header's thread. Unreadable: none found, so the cards are
        posted again there (a card twice rather than a card lost)."""
        parts: dict[int, dict[str, Any]] = {}
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                response = await self.client.conversations_replies(
                    channel=channel.channel, ts=thread_ts, limit=200, include_all_metadata=True, cursor=cursor
                )
            except SlackApiError as err:
                log.info("cannot read the digest thread %s in %s (%s): posting its cards", thread_ts, channel,
                         error_code(err))  # fmt: skip
                return {}
            found = _keyed_parts(response.get("messages") or [], key)
            parts.update({part: {**payload, "thread_ts": thread_ts} for part, payload in found.items() if part})
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        return parts

    def _record_found_part(self, channel: ChannelRef, key: str, found: dict[str, Any]) -> None:
        try:
            kind = MessageKind(str(found.get("kind") or ""))
        except ValueError:  # a part posted before parts said what they are: about no paper we can tell
            kind = MessageKind.NOTE
        paper = found.get("paper")
        papers = found.get("papers")
        record(
            self.engine.store,
            channel,
            str(found.get("ts") or ""),
            kind,
            paper_id=paper if isinstance(paper, str) else None,
            thread_id=str(found.get("thread_ts") or "") or None,
            outbox_key=key,
            papers=papers.split() if isinstance(papers, str) else (),
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
        papers: Sequence[str] = (),
    ) -> str:
        """Post one message and record it (its ts, what it is, its paper or papers), for reactions, buttons
        and threads."""
        ts = await self._post(channel.channel, message, thread_ts=thread_ts, metadata=metadata)
        record(
            self.engine.store,
            channel,
            ts,
            kind,
            paper_id=message.paper_id,
            thread_id=thread_ts,
            outbox_key=outbox_key,
            papers=papers,
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


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a restart found of a digest cut by a crash: the layout its parts were posted in, and the thread
    layout's header (the thread its remaining cards go in)."""

    layout: Layout
    thread_ts: str | None


def part_metadata(key: str, index: int, total: int, part: DigestPart, layout: Layout) -> dict[str, Any]:
    """Message metadata marking a digest part: its outbox key and place, what it is and its paper(s), so
    that a restart can skip it and record it; the first part also says the layout it was posted in."""
    payload: dict[str, Any] = {"key": key, "part": index, "parts": total, "kind": str(part.kind)}
    if part.message.paper_id:
        payload["paper"] = part.message.paper_id
    if part.papers:
        payload["papers"] = " ".join(part.papers)  # a string: Slack's metadata takes flat values
    if index == 0:
        payload["layout"] = str(layout)
    return {"event_type": METADATA_EVENT, "event_payload": payload}


def _keyed_parts(messages: Iterable[Any], key: str) -> dict[int, dict[str, Any]]:
    """The parts of the digest with this key among ``messages``, by part number, each with its ts."""
    parts: dict[int, dict[str, Any]] = {}
    for message in messages:
        if not isinstance(message, dict):
            continue
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == METADATA_EVENT and payload.get("key") == key:
            parts[int(payload.get("part", 0))] = {**payload, "ts": message.get("ts")}
    return parts


def _complete_top_level(parts: dict[int, dict[str, Any]]) -> bool:
    """Whether the history needs no more pages: every part found, or a thread layout's header (its other
    parts are in its thread, never in the history)."""
    header = parts.get(0)
    if header is not None and header.get("layout") == Layout.THREAD:
        return True
    total = max((int(found.get("parts", 0)) for found in parts.values()), default=0)
    return bool(total) and len(parts) >= total
