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

The jobs are split: ``adapters.slack_client`` (the Web API client, doctor), ``adapters.slack_posting``
(posting, pacing, recording), ``adapters.slack_threads`` (reactions and questions); this module starts and
stops the connection and answers commands and clicks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_blocks import EXPLAIN_ACTION_ID, SlackMessage, render_reply
from adapters.slack_client import AUTH_ERRORS, UNAVAILABLE, api_url, build_client, check_slack, error_code, sdk_logger
from adapters.slack_http import MAX_BODY_BYTES, RequestDoor, RequestRefused, server_logger
from adapters.slack_layouts import VOTE_ACTION_IDS
from adapters.slack_posting import POST_INTERVAL_S, Resumed
from adapters.slack_threads import RESPOND_LIMIT, AnswerQuestion
from adapters.slack_votes import SlackVotes
from bot.cards import Reply
from bot.commands import SubCommand, apology
from bot.config import Config
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError, PaperbotError
from bot.hint_limit import HintLimiter
from bot.inbound import Request, Send, Understood, handle, read_options, read_text
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.radar import learn_from_explain
from bot.sources.registry import naming

# build_client, check_slack and UNAVAILABLE live in adapters.slack_client; named here too, where the
# rest of the bot and the tests have always found them.
__all__ = [
    "EVENTS_PATH",
    "UNAVAILABLE",
    "SlackAdapter",
    "acknowledgement",
    "build_client",
    "check_slack",
    "progress_note",
]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
COMMAND = "/paper"
ADMIN_CACHE_S = 300.0  # a user's admin flag, from users.info, is trusted this long
# stop() lets running commands finish this long before cancelling them, and the HTTP server's open
# connections as long: SIGTERM must stop the bot within about two seconds (a supervisor kills it after that).
STOP_GRACE_S = 1.0
CONNECT_TIMEOUT_S = 30.0


class SlackAdapter(SlackVotes):
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
        for vote_action in VOTE_ACTION_IDS:  # a compact digest's 👍/👎 buttons (adapters.slack_votes)
            self.app.action(vote_action)(self._on_vote)
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
        self._resumed: dict[str, Resumed] = {}  # digest key -> the layout and thread those parts are in
        self._explaining: set[tuple[str, str, str]] = set()
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.hints = HintLimiter()
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
            code = error_code(err)
            if code in AUTH_ERRORS:
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
            raise ConfigError(f"Slack refused SLACK_APP_TOKEN ({error_code(err)}): see docs/slack.md") from None
        except (aiohttp.ClientError, OSError) as err:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ConfigError(f"cannot reach Slack at {api_url(self.config)} ({type(err).__name__})") from None
        except TimeoutError:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ConfigError(f"could not open Slack's Socket Mode connection in {CONNECT_TIMEOUT_S:.0f} s") from None
        self._socket = handler
        log.info("Slack: Socket Mode connected")

    async def _start_http(self) -> None:
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(
            web_app, access_log=None, handle_signals=False, logger=server_logger(), shutdown_timeout=STOP_GRACE_S
        )
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

    # --- /paper ------------------------------------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        understood = read_text(str(body.get("text") or ""))  # read once: for the acknowledgement and the work
        note = acknowledgement(understood, self.engine.explainer.model if self.engine.explainer.provider else None)
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
            log.warning("users.info for %s failed (%s): treated as not an admin", user, error_code(err))
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

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        # Listeners ack and hand off to tasks that catch everything; this is for bolt-level surprises.
        apology(log, "Slack listener failed for a %s request", str(body.get("type") or body.get("command") or "?"))


def acknowledgement(understood: Understood, model: str | None = None) -> str | None:
    """What the acknowledgement says for a command that has to fetch first (explain, digest), so that the
    user knows at once what is happening when arXiv is slow, and that a model (``model``, None without an
    LLM) is asked next, as the terminal says "Asking <model>…"; None for commands that answer right away."""
    command = understood.command
    if command is None or understood.mistake is not None:
        return None  # the mistake itself is the answer, a moment later
    if command.name in ("explain", "ask"):
        try:
            ref = naming().parse_ref(understood.args["id"])
        except (PaperbotError, KeyError):
            return None
        shown = f"{ref.key}v{ref.version}" if ref.version else ref.key
        where = naming().get("arxiv" if ref.source == "huggingface" else ref.source)
        service = where.display_name if where else "its source"
        what = "explanation" if command.name == "explain" else "answer"
        asking = f", then asking {model}" if model else ""
        return f"Fetching {shown} from {service}{asking}… the {what} follows in a few seconds."
    if command.name == "digest":
        return "Fetching the latest papers for this channel's digest…"
    return None


def progress_note(text: str, command: SubCommand | None, model: str | None = None) -> str | None:
    """``acknowledgement`` for `/paper` text (``command``: what it asks for, None for a mistake)."""
    if command is None:
        return None
    return acknowledgement(read_text(text), model)
