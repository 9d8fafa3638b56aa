"""The Slack adapter: `/paper` slash commands, the "Explain" button, scheduled digests, reactions and
questions in threads, on slack-bolt.

One ``AsyncApp`` in the bot's asyncio loop, reached either through Socket Mode (the default: an outbound
websocket, no public URL) or through HTTP (``[slack] mode = "http"``: an aiohttp server on ``[slack] port``
at ``/slack/events``). In HTTP mode every request passes ``adapters.slack_http.RequestDoor`` first: signature
(401 when bad, stale or replayed), then parsing and shape (400), before bolt or a listener sees anything.

Slack gives an app 3 seconds to acknowledge a command or a click, and explanations take longer, so every
listener acknowledges first and does the work in a task of its own, answering through ``respond()`` (the
command's response_url) or ``chat.postMessage``. What a user sees is decided by the engine
(``bot.inbound`` runs every command and click); this module only draws it (``adapters.slack_blocks``) and delivers it.

Posting: the Web API client retries 429s after ``Retry-After`` and 5xx once more, and we pace messages
to one per second per channel (Slack's limit), so a multi-message digest does not run into 429s at all.
A channel we can no longer post to raises ``ChannelUnavailable``, which pauses its subscriptions.
A digest is a header message and then one message per card; every message the bot posts about a paper (a
card, an explanation, an answer in a thread) is recorded in ``bot.posted_messages`` with its ts, so that:

- a 👍/⭐ (or 👎) on it teaches the channel's radar (``reaction_added``/``reaction_removed`` events), and
- a mention of the bot in its thread asks about that paper (``app_mention`` events): the thread so far is
  read with conversations.replies and the answer goes into the same thread. A mention anywhere else gets a
  one-line hint, only for the person who asked. See ``adapters.slack_events``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_blocks import EXPLAIN_ACTION_ID, SlackMessage, render_digest, render_reply
from adapters.slack_events import (
    THREAD_HINT,
    Mention,
    learn_from_reaction,
    question_text,
    read_mention,
    read_reaction,
    thread_messages,
)
from adapters.slack_http import MAX_BODY_BYTES, RequestDoor, RequestRefused, server_logger
from adapters.slack_uploads import upload_equation_images
from bot import questions
from bot.cards import DigestMessage, Reply
from bot.commands import SubCommand, apology
from bot.config import Config
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError, PaperbotError
from bot.inbound import Request, Send, Understood, handle, read_options, read_text
from bot.models import ChannelRef
from bot.posted_messages import MessageKind, find, record
from bot.questions import ThreadMessage, ThreadQuestion
from bot.radar import learn_from_explain
from bot.sources.registry import naming

__all__ = ["EVENTS_PATH", "SlackAdapter", "acknowledgement", "build_client", "check_slack", "progress_note"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
COMMAND = "/paper"
POST_INTERVAL_S = 1.0  # Slack allows about one message per second per channel
METADATA_EVENT = "paperbot_digest"  # message metadata that marks a digest part with its outbox key
ADMIN_CACHE_S = 300.0  # a user's admin flag, from users.info, is trusted this long
RESPOND_LIMIT = 5  # a response_url takes at most 5 messages
STOP_GRACE_S = 5.0  # stop() lets running commands finish this long before cancelling them
CONNECT_TIMEOUT_S = 30.0
HISTORY_PAGES = 5  # conversations.history pages (200 messages each) searched for a digest's parts
THREAD_PAGES = 3  # conversations.replies pages (200 each) read for a question's thread, newest kept
ANSWERED_REMEMBERED = 1_000  # mentions remembered, so that an event Slack delivers twice is answered once

AnswerQuestion = Callable[[Engine, ThreadQuestion], Awaitable[Reply]]

# Web API errors that mean "this channel is gone for us": the subscription pauses with the hint.
UNAVAILABLE: dict[str, str] = {
    "not_in_channel": "invite the bot to the channel (/invite @paperbot) and subscribe again",
    "channel_not_found": "the channel is gone or private to the bot: invite the bot or subscribe again",
    "is_archived": "the channel is archived: unarchive it and subscribe again",
    "invalid_auth": "the bot token is not valid: set a working SLACK_BOT_TOKEN and subscribe again",
    "account_inactive": "the app was removed from the workspace: reinstall it and subscribe again",
    "token_revoked": "the bot token was revoked: reinstall the app, set SLACK_BOT_TOKEN and subscribe again",
    "missing_scope": "the app lacks a permission: reinstall it from slack/manifest.yml and subscribe again",
}
_AUTH_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked")


def _api_url(config: Config) -> str:
    url = str(config.get("slack", "api_url"))
    return url if url.endswith("/") else url + "/"


def sdk_logger(name: str) -> logging.Logger:
    """A logger for slack_sdk/bolt objects with an explicit level.

    The SDK decides whether to format whole request and response bodies for a debug line by testing the
    logger's *own* level (``logger.level <= DEBUG``), which an unset level (0) passes: every call would
    stringify its payload only for the line to be dropped. About a quarter of a fan-out's CPU."""
    logger = logging.getLogger(f"{__name__}.{name}")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.INFO)
    if not any(isinstance(f, _TokenNotice) for f in logger.filters):
        logger.addFilter(_TokenNotice())
    return logger


