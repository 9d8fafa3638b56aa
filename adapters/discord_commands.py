"""The `/paper` command tree on discord.py: the client that carries it, the group generated from
``bot.commands.REGISTRY`` (names, descriptions, option descriptions, permission checks), the options'
autocompletion, the error handler that tells the user what went wrong, and the follow-ups that answer
an interaction with the visibility it was deferred with.

A sub-command's callback hands the interaction to the adapter (``DiscordAdapter.run_command``); this
module decides nothing about what the answer is.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import zoneinfo
from functools import cache
from typing import TYPE_CHECKING, Any, Optional

import aiohttp
import discord
from discord import app_commands

from adapters.discord_embeds import DiscordMessage
from adapters.discord_limiter import RequestLimiter, limiter_trace
from bot import taxonomy
from bot.commands import REGISTRY, Param, SubCommand
from bot.sources.registry import naming

if TYPE_CHECKING:
    from adapters.discord import DiscordAdapter

__all__ = [
    "CHOICES_LIMIT",
    "COMMON_TIME_ZONES",
    "FOLLOWED_CATEGORY",
    "NO_MENTIONS",
    "PUBLIC_THINKING",
    "PaperbotClient",
    "PaperbotTree",
    "build_paper_group",
    "clip",
    "complete_time_zone",
    "feed_choice",
    "send_followups",
]

log = logging.getLogger("adapters.discord")

NO_MENTIONS = discord.AllowedMentions.none()
# Sub-commands whose `category` is one the channel already follows (autocompleted from the store).
FOLLOWED_CATEGORY = frozenset({"unsubscribe"})
# Set on an interaction while its public "thinking…" message awaits the first follow-up.
PUBLIC_THINKING = "paperbot_public_thinking"
_DESCRIPTION_LIMIT = 100  # Discord's limit for command and option descriptions
CHOICES_LIMIT = 25
COMMON_TIME_ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome",
    "Europe/Amsterdam", "Europe/Zurich", "Europe/Stockholm", "Europe/Warsaw", "Europe/Moscow",
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
    "America/Sao_Paulo", "America/Mexico_City", "Asia/Tokyo", "Asia/Shanghai", "Asia/Seoul",
    "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney", "Africa/Johannesburg",
)  # fmt: skip


def _api_base() -> str:
    return discord.http.Route.BASE


class PaperbotClient(discord.Client):
    """A discord.py client with minimal intents, no mentions, and the `/paper` command tree.

    Intents, none privileged: ``guilds`` (the channel cache and the startup GUILD_CREATEs; interactions
    arrive whatever the intents), ``guild_reactions`` (reactions teach the radar) and ``guild_messages``
    (replies that ping the bot are questions; without MESSAGE_CONTENT only those carry text).
    ``adapter`` is None for one-off uses (sync, doctor), which ignore every event. ``limiter``: the bot's
    global request budget (``adapters.discord_limiter``), which every REST request then waits for.
    """

    def __init__(
        self,
        *,
        adapter: DiscordAdapter | None = None,
        guild_ready_timeout: float = 2.0,
        limiter: RequestLimiter | None = None,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        intents.guild_messages = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,  # we never read messages back
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            guild_ready_timeout=guild_ready_timeout,
            # The endpoint is read at each request: [discord] api_url is applied after the client is made.
            http_trace=aiohttp.TraceConfig() if limiter is None else limiter_trace(limiter, _api_base),
        )
        self.adapter = adapter
        self.tree = PaperbotTree(self)
        self.tree.add_command(build_paper_group())

    # discord.py runs each handler in a task of its own and only logs what escapes; the adapter's
    # handlers catch everything themselves.
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.adapter is not None:
            self.adapter.on_reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self.adapter is not None:
            self.adapter.on_reaction(payload)

    async def on_message(self, message: discord.Message) -> None:
        if self.adapter is not None:
            self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Every interaction passes here; the adapter answers only its own digest buttons (slash commands
        # are the command tree's).
        if self.adapter is not None:
            await self.adapter.on_component(interaction)


class PaperbotTree(app_commands.CommandTree[PaperbotClient]):
    """Tells the user what went wrong (discord.py's default only logs): typed errors get a short
    message, anything unexpected a reference id that is logged with the details."""

    async def on_error(
        self, interaction: discord.Interaction[PaperbotClient], error: app_commands.AppCommandError, /
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "paper"
        if isinstance(error, app_commands.MissingPermissions):
            text = (
                f"Only people with the Manage Channels permission can use /{name} here. "
                "Ask a server admin, or use /paper list to see what this channel follows."
            )
        elif isinstance(error, app_commands.NoPrivateMessage):
            text = "Use /paper in a server channel."
        elif isinstance(error, app_commands.CheckFailure):
            text = f"You cannot use /{name} here."
        elif isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
            log.warning("Discord sent /%s, which does not match our commands: run `paperbot discord sync`", name)
            text = "This command is out of date on Discord. Ask the bot's operator to run `paperbot discord sync`."
        else:
            original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            ref = secrets.token_hex(4)
            log.error("/%s failed in %s [ref %s]", name, interaction.channel_id, ref, exc_info=original)
            text = f"Sorry, something went wrong on our side (reference {ref}). Please try again later."
        try:
            await send_followups(interaction, [DiscordMessage(content=text)], private=True)
        except discord.HTTPException as err:
            log.warning("could not tell the user about a failed /%s: HTTP %s", name, err.status)


def build_paper_group() -> app_commands.Group:
    """The `/paper` group with one sub-command per registry entry. Server channels only (installed to
    a server, used there): digests and subscriptions belong to a channel."""
    group = app_commands.Group(
        name="paper",
        description="Paper digests for this channel, search, and papers' math explained",
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )
    for command in REGISTRY.values():
        group.add_command(_app_command(command))
    return group


def _app_command(command: SubCommand) -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction[Any], **options: str | None) -> None:
        await _adapter_of(interaction).run_command(interaction, command, options)

    # discord.py reads a command's options from its callback's signature: give the generic callback
    # one parameter per registry Param (str, optional ones defaulting to None).
    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)
    ]
    for param in command.params:
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=str if param.required else Optional[str],  # noqa: UP045 (a runtime annotation object)
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = f"paper_{command.name}"
    if command.params:
        app_commands.describe(**{p.name: clip(p.description, _DESCRIPTION_LIMIT) for p in command.params})(callback)
        completers = {p.name: _completer(command, p) for p in command.params}
        app_commands.autocomplete(**{name: fn for name, fn in completers.items() if fn is not None})(callback)
    if command.manages_channel:
        app_commands.checks.has_permissions(manage_channels=True)(callback)
    return app_commands.Command(
        name=command.name, description=clip(command.summary, _DESCRIPTION_LIMIT), callback=callback
    )


def _completer(command: SubCommand, param: Param) -> Any:
    """The autocomplete callback for one option, or None. discord.py wants (interaction, current)."""
    if param.kind == "category" and command.name in FOLLOWED_CATEGORY:

        async def followed(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            return _adapter_of(interaction).followed_choices(interaction, current)

        return followed
    if param.kind == "category":

        async def category(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [
                app_commands.Choice(name=clip(feed_choice(f.name, f.label), 100), value=f.name)
                for f in naming().complete_feeds(current[: taxonomy.MAX_INPUT], CHOICES_LIMIT)
            ]

        return category
    if param.kind == "choice":
        choices = param.choices

        async def choice(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [app_commands.Choice(name=c, value=c) for c in choices if c.startswith(current.strip().lower())]

        return choice
    if param.kind == "timezone":

        async def zone(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [app_commands.Choice(name=z, value=z) for z in complete_time_zone(current)]

        return zone
    return None


def complete_time_zone(prefix: str, limit: int = CHOICES_LIMIT) -> list[str]:
    """Common zones for an empty box; else IANA names containing the text, prefix matches first."""
    query = prefix.strip().lower()[:60]
    if not query:
        return list(COMMON_TIME_ZONES[:limit])
    hits = [z for z in _time_zones() if query in z.lower()]
    # "berl" should find Europe/Berlin before Europe/Busingen's neighbours: whole-name prefix, then a
    # part of the name that starts with the text, then the rest.
    hits.sort(key=lambda z: (not z.lower().startswith(query), not _part_starts(z, query), z))
    return hits[:limit]


def _part_starts(zone: str, query: str) -> bool:
    return any(part.startswith(query) for part in zone.lower().split("/"))


@cache
def _time_zones() -> tuple[str, ...]:
    # Etc/ and legacy aliases (US/Eastern, EST5EDT) are valid but only clutter the list.
    names = zoneinfo.available_timezones()
    return tuple(sorted(z for z in names if ("/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))) or z == "UTC"))


def feed_choice(name: str, label: str) -> str:
    """ "cs.LG — Machine Learning", "hf — Hugging Face Daily Papers": the name first, as it is typed."""
    inner = label.removeprefix(f"{name} (").removesuffix(")") if label.startswith(f"{name} (") else label
    return name if inner == name else f"{name} — {inner}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _adapter_of(interaction: discord.Interaction[Any]) -> DiscordAdapter:
    client = interaction.client
    if not isinstance(client, PaperbotClient) or client.adapter is None:
        raise RuntimeError("a /paper interaction reached a client without a paperbot adapter")
    return client.adapter


async def send_followups(
    interaction: discord.Interaction[Any], messages: list[DiscordMessage], *, private: bool
) -> list[tuple[DiscordMessage, str]]:
    """Answer an interaction with one or more messages, respecting the visibility it was deferred with.
    Returns the follow-ups sent with their message ids (``wait=True``: Discord answers with the message)."""
    sent: list[tuple[DiscordMessage, str]] = []
    if not interaction.response.is_done():
        first, *rest = messages
        await interaction.response.send_message(
            content=first.content, embeds=list(first.embeds), ephemeral=private, allowed_mentions=NO_MENTIONS
        )
        messages = rest
    elif private and interaction.extras.get(PUBLIC_THINKING):
        # The first follow-up would take over the public "thinking…" message and its visibility; delete
        # that message so the answer can be private (Discord cannot turn a public deferral private).
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as err:
            log.debug("could not delete the deferred response (HTTP %s); answering in the channel", err.status)
    for message in messages:
        followup = await interaction.followup.send(
            content=message.content if message.content is not None else discord.utils.MISSING,
            embeds=list(message.embeds),
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        sent.append((message, str(followup.id)))
        # "thinking…" is resolved (or gone): later follow-ups are new messages with their own visibility.
        interaction.extras[PUBLIC_THINKING] = False
    return sent
