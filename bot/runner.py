"""`paperbot run`: every configured adapter and the scheduler in one asyncio loop."""

from __future__ import annotations

import asyncio
import importlib
import io
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import sqlite_utils
from sqlite_utils.migrations import Migrations

from adapters.base import Adapter
from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from bot.config import Config
from bot.engine import Engine
from bot.explain import glossary
from bot.explain.service import LLM_HINT
from bot.isolated import close_shared_pools
from bot.models import ChannelRef, Subscription
from bot.posting_gate import posting_gate
from bot.scheduler import DigestScheduler
from bot.sources.arxiv_workers import feed_pool, start_workers
from bot.sources.registry import resolve_feed
from bot.store import refuse_newer_schema, utcnow

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
        # Started with file descriptor 0 or 1 closed (some service managers do), Python has no
        # sys.stdin/sys.stdout: the terminal channel then reads nothing (and says so once) and
        # writes to nowhere, instead of failing in its reader thread.
        if stdin is None and sys.stdin is None:
            stdin = io.StringIO("")
        if stdout is None and sys.stdout is None:
            stdout = open(os.devnull, "w", encoding="utf-8")  # lives as long as the process
        adapters["console"] = ConsoleAdapter(engine, stdin=stdin, stdout=stdout)
    return adapters


# Which `[console] categories` were already followed once, so that a later /paper unsubscribe stays. A
# table of its own (one family, one owner), with its own named migration.
seed_migrations = Migrations("paperbot.console")


@seed_migrations()
def m001_console_seeds(db: sqlite_utils.Database) -> None:
    db.table("console_seeds").create(
        {"platform": str, "workspace": str, "channel": str, "category": str, "seeded_at": str},
        pk=("platform", "workspace", "channel", "category"),
        if_not_exists=True,
    )


def seed_console_subscriptions(engine: Engine, channel: ChannelRef = CONSOLE_CHANNEL) -> list[str]:
    """`[console] categories` are followed from the first start, each once: a category later
    unsubscribed with /paper stays unsubscribed, and one added to the config later is followed at the
    next start. Returns the categories followed now."""
    db = engine.store.db
    refuse_newer_schema(db, engine.store.path, seed_migrations)
    seed_migrations.apply(db)
    where = (channel.platform, channel.workspace, channel.channel)
    seeded = {
        row[0]
        for row in db.conn.execute(
            "SELECT category FROM console_seeds WHERE platform = ? AND workspace = ? AND channel = ?", where
        )
    }
    added: list[str] = []
    for raw in engine.config.get("console", "categories"):
        category = resolve_feed(raw).name
        if category in seeded:
            continue
        with db.atomic():
            if engine.store.find_subscription(channel, category) is None:
                engine.store.subscribe(Subscription(id=0, channel=channel, category=category))
                added.append(category)
            db.conn.execute(
                "INSERT OR IGNORE INTO console_seeds (platform, workspace, channel, category, seeded_at)"
                " VALUES (?,?,?,?,?)",
                (*where, category, utcnow().isoformat()),
            )
        seeded.add(category)
    return added


async def run_bot(
    config: Config,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stop_event: asyncio.Event | None = None,
) -> int:
    engine = Engine.from_config(config)
    engine.arxiv.read_feeds_in(feed_pool())  # a long-lived bot: both cores for its mornings' feeds
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests) or not supported: the caller sets stop_event
    adapters = build_adapters(engine, config, stdin, stdout)
    scheduler = DigestScheduler(engine, adapters)
    warming: asyncio.Task[None] | None = None
    try:
        if seeded := seed_console_subscriptions(engine):
            log.info("the terminal channel now follows %s ([console] categories)", ", ".join(seeded))
        if engine.explainer.provider is None:
            log.warning("math explanations are off: %s", LLM_HINT)
        for adapter in adapters.values():
            await adapter.start()
        warming = asyncio.create_task(warm_up())
        scheduler.start()
        slot = scheduler.default_slot
        log.info("next digest at %s (%s %s)", scheduler.next_run(slot), *slot)
        code = await _until_stopped(stop, adapters)
    finally:
        await _stop_posting(engine, scheduler)
        for adapter in adapters.values():
            await adapter.stop()
        await engine.aclose()
        close_shared_pools()  # the worker processes that draw equations and parse pages
        if warming is not None and not warming.done():
            warming.cancel()  # the thread finishes on its own; nobody waits for it any more
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    return code


# httpx's connection pool imports anyio and its asyncio backend at a process's first request (the morning's
# first feed, after a restart): imported at start instead.
HTTP_BACKEND = "anyio._backends._asyncio"


async def warm_up() -> None:
    """Build at start, off the event loop, what the first morning would otherwise build while its channels
    wait: the glossary's matcher for the digest's one-liners (a few tenths of a second, once per process),
    the HTTP stack's lazily imported backend and the worker processes that read arXiv's feeds. A failure
    only costs the first morning that time (it builds them again, or fails there on its own): it is
    logged, never raised."""
    steps: tuple[tuple[str, Callable[[], Awaitable[object]]], ...] = (
        ("the digest's glossary", lambda: asyncio.to_thread(glossary.warm_up)),
        ("the HTTP backend", lambda: asyncio.to_thread(importlib.import_module, HTTP_BACKEND)),
        ("the workers that read arXiv's feeds", lambda: start_workers(feed_pool())),
    )
    for what, step in steps:
        try:
            await step()
        except Exception as err:
            log.warning("could not prepare %s at start: %s", what, err)


# At SIGTERM the posts in flight get this long to finish and be recorded sent (a digest's card takes a
# fraction of a second); whatever is still out after it is cancelled and left for the restart to check.
POST_GRACE_S = 1.0
# What a cancelled fan-out still writes on its way out (rows handed back) takes well under this.
SETTLE_S = 0.5


async def _stop_posting(engine: Engine, scheduler: DigestScheduler) -> None:
    """Stop the bot's own posts without losing or repeating one: no post starts any more (rows not yet
    started go back to planned), the ones in flight finish (briefly), then the jobs are cancelled and
    awaited, so that what they record reaches the store before it closes."""
    gate = posting_gate(engine)
    gate.close()
    if not await gate.drained(POST_GRACE_S):
        log.warning("stopping: %d posts still in flight are cut off; the next start checks them", gate.in_flight)
    scheduler.shutdown()
    await gate.settled(SETTLE_S)


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
