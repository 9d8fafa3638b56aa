"""`paperbot doctor` and `paperbot discord invite|sync`: operations that talk to the services directly.

The platform SDKs are imported here only when the command needs them. The doctor only looks: it never
creates the database or any other file.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Awaitable, Callable

from bot.config import Config
from bot.errors import ConfigError, PaperbotError

log = logging.getLogger(__name__)

# What the doctor asks arXiv for: a category announced every weekday and a paper that will always exist.
PROBE_CATEGORY = "math.CO"
PROBE_PAPER = "1605.08386"
# A person is waiting for the answer; arXiv's own timeout in config is for the scheduler's patience.
PROBE_TIMEOUT_S = 10.0


async def run_operation(args: argparse.Namespace, config: Config) -> int:
    if args.command == "doctor":
        lines, ok = await doctor(config)
        print("\n".join(lines))
        return 0 if ok else 1
    from adapters.discord import invite_url_for, sync_commands

    if args.discord_command == "invite":
        print(await invite_url_for(config))
    else:
        print(await sync_commands(config, args.guild))
    return 0


async def doctor(config: Config) -> tuple[list[str], bool]:
    """Human lines on what is configured and whether it works; False when something is wrong."""
    database, ok = check_database_path(config.database_path)
    lines = [f"Config: {config.source}", database]
    platforms = 0
    if config.secret("SLACK_BOT_TOKEN") or config.secret("SLACK_APP_TOKEN"):
        from adapters.slack import check_slack

        platforms += 1
        slack = await check_slack(config)
        lines += slack
        ok = ok and not any(_is_problem(line) for line in slack)
    if config.secret("DISCORD_TOKEN"):
        from adapters.discord import check_discord

        platforms += 1
        found = await check_discord(config)
        lines += found
        ok = ok and not any(_is_problem(line) for line in found)
    if platforms == 0:
        lines.append("Chat: no SLACK_BOT_TOKEN or DISCORD_TOKEN set: `paperbot run` uses this terminal as its channel")
    for line, fine in await check_arxiv(config):
        lines.append(line)
        ok = ok and fine
    from bot.explain.doctor import check_llm  # the LLM side loads only when asked for

    line, fine = await check_llm(config)
    lines.append(line)
    return lines, ok and fine


def check_database_path(path: str) -> tuple[str, bool]:
    """Where the database is and whether it can be one, without opening it (opening would create it)."""
    from bot.store import database_file

    try:
        file = database_file(path)
    except ConfigError as err:
        return f"Database: {err}", False
    if not file.exists():
        return f"Database: {path} (not created yet: the first command that needs it creates it)", True
    return f"Database: {path} ({file.stat().st_size / 1e6:.1f} MB)", True


async def check_arxiv(config: Config) -> list[tuple[str, bool]]:
    """One request to arXiv's feed service and one to its export API, each a line and whether it worked.

    No retry and no second request: a check must not add to arXiv's load. The two are separate services,
    so the client's spacing between requests (meant for repeated calls to one) is not needed here.
    """
    from bot.sources.arxiv import ArxivClient

    rss_url = str(config.get("sources.arxiv", "rss_url"))
    api_url = str(config.get("sources.arxiv", "api_url"))
    timeout_s = min(float(config.get("sources.arxiv", "timeout_s")), PROBE_TIMEOUT_S)
    async with ArxivClient(
        rss_url, api_url, min_interval_s=0, timeout_s=timeout_s, retries=0, empty_retries=0
    ) as client:

        async def feed() -> str:
            fetched = await client.fetch_feed([PROBE_CATEGORY])
            return f"{len(fetched.items)} papers in the {PROBE_CATEGORY} feed"

        async def paper() -> str:
            await client.fetch_paper(PROBE_PAPER)
            return f"found paper {PROBE_PAPER}"

        return [await _probe("arXiv feeds", rss_url, feed), await _probe("arXiv API", api_url, paper)]


async def _probe(name: str, url: str, check: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
    started = time.monotonic()
    try:
        found = await check()
    except Exception as err:  # a diagnosis reports every failure as a line, whatever its kind
        log.debug("%s check failed", name, exc_info=True)
        reason = str(err) if isinstance(err, PaperbotError) else f"{err.__class__.__name__}"
        return f"{name}: failed at {url}: {reason}", False
    return f"{name}: OK at {url} ({found}, {time.monotonic() - started:.1f} s)", True


def _is_problem(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("not set", "rejected", "missing", "invalid", "error", "failed", "cannot"))


__all__ = ["check_arxiv", "check_database_path", "doctor", "run_operation"]
