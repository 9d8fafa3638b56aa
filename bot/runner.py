"""`paperbot run`: every configured adapter and the scheduler in one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TextIO

from adapters.base import Adapter
from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from bot import taxonomy
from bot.config import Config
from bot.engine import Engine
from bot.explain.service import LLM_HINT
from bot.models import Subscription
from bot.scheduler import DigestScheduler

log = logging.getLogger(__name__)


def build_adapters(engine: Engine, config: Config, stdin: TextIO | None, stdout: TextIO | None) -> dict[str, Adapter]:
    """The adapters whose tokens are set; the terminal when there are none. Platform SDKs are imported
    only when their token is set."""
    adapters: dict[str, Adapter] = {}
    if config.secret("SLACK_BOT_TOKEN"):
        from adapters.slack import SlackAdapter

        adapters["slack"] = SlackAdapter(engine, config)
    if config.secret("DISCORD_TOKEN"):
        from adapters.discord import DiscordAdapter

        adapters["discord"] = DiscordAdapter(engine, config)
    if not adapters:
        adapters["console"] = ConsoleAdapter(engine, stdin=stdin, stdout=stdout)
    return adapters


def seed_console_subscriptions(engine: Engine) -> None:
    """`[console] categories` are followed from the first start; later /paper commands add to them."""
    for raw in engine.config.get("console", "categories"):
        category = taxonomy.resolve(raw).id
        if engine.store.find_subscription(CONSOLE_CHANNEL, category) is None:
            engine.store.subscribe(Subscription(id=0, channel=CONSOLE_CHANNEL, category=category))


async def run_bot(
    config: Config,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stop_event: asyncio.Event | None = None,
) -> int:
    engine = Engine.from_config(config)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests) or not supported: the caller sets stop_event
    adapters = build_adapters(engine, config, stdin, stdout)
    scheduler = DigestScheduler(engine, adapters)
    try:
        seed_console_subscriptions(engine)
        if engine.explainer.provider is None:
            log.warning("math explanations are off: %s", LLM_HINT)
        for adapter in adapters.values():
            await adapter.start()
        scheduler.start()
        slot = scheduler.default_slot
        log.info("next digest at %s (%s %s)", scheduler.next_run(slot), *slot)
        code = await _until_stopped(stop, adapters)
    finally:
        scheduler.shutdown()
        for adapter in adapters.values():
            await adapter.stop()
        await engine.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    return code


async def _until_stopped(stop: asyncio.Event, adapters: dict[str, Adapter]) -> int:
    """Run until Ctrl-C/SIGTERM (exit 0) or until an adapter loses its platform for good (exit 1, so
    that a process supervisor such as the Procfile's worker restarts the bot)."""
    waits = {asyncio.ensure_future(stop.wait()): ""}
    for name, adapter in adapters.items():
        fatal = getattr(adapter, "fatal", None)
        if isinstance(fatal, asyncio.Event):
            waits[asyncio.ensure_future(fatal.wait())] = name
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    failed = [waits[task] for task in done if waits[task]]
    if failed and not stop.is_set():
        log.error("%s went offline for good: stopping so the bot can be restarted", ", ".join(failed))
        return 1
    return 0
