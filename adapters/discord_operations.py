"""Discord configuration and operations: where discord.py connects, logging in with ``DISCORD_TOKEN``,
and the CLI's one-off jobs: ``invite_url``, ``sync_commands`` (never run on start: Discord allows 200
command creations per day per guild) and ``check_discord`` (for ``paperbot doctor``).

Endpoints: ``[discord] api_url`` and ``gateway_url`` set ``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``: the two places discord.py reads its REST base and, for a
non-sharded client, its gateway. Both are class attributes, hence one Discord configuration per
process (which is how paperbot runs). A resumed session uses the ``resume_gateway_url`` Discord sent
in READY, as Discord asks; a proxy that must see every connection has to rewrite that field.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.discord_commands import PaperbotClient
from bot.config import Config
from bot.errors import ConfigError, PaperbotError, SourceError

__all__ = [
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "TOKEN_NAME",
    "bot_token",
    "check_discord",
    "configure_endpoints",
    "invite_url",
    "invite_url_for",
    "login",
    "sync_commands",
]

TOKEN_NAME = "DISCORD_TOKEN"
# What the bot needs in a channel to post digests. Interaction answers need no permission at all.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True
)
INVITE_SCOPES = ("bot", "applications.commands")


def configure_endpoints(config: Config) -> None:
    """Point discord.py at ``[discord] api_url`` (REST, webhooks, interaction callbacks) and
    ``gateway_url``. Process-wide: see the module docstring."""
    discord.http.Route.BASE = str(config.get("discord", "api_url")).rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(config.get("discord", "gateway_url")))


def invite_url(application_id: int) -> str:
    """The URL a server admin opens to add the bot with the scopes and permissions it needs."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


async def invite_url_for(config: Config) -> str:
    """``invite_url`` for the application ``DISCORD_TOKEN`` belongs to (logs in once to learn its id)."""
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await login(client, bot_token(config), config)
        if client.application_id is None:
            raise SourceError("Discord: login returned no application id")
        return invite_url(client.application_id)
    finally:
        await client.close()


def bot_token(config: Config) -> str:
    """The bot token from the environment, or a ConfigError saying where to get it."""
    value = config.secret(TOKEN_NAME)
    if not value:
        raise ConfigError(f"{TOKEN_NAME} is not set: put the bot token from the Discord Developer Portal in it")
    return value


async def login(client: discord.Client, token: str, config: Config) -> None:
    """``client.login`` with its failures turned into one line each: a rejected token, an HTTP error,
    an unreachable API."""
    api = config.get("discord", "api_url")
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise ConfigError(
            f"Discord rejected {TOKEN_NAME} (401): copy the bot token again from the Developer Portal"
        ) from None
    except discord.HTTPException as err:
        raise SourceError(f"Discord: {api} answered HTTP {err.status} at login") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise SourceError(f"Discord: cannot reach {api} ({err.__class__.__name__})") from None


async def sync_commands(config: Config, guild_id: int | None = None) -> str:
    """Register the `/paper` commands with Discord, globally or in one guild. Run when deploying a new
    version, never on every start. A guild copy comes on top of the global command (handy while
    testing a new version in one server; Discord then lists both there)."""
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await login(client, bot_token(config), config)
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if guild is not None:
            # The group is declared globally; a guild sync registers a copy there (shown at once).
            client.tree.copy_global_to(guild=guild)
        try:
            synced = await client.tree.sync(guild=guild)
        except discord.Forbidden:
            raise PaperbotError(
                f"Discord: the bot may not create commands in guild {guild_id}: invite it with the "
                "applications.commands scope (paperbot discord invite)"
            ) from None
        except app_commands.CommandSyncFailure:
            raise PaperbotError("Discord rejected the command definitions (HTTP 400); see the log with -v") from None
        except discord.HTTPException as err:
            raise SourceError(f"Discord: command sync failed with HTTP {err.status}") from None
    finally:
        await client.close()
    names = ", ".join(f"/{c.name}" for c in synced) or "none"
    where = f"in guild {guild_id}" if guild_id is not None else "globally"
    return f"Discord: synced {len(synced)} command(s) {where}: {names}"


async def check_discord(config: Config, timeout_s: float = 10.0) -> list[str]:
    """``paperbot doctor`` lines: is the token there, and does Discord accept it."""
    if not config.secret(TOKEN_NAME):
        return [f"Discord: {TOKEN_NAME} is not set (the Discord adapter stays off)"]
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await asyncio.wait_for(login(client, bot_token(config), config), timeout_s)
        user = client.user
        if user is None:
            return ["Discord: login returned no bot user"]
        lines = [f"Discord: token OK for bot {user.name} (id {user.id})"]
        app = client.application
        if app is not None and app.interactions_endpoint_url:
            lines.append(
                "Discord: warning: the application has an Interactions Endpoint URL; slash commands will go "
                "there instead of to this bot. Clear it in the Developer Portal."
            )
        return lines
    except PaperbotError as err:
        return [str(err)]
    except TimeoutError:
        return [f"Discord: no answer from {config.get('discord', 'api_url')} within {timeout_s:g} s"]
    finally:
        await client.close()
