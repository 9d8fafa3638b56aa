"""Daily digests on APScheduler (3.11), in the bot's asyncio loop.

One cron job per distinct posting slot (time + time zone), not per channel. A restart up to
``grace_s`` after a slot still delivers it (APScheduler does not run a job whose time passed before it
was added, so the catch-up is ours); the store's digest_posts table makes a second run a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.delivery import DigestPoster, Outcome, deliver_digest
from bot.engine import Engine
from bot.errors import SourceError
from bot.models import ChannelRef, Paper, Subscription
from bot.store import utcnow

log = logging.getLogger(__name__)

Slot = tuple[str, str]  # ("HH:MM", "Area/City")
RETRY_DELAY_S = 600.0
MAX_RETRIES = 6


def previous_fire(slot: Slot, now: datetime) -> datetime:
    """The latest time at or before ``now`` when ``slot`` was due (DST-aware via zoneinfo)."""
    hour, minute = (int(x) for x in slot[0].split(":"))
    zone = ZoneInfo(slot[1])
    local = now.astimezone(zone)
    candidate = datetime(local.year, local.month, local.day, hour, minute, tzinfo=zone)
    if candidate > local:
        day = local.date() - timedelta(days=1)
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return candidate


def missed_slot(slot: Slot, now: datetime, grace_s: float) -> bool:
    """True when ``slot`` was due within the last ``grace_s`` seconds: a late start still posts."""
    return (now - previous_fire(slot, now)).total_seconds() <= grace_s


def _minus_minutes(time: str, minutes: int) -> tuple[int, int]:
    hour, minute = (int(x) for x in time.split(":"))
    total = (hour * 60 + minute - minutes) % (24 * 60)
    return total // 60, total % 60


class DigestScheduler:
    def __init__(
        self,
        engine: Engine,
        adapters: Mapping[str, DigestPoster],
        *,
        grace_s: float = 3600.0,
        retry_delay_s: float = RETRY_DELAY_S,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.adapters = adapters
        self.grace_s = grace_s
        self.retry_delay_s = retry_delay_s
        self.now = now
        self._scheduler = AsyncIOScheduler(
            job_defaults={"misfire_grace_time": max(1, int(grace_s)), "coalesce": True, "max_instances": 1}
        )
        self._retries: dict[Slot, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def default_slot(self) -> Slot:
        return (self.engine.config.get("schedule", "time"), self.engine.config.get("schedule", "timezone"))

    def slot_of(self, sub: Subscription) -> Slot:
        default_time, default_zone = self.default_slot
        return (sub.time or default_time, sub.timezone or default_zone)

    def slots(self) -> set[Slot]:
        subs = [s for s in self.engine.store.all_subscriptions() if s.channel.platform in self.adapters]
        return {self.slot_of(s) for s in subs} | {self.default_slot}

    def start(self) -> None:
        self.sync_jobs()
        self._scheduler.start()
        self.engine.on_subscriptions_changed(self.sync_jobs)
        for slot in sorted(self.slots()):
            if missed_slot(slot, self.now(), self.grace_s):
                log.info("catching up the %s %s digest", *slot)
                self._spawn(self.run_slot(slot))

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()

    def sync_jobs(self) -> None:
        """One cron job per slot in use (and, with an LLM, one that prepares its explanations ahead);
        jobs for slots nobody uses any more are removed."""
        slots = self.slots()
        wanted = {f"digest {t} {z}": (t, z) for t, z in slots}
        if self.engine.explainer.provider is not None:
            wanted |= {f"prepare {t} {z}": (t, z) for t, z in slots}
        for job in self._scheduler.get_jobs():
            if job.id.startswith(("digest ", "prepare ")) and job.id not in wanted:
                job.remove()
        lead = int(self.engine.config.get("llm", "prepare_minutes"))
        for job_id, slot in wanted.items():
            preparing = job_id.startswith("prepare ")
            hour, minute = _minus_minutes(slot[0], lead if preparing else 0)
            self._scheduler.add_job(
                self.prepare_slot if preparing else self.run_slot,
                CronTrigger(hour=hour, minute=minute, timezone=slot[1]),
                args=[slot],
                id=job_id,
                replace_existing=True,
            )

    def _channels_due(self, slot: Slot) -> dict[ChannelRef, list[Subscription]]:
        by_channel: dict[ChannelRef, list[Subscription]] = defaultdict(list)
        for sub in self.engine.store.all_subscriptions():
            if sub.paused_reason is None and self.slot_of(sub) == slot and sub.channel.platform in self.adapters:
                by_channel[sub.channel].append(sub)
        return by_channel

    async def prepare_slot(self, slot: Slot) -> None:
        """Explain the papers of a slot's upcoming digests before they are posted (each paper once)."""
        papers: list[Paper] = []
        for channel, subs in sorted(self._channels_due(slot).items()):
            try:
                selection = await self.engine.plan_digest(channel, subs)
            except SourceError as err:
                log.info("preparing %s: feeds not ready (%s)", channel, err)
                continue
            except Exception:
                log.exception("preparing explanations for %s failed", channel)
                continue
            if not self.engine.already_posted(selection):
                papers.extend(selection.papers)
        try:
            report = await self.engine.explainer.prepare(papers)
            log.info("prepared explanations for the %s %s digests: %s", *slot, report)
        except Exception:
            log.exception("preparing explanations for the %s %s digests failed", *slot)

    def next_run(self, slot: Slot) -> datetime | None:
        job = self._scheduler.get_job(f"digest {slot[0]} {slot[1]}")
        return None if job is None else job.next_run_time

    async def run_slot(self, slot: Slot) -> None:
        """Deliver every channel due at ``slot``. A job never raises: failures are logged and retried."""
        by_channel = self._channels_due(slot)
        failed_source = False
        for channel, subs in sorted(by_channel.items()):
            adapter = self.adapters[channel.platform]
            try:
                outcome = await deliver_digest(self.engine, adapter.post_digest, channel, subs)
                log.info("digest for %s: %s", channel, outcome.value)
            except SourceError as err:
                failed_source = True
                log.warning("digest for %s postponed: %s", channel, err)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("digest for %s failed (slot %s %s)", channel, *slot)
        if failed_source:
            self._schedule_retry(slot)
        else:
            self._retries.pop(slot, None)

    def _schedule_retry(self, slot: Slot) -> None:
        if self._retries[slot] >= MAX_RETRIES:
            log.error("giving up on the %s %s digest after %d retries", *slot, MAX_RETRIES)
            self._retries.pop(slot, None)
            return
        self._retries[slot] += 1
        # APScheduler runs on the wall clock, whatever clock decides which slots are due.
        when = datetime.now(UTC) + timedelta(seconds=self.retry_delay_s)
        self._scheduler.add_job(
            self.run_slot,
            DateTrigger(run_date=when),
            args=[slot],
            id=f"retry {slot[0]} {slot[1]}",
            replace_existing=True,
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["DigestScheduler", "Outcome", "missed_slot", "previous_fire"]
