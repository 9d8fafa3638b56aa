"""Equation images as Discord attachments: the files (``eq-3.png``) and embeds that show them.

An embed shows an attached file through ``attachment://<filename>``: each image gets one embed titled
with its label ("Eq. (3)"), linked to its place in the paper's HTML version, and the file carries the
equation's Unicode form as its description (Discord's alt text). The adapter sends them with the
explanation, or right after it, as one message:

    attachments = await equation_attachments(reply.images)
    if attachments.files:
        await interaction.followup.send(embeds=attachments.embeds, files=attachments.files)

``discord.File`` objects are read once when sent: build them again for another send.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import discord

from adapters.discord_embeds import escape, escape_plain
from bot.cards import EquationImage
from bot.equation_images import image_filename, read_image
from bot.untrusted import bounded, is_allowed_link

log = logging.getLogger(__name__)

__all__ = ["EquationAttachments", "equation_attachments"]

MAX_ATTACHMENTS = 10  # embeds per message
DESCRIPTION_CHARS = 1_000  # Discord takes 1,024 for an attachment's description
_COLOUR = 0xFFFFFF  # the images are white cards


@dataclass(slots=True)
class EquationAttachments:
    files: list[discord.File] = field(default_factory=list)
    embeds: list[discord.Embed] = field(default_factory=list)


async def equation_attachments(images: Sequence[EquationImage]) -> EquationAttachments:
    """Files and embeds for ``images`` (files read off the event loop; a missing one is left out)."""
    attachments = EquationAttachments()
    used: set[str] = set()
    for image in images[:MAX_ATTACHMENTS]:
        try:
            data = await asyncio.to_thread(read_image, Path(image.path))
        except OSError as err:
            log.info("equation image %s unreadable (%s): not attached", image.path, err)
            continue
        name = _unique(image_filename(image.label), used)
        description = escape_plain(bounded(image.unicode, DESCRIPTION_CHARS))
        attachments.files.append(discord.File(io.BytesIO(data), filename=name, description=description))
        embed = discord.Embed(title=escape(bounded(image.label, 100)), colour=discord.Colour(_COLOUR))
        if image.url and is_allowed_link(image.url):
            embed.url = image.url
        embed.set_image(url=f"attachment://{name}")
        attachments.embeds.append(embed)
    return attachments


def _unique(name: str, used: set[str]) -> str:
    stem, n = name.removesuffix(".png"), 2
    while name in used:
        name = f"{stem}-{n}.png"
        n += 1
    used.add(name)
    return name
