"""The 👍/👎 buttons of a compact digest on Slack (``adapters.slack_layouts``): a press is acknowledged at
once (Slack's 3 seconds), then teaches the channel's radar as a reaction on that paper's card would
(``bot.votes``), and the person who pressed is told so privately through the action's response_url."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncRespond

from adapters.slack_blocks import render_reply
from adapters.slack_layouts import LIKE_ACTION_ID
from adapters.slack_threads import SlackThreads
from bot.commands import apology
from bot.models import ChannelRef
from bot.votes import vote

__all__ = ["SlackVotes", "Vote", "read_vote"]

log = logging.getLogger("adapters.slack")

_FIELD_MAX = 100  # an id, a ts or a paper id longer than this is not one


@dataclass(frozen=True, slots=True)
class Vote:
    channel: ChannelRef
    user: str
    message_ts: str  # the digest message the button is on
    paper_id: str
    like: bool


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _field(value: Any) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= _FIELD_MAX else ""


def read_vote(body: Mapping[str, Any], action: Mapping[str, Any]) -> Vote | None:
    """A ``block_actions`` press of a 👍/👎 button as a Vote; None when it is malformed (no channel, user,
    message or paper)."""
    container, message, channel, user, team = (
        _mapping(body.get(name)) for name in ("container", "message", "channel", "user", "team")
    )
    channel_id = _field(channel.get("id")) or _field(container.get("channel_id"))
    message_ts = _field(container.get("message_ts")) or _field(message.get("ts"))
    person = _field(user.get("id"))
    paper = _field(action.get("value"))
    if not (channel_id and message_ts and person and paper):
        return None
    workspace = _field(team.get("id")) or _field(user.get("team_id"))
    return Vote(
        ChannelRef("slack", workspace, channel_id), person, message_ts, paper, action.get("action_id") == LIKE_ACTION_ID
    )


class SlackVotes(SlackThreads):
    """The vote listener; registered by SlackAdapter.__init__."""

    async def _on_vote(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()  # within Slack's 3 seconds; the radar and the answer follow
        pressed = read_vote(body, action)
        if pressed is None:
            log.warning("a 👍/👎 press without a channel, user, message or paper: ignored")
            return
        self._spawn(self._learn_from_vote(pressed, respond))

    async def _learn_from_vote(self, pressed: Vote, respond: AsyncRespond) -> None:
        try:
            reply = vote(
                self.engine.store,
                pressed.channel,
                pressed.message_ts,
                pressed.paper_id,
                pressed.user,
                like=pressed.like,
            )
        except Exception:
            reply = apology(log, "a 👍/👎 press in %s failed", pressed.channel)
        # Private: only the person who pressed sees it. One short message; the response_url takes five.
        for message in render_reply(reply)[:1]:
            try:
                await respond(
                    text=message.text,
                    blocks=list(message.blocks),
                    response_type="ephemeral",
                    replace_original=False,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                log.warning("answering a 👍/👎 press through its response_url failed: %s", type(err).__name__)
