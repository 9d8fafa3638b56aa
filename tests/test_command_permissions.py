"""Who may run which sub-command is decided from the registry's declarations, the same ones the docs'
generated list reads: an action a sub-command declares open (`radar list`) is for everyone, its others
are refused to people who cannot manage the channel, before the handler runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.cards import Reply
from bot.commands import REGISTRY, Invocation, execute
from bot.engine import Engine
from bot.models import ChannelRef

CHANNEL = ChannelRef("slack", "T1", "C1")


async def _ran(engine: Engine, inv: Invocation) -> Reply:
    del engine
    return Reply(text=f"ran {dict(inv.args)}")


@pytest.mark.parametrize("action", ["add", "mute", "clear", "LIST "])
async def test_a_declared_open_action_runs_for_anyone_and_the_others_only_for_managers(action: str) -> None:
    radar = replace(REGISTRY["radar"], handler=_ran)  # the declaration alone decides, not the handler
    engine: Engine = None  # type: ignore[assignment]  # never reached by the stand-in handler
    args = {"action": action, "value": "x"}
    reply = await execute(engine, radar, Invocation(CHANNEL, user="U1", can_manage=False, args=args))
    if action.strip().lower() == "list":
        assert reply.text.startswith("ran")
    else:
        assert reply.is_error and f"/paper radar {action}" in reply.text and "manage this channel" in reply.text
    managed = await execute(engine, radar, Invocation(CHANNEL, user="U1", can_manage=True, args=args))
    assert managed.text.startswith("ran")


def test_every_sub_command_says_whether_it_needs_a_manager() -> None:
    needs = {name for name, command in REGISTRY.items() if command.needs_manager()}
    assert needs == {"subscribe", "unsubscribe", "digest", "quiet", "briefing", "layout", "radar"}
    assert not REGISTRY["radar"].needs_manager({"action": "list"})
