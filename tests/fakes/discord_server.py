"""A fake Discord (REST + gateway websocket) on 127.0.0.1, for running the real discord.py client.

It runs in the test's event loop (aiohttp), on a free port. Point the client at it through the
product's own configuration: ``[discord] api_url = fake.api_url``, ``gateway_url = fake.gateway_url``.

    async with FakeDiscord() as fake:
        ...                                            # start the adapter
        await fake.slash("explain", {"id": "1605.08386"})
        call = await fake.wait_for("POST", "/webhooks/")   # the follow-up
        fake.fail_channel(CHANNEL_ID, 403, 50001, "Missing Access")
        fake.script("POST", "/channels/", (429, {"retry_after": 0.05, "global": False}))

REST (under ``/api/v10``): ``GET /users/@me``, ``GET /oauth2/applications/@me`` (also
``/applications/@me``), ``GET /gateway`` and ``/gateway/bot``, ``GET /channels/{id}``,
``POST /channels/{id}/messages``, ``POST /interactions/{id}/{token}/callback``, ``POST
/webhooks/{app}/{token}`` (follow-ups), ``PATCH``/``DELETE /webhooks/{app}/{token}/messages/@original``,
``PUT /applications/{app}/commands`` and ``PUT /applications/{app}/guilds/{guild}/commands``. Every
request is recorded (``calls``); errors are programmable per channel (``fail_channel``) or as a queue
per method and path prefix (``script``); a 429 carries ``Via`` and ``retry_after`` as Discord's does.

Gateway (``/gateway/``, discord.py's handshake): HELLO (op 10); heartbeats (op 1) get ACKs (op 11);
Rate limits: ``FakeDiscord(limits=DISCORD_LIMITS)`` enforces Discord's (5 messages per 5 s per channel,
50 requests per second per bot, global 429s with ``X-RateLimit-Global``; ``tests.fakes.discord_limits``),
with the headers discord.py paces by; without ``limits`` nothing is limited. A message posted with
``enforce_nonce`` and a nonce already used in that channel returns the first message instead of a new
one, as Discord does within its nonce window (``deduped`` counts them).

IDENTIFY (op 2) gets READY and one GUILD_CREATE per guild; RESUME (op 6) gets RESUMED. With
``compress=zlib-stream`` in the URL (what discord.py asks for without zstandard) frames are one
zlib stream flushed with Z_SYNC_FLUSH per message; otherwise plain text frames. Tests then push
dispatches: ``slash`` / ``autocomplete`` send INTERACTION_CREATE built from the recorded
``tests/data/discord/interaction-slash-command.json``.

Messages and reactions: every message the fake creates (bot posts, follow-ups, and people's messages
from ``say``) is kept, so ``GET /channels/{id}/messages/{id}`` returns it (a post with
``message_reference`` becomes a reply, type 19, carrying its ``referenced_message``). ``say`` dispatches
MESSAGE_CREATE, ``react`` / ``unreact`` MESSAGE_REACTION_ADD / REMOVE, in the shapes Discord documents.
As Discord does for a bot without the privileged MESSAGE_CONTENT intent, a person's message reaches the
bot with empty content unless it mentions the bot (a reply that pings the bot mentions it). An IDENTIFY
asking for a privileged intent (``PRIVILEGED_INTENTS``) is closed with 4014 unless
``privileged_intents_enabled``, as Discord does when the portal has not enabled them.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import socket
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.discord_layout_routes import component_payload, layout_answer
from tests.fakes.discord_limits import DiscordLimits, RateLimiting

SAMPLE_INTERACTION = Path(__file__).resolve().parent.parent / "data" / "discord" / "interaction-slash-command.json"

APPLICATION_ID = 775799577604522054
BOT_USER_ID = 775799577604522054  # a bot user shares its application's id
GUILD_ID = 290926798626357999  # the recorded payload's guild
CHANNEL_ID = 645027906669510667  # the recorded payload's channel
OTHER_CHANNEL_ID = 645027906669510668
USER_ID = 53908232506183680
TOKEN = "fake-bot-token.XXXX.yyyy"

OTHER_USER_ID = 53908232506183681
GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT = 1 << 1, 1 << 8, 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

ALL_PERMISSIONS = 2147483647
NO_MANAGE_CHANNELS = ALL_PERMISSIONS & ~(1 << 4) & ~(1 << 3)  # neither Manage Channels nor Administrator

_snowflakes = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> int:
    return next(_snowflakes)


@dataclass(frozen=True)
class Call:
    """One REST request the fake received."""

    method: str
    path: str  # without the /api/v10 prefix
    query: Mapping[str, str]
    json: Any
    headers: Mapping[str, str]
    at: float  # time.monotonic() on arrival
    # Files of a multipart request (messages with attachments): {"field": "files[0]", "filename", "size",
    # "content_type", "data"}; its ``payload_json`` part is ``json``.
    files: tuple[dict[str, Any], ...] = ()


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int
    type: int = 0  # GUILD_TEXT

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "bitrate": 64000,  # read for voice and stage channels (type 2, 13) only
            "user_limit": 0,
        }


@dataclass
class FakeGuild:
    id: int = GUILD_ID
    name: str = "Paper readers"
    channels: list[FakeChannel] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        everyone = {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(0),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(self.id),
            "name": self.name,
            "unavailable": False,
            "owner_id": str(USER_ID),
            "member_count": 2,
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [c.payload() for c in self.channels],
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": "2024-03-01T00:00:00+00:00",
            "large": False,
            "preferred_locale": "en-US",
            "premium_tier": 0,
        }


def default_guilds() -> list[FakeGuild]:
    return [
        FakeGuild(
            channels=[
                FakeChannel(CHANNEL_ID, "papers", GUILD_ID),
                FakeChannel(OTHER_CHANNEL_ID, "more-papers", GUILD_ID),
            ]
        )
    ]


Answer = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]


class _Session:
    """One gateway connection."""

    def __init__(self, ws: web.WebSocketResponse, compress: str) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.sequence = 0
        self.identified = asyncio.Event()
        self.identify: dict[str, Any] | None = None
        self.lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        async with self.lock:  # one zlib stream: frames must go out in the order they were compressed
            if self._zlib is not None:
                await self.ws.send_bytes(self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
            else:
                await self.ws.send_str(text)

    async def dispatch(self, event: str, data: Any) -> None:
        self.sequence += 1
        await self.send({"op": 0, "t": event, "s": self.sequence, "d": data})


class FakeDiscord:
    """See the module docstring. Use ``async with`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        guilds: list[FakeGuild] | None = None,
        *,
        heartbeat_interval_ms: int = 41_250,
        limits: DiscordLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guilds = guilds if guilds is not None else default_guilds()
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.send_ready = True  # False: IDENTIFY is never answered (a gateway that hangs)
        self.token = TOKEN
        self.calls: list[Call] = []
        self.sessions: list[_Session] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> synced commands
        self._channel_errors: dict[int, tuple[int, int, str]] = {}
        self._scripts: list[tuple[str, str, deque[Answer]]] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._interaction_counter = itertools.count(1)
        self.messages: dict[int, dict[str, Any]] = {}  # every message created, by id, as stored
        self.privileged_intents_enabled = False  # the Developer Portal's switches, all off
        self.rate_limits = RateLimiting(limits, clock) if limits is not None else None
        self._nonces: dict[tuple[int, str], dict[str, Any]] = {}
        self.deduped = 0  # posts Discord answered with the message their nonce already made
        # Digest layouts (tests.fakes.discord_layout_routes): threads by id (their message's), channels
        # that refuse threads, and the ids of edited messages.
        self.threads: dict[int, dict[str, Any]] = {}
        self.thread_refusals: dict[int, tuple[int, int, str]] = {}
        self.edits: list[int] = []

    # -- lifecycle

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bind port 0 ourselves to learn the free port the system picked.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway/"

    # -- programming

    def fail_channel(self, channel_id: int, status: int, code: int, message: str) -> None:
        """Every request about this channel answers ``status`` with Discord's ``{"code", "message"}``."""
        self._channel_errors[channel_id] = (status, code, message)

    def refuse_threads(self, channel_id: int, status: int, code: int, message: str) -> None:
        """Starting a thread in this channel answers ``status`` with Discord's ``{"code", "message"}``."""
        self.thread_refusals[channel_id] = (status, code, message)

    def script(self, method: str, path_prefix: str, *answers: Answer) -> None:
        """Queue answers ``(status, json[, headers])`` for requests matching, used before the normal ones.
        A 429 gets Discord's headers and body fields unless given."""
        self._scripts.append((method, path_prefix, deque(answers)))

    # -- inspection

    def calls_to(self, method: str, path_prefix: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def count(self, method: str, path_prefix: str = "") -> int:
        return len(self.calls_to(method, path_prefix))

    async def wait_for(self, method: str, path_prefix: str, count: int = 1, timeout: float = 10.0) -> Call:
        """The ``count``-th request matching (waiting for it to arrive)."""

        def ready() -> bool:
            return len(self.calls_to(method, path_prefix)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        return self.calls_to(method, path_prefix)[count - 1]

    async def wait_identified(self, timeout: float = 10.0) -> _Session:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: any(s.identify for s in self.sessions)), timeout)
        return next(s for s in self.sessions if s.identify)

    # -- the bot's identity

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(BOT_USER_ID),
            "username": "paperbot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "flags": 0,
            "mfa_enabled": False,
            "verified": True,
        }

    def application(self) -> dict[str, Any]:
        return {
            "id": str(APPLICATION_ID),
            "name": "paperbot",
            "description": "arXiv digests",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": {"id": str(USER_ID), "username": "Mason", "discriminator": "0", "avatar": None},
            "verify_key": "0" * 64,
            "flags": 0,
            "interactions_endpoint_url": None,
        }

    # -- gateway dispatches driven by tests

    async def dispatch(self, event: str, data: Any) -> None:
        for session in self.sessions:
            if session.identify is not None and not session.ws.closed:
                await session.dispatch(event, data)

    def interaction_payload(
        self,
        sub: str,
        options: Mapping[str, str] | None = None,
        *,
        channel_id: int = CHANNEL_ID,
        guild_id: int = GUILD_ID,
        permissions: int = ALL_PERMISSIONS,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """The recorded APPLICATION_COMMAND payload, adapted to `/paper <sub> <options>`; with
        ``focused`` an APPLICATION_COMMAND_AUTOCOMPLETE (type 4) for that option."""
        payload: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE_INTERACTION.read_text(encoding="utf-8")))
        number = next(self._interaction_counter)
        payload["id"] = str(snowflake())
        payload["token"] = f"interaction-token-{number}"
        payload["type"] = 4 if focused else 2
        payload["application_id"] = str(APPLICATION_ID)
        payload["version"] = 1
        payload["attachment_size_limit"] = 8 * 1024 * 1024
        payload["guild_id"] = str(guild_id)
        payload["channel_id"] = str(channel_id)
        channel = self._channel(channel_id) or FakeChannel(channel_id, "unknown", guild_id)
        payload["channel"] = channel.payload()
        payload["member"]["permissions"] = str(permissions)
        payload["member"].setdefault("flags", 0)  # required by discord.py 2.7, newer than the recorded example
        payload["entitlements"] = []
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        sub_options = []
        for name, value in (options or {}).items():
            option: dict[str, Any] = {"type": 3, "name": name, "value": value}
            if name == focused:
                option["focused"] = True
            sub_options.append(option)
        payload["data"] = {
            "id": str(snowflake()),
            "name": "paper",
            "type": 1,
            "options": [{"type": 1, "name": sub, "options": sub_options}],
        }
        return payload

    async def slash(self, sub: str, options: Mapping[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        """Send INTERACTION_CREATE for `/paper <sub> <options>`; returns the payload (id, token)."""
        payload = self.interaction_payload(sub, options, **kw)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def press(self, message_id: int, custom_id: str, **kw: Any) -> dict[str, Any]:
        """A person presses the button ``custom_id`` on a stored message: INTERACTION_CREATE (type 3)."""
        payload = component_payload(self, message_id, custom_id, **kw)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def autocomplete(self, sub: str, options: Mapping[str, str], focused: str, **kw: Any) -> dict[str, Any]:
        payload = self.interaction_payload(sub, options, focused=focused, **kw)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    # -- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        session = _Session(ws, request.query.get("compress", ""))
        self.sessions.append(session)
        await session.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            await self._on_gateway_message(session, json.loads(msg.data))
        return ws

    async def _on_gateway_message(self, session: _Session, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == 1:  # heartbeat
            await session.send({"op": 11})
        elif op == 2:  # identify
            session.identify = message["d"]
            asked = int(message["d"].get("intents", 0))
            if asked & PRIVILEGED_INTENTS and not self.privileged_intents_enabled:
                await session.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            if self.send_ready:
                await session.dispatch("READY", self._ready())
                for guild in self.guilds:
                    await session.dispatch("GUILD_CREATE", guild.payload())
            async with self._changed:
                self._changed.notify_all()
        elif op == 6:  # resume
            session.identify = message["d"]
            await session.dispatch("RESUMED", {})

    def _ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot_user(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    def _channel(self, channel_id: int) -> FakeChannel | None:
        for guild in self.guilds:
            for channel in guild.channels:
                if channel.id == channel_id:
                    return channel
        return None

    # -- REST

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: tuple[dict[str, Any], ...] = ()
        if request.content_type.startswith("multipart/"):
            body, files = await _multipart(request)
        elif request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
        call = Call(request.method, path, dict(request.query), body, dict(request.headers), time.monotonic(), files)
        self.calls.append(call)
        try:
            return self._answer(call)
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _answer(self, call: Call) -> web.Response:
        scripted = self._scripted(call)
        if scripted is not None:
            return scripted
        parts = call.path.strip("/").split("/")
        # Interaction callbacks and follow-ups are authorised by the interaction token in the path.
        if parts[0] not in ("interactions", "webhooks") and call.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        limited = self.rate_limits.check(call.method, call.path) if self.rate_limits is not None else None
        if limited is not None and limited.status == 429:
            return _json(limited.body, 429, limited.headers)
        if call.path == "/users/@me":
            return _json(self.bot_user())
        if call.path in ("/oauth2/applications/@me", "/applications/@me"):
            return _json(self.application())
        if call.path in ("/gateway", "/gateway/bot"):
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url.rstrip("/"), "shards": 1, "session_start_limit": limit})
        if parts[0] == "channels" and len(parts) >= 2:
            answer = self._channel_answer(call, int(parts[1]), parts[2:])
            answer.headers.update(limited.headers if limited is not None else {})
            return answer
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback_answer(call, parts[1])
        if parts[0] == "webhooks":
            return self._webhook_answer(call, parts)
        if parts[0] == "applications" and parts[-1] == "commands" and call.method == "PUT":
            guild = int(parts[3]) if len(parts) == 5 and parts[2] == "guilds" else None
            return self._sync_answer(call, guild)
        return _error(404, 0, "404: Not Found")

    def _scripted(self, call: Call) -> web.Response | None:
        for method, prefix, queue in self._scripts:
            if queue and call.method == method and call.path.startswith(prefix):
                answer = queue.popleft()
                status, payload = answer[0], answer[1]
                headers = dict(answer[2]) if len(answer) > 2 else {}
                if status == 429:
                    payload = {"message": "You are being rate limited.", "global": False, **(payload or {})}
                    headers.setdefault("Via", "1.1 google")
                    headers.setdefault("Retry-After", str(payload.get("retry_after", 0)))
                return _json(payload, status, headers)
        return None

    def _channel_answer(self, call: Call, channel_id: int, rest: list[str]) -> web.Response:
        if channel_id in self._channel_errors:
            status, code, message = self._channel_errors[channel_id]
            return _error(status, code, message)
        channel = self._channel(channel_id)
        if not rest and call.method == "GET":
            return _json(channel.payload()) if channel else _error(404, 10003, "Unknown Channel")
        if rest == ["messages"] and call.method == "POST":
            return _json(self._post(channel_id, call.json or {}))
        if len(rest) == 2 and rest[0] == "messages" and call.method == "GET":
            stored = self.messages.get(int(rest[1])) if rest[1].isdigit() else None
            if stored is None or stored["channel_id"] != str(channel_id):
                return _error(404, 10008, "Unknown Message")
            return _json(self.seen_by_bot(stored))
        layout = layout_answer(self, call, channel_id, rest)
        if layout is not None:
            return layout
        if rest == ["typing"] and call.method == "POST":
            return web.Response(status=204)
        return _error(404, 0, "404: Not Found")

    def _callback_answer(self, call: Call, interaction_id: str) -> web.Response:
        kind = (call.json or {}).get("type")
        data = (call.json or {}).get("data") or {}
        ephemeral = bool(int(data.get("flags", 0) or 0) & 64)
        answer: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            },
        }
        if kind == 4:
            message = self._message(CHANNEL_ID, data)
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        elif kind is not None:
            answer["resource"] = {"type": kind}
        return _json(answer)

    def _webhook_answer(self, call: Call, parts: list[str]) -> web.Response:
        if call.method == "DELETE":
            return web.Response(status=204)
        return _json(self._message(CHANNEL_ID, call.json or {}, webhook_id=parts[1]))

    def _sync_answer(self, call: Call, guild_id: int | None) -> web.Response:
        synced = []
        for command in call.json or []:
            saved = {**command, "id": str(snowflake()), "application_id": str(APPLICATION_ID), "version": "1"}
            if guild_id is not None:
                saved["guild_id"] = str(guild_id)
            synced.append(saved)
        self.commands[guild_id] = synced
        return _json(synced)

    def _post(self, channel_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        nonce = body.get("nonce")
        if not body.get("enforce_nonce") or nonce is None:
            return self._message(channel_id, body)
        first = self._nonces.get((channel_id, str(nonce)))
        if first is not None:
            self.deduped += 1
            return first
        message = self._nonces[(channel_id, str(nonce))] = self._message(channel_id, body)
        return message

    def _message(self, channel_id: int, body: Mapping[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "author": self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": _attachments(body),
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags", 0) or 0),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if webhook_id is not None:
            message["webhook_id"] = webhook_id
        reference = body.get("message_reference")
        if reference:
            self._make_reply(message, int(reference["message_id"]))
        self.messages[int(message["id"])] = message
        return message

    # -- people's messages and reactions, through the gateway

    def _make_reply(self, message: dict[str, Any], replied_to: int) -> None:
        referenced = self.messages.get(replied_to)
        message["type"] = 19  # REPLY
        message["message_reference"] = {
            "type": 0,
            "message_id": str(replied_to),
            "channel_id": message["channel_id"],
            "guild_id": str(GUILD_ID),
        }
        shown = self.seen_by_bot(referenced) if referenced is not None else None
        if shown is not None:
            shown.pop("referenced_message", None)  # Discord resolves one level only
        message["referenced_message"] = shown

    def seen_by_bot(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A message as the bot receives it: without MESSAGE_CONTENT, a person's message that does not
        mention the bot comes with empty content (Discord's rule for the privileged intent)."""
        shown = dict(message)
        mentioned = any(m.get("id") == str(BOT_USER_ID) for m in message.get("mentions", []))
        by_bot = message.get("author", {}).get("id") == str(BOT_USER_ID)
        if not (by_bot or mentioned or self._intents() & MESSAGE_CONTENT):
            shown.update(content="", embeds=[], attachments=[])
        return shown

    def _intents(self) -> int:
        return next((int(s.identify.get("intents", 0)) for s in self.sessions if s.identify), 0)

    def person(self, user_id: int = USER_ID, name: str = "Mason") -> dict[str, Any]:
        return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None}

    def user_message(
        self,
        content: str,
        *,
        reply_to: int | None = None,
        ping: bool = True,
        author_id: int = USER_ID,
        channel_id: int = CHANNEL_ID,
        bot_author: bool = False,
    ) -> dict[str, Any]:
        """A person's message as Discord stores it (kept for GET). ``reply_to``: a reply to that message,
        which mentions its author when ``ping`` (Discord's default); an explicit ``<@id>`` mentions too."""
        author = self.bot_user() if bot_author else self.person(author_id)
        mentions: list[dict[str, Any]] = []
        replied = self.messages.get(reply_to) if reply_to is not None else None
        if replied is not None and ping:
            mentions.append(replied["author"])
        if f"<@{BOT_USER_ID}>" in content or f"<@!{BOT_USER_ID}>" in content:
            mentions.append(self.bot_user())
        message: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
            "author": author,
            "member": {"roles": [], "joined_at": "2024-03-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0},
            "content": content,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": list({m["id"]: m for m in mentions}.values()),
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if reply_to is not None:
            self._make_reply(message, reply_to)
        self.messages[int(message["id"])] = message
        return message

    async def say(self, content: str, **kw: Any) -> dict[str, Any]:
        """A person posts a message (see ``user_message``): MESSAGE_CREATE as the bot receives it."""
        message = self.user_message(content, **kw)
        await self.dispatch("MESSAGE_CREATE", self.seen_by_bot(message))
        return message

    def reaction_payload(
        self, message_id: int, emoji: str, *, user_id: int = USER_ID, channel_id: int = CHANNEL_ID, add: bool = True
    ) -> dict[str, Any]:
        """MESSAGE_REACTION_ADD (with the member) or _REMOVE data; ``emoji`` a Unicode emoji, or
        ``name:id`` for a server's custom one."""
        name, _, custom_id = emoji.partition(":")
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "guild_id": str(GUILD_ID),
            "emoji": {"id": custom_id or None, "name": name},
            "burst": False,
            "type": 0,
        }
        if add:
            stored = self.messages.get(message_id)
            if stored is not None:
                data["message_author_id"] = stored["author"]["id"]
            data["burst_colors"] = []
            data["member"] = {
                "user": self.bot_user() if user_id == BOT_USER_ID else self.person(user_id),
                "roles": [],
                "joined_at": "2024-03-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        return data

    async def react(self, message_id: int, emoji: str, **kw: Any) -> None:
        await self.dispatch("MESSAGE_REACTION_ADD", self.reaction_payload(message_id, emoji, **kw))

    async def unreact(self, message_id: int, emoji: str, **kw: Any) -> None:
        await self.dispatch("MESSAGE_REACTION_REMOVE", self.reaction_payload(message_id, emoji, add=False, **kw))


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py parses nothing else (no charset suffix).
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


async def _multipart(request: web.Request) -> tuple[Any, tuple[dict[str, Any], ...]]:
    """A message with files, as discord.py sends it: ``payload_json`` and ``files[n]`` parts."""
    payload: Any = None
    files: list[dict[str, Any]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read()
        if part.name == "payload_json":
            payload = json.loads(data)
        else:
            files.append({"field": part.name, "filename": part.filename, "size": len(data),
                          "content_type": part.headers.get("Content-Type", ""), "data": bytes(data)})  # fmt: skip
    return payload, tuple(files)


def _attachments(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The attachments a message with files gets back (ids, names and descriptions from payload_json)."""
    found = []
    for item in body.get("attachments") or []:
        name = str(item.get("filename", "file"))
        url = f"https://cdn.example.invalid/attachments/{item.get('id', 0)}/{name}"
        found.append({"id": str(snowflake()), "filename": name, "size": 0, "url": url, "proxy_url": url,
                      "description": item.get("description")})  # fmt: skip
    return found
