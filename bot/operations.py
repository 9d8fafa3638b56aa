"""`paperbot doctor` and `paperbot discord invite|sync`: operations that talk to the platforms directly.

The platform SDKs are imported here only when the command needs them.
"""

from __future__ import annotations

import argparse

from bot.config import Config


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
    lines = [f"Config: {config.source}", f"Database: {config.database_path}"]
    ok = True
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
    provider = config.llm_provider
    if provider == "anthropic" and not config.secret("ANTHROPIC_API_KEY"):
        lines.append("LLM: provider anthropic but ANTHROPIC_API_KEY is not set: explanations will be offline")
        ok = False
    elif provider == "none":
        lines.append("LLM: none: explanations are offline (set ANTHROPIC_API_KEY to use Claude)")
    else:
        lines.append(
            f"LLM: {provider}" + (f" at {config.get('llm', 'base_url')}" if config.get("llm", "base_url") else "")
        )
    return lines, ok


def _is_problem(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("not set", "rejected", "missing", "invalid", "error", "failed", "cannot"))


__all__ = ["doctor", "run_operation"]
