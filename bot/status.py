"""`paperbot status` and `/paper status`: what was fetched, what was delivered, what is paused and why.

`/paper status` reads through the running engine; `paperbot status` (bot.cli_status) reads the database
alone, without the engine, the source clients or the scheduler: a person at a terminal waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.fetch_retries import MAX_RETRIES, RETRY_DELAY_S
from bot.models import ChannelRef
from bot.outbox import Outbox
from bot.store import Store

if TYPE_CHECKING:  # the engine is the caller's: importing it here would only cost `paperbot status` time
    from bot.engine import Engine

# A failed fetch is retried every RETRY_DELAY_S, MAX_RETRIES times: within this window it is being retried.
RETRY_WINDOW = timedelta(seconds=RETRY_DELAY_S * (MAX_RETRIES + 1))


def next_fire(time: str, zone: str, now: datetime) -> datetime:
    hour, minute = (int(x) for x in time.split(":"))
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    for days in (0, 1, 2):
        day = local.date() + timedelta(days=days)
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
        if candidate > local:
            return candidate
    return candidate  # pragma: no cover - two days always hold one


def _ago(moment: datetime, now: datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


# The services of the feeds the contract names (`hf`, `biorxiv`, `medrxiv`, with or without `:subject`); any
# other feed is an arXiv category. The engine's source registry knows the same (a test holds them equal).
_SERVICES = {"hf": "Hugging Face", "biorxiv": "bioRxiv", "medrxiv": "medRxiv"}


def service_of_feed(feed: str) -> str | None:
    """The service a stored feed name comes from, as the report names it; None for an arXiv category."""
    return _SERVICES.get(feed.partition(":")[0])


def status_report(engine: Engine, channel: ChannelRef | None = None) -> str:
    """The report through the running engine (its clock, its sources)."""

    def service_of(feed: str) -> str | None:
        source = engine.sources.source_of_feed(feed)
        return None if source.name == "arxiv" else source.display_name

    return status_text(engine.store, engine.config, engine.now(), channel, service_of=service_of)


def status_text(
    store: Store,
    config: Config,
    at: datetime,
    channel: ChannelRef | None = None,
    *,
    service_of: Callable[[str], str | None] = service_of_feed,
) -> str:
    now = at.astimezone(UTC)
    subs = store.channel_subscriptions(channel) if channel else store.all_subscriptions()
    lines: list[str] = []
    if channel is not None:
        lines.append(f"This channel follows {len(subs)} feed{'' if len(subs) == 1 else 's'}.")
        for sub in subs:
            time = sub.time or config.get("schedule", "time")
            zone = sub.timezone or config.get("schedule", "timezone")
            when = next_fire(time, zone, now)
            held = f" — paused: {sub.paused_reason}" if sub.paused_reason else ""
            lines.append(f"• {sub.category}: next digest {when:%a %d %b %H:%M} {zone}{held}")
    lines.append("Feeds:")
    retrying: list[str] = []
    categories = sorted({s.category for s in subs})
    if not categories:
        lines.append("• none followed yet")
    for category in categories:
        ok = store.last_fetch(category)
        last = store.last_fetch(category, ok_only=False)
        if ok is None:
            text = f"• {category}: not fetched yet"
        else:
            service = service_of(category)
            if service is None:
                name, batch = category, f"announcement of {ok.announced}"
            else:
                name, batch = f"{category} ({service})", f"list of {ok.announced}"
            text = f"• {name}: {ok.items} papers, {batch}, fetched {_ago(ok.fetched_at, now)}"
        if last is not None and last.error:  # the latest attempt failed
            text += f" — last try failed {_ago(last.fetched_at, now)}: {last.error}"
            if now - last.fetched_at < RETRY_WINDOW:
                retrying.append(category)
                text += f"; retried every {RETRY_DELAY_S / 60:.0f} min, its digests wait for it"
        lines.append(text)
    outbox = Outbox(store)
    since = now - timedelta(hours=24)
    counts = outbox.counts_since(since)
    waiting = f"; waiting for {', '.join(retrying)} (retrying)" if retrying else ""
    lines.append(
        "Digests in the last 24 h: "
        f"{counts.get('sent', 0)} sent, {counts.get('failed', 0)} failed, "
        f"{counts.get('planned', 0) + counts.get('sending', 0)} pending{waiting}"
    )
    failures = [row for row in outbox.failures_since(since) if channel is None or row.channel == channel]
    for row in failures[:5]:
        lines.append(f"• failed: {row.channel} ({row.announced}): {row.error}")
    paused = [sub for sub in store.all_subscriptions() if sub.paused_reason and channel in (None, sub.channel)]
    if paused:
        lines.append("Paused subscriptions:")
        lines += [f"• {sub.channel} {sub.category}: {sub.paused_reason}" for sub in paused[:10]]
        if len(paused) > 10:
            lines.append(f"• … and {len(paused) - 10} more")
    if channel is None:  # the operator's report (`paperbot status`), not a channel's
        from bot.database_space import database_line

        lines.append(database_line(store.db.conn, store.path))
    return "\n".join(lines)
