"""A fake Slack Web API (and Socket Mode endpoint) on 127.0.0.1, recording every call.

An aiohttp server on a free port, running its own event loop in a daemon thread: the real slack_sdk client
under test talks to it over real HTTP, nothing is patched, and the server's own work never competes with
the loop of the code under test.

    with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        slack.set_user("U1", is_admin=True)
        slack.channel_error("C_GONE", "channel_not_found")
        slack.script("chat.postMessage", ratelimited(retry_after=1))
        slack.hold_posts_after(3)             # the 4th post waits (``held``); release_held() drops it
        url = slack.response_url()            # hand to a slash-command body; POSTs to it are recorded
        ...
        assert slack.count("chat.postMessage") == 2
        assert slack.calls("response")[0].body["text"] == "..."

Routes:
- ``/api/<method>``: ``auth.test``, ``chat.postMessage``, ``users.info``, ``apps.connections.open``,
  ``conversations.history``, ``conversations.replies`` (from the messages posted and those added with
  ``add_message``), ``chat.postEphemeral`` (recorded, kept out of the history, as Slack does)
  (form, query or JSON arguments; the token from ``Authorization``). Other methods: ``unknown_method``.
- ``/upload/<file id>``: where files_upload_v2 POSTs a file's bytes (``files.getUploadURLExternal`` hands
  it out; ``files.completeUploadExternal`` shares the files, recorded in ``shared_files``).
- ``/response/<n>``: response_url targets handed out by ``response_url()``; recorded as method "response".
- ``/socket``: a Socket Mode websocket: says hello, takes envelopes from ``send_envelope`` (Events API
  events: ``send_event``) and records the acknowledgements the client sends back (``socket_acks``).

``per_channel_interval_s`` makes chat.postMessage enforce Slack's "1 message per second per channel":
a faster post gets 429, ``Retry-After: 1`` and the recorded 429 body.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from adapters.slack_client import SCOPES as MANIFEST_SCOPES

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "slack"
# Recorded body of a Slack 429 (see tests/data/slack/README.md).
RATELIMITED_BODY = (DATA_DIR / "web-response-ratelimited.json").read_bytes()
SLASH_COMMAND_BODY = (DATA_DIR / "slash-command-body.txt").read_text().strip()

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM_ID = "T111"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def ok(**data: Any) -> Answer:
    return Answer(200, json.dumps({"ok": True, **data}).encode(), {"Content-Type": "application/json"})


def error(name: str, status: int = 200) -> Answer:
    return Answer(status, json.dumps({"ok": False, "error": name}).encode(), {"Content-Type": "application/json"})


def ratelimited(retry_after: int = 1) -> Answer:
    return Answer(429, RATELIMITED_BODY, {"Content-Type": "application/json", "Retry-After": str(retry_after)})


def server_error(status: int = 503) -> Answer:
    return Answer(status, b"upstream trouble", {"Content-Type": "text/plain"})


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received: the API method (or "response"), its arguments, and how it ended."""

    method: str
    path: str
    args: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() on arrival
    status: int

    @property
    def body(self) -> dict[str, Any]:
        return self.args


