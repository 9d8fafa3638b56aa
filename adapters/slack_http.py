"""The door of Slack's HTTP mode: every request to ``/slack/events`` is checked here before bolt sees it.

bolt parses a request before it checks the signature, and its parsers and listener matchers assume Slack's
shapes: a non-numeric timestamp, a body that is not UTF-8, ``payload=notjson``, JSON nested 100,000 deep or
``"actions": [1]`` each raised inside bolt (HTTP 500 and an ERROR traceback). So the door, in this order:

1. **Signature** on the raw bytes, nothing parsed yet: exactly one ``X-Slack-Request-Timestamp`` (ASCII
   digits, within 5 minutes of now) and one ``X-Slack-Signature`` (``v0=`` + 64 hex digits) matching the
   HMAC-SHA256 of ``v0:{timestamp}:{body}``. Otherwise 401.
2. **Replay**: a signature already admitted within its 5-minute window is refused (401), so a captured
   ``/paper explain`` cannot be played again to spend LLM calls. See ``ReplayGuard``.
3. **Parsing**: UTF-8, a form (slash commands, ``ssl_check``) or JSON (``payload=`` of interactivity, or
   a JSON body), bounded depth, no lone surrogates. Otherwise 400.
4. **Shape**: only what paperbot handles (a slash command, a ``block_actions`` click, the Events API's
   ``url_verification`` and the events it subscribes to: ``reaction_added``, ``reaction_removed``,
   ``app_mention``), and only the fields it and bolt read, each type-checked and copied into a fresh dict,
   so bolt never meets a field of a surprising type. Wrong types give 400; a well-formed request of a kind
   paperbot does not handle gives 404.

A refusal is one ``RequestRefused`` carrying the HTTP status and one line for the log (no traceback).
Requests too broken for aiohttp itself (a header over 8 KB, a bad request line) get aiohttp's 400; its log
record, an ERROR with a traceback by default, becomes one WARNING line too (``server_logger``).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiMapping

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "SIGNATURE_WINDOW_S",
    "Admitted",
    "ReplayGuard",
    "RequestDoor",
    "RequestRefused",
    "server_logger",
]

SIGNATURE_WINDOW_S = 300  # Slack's rule: a request older (or newer) than 5 minutes is not accepted
MAX_BODY_BYTES = 1024 * 1024  # Slack's largest payloads (a click on a 50-block message) are far below this
MAX_DEPTH = 32  # Slack's payloads nest about 10 deep (blocks in a message in a click)
MAX_FORM_FIELDS = 100  # a slash command has 15
MAX_ACTIONS = 25  # a block holds at most 25 elements
SEEN_LIMIT = 20_000  # signatures remembered at once: ~66 requests a second for 5 minutes, about 4 MB

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: int() would also take " 1", "1_0" and other scripts' digits
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # valid JSON (\ud800), but no text can carry it on to Slack

# The fields of a slash command (Slack's documented set): only these reach bolt, all as strings.
SLASH_COMMAND_FIELDS = (
    "token", "team_id", "team_domain", "enterprise_id", "enterprise_name", "channel_id", "channel_name",
    "user_id", "user_name", "command", "text", "response_url", "trigger_id", "api_app_id", "is_enterprise_install",
)  # fmt: skip
_SLASH_COMMAND_REQUIRED = ("team_id", "channel_id", "user_id", "command")

# The events paperbot subscribes to (slack/manifest.yml), with the string fields it and bolt read of each.
_REACTION_FIELDS = (("user", "reaction"), ("item_user", "event_ts"))
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reaction_added": _REACTION_FIELDS,
    "reaction_removed": _REACTION_FIELDS,
    "app_mention": (
        ("channel", "ts"),
        ("user", "text", "thread_ts", "event_ts", "team", "client_msg_id", "bot_id", "subtype", "parent_user_id"),
    ),
}
_EVENT_BODY_FIELDS = ("token", "team_id", "api_app_id", "event_id", "enterprise_id", "event_context")
MAX_AUTHORIZATIONS = 10  # Slack sends one (more only for org-wide installations)


class RequestRefused(Exception):
    """The request is not let in: ``status`` is the HTTP answer, ``reason`` one line for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @property
    def answer(self) -> str:
        """The response body: what kind of refusal, never what exactly was wrong (that is for the log)."""
        return {401: "invalid request signature", 404: "not handled", 503: "busy, retry later"}.get(
            self.status, "malformed request"
        )


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let in: ``body`` is what bolt gets (None for Slack's ``ssl_check``, answered 200 at once);
    ``headers`` the few that bolt reads."""

    body: dict[str, Any] | None
    headers: dict[str, str]


class ReplayGuard:
    """Signatures admitted in the last ``window_s`` seconds, each kept until its timestamp turns stale
    (after that the signature check refuses it anyway), at most ``limit`` at once.

    It lives in the process: the HTTP listener runs in the one ``paperbot run`` process, so one memory sees
    every request. A restart forgets it; a request captured in the 5 minutes before a restart could be
    played once more after it. When full, new requests are refused (503) rather than an old signature
    forgotten early: answering a replay twice is the thing this exists to prevent."""

    def __init__(self, *, window_s: float = SIGNATURE_WINDOW_S, limit: int = SEEN_LIMIT) -> None:
        self.window_s = window_s
        self.limit = limit
        self._expiry: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []  # a heap, to drop expired signatures in order

    def __len__(self) -> int:
        return len(self._expiry)

    def admit(self, signature: str, timestamp: int, now: float) -> None:
        """Remember ``signature``; RequestRefused (401) when it was already admitted, 503 when full."""
        self._forget_expired(now)
        if signature in self._expiry:
            raise RequestRefused(401, "a replayed request (this signature was already answered)")
        if len(self._expiry) >= self.limit:
            raise RequestRefused(503, f"more than {self.limit} requests in {self.window_s:.0f} s")
        expiry = timestamp + self.window_s
        self._expiry[signature] = expiry
        heapq.heappush(self._by_expiry, (expiry, signature))

    def _forget_expired(self, now: float) -> None:
        while self._by_expiry and self._by_expiry[0][0] < now:
            _, signature = heapq.heappop(self._by_expiry)
            self._expiry.pop(signature, None)


class RequestDoor:
    """Checks a request (raw bytes and headers) and returns what bolt may see; see the module docstring."""

    def __init__(
        self,
        signing_secret: str,
        *,
        command: str,
        clock: Callable[[], float] = time.time,
        replays: ReplayGuard | None = None,
    ) -> None:
        self._secret = signing_secret.encode()
        self.command = command
        self.clock = clock  # wall-clock seconds: Slack's timestamps are Unix time
        self.replays = replays or ReplayGuard()

    def admit(self, raw: bytes, headers: MultiMapping[str]) -> Admitted:
        timestamp, signature = self._verify(raw, headers)
        self.replays.admit(signature, timestamp, self.clock())
        kind, payload = _parse(raw, _content_type(headers))
        body = _json_request(payload) if kind == "json" else self._form(payload)
        # What bolt reads of the headers; nothing else (e.g. its lazy-listener headers) is passed on.
        passed = {"content-type": _content_type(headers), TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}
        return Admitted(body=body, headers=passed)

    # --- 1. signature --------------------------------------------------------------------------------

    def _verify(self, raw: bytes, headers: MultiMapping[str]) -> tuple[int, str]:
        stamp = _single(headers, TIMESTAMP_HEADER)
        signature = _single(headers, SIGNATURE_HEADER)
        if not _TIMESTAMP.fullmatch(stamp):
            raise RequestRefused(401, f"{TIMESTAMP_HEADER} is not a number of seconds")
        timestamp = int(stamp)
        if abs(self.clock() - timestamp) > SIGNATURE_WINDOW_S:
            raise RequestRefused(401, f"{TIMESTAMP_HEADER} is more than 5 minutes away from now")
        if not _SIGNATURE.fullmatch(signature):
            raise RequestRefused(401, f"{SIGNATURE_HEADER} is not v0= and 64 hex digits")
        # Slack's algorithm (slack_sdk's SignatureVerifier) on the bytes as received: decoding first would
        # fail on a body that is not UTF-8 before we even know whether Slack sent it.
        expected = hmac.new(self._secret, b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest("v0=" + expected, signature):
            raise RequestRefused(401, f"{SIGNATURE_HEADER} does not match the body")
        return timestamp, signature

    # --- 4. shape ------------------------------------------------------------------------------------

    def _form(self, form: dict[str, Any]) -> dict[str, Any] | None:
        if form.get("ssl_check") == "1":
            return None
        if "command" not in form:
            raise RequestRefused(404, "a form that is not a slash command")
        missing = [name for name in _SLASH_COMMAND_REQUIRED if not form.get(name)]
        if missing:
            raise RequestRefused(400, f"a slash command without {', '.join(missing)}")
        if form["command"] != self.command:
            raise RequestRefused(404, f"a slash command other than {self.command}")
        return {name: form[name] for name in SLASH_COMMAND_FIELDS if name in form}


# --- 3. parsing ------------------------------------------------------------------------------------


def _parse(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """("form", its fields, all strings) or ("json", the object of a JSON body or of a form's ``payload=``),
    read as bolt would read it (JSON when so labelled or when it starts with "{")."""
    if not raw:
        raise RequestRefused(400, "an empty body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRefused(400, "a body that is not UTF-8") from None
    if content_type == "application/json" or text.startswith("{"):
        return "json", _json_object(text, "the JSON body")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (ValueError, UnicodeDecodeError) as err:  # too many fields, or a %-escape that is not UTF-8
        raise RequestRefused(400, f"a form body that cannot be read ({type(err).__name__})") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        # Two values for one field: a proxy may read the first and we the last.
        raise RequestRefused(400, "a form body with a repeated field")
    for value in form.values():
        if _SURROGATE.search(value) or "\x00" in value:
            raise RequestRefused(400, "a form field with a NUL or a lone surrogate")
    if "payload" in form:
        if len(form) > 1:
            raise RequestRefused(400, "an interaction payload with other form fields")
        return "json", _json_object(form["payload"], "payload")
    return "form", form


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise RequestRefused(400, f"{what} nests deeper than Python can parse") from None
    except ValueError as err:  # JSONDecodeError, NaN/Infinity, an integer of more than 4300 digits
        raise RequestRefused(400, f"{what} is not JSON ({type(err).__name__})") from None
    if not isinstance(value, dict):
        raise RequestRefused(400, f"{what} is not a JSON object")
    _check_tree(value, what)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_tree(value: Any, what: str) -> None:
    """Depth at most MAX_DEPTH and no lone surrogate in any key or string; iterative, so any depth is cheap."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RequestRefused(400, f"{what} nests more than {MAX_DEPTH} deep")
        if isinstance(node, dict):
            for key, child in node.items():
                if _SURROGATE.search(key):
                    raise RequestRefused(400, f"{what} has a lone surrogate in a key")
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise RequestRefused(400, f"{what} has a lone surrogate in a string")


# --- 4. shape of an interaction or an event ------------------------------------------------------


def _json_request(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON request: an Events API request (a JSON body) or an interaction (``payload=``)."""
    kind = body.get("type")
    if kind == "url_verification":  # Slack checking the request URL: bolt answers with the challenge
        return {"type": kind, "challenge": _string(body.get("challenge"), "challenge", kind)}
    if kind == "event_callback":
        return _event_callback(body)
    return _interaction(body)


def _event_callback(body: dict[str, Any]) -> dict[str, Any]:
    """An event, as bolt and the listeners read it: every field type-checked, nothing else kept."""
    where = "event_callback"
    event = body.get("event")
    if not isinstance(event, dict):
        raise RequestRefused(400, "event_callback.event is not an object")
    kind = event.get("type")
    if kind not in EVENT_FIELDS:
        if isinstance(kind, str):
            raise RequestRefused(404, f"an event of type {kind[:40]!r}")
        raise RequestRefused(400, "an event without a type")
    required, allowed = EVENT_FIELDS[kind]
    shaped_event: dict[str, Any] = {"type": kind, **_fields(event, "event", required, allowed, where)}
    if kind != "app_mention":
        shaped_event["item"] = _fields(event.get("item"), "event.item", ("type",), ("channel", "ts"), where)
    shaped: dict[str, Any] = {"type": "event_callback", "event": shaped_event}
    for name in _EVENT_BODY_FIELDS:
        if body.get(name) is not None:
            shaped[name] = _string(body[name], name, where)
    if "event_time" in body:
        if not isinstance(body["event_time"], int) or isinstance(body["event_time"], bool):
            raise RequestRefused(400, "event_callback.event_time is not a number")
        shaped["event_time"] = body["event_time"]
    if "is_ext_shared_channel" in body:
        shaped["is_ext_shared_channel"] = _flag(body["is_ext_shared_channel"], "is_ext_shared_channel", where)
    if "authorizations" in body:
        shaped["authorizations"] = _authorizations(body["authorizations"])
    return shaped


def _authorizations(value: Any) -> list[dict[str, Any]]:
    """Who the event was sent for (bolt reads the first): ids as strings or null, flags as booleans."""
    where = "event_callback"
    if not isinstance(value, list) or len(value) > MAX_AUTHORIZATIONS:
        raise RequestRefused(400, f"event_callback.authorizations is not a list of at most {MAX_AUTHORIZATIONS}")
    shaped: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise RequestRefused(400, f"event_callback.authorizations[{index}] is not an object")
        one: dict[str, Any] = {}
        for name in ("enterprise_id", "team_id", "user_id"):
            if item.get(name) is not None:
                one[name] = _string(item[name], f"authorizations[{index}].{name}", where)
        for name in ("is_bot", "is_enterprise_install"):
            if name in item:
                one[name] = _flag(item[name], f"authorizations[{index}].{name}", where)
        shaped.append(one)
    return shaped


def _flag(value: Any, where: str, kind: str) -> bool:
    if not isinstance(value, bool):
        raise RequestRefused(400, f"{kind}.{where} is not true or false")
    return value


def _interaction(body: dict[str, Any]) -> dict[str, Any]:
    """A click, as bolt and the Explain listener read it: every field type-checked, nothing else kept."""
    kind = body.get("type")
    if kind != "block_actions":
        if isinstance(kind, str):
            raise RequestRefused(404, f"an interaction of type {kind[:40]!r}")
        raise RequestRefused(400, "an interaction without a type")
    actions = body.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        raise RequestRefused(400, f"block_actions.actions is not a list of 1 to {MAX_ACTIONS} actions")
    shaped: dict[str, Any] = {
        "type": "block_actions",
        "actions": [
            _fields(action, f"actions[{index}]", ("action_id",), ("block_id", "value", "type", "action_ts"))
            for index, action in enumerate(actions)
        ],
        "user": _fields(body.get("user"), "user", ("id",), ("team_id", "username", "name")),
    }
    for name in ("token", "api_app_id", "trigger_id", "response_url"):
        if name in body:
            shaped[name] = _string(body[name], name)
    optional = {
        "team": (("id",), ("domain", "enterprise_id")),
        "enterprise": (("id",), ("name",)),
        "channel": (("id",), ("name",)),
        "container": ((), ("type", "message_ts", "channel_id", "thread_ts")),
        "message": ((), ("ts", "thread_ts", "type")),
    }
    for name, (required, allowed) in optional.items():
        if body.get(name) is not None:
            shaped[name] = _fields(body[name], name, required, allowed)
    if "is_enterprise_install" in body:
        if not isinstance(body["is_enterprise_install"], bool):
            raise RequestRefused(400, "block_actions.is_enterprise_install is not true or false")
        shaped["is_enterprise_install"] = body["is_enterprise_install"]
    return shaped


def _fields(
    value: Any, where: str, required: tuple[str, ...], allowed: tuple[str, ...], kind: str = "block_actions"
) -> dict[str, str]:
    """The string fields ``required`` + ``allowed`` of the object ``value``; others are dropped."""
    if not isinstance(value, dict):
        raise RequestRefused(400, f"{kind}.{where} is not an object")
    out: dict[str, str] = {}
    for name in required:
        if not isinstance(value.get(name), str) or not value[name]:
            raise RequestRefused(400, f"{kind}.{where}.{name} is not a non-empty string")
        out[name] = value[name]
    for name in allowed:
        if value.get(name) is not None:
            out[name] = _string(value[name], f"{where}.{name}", kind)
    return out


def _string(value: Any, where: str, kind: str = "block_actions") -> str:
    if not isinstance(value, str):
        raise RequestRefused(400, f"{kind}.{where} is not a string")
    return value


# --- headers ---------------------------------------------------------------------------------------


def _single(headers: MultiMapping[str], name: str) -> str:
    """The one value of header ``name``; a missing or repeated header is refused (which one would count?)."""
    values = headers.getall(name, [])
    if len(values) != 1:
        raise RequestRefused(401, f"{name} is {'missing' if not values else 'repeated'}")
    return values[0]


def _content_type(headers: MultiMapping[str]) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


# --- aiohttp's own refusals ------------------------------------------------------------------------


def server_logger() -> logging.Logger:
    """The logger to give aiohttp's server: a request it cannot even parse is logged as one WARNING line."""
    logger = logging.getLogger(f"{__name__}.server")
    if not any(isinstance(f, _MalformedHttpNotice) for f in logger.filters):
        logger.addFilter(_MalformedHttpNotice())
    return logger


class _MalformedHttpNotice(logging.Filter):
    """aiohttp answers 400 to a request it cannot parse and logs it with ``logger.exception``: on a public
    endpoint that is noise an attacker controls, not a fault of ours. Other errors stay as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (
                "Slack HTTP request refused (%d): aiohttp could not read it (%s)",
                (
                    error.code,
                    type(error).__name__,
                ),
            )
            record.exc_info, record.exc_text = None, None
        return True
