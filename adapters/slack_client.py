"""Slack's Web API client as the bot uses it (base URL, retries, quiet SDK logging), the errors that mean
a channel is gone for us, and `paperbot doctor`'s Slack checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config

# The bot scopes slack/manifest.yml asks for, and what each one makes work (the doctor names what is missing).
SCOPES: dict[str, str] = {
    "commands": "the /paper command",
    "chat:write": "posting digests and answers",
    "chat:write.public": "posting in public channels without an invitation",
    "users:read": "telling who may manage a channel",
    "channels:history": "finding its own digest after a crash, reading a thread it is asked in",
    "groups:history": "the same in private channels",
    "reactions:read": "reactions teaching the radar",
    "app_mentions:read": "questions in a card's thread",
    "files:write": "equation images",
}


def missing_scopes(headers: Mapping[str, Any]) -> list[str]:
    """The manifest's scopes the token lacks, from the ``x-oauth-scopes`` header Slack sends with every
    answer; none when the header is absent (nothing to judge by)."""
    granted = next((str(v) for k, v in headers.items() if str(k).lower() == "x-oauth-scopes"), None)
    if granted is None:
        return []
    have = {s.strip() for s in granted.split(",")}
    return [scope for scope in SCOPES if scope not in have]


__all__ = [
    "AUTH_ERRORS",
    "SCOPES",
    "UNAVAILABLE",
    "api_url",
    "build_client",
    "check_slack",
    "error_code",
    "missing_scopes",
    "sdk_logger",
]

# Web API errors that mean "this channel is gone for us": the subscription pauses with the hint.
UNAVAILABLE: dict[str, str] = {
    "not_in_channel": "invite the bot to the channel (/invite @paperbot) and subscribe again",
    "channel_not_found": "the channel is gone or private to the bot: invite the bot or subscribe again",
    "is_archived": "the channel is archived: unarchive it and subscribe again",
    "invalid_auth": "the bot token is not valid: set a working SLACK_BOT_TOKEN and subscribe again",
    "account_inactive": "the app was removed from the workspace: reinstall it and subscribe again",
    "token_revoked": "the bot token was revoked: reinstall the app, set SLACK_BOT_TOKEN and subscribe again",
    "missing_scope": "the app lacks a permission: reinstall it from slack/manifest.yml and subscribe again",
}
AUTH_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked")


def api_url(config: Config) -> str:
    url = str(config.get("slack", "api_url"))
    return url if url.endswith("/") else url + "/"


def sdk_logger(name: str) -> logging.Logger:
    """A logger for slack_sdk/bolt objects with an explicit level.

    The SDK decides whether to format whole request and response bodies for a debug line by testing the
    logger's *own* level (``logger.level <= DEBUG``), which an unset level (0) passes: every call would
    stringify its payload only for the line to be dropped. About a quarter of a fan-out's CPU."""
    logger = logging.getLogger(f"adapters.slack.{name}")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.INFO)
    if not any(isinstance(f, _TokenNotice) for f in logger.filters):
        logger.addFilter(_TokenNotice())
    return logger


class _TokenNotice(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN itself and warns that it is unused when a client is given, which is
    exactly our set-up (the client carries the token, the retry handlers and the base URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


def build_client(config: Config, token: str | None = None) -> AsyncWebClient:
    """The Web API client: base URL from ``[slack] api_url``, retrying 429 (after Retry-After) and 5xx."""
    client = AsyncWebClient(
        token=token or config.secret("SLACK_BOT_TOKEN"),
        base_url=api_url(config),
        timeout=30,
        logger=sdk_logger("web"),
    )
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


def error_code(err: SlackApiError) -> str:
    """Slack's error name ("channel_not_found"), or the HTTP status when the answer was not Slack's JSON
    (a proxy's error page, a 414): never an error of its own while reporting one."""
    response = err.response
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"HTTP {getattr(response, 'status_code', '?')}")


# --- paperbot doctor -----------------------------------------------------------------------------------


async def check_slack(config: Config, *, client: AsyncWebClient | None = None) -> list[str]:
    """Human lines for `paperbot doctor`: which Slack secrets are missing and whether Slack takes the tokens."""
    mode = str(config.get("slack", "mode"))
    token = config.secret("SLACK_BOT_TOKEN")
    if not token and client is None:
        return ["Slack: off (SLACK_BOT_TOKEN is not set; see docs/slack.md to connect a workspace)"]
    lines: list[str] = []
    if token and not token.startswith("xoxb-"):
        lines.append("Slack: SLACK_BOT_TOKEN does not start with xoxb-: use the Bot User OAuth Token")
    app_token = config.secret("SLACK_APP_TOKEN")
    if mode == "socket" and not app_token:
        lines.append(
            "Slack: SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…), "
            'or set [slack] mode = "http"'
        )
    elif mode == "socket" and app_token and not app_token.startswith("xapp-"):
        lines.append("Slack: SLACK_APP_TOKEN does not start with xapp-: use an app-level token with connections:write")
    if mode == "http" and not config.secret("SLACK_SIGNING_SECRET"):
        lines.append('Slack: SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs it to verify requests')
    web = client or build_client(config, token)
    try:
        auth = await web.auth_test()
    except SlackApiError as err:
        lines.append(f"Slack: the bot token was refused ({error_code(err)}): copy the Bot User OAuth Token again")
        return lines
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        lines.append(f"Slack: cannot reach {api_url(config)} ({type(err).__name__})")
        return lines
    lines.insert(
        0,
        f"Slack: bot token OK for workspace {auth.get('team')} (team {auth.get('team_id')}) as @{auth.get('user')}",
    )
    missing = missing_scopes(auth.headers)
    if missing:
        lines.append(
            f"Slack: the app lacks {', '.join(missing)} ({'; '.join(SCOPES[s] for s in missing)}): "
            "add them from slack/manifest.yml (OAuth & Permissions, Event Subscriptions) and reinstall the app"
        )
    if mode == "socket" and app_token:
        lines.append(await _check_app_token(web, app_token))
    return lines


async def _check_app_token(web: AsyncWebClient, app_token: str) -> str:
    try:
        await web.apps_connections_open(app_token=app_token)
    except SlackApiError as err:
        return f"Slack: the app-level token was refused ({error_code(err)}): it needs the connections:write scope"
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        return f"Slack: cannot check the app-level token ({type(err).__name__})"
    return "Slack: app-level token OK (Socket Mode)"
