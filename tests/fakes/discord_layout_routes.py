"""The fake Discord's routes for digest layouts (``tests.fakes.discord_server`` answers with them).

- ``POST /channels/{channel}/messages/{message}/threads``: a public thread started from a message. As
  Discord does, the thread has the message's id; a second start from the same message is refused with
  400 and code 160004 ("A thread has already been created for this message"); a message the fake does
  not hold in that channel is 404 / 10008. ``fake.refuse_threads(channel, status, code, message)`` makes a
  channel refuse threads (missing permissions, a channel type without threads). Messages posted to the
  thread (``POST /channels/{thread}/messages``) are stored with the thread as their channel and count
  against the thread's own 5-per-5-s bucket, as Discord's do.
- ``PATCH /channels/{channel}/messages/{message}``: an edit of content, embeds or components.
- ``component_payload``: the INTERACTION_CREATE data of a button pressed on a stored message (type 3,
  with the message as Discord sends it, components included).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.discord_server import Call, FakeDiscord

__all__ = ["THREAD_ALREADY_CREATED", "component_payload", "layout_answer"]

THREAD_ALREADY_CREATED = 160004
PUBLIC_THREAD = 11


def layout_answer(fake: FakeDiscord, call: Call, channel_id: int, rest: list[str]) -> web.Response | None:
    """The answer to a layout route, or None when ``call`` is not one."""
    if len(rest) == 3 and rest[0] == "messages" and rest[2] == "threads" and call.method == "POST":
        return _start_thread(fake, call, channel_id, rest[1])
    if len(rest) == 2 and rest[0] == "messages" and call.method == "PATCH":
        return _edit(fake, call, channel_id, rest[1])
    return None


def _start_thread(fake: FakeDiscord, call: Call, channel_id: int, message_id: str) -> web.Response:
    refusal = fake.thread_refusals.get(channel_id)
    if refusal is not None:
        status, code, text = refusal
        return _json({"message": text, "code": code}, status)
    stored = fake.messages.get(int(message_id)) if message_id.isdigit() else None
    if stored is None or stored["channel_id"] != str(channel_id):
        return _json({"message": "Unknown Message", "code": 10008}, 404)
    if int(message_id) in fake.threads:
        text = "A thread has already been created for this message"
        return _json({"message": text, "code": THREAD_ALREADY_CREATED}, 400)
    body = call.json or {}
    now = datetime.now(UTC)
    thread = {
        "id": message_id,  # a thread started from a message has the message's id
        "type": PUBLIC_THREAD,
        "guild_id": str(fake.guilds[0].id),
        "parent_id": str(channel_id),
        "owner_id": stored["author"]["id"],
        "name": str(body.get("name", "")),
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": int(body.get("auto_archive_duration", 1440)),
            "archive_timestamp": now.isoformat(),
            "locked": False,
            "create_timestamp": now.isoformat(),
        },
    }
    fake.threads[int(message_id)] = thread
    stored["thread"] = thread
    return _json(thread)


def _edit(fake: FakeDiscord, call: Call, channel_id: int, message_id: str) -> web.Response:
    stored = fake.messages.get(int(message_id)) if message_id.isdigit() else None
    if stored is None or stored["channel_id"] != str(channel_id):
        return _json({"message": "Unknown Message", "code": 10008}, 404)
    body = call.json or {}
    for key in ("content", "embeds", "components"):
        if key in body:
            stored[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
    stored["edited_timestamp"] = (datetime.now(UTC) + timedelta(milliseconds=1)).isoformat()
    fake.edits.append(int(message_id))
    return _json(stored)


def component_payload(
    fake: FakeDiscord, message_id: int, custom_id: str, *, user_id: int | None = None
) -> dict[str, Any]:
    """A button press (INTERACTION_CREATE, type 3) on the stored message ``message_id``, by ``user_id``
    (the recorded payload's member by default), in the message's channel."""
    message = fake.messages[message_id]
    channel_id = int(message["channel_id"])
    payload = fake.interaction_payload("help", channel_id=channel_id)
    payload["type"] = 3
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    payload["message"] = json.loads(json.dumps(message))
    if user_id is not None:
        payload["member"]["user"] = {**payload["member"]["user"], "id": str(user_id)}
    return payload


def _json(payload: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), status=status, headers={"Content-Type": "application/json"})