class FakeSlack:
    """See the module docstring. Start with ``with`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        latency_s: float = 0.0,
        per_channel_interval_s: float | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.latency_s = latency_s
        self.per_channel_interval_s = per_channel_interval_s
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages posted, oldest first
        self.history_scope = True  # False: conversations.history answers missing_scope
        self.team = "Test Workspace"
        self._lock = threading.Lock()
        self._calls: list[SlackCall] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._channel_errors: dict[str, str] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._last_post: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._response_ids = itertools.count(1)
        self.ratelimited_posts = 0
        # files_upload_v2: files.getUploadURLExternal hands out /upload/<id>, the bytes are POSTed there
        # (recorded as method "upload"), files.completeUploadExternal shares them (``shared_files``).
        self.uploads: dict[str, dict[str, Any]] = {}
        self.scopes: list[str] = list(MANIFEST_SCOPES)  # what auth.test says the token was granted
        self.shared_files: list[dict[str, Any]] = []
        self._file_ids = itertools.count(1)
        self.socket_acks: list[dict[str, Any]] = []
        self._held_after: int | None = None  # see hold_posts_after
        self.held = 0  # chat.postMessage calls being held
        self._release = asyncio.Event()
        self._sockets: list[web.WebSocketResponse] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle

    def start(self) -> Self:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Slack server did not start")
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{n}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/_fake/stats", self._stats)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("the fake Slack server is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self) -> str:
        """A fresh response_url for a slash command or button payload."""
        return f"{self.base_url}/response/{next(self._response_ids)}"

    # -- programming

    def set_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        with self._lock:
            self._users[user_id] = {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": user_id.lower(),
                "is_admin": is_admin,
                "is_owner": is_owner,
                "is_primary_owner": False,
                "is_bot": False,
            }

    def channel_error(self, channel: str, name: str | None) -> None:
        """chat.postMessage to ``channel`` answers ``{"ok": false, "error": name}`` (e.g. channel_not_found);
        ``None`` lets the channel work again."""
        with self._lock:
            if name is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = name

    def script(self, method: str, *answers: Answer) -> None:
        """Queue answers for ``method`` (or "response"), used up before the normal answer."""
        with self._lock:
            self._scripts[method].extend(answers)

    def hold_posts_after(self, count: int | None) -> None:
        """Hold every chat.postMessage once ``count`` messages are posted (``held`` counts them), until
        ``release_held()``, which drops them unposted (503): a bot killed mid-way through a digest, at a
        point chosen by its progress. ``None`` lets posts through again."""
        with self._lock:
            if count is not None and self._held_after is None:
                self._release = asyncio.Event()  # waited on in the server's loop only
            self._held_after = count

    def release_held(self) -> None:
        """Drop every held post (see hold_posts_after) and stop holding."""
        release = self._release
        self.hold_posts_after(None)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(release.set)

    # -- inspection

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def count(self, method: str | None = None) -> int:
        return len(self.calls(method))

    def posts(self, channel: str | None = None) -> list[SlackCall]:
        """Successful chat.postMessage calls (to ``channel``)."""
        return [
            c
            for c in self.calls("chat.postMessage")
            if c.status == 200 and (channel is None or c.args.get("channel") == channel)
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll (from a thread or a sync test) until predicate() holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    async def wait_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """The same from async code, without blocking the caller's loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.005)
        return predicate()

    # -- Socket Mode

    def send_envelope(self, kind: str, payload: Mapping[str, Any]) -> str:
        """Push an envelope (``slash_commands``, ``interactive``...) to every connected socket client."""
        envelope_id = f"env-{next(self._ts)}"
        message = {"envelope_id": envelope_id, "type": kind, "payload": dict(payload), "accepts_response_payload": True}
        if self._loop is None:
            raise RuntimeError("the fake Slack server is not running")

        async def push() -> None:
            for ws in list(self._sockets):
                await ws.send_str(json.dumps(message))

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)
        return envelope_id

    def send_event(self, event: Mapping[str, Any], *, team_id: str = TEAM_ID) -> str:
        """Push one Events API event (``reaction_added``, ``app_mention``...) in its ``event_callback``
        wrapper, as Slack's Socket Mode delivers it; returns the envelope id the client acknowledges."""
        n = next(self._ts)
        body = {
            "token": "verification_token",
            "team_id": team_id,
            "api_app_id": "A111",
            "event": dict(event),
            "type": "event_callback",
            "event_id": f"Ev{n:06d}",
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": team_id, "user_id": "UBOT", "is_bot": True,
                 "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-eyJldCI6ImV2ZW50In0-{n}",
        }  # fmt: skip
        return self.send_envelope("events_api", body)

    def add_message(self, channel: str, text: str, *, user: str, thread_ts: str | None = None) -> str:
        """A person's message in ``channel`` (in a thread with ``thread_ts``), as if typed in Slack; its ts."""
        ts = f"1711440000.{next(self._ts):06d}"
        message: dict[str, Any] = {"type": "message", "ts": ts, "text": text, "user": user}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.history.setdefault(channel, []).append(message)
        return ts

    def ephemerals(self, channel: str | None = None) -> list[SlackCall]:
        """Successful chat.postEphemeral calls (to ``channel``)."""
        return [
            c
            for c in self.calls("chat.postEphemeral")
            if c.status == 200 and (channel is None or c.args.get("channel") == channel)
        ]

    @property
    def socket_connections(self) -> int:
        return len(self._sockets)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}}))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    with self._lock:
                        self.socket_acks.append(json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
        return ws

    # -- HTTP handlers (run in the server's loop)

    async def _stats(self, request: web.Request) -> web.Response:
        """Counters for a fake running in another process (the benchmark): calls per method and status."""
        with self._lock:
            counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for call in self._calls:
                counts[call.method][str(call.status)] += 1
            return web.json_response({"calls": counts, "ratelimited_posts": self.ratelimited_posts})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or args.get("token")
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if method == "chat.postMessage" and self._held_after is not None and len(self.posts()) >= self._held_after:
            # Held, then dropped: the bot died before this message reached Slack (see hold_posts_after).
            self.held += 1
            await self._release.wait()
            self._record(SlackCall(method, request.path, args, token, time.monotonic(), 503))
            return web.Response(status=503, body=b"dropped", headers={"Content-Type": "text/plain"})
        answer = self._answer(method, args, token)
        self._record(SlackCall(method, request.path, args, token, time.monotonic(), answer.status))
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))

    async def _response(self, request: web.Request) -> web.Response:
        args = await _arguments(request)
        with self._lock:
            scripted = self._scripts["response"].popleft() if self._scripts["response"] else None
        answer = scripted or Answer(200, b"ok", {"Content-Type": "text/plain"})
        self._record(SlackCall("response", request.path, args, None, time.monotonic(), answer.status))
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))

    def _record(self, call: SlackCall) -> None:
        with self._lock:
            self._calls.append(call)

    def _answer(self, method: str, args: Mapping[str, Any], token: str | None) -> Answer:
        with self._lock:
            if self._scripts[method]:
                return self._scripts[method].popleft()
            if method == "apps.connections.open":
                return (
                    ok(url=f"ws://127.0.0.1:{self._port}/socket") if token == self.app_token else error("invalid_auth")
                )
            if token != self.bot_token:
                return error("not_authed" if not token else "invalid_auth")
            if method == "auth.test":
                answer = ok(
                    url="https://test-workspace.slack.com/", team=self.team, user="paperbot",
                    team_id=TEAM_ID, user_id="UBOT", bot_id="BBOT", is_enterprise_install=False,
                )  # fmt: skip
                # Slack names the token's scopes in a header of every Web API answer.
                return Answer(answer.status, answer.body, {**answer.headers, "x-oauth-scopes": ",".join(self.scopes)})
            if method == "users.info":
                user = self._users.get(str(args.get("user", "")))
                return ok(user=user) if user else error("user_not_found")
            if method == "chat.postMessage":
                return self._post(args)
            if method == "conversations.history":
                return self._history(args)
            if method == "conversations.replies":
                return self._replies(args)
            if method == "chat.postEphemeral":
                return self._ephemeral(args)
            if method == "files.getUploadURLExternal":
                return self._upload_url(args)
            if method == "files.completeUploadExternal":
                return self._complete_upload(args)
            return error("unknown_method")

    # -- files_upload_v2 (files:write)

    def _upload_url(self, args: Mapping[str, Any]) -> Answer:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return error("invalid_arguments")
        file_id = f"F{next(self._file_ids):08d}"
        self.uploads[file_id] = {
            "filename": args["filename"], "length": int(args["length"]), "alt_txt": args.get("alt_txt"), "data": None,
        }  # fmt: skip
        return ok(upload_url=f"{self.base_url}/upload/{file_id}", file_id=file_id)

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        with self._lock:
            scripted = self._scripts["upload"].popleft() if self._scripts["upload"] else None
            known = self.uploads.get(file_id)
            if scripted is None and known is not None:
                known["data"] = data
        answer = scripted or (Answer(200, b"OK - " + str(len(data)).encode()) if known else Answer(404, b"not found"))
        self._record(SlackCall("upload", request.path, {"file_id": file_id, "bytes": len(data)}, None,
                               time.monotonic(), answer.status))  # fmt: skip
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))

    def _complete_upload(self, args: Mapping[str, Any]) -> Answer:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        channel = str(args.get("channel_id") or "")
        if not isinstance(files, list) or not files:
            return error("invalid_arguments")
        if channel in self._channel_errors:
            return error(self._channel_errors[channel])
        shared = []
        for item in files:
            upload = self.uploads.get(str(item.get("id")))
            if upload is None or upload["data"] is None:
                return error("file_not_found")
            shared.append({"id": item["id"], "title": item.get("title"), "name": upload["filename"],
                           "alt_txt": upload["alt_txt"], "size": len(upload["data"])})  # fmt: skip
        self.shared_files.append({"channel": channel, "thread_ts": args.get("thread_ts"), "files": shared})
        return ok(files=[{"id": f["id"], "title": f["title"]} for f in shared])

    def _history(self, args: Mapping[str, Any]) -> Answer:
        """Newest first, as Slack returns it: the channel's own messages, not the replies in their threads
        (conversations.replies has those); metadata only with include_all_metadata (as Slack does)."""
        if not self.history_scope:
            return error("missing_scope")
        channel = str(args.get("channel", ""))
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = []
        for message in reversed(self.history.get(channel, [])):
            if message.get("thread_ts") not in (None, message["ts"]):  # a thread's replies are not history
                continue
            shown = dict(message)
            if not with_metadata:
                shown.pop("metadata", None)
            messages.append(shown)
        return ok(messages=messages[: int(args.get("limit", 100))], has_more=False)

    def _replies(self, args: Mapping[str, Any]) -> Answer:
        """A thread, parent first then replies oldest first, as Slack returns it: ``latest``/``oldest`` bound
        it (``inclusive`` keeps the bounds), ``limit`` pages it with a ``next_cursor``."""
        if not self.history_scope:
            return error("missing_scope")
        channel, parent = str(args.get("channel", "")), str(args.get("ts", ""))
        thread = [m for m in self.history.get(channel, []) if parent in (m["ts"], m.get("thread_ts"))]
        if not any(m["ts"] == parent for m in thread):
            return error("thread_not_found")
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        order = _ts_order
        if args.get("latest"):
            latest = order(str(args["latest"]))
            thread = [m for m in thread if order(m["ts"]) < latest or (inclusive and order(m["ts"]) == latest)]
        if args.get("oldest"):
            oldest = order(str(args["oldest"]))
            thread = [m for m in thread if order(m["ts"]) > oldest or (inclusive and order(m["ts"]) == oldest)]
        thread.sort(key=lambda m: order(m["ts"]))
        start = int(str(args.get("cursor") or "0"))
        limit = int(args.get("limit", 1000))
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        page = [_without_metadata(m) if not with_metadata else dict(m) for m in thread[start : start + limit]]
        more = start + limit < len(thread)
        return ok(messages=page, has_more=more, response_metadata={"next_cursor": str(start + limit) if more else ""})

    def _ephemeral(self, args: Mapping[str, Any]) -> Answer:
        channel, user = str(args.get("channel", "")), str(args.get("user", ""))
        if not channel:
            return error("channel_not_found")
        if channel in self._channel_errors:
            return error(self._channel_errors[channel])
        if not user:
            return error("user_not_found")
        if not args.get("text") and not args.get("blocks"):
            return error("no_text")
        return ok(message_ts=f"1711440000.{next(self._ts):06d}")

    def _post(self, args: Mapping[str, Any]) -> Answer:
        channel = str(args.get("channel", ""))
        if not channel:
            return error("channel_not_found")
        if channel in self._channel_errors:
            return error(self._channel_errors[channel])
        if not args.get("text") and not args.get("blocks"):
            return error("no_text")
        now = time.monotonic()
        if self.per_channel_interval_s is not None:
            last = self._last_post.get(channel)
            if last is not None and now - last < self.per_channel_interval_s:
                self.ratelimited_posts += 1
                return ratelimited(1)
            self._last_post[channel] = now
        ts = f"1711440000.{next(self._ts):06d}"
        message = {"type": "message", "ts": ts, "text": args.get("text", ""), "user": "UBOT", "bot_id": "BBOT"}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata:
            message["metadata"] = metadata
        self.history.setdefault(channel, []).append(message)
        return ok(channel=channel, ts=ts, message=message)


def _without_metadata(message: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in message.items() if name != "metadata"}


def _ts_order(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int(micros or 0)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Arguments as the Web API takes them: query string, form body or JSON body, merged."""
    args: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw:
        return args
    kind = request.headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        data = json.loads(raw)
        if isinstance(data, dict):
            args.update(data)
    else:
        args.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):  # form-encoded calls send these as JSON text
            args[key] = json.loads(args[key])
    return args


def main() -> None:
    """``python -m tests.fakes.slack_server [--per-channel-interval S] [--latency S]``: serve until killed,
    after printing the base URL on one line (for benchmarks that keep the fake out of their process)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--per-channel-interval", type=float, default=None)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeSlack(per_channel_interval_s=args.per_channel_interval, latency_s=args.latency) as fake:
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()


__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "RATELIMITED_BODY",
    "SLASH_COMMAND_BODY",
    "TEAM_ID",
    "Answer",
    "FakeSlack",
    "SlackCall",
    "error",
    "ok",
    "ratelimited",
    "server_error",
]