class _TokenNotice(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN itself and warns that it is unused when a client is given, which is
    exactly our set-up (the client carries the token, the retry handlers and the base URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


def build_client(config: Config, token: str | None = None) -> AsyncWebClient:
    """The Web API client: base URL from ``[slack] api_url``, retrying 429 (after Retry-After) and 5xx."""
    client = AsyncWebClient(
        token=token or config.secret("SLACK_BOT_TOKEN"),
        base_url=_api_url(config),
        timeout=30,
        logger=sdk_logger("web"),
    )
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


def _error_code(err: SlackApiError) -> str:
    response = err.response
    code = response.get("error") if response is not None else None
    return str(code or f"HTTP {getattr(response, 'status_code', '?')}")


class SlackAdapter:
    platform = "slack"

    def __init__(
        self,
        engine: Engine,
        config: Config,
        *,
        client: AsyncWebClient | None = None,
        host: str = "0.0.0.0",
        port: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        post_interval_s: float = POST_INTERVAL_S,
        answer_question: AnswerQuestion | None = None,
    ) -> None:
        """Check the secrets the chosen mode needs (ConfigError, one line, naming what is missing) and set
        up the bolt app. ``host``/``port`` only matter in HTTP mode (port 0: any free port, for tests).
        ``post_interval_s``: the pause between two messages to one channel (Slack's limit; shorter only for
        tests). ``answer_question``: what answers a question in a thread (``bot.questions``' by default)."""
        self.engine = engine
        self.config = config
        self.mode = str(config.get("slack", "mode"))
        self.host = host
        self.port = int(config.get("slack", "port")) if port is None else port
        self.admins = frozenset(str(u) for u in config.get("slack", "admins"))
        self.anyone_can_subscribe = bool(config.get("slack", "anyone_can_subscribe"))
        self.explain_in_channel = bool(config.get("slack", "explain_in_channel"))
        self.clock = clock
        self.post_interval_s = post_interval_s
        self._answer_question = answer_question
        if client is None and not config.secret("SLACK_BOT_TOKEN"):
            raise ConfigError("SLACK_BOT_TOKEN is not set: the Slack adapter needs the app's bot token (xoxb-…)")
        self.app_token = config.secret("SLACK_APP_TOKEN")
        signing_secret = config.secret("SLACK_SIGNING_SECRET")
        if self.mode == "socket" and not self.app_token:
            raise ConfigError(
                "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with connections:write, "
                'or use [slack] mode = "http" with SLACK_SIGNING_SECRET'
            )
        if self.mode == "http" and not signing_secret:
            raise ConfigError('SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs it to verify requests')
        self.client = client or build_client(config)
        self.app = AsyncApp(
            client=self.client,
            # "" rather than None: bolt would otherwise read os.environ, and secrets come from the config.
            signing_secret=signing_secret or "",
            name="paperbot",
            logger=sdk_logger("bolt"),
        )
        self.app.command(COMMAND)(self._on_command)
        self.app.action(EXPLAIN_ACTION_ID)(self._on_explain_button)
        self.app.event("reaction_added")(self._on_reaction_added)
        self.app.event("reaction_removed")(self._on_reaction_removed)
        self.app.event("app_mention")(self._on_mention)
        self.app.error(self._on_error)
        self.door = RequestDoor(signing_secret or "", command=COMMAND)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._admin_cache: dict[str, tuple[bool, float]] = {}
        self._channel_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last_post: dict[str, float] = {}
        self._present_parts: dict[str, set[int]] = {}  # digest key -> parts found in history after a crash
        self._explaining: set[tuple[str, str, str]] = set()
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.workspace = ""
        self.bot_user_id = ""  # from auth.test: the bot's own reactions and mentions are not feedback
        self.bot_id = ""
        self._own_session = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (Socket Mode) or listen (HTTP); returns once running, in the caller's loop."""
        if self.client.session is None:
            # One keep-alive session for all Web API calls: without it the SDK opens a connection per call,
            # which is half the CPU of a digest fan-out.
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
            self._own_session = True
        try:
            await self._check_token()
            if self.mode == "http":
                await self._start_http()
            else:
                await self._start_socket()
        except BaseException:
            await self.stop()  # nothing half-open left behind when the runner gives up
            raise

    async def _check_token(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as err:
            code = _error_code(err)
            if code in _AUTH_ERRORS:
                raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN ({code}): see docs/slack.md") from None
            log.warning("Slack auth.test failed (%s); starting anyway", code)
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            log.warning("cannot reach Slack to check the token (%s); starting anyway", type(err).__name__)
            return
        self.workspace = str(auth.get("team") or "")
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_id = str(auth.get("bot_id") or "")
        log.info("Slack: connected to workspace %s (%s) as @%s", self.workspace, auth.get("team_id"), auth.get("user"))

    async def _start_socket(self) -> None:
        handler = AsyncSocketModeHandler(self.app, self.app_token, logger=sdk_logger("socket"), web_client=self.client)
        try:
            # Ask for the websocket URL ourselves: a bad app token fails here, clearly, instead of in the
            # SDK's connect loop, which retries forever.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
            await asyncio.wait_for(handler.connect_async(), CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except SlackApiError as err:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ConfigError(f"Slack refused SLACK_APP_TOKEN ({_error_code(err)}): see docs/slack.md") from None
        except (aiohttp.ClientError, OSError) as err:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ConfigError(f"cannot reach Slack at {_api_url(self.config)} ({type(err).__name__})") from None
        except TimeoutError:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ConfigError(f"could not open Slack's Socket Mode connection in {CONNECT_TIMEOUT_S:.0f} s") from None
        self._socket = handler
        log.info("Slack: Socket Mode connected")

    async def _start_http(self) -> None:
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(web_app, access_log=None, handle_signals=False, logger=server_logger())
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        server = site._server  # the bound port, when asked for port 0
        sockets = getattr(server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._runner = runner
        log.info("Slack: listening for HTTP requests on %s:%d%s", self.host, self.port, EVENTS_PATH)

    async def _handle_http(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("Slack HTTP request refused (413): a body over %d bytes", MAX_BODY_BYTES)
            return web.Response(status=413, text="request too large")
        except (ConnectionError, HttpProcessingError) as err:  # the client went away or sent a broken body
            log.warning("Slack HTTP request refused (400): the body could not be read (%s)", type(err).__name__)
            return web.Response(status=400, text="malformed request")
        try:
            admitted = self.door.admit(raw, request.headers)
        except RequestRefused as refused:
            # One line, no traceback: forged and broken requests are expected on a public endpoint.
            log.warning("Slack HTTP request refused (%d): %s", refused.status, refused.reason)
            return web.Response(status=refused.status, text=refused.answer)
        if admitted.body is None:  # Slack's ssl_check: it only wants to see us answer
            return web.Response(status=200)
        # The body is verified, parsed and shaped already. bolt calls such a request "socket_mode" (it skips
        # its own signature check, which needs the raw text, and its parser, which the door replaced).
        bolt_request = AsyncBoltRequest(body=admitted.body, headers=dict(admitted.headers), mode="socket_mode")
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def stop(self) -> None:
        """Stop listening, let running commands finish (briefly), then disconnect. Safe to call twice."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._own_session and self.client.session is not None:
            session, self.client.session = self.client.session, None
            self._own_session = False
            await session.close()

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
                log.info("cannot check %s history (%s): resending", channel, _error_code(err))
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
                code = _error_code(err)
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

    # --- /paper ------------------------------------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        understood = read_text(str(body.get("text") or ""))  # read once: for the acknowledgement and the work
        note = acknowledgement(understood)
        if note:
            await ack(text=note)  # shown at once, to the user only; the answer follows via response_url
        else:
            await ack()  # quick commands answer in full through response_url a moment later
        channel = ChannelRef("slack", str(body.get("team_id") or ""), str(body.get("channel_id") or ""))
        user = str(body.get("user_id") or "")
        # users.info only when the answer matters: the pipeline asks for commands that change the channel.
        request = Request(understood, channel, user=user, can_manage=lambda: self.can_manage(user))
        # poster=self: a requested digest is posted with its outbox key, like a scheduled one, so a restart
        # after a crash can see it is already in the channel instead of posting it again.
        self._spawn(self._handle(request, lambda reply: self._answer(channel, reply, respond)))

    async def _handle(self, request: Request, send: Send) -> None:
        await handle(self.engine, request, send, poster=self)

    async def _answer(self, channel: ChannelRef, reply: Reply, respond: AsyncRespond) -> None:
        if reply.digest is not None:
            # A digest goes to the channel as a bot message, like the scheduled one.
            await self.post_digest(channel, reply.digest)
            if reply.text:
                await self._respond(respond, Reply(text=reply.text, ephemeral=True))
            return
        messages = render_reply(reply)
        if not self._private(reply) and any(m.paper_id for m in messages):
            # A public answer about one paper (an explanation) is posted as the bot's own message, so that
            # it has a ts: recorded, it can be reacted to and asked about in its thread. Where the bot may
            # not post (a channel it is not in), the response_url still can.
            kind = MessageKind.EXPLANATION if reply.explanation is not None else MessageKind.RESULT
            messages, first_ts = await self._post_each(channel, messages, kind)
            if not messages:
                await self._upload_images(channel, first_ts, reply)  # under the explanation, in its thread
                return
        await self._respond_messages(respond, messages, private=self._private(reply))

    async def _post_each(
        self, channel: ChannelRef, messages: Sequence[SlackMessage], kind: MessageKind
    ) -> tuple[list[SlackMessage], str]:
        """Post and record the messages in order: the ones left unposted when Slack refuses one, and the
        first one's ts."""
        first_ts = ""
        for index, message in enumerate(messages):
            try:
                ts = await self._post_recorded(channel, message, kind)
            except (ChannelUnavailable, SlackApiError) as err:
                log.info("cannot post in %s (%s): answering through the response_url", channel, err)
                return list(messages[index:]), first_ts
            first_ts = first_ts or ts
        return [], first_ts

    def _private(self, reply: Reply) -> bool:
        return reply.ephemeral or reply.is_error or (reply.explanation is not None and not self.explain_in_channel)

    async def _respond(self, respond: AsyncRespond, reply: Reply) -> None:
        await self._respond_messages(respond, render_reply(reply), private=self._private(reply))

    async def _respond_messages(
        self, respond: AsyncRespond, messages: Sequence[SlackMessage], *, private: bool
    ) -> None:
        if len(messages) > RESPOND_LIMIT:
            log.warning("reply of %d messages cut to the response_url's %d", len(messages), RESPOND_LIMIT)
        for message in messages[:RESPOND_LIMIT]:
            try:
                answer = await respond(
                    text=message.text,
                    blocks=list(message.blocks),
                    response_type="ephemeral" if private else "in_channel",
                    replace_original=False,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                log.warning("answering through response_url failed: %s", type(err).__name__)
                return
            if answer.status_code != 200:
                # The response_url expired (30 minutes) or was used 5 times; nothing else to tell the user.
                log.warning("response_url answered HTTP %d: %s", answer.status_code, answer.body[:100])
                return

    async def can_manage(self, user: str) -> bool:
        """May ``user`` change what this workspace's channels receive? Workspace admins and owners (from
        users.info, cached briefly), users listed in ``[slack] admins``, everyone with
        ``anyone_can_subscribe``."""
        if self.anyone_can_subscribe or user in self.admins:
            return True
        cached = self._admin_cache.get(user)
        now = self.clock()
        if cached is not None and now - cached[1] < ADMIN_CACHE_S:
            return cached[0]
        try:
            info = await self.client.users_info(user=user)
        except SlackApiError as err:
            # Without users:read (or for an unknown user) nobody is an admin: refusing is the safe side.
            log.warning("users.info for %s failed (%s): treated as not an admin", user, _error_code(err))
            return False
        profile = info.get("user") or {}
        allowed = bool(profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner"))
        self._admin_cache[user] = (allowed, now)
        return allowed

    # --- the Explain button ------------------------------------------------------------------------

    async def _on_explain_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        message = body.get("message") or {}
        container = body.get("container") or {}
        thread_ts = str(message.get("thread_ts") or message.get("ts") or container.get("message_ts") or "")
        channel_id = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        paper_id = str(action.get("value") or "")
        if not channel_id or not paper_id:
            log.warning("Explain click without a channel or a paper id: ignored")
            return
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
        # The button is `/paper explain <id>` with the id already typed: the same path as the command.
        request = Request(
            read_options("explain", {"id": paper_id}),
            ChannelRef("slack", team, channel_id),
            user=str(user.get("id") or ""),
        )
        self._spawn(self._explain_in_thread(request, thread_ts, paper_id, respond))

    async def _explain_in_thread(self, request: Request, thread_ts: str, paper_id: str, respond: AsyncRespond) -> None:
        key = (request.channel.channel, thread_ts, paper_id)
        if key in self._explaining:  # a double click: the first one answers
            return
        self._explaining.add(key)
        try:
            reply = await handle(
                self.engine, request, lambda reply: self._answer_in_thread(request.channel, thread_ts, reply, respond)
            )
            if not reply.is_error and reply.cards and request.user:
                # Asking for an explanation says a little about what the channel cares about.
                learn_from_explain(self.engine.store, request.channel, reply.cards[0].paper_id, request.user)
        finally:
            self._explaining.discard(key)

    async def _answer_in_thread(self, channel: ChannelRef, thread_ts: str, reply: Reply, respond: AsyncRespond) -> None:
        """An explanation goes under the card that was clicked, for the whole channel; a mistake or an
        apology only to the person who clicked."""
        if reply.is_error or reply.ephemeral:
            await self._respond(respond, reply)
            return
        for message in render_reply(reply):
            await self._post_recorded(channel, message, MessageKind.EXPLANATION, thread_ts=thread_ts or None)
        await self._upload_images(channel, thread_ts, reply)

    # --- reactions: feedback for the channel's radar ---------------------------------------------------

    async def _on_reaction_added(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        self._spawn(self._learn_from_reaction(event, body, added=True))  # bolt has acknowledged already

    async def _on_reaction_removed(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        self._spawn(self._learn_from_reaction(event, body, added=False))

    async def _learn_from_reaction(self, event: dict[str, Any], body: dict[str, Any], *, added: bool) -> None:
        reaction = read_reaction(event, _team_of(body, event), self.bot_user_id)
        if reaction is None:
            return
        try:
            learn_from_reaction(self.engine.store, reaction, added=added)
        except Exception:
            log.exception("learning from a reaction in %s failed", reaction.channel)

    # --- questions in the thread of a paper ---------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        mention = read_mention(event, _team_of(body, event), self.bot_user_id)
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
            await self._ephemeral(mention, Reply(text=THREAD_HINT, ephemeral=True))
            return
        thread_ts = mention.thread_ts or ""
        question = ThreadQuestion(
            channel=mention.channel,
            user=mention.user,
            paper_id=parent.paper_id,
            text=question_text(mention.text, self.bot_user_id),
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
                message = SlackMessage(message.text, message.blocks, parent.paper_id)
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
                log.info("cannot read the thread %s in %s (%s)", thread_ts, channel_id, _error_code(err))
                break
            found += [m for m in response.get("messages") or [] if isinstance(m, dict)]
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        return thread_messages(found, before=question_ts, bot_user=self.bot_user_id, bot_id=self.bot_id)

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
                log.info("cannot answer %s privately in %s (%s)", mention.user, mention.channel, _error_code(err))
                return

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        # Listeners ack and hand off to tasks that catch everything; this is for bolt-level surprises.
        apology(log, "Slack listener failed for a %s request", str(body.get("type") or body.get("command") or "?"))


def _digest_kind(digest: DigestMessage, message: SlackMessage) -> MessageKind:
    if digest.is_note:
        return MessageKind.NOTE
    return MessageKind.CARD if message.paper_id else MessageKind.HEADER


def _team_of(body: dict[str, Any], event: dict[str, Any]) -> str:
    """The workspace an event comes from, as slash commands name it (``team_id``)."""
    return str(body.get("team_id") or event.get("team") or "")


def acknowledgement(understood: Understood) -> str | None:
    """What the acknowledgement says for a command that has to fetch first (explain, digest), so that the
    user knows at once what is happening when arXiv is slow; None for commands that answer right away."""
    command = understood.command
    if command is None or understood.mistake is not None:
        return None  # the mistake itself is the answer, a moment later
    if command.name == "explain":
        try:
            ref = naming().parse_ref(understood.args["id"])
        except (PaperbotError, KeyError):
            return None
        shown = f"{ref.key}v{ref.version}" if ref.version else ref.key
        where = naming().get("arxiv" if ref.source == "huggingface" else ref.source)
        service = where.display_name if where else "its source"
        return f"Fetching {shown} from {service}… the explanation follows in a few seconds."
    if command.name == "digest":
        return "Fetching the latest papers for this channel's digest…"
    return None


def progress_note(text: str, command: SubCommand | None) -> str | None:
    """``acknowledgement`` for `/paper` text (``command``: what it asks for, None for a mistake)."""
    if command is None:
        return None
    return acknowledgement(read_text(text))


# --- paperbot doctor -----------------------------------------------------------------------------------


async def check_slack(config: Config, *, client: AsyncWebClient | None = None) -> list[str]:
    """Human lines for `paperbot doctor`: which Slack secrets are missing and whether Slack takes the tokens."""
    mode = str(config.get("slack", "mode"))
    token = config.secret("SLACK_BOT_TOKEN")
    if not token and client is None:
        return ["Slack: off (SLACK_BOT_TOKEN is not set; see docs/slack.md to connect a workspace)"]
    lines: list[str] = []
    if token and not token.startswith("xoxb-"):
        lines.append("Slack: SLACK_BOT_TOKEN does not start with xoxb-: use the Bot User OAuth Token")
    app_token = config.secret("SLACK_APP_TOKEN")
    if mode == "socket" and not app_token:
        lines.append(
            "Slack: SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…), "
            'or set [slack] mode = "http"'
        )
    elif mode == "socket" and app_token and not app_token.startswith("xapp-"):
        lines.append("Slack: SLACK_APP_TOKEN does not start with xapp-: use an app-level token with connections:write")
    if mode == "http" and not config.secret("SLACK_SIGNING_SECRET"):
        lines.append('Slack: SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs it to verify requests')
    web = client or build_client(config, token)
    try:
        auth = await web.auth_test()
    except SlackApiError as err:
        lines.append(f"Slack: the bot token was refused ({_error_code(err)}): copy the Bot User OAuth Token again")
        return lines
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        lines.append(f"Slack: cannot reach {_api_url(config)} ({type(err).__name__})")
        return lines
    lines.insert(
        0,
        f"Slack: bot token OK for workspace {auth.get('team')} (team {auth.get('team_id')}) as @{auth.get('user')}",
    )
    if mode == "socket" and app_token:
        lines.append(await _check_app_token(web, app_token))
    return lines


async def _check_app_token(web: AsyncWebClient, app_token: str) -> str:
    try:
        await web.apps_connections_open(app_token=app_token)
    except SlackApiError as err:
        return f"Slack: the app-level token was refused ({_error_code(err)}): it needs the connections:write scope"
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        return f"Slack: cannot check the app-level token ({type(err).__name__})"
    return "Slack: app-level token OK (Socket Mode)"
