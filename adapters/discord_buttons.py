"""The 👍/👎 buttons of a compact digest (``adapters.discord_layouts``) on Discord.

A press arrives as a component interaction (``on_interaction``; no view is kept per message, so a press
on a digest months old, or after a restart, is handled the same). It teaches the channel's radar as the
same reaction on a card would (``bot.votes``, shared with Slack) and is answered at once, privately, with what it did:
Discord wants an answer within 3 s, and the work is one lookup and one row. A button whose custom_id is
not on the message it was pressed on, or names a paper that message does not show, is refused politely
and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, cast

import discord

from adapters.discord_commands import NO_MENTIONS
from adapters.discord_layouts import read_button
from bot.engine import Engine
from bot.models import ChannelRef
from bot.radar import LIKE
from bot.votes import NOT_SHOWN, vote

__all__ = ["DiscordButtons"]

log = logging.getLogger("adapters.discord")


def _on_the_message(interaction: discord.Interaction[Any], custom_id: str) -> bool:
    """Whether the pressed custom_id is one of the buttons of the message it was pressed on."""
    message = interaction.message
    if message is None:
        return False
    for row in message.components:
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                return True
    return False


class DiscordButtons:
    """The component-interaction listener; set up by DiscordAdapter."""

    engine: Engine

    async def on_component(self, interaction: discord.Interaction[Any]) -> None:
        """A button pressed anywhere the bot's messages are: ours are answered, others left alone."""
        if interaction.type is not discord.InteractionType.component or interaction.response.is_done():
            return
        data: Mapping[str, Any] = cast(Mapping[str, Any], interaction.data or {})  # a component's data
        custom_id = str(data.get("custom_id", ""))
        button = read_button(custom_id)
        if button is None:
            return
        try:
            text = self._press(interaction, custom_id, *button)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("a button press in %s failed [ref %s]", interaction.channel_id, ref)
            text = f"Sorry, something went wrong on our side (reference {ref}). Please try again later."
        try:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:
            log.info("a button press in %s was not answered (HTTP %s)", interaction.channel_id, err.status)

    def _press(self, interaction: discord.Interaction[Any], custom_id: str, weight: float, paper_id: str) -> str:
        message = interaction.message
        if message is None or not _on_the_message(interaction, custom_id):
            return NOT_SHOWN
        channel = ChannelRef("discord", str(interaction.guild_id or ""), str(interaction.channel_id or ""))
        said = vote(
            self.engine.store, channel, str(message.id), paper_id, str(interaction.user.id), like=weight == LIKE
        )
        log.debug("button %s on %s in %s: %s", custom_id, message.id, channel, said.text)
        return said.text
