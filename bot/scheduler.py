"""Daily digests on APScheduler (3.11), in the bot's asyncio loop.

One cron job per distinct posting slot (time + time zone), not per channel. A restart up to
``grace_s`` after a slot still delivers it (APScheduler does not run a job whose time passed before it
was added, so the catch-up is ours); the outbox makes a second run a no-op.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot import calendar
from bot.briefing import prepare_briefings
from bot.config import admin_channel
from bot.delivery import DigestPoster, Outcome, deliver_digest, deliver_note, resume_unfinished
from bot.digest import DigestSelection
from bot.engine import Engine
from bot.errors import SourceError
from bot.fetch_retries import MAX_RETRIES, RETRY_DELAY_S
from bot.models import ChannelRef, Paper, Subscription
from bot.outbox import Kind
from bot.store import utcnow

log = logging.getLogger(__name__)

Slot = tuple[str, str]  # ("HH:MM", "Area/City")
CATCH_UP_S = 24 * 3600.0  # digests missed while the bot was down are delivered within this window


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
    """True when ``slot`` was due within the last ``grace_s`` seconds and after the feed served now was
    rebuilt: a digest missed while the bot was down is delivered on its return, never one early."""
    due = previous_fire(slot, now)
    return due >= calendar.last_rebuild(now) and (now - due).total_seconds() <= grace_s


def quiet_note(day: date) -> str:
    return (
        f"No arXiv announcement for {day:%A %d %b}: arXiv announces Sunday to Thursday evenings "
        "(US Eastern), except on its holidays. Next digest after the next announcement."
    )


def by_digest_rank(selections: Sequence[DigestSelection]) -> list[Paper]:
    """The papers of several digests, each once, best-ranked first across digests: every channel's first
    paper, then every second one, … (full texts are fetched in this order until the window closes)."""
    ordered: dict[tuple[str, int], Paper] = {}
    for rank in range(max((len(s.papers) for s in selections), default=0)):
        for selection in selections:
            if rank < len(selection.papers):
                paper = selection.papers[rank]
                ordered.setdefault((paper.id, paper.version), paper)
    return list(ordered.values())


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
        grace_s: float = CATCH_UP_S,
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
        self._spawn(self.catch_up())

    async def catch_up(self) -> None:
        """First finish what a crash left half-sent, then deliver slots missed while the bot was down."""
        try:
            handled = await resume_unfinished(self.engine, dict(self.adapters), concurrency=self.concurrency)
            if handled:
                log.info("resumed %d digests left unfinished by the last run", handled)
        except Exception:
            log.exception("resuming unfinished digests failed")
        for slot in sorted(self.slots()):
            if missed_slot(slot, self.now(), self.grace_s):
                log.info("catching up the %s %s digest", *slot)
                await self.run_slot(slot)

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
        # Retention: once a day, whatever the slots (APScheduler awaits a coroutine job in this loop).
        hour, minute = _minus_minutes(str(self.engine.config.get("retention", "prune_at")), 0)
        self._scheduler.add_job(
            self.prune, CronTrigger(hour=hour, minute=minute, timezone="UTC"), id="prune", replace_existing=True
        )
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
        """Ask the LLM ahead for what a slot's upcoming digests will show: the explanations (each paper once),
        then the briefings of channels that want one (each distinct paper set once), which read the
        one-liners the explanations made."""
        selections: list[DigestSelection] = []
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
                selections.append(selection)
        try:
            # Grounded in each paper's full text as far as the window allows, best-ranked papers first.
            report = await self.engine.prepare_explanations(by_digest_rank(selections))
            log.info("prepared explanations for the %s %s digests: %s", *slot, report)
        except Exception:
            log.exception("preparing explanations for the %s %s digests failed", *slot)
        try:
            # Then: each paper's one-liner, made with its explanation, is what the briefing reads of it.
            asked = await prepare_briefings(self.engine, selections)
            if asked:
                log.info("prepared %d briefings for the %s %s digests", asked, *slot)
        except Exception:
            log.exception("preparing briefings for the %s %s digests failed", *slot)

    async def prune(self) -> None:
        """The daily retention job ([retention]); a failure is logged and tried again the next day."""
        from bot.retention import RetentionSettings, prune_in_background

        try:
            await prune_in_background(
                self.engine.store, RetentionSettings.from_config(self.engine.config), now=self.now()
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning the database ([retention]) failed; tried again tomorrow")

    def next_run(self, slot: Slot) -> datetime | None:
        job = self._scheduler.get_job(f"digest {slot[0]} {slot[1]}")
        return None if job is None else job.next_run_time

    async def run_slot(self, slot: Slot) -> None:
        """Deliver every channel due at ``slot``: channels in parallel (bounded per platform), one bad
        channel never blocking the others. A job never raises: failures are logged, retried, reported."""
        by_channel = self._channels_due(slot)
        # Every channel at once unless [delivery] concurrency bounds it: the platform's pacing (in the
        # adapter) is what spaces the posts, and a bound below the channel count only makes them wait.
        bound = self.concurrency or max(1, len(by_channel))
        limits = {p: asyncio.Semaphore(bound) for p in {c.platform for c in by_channel}}
        quiet = not calendar.expects_announcement(self.now())

        async def one(channel: ChannelRef, subs: list[Subscription]) -> tuple[ChannelRef, str]:
            async with limits[channel.platform]:
                try:
                    # Quiet days are arXiv's (no announcement): other sources post every day.
                    arxiv_subs = [s for s in subs if self.engine.sources.source_of_feed(s.category).name == "arxiv"]
                    if quiet and any(s.say_when_quiet for s in arxiv_subs):
                        await self._say_quiet(channel, arxiv_subs)
                    outcome = await deliver_digest(self.engine, self.adapters[channel.platform], channel, subs)
                    log.info("digest for %s: %s", channel, outcome.value)
                    return channel, outcome.value
                except SourceError as err:
                    log.warning("digest for %s postponed: %s", channel, err)
                    return channel, f"postponed: {err}"
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("digest for %s failed (slot %s %s)", channel, *slot)
                    return channel, "failed: unexpected error (see the log)"

        results = await asyncio.gather(*(one(c, s) for c, s in sorted(by_channel.items())))
        if any(outcome.startswith("postponed") for _, outcome in results):
            self._schedule_retry(slot)
        else:
            self._retries.pop(slot, None)
        problems = [(c, o) for c, o in results if o.startswith(("postponed", "failed", "paused"))]
        if problems:
            await self._report(slot, problems)

    @property
    def concurrency(self) -> int:
        """``[delivery] concurrency``: an upper bound on channels delivered at once; 0 for none."""
        return int(self.engine.config.get("delivery", "concurrency"))

    async def _say_quiet(self, channel: ChannelRef, subs: list[Subscription]) -> None:
        """One line on a day without an announcement, for channels that asked for it; once per day."""
        day = calendar.feed_date(self.now())
        await deliver_note(
            self.engine,
            self.adapters[channel.platform],
            channel,
            Kind.QUIET,
            day,
            quiet_note(day),
            categories=tuple(s.category for s in subs),
        )

    async def _report(self, slot: Slot, problems: list[tuple[ChannelRef, str]]) -> None:
        """A short report to `[admin] channel`, when one is configured and something went wrong. The same
        report for the same slot is posted once a day (a retry that meets the same problems says nothing
        new); a report that changed is posted again."""
        target = admin_channel(self.engine.config)
        if target is None or target.platform not in self.adapters:
            return
        lines = [f"{channel}: {outcome}" for channel, outcome in problems[:20]]
        if len(problems) > 20:
            lines.append(f"… and {len(problems) - 20} more")
        note = f"paperbot: problems with the {slot[0]} {slot[1]} digests\n" + "\n".join(lines)
        content = hashlib.blake2b(note.encode("utf-8"), digest_size=6).hexdigest()
        try:
            await deliver_note(
                self.engine,
                self.adapters[target.platform],
                target,
                Kind.REPORT,
                calendar.feed_date(self.now()),
                note,
                discriminator=f"{slot[0]} {slot[1]} {content}",
            )
        except Exception:
            log.exception("could not post the admin report to %s", target)

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


__all__ = ["DigestScheduler", "Outcome", "by_digest_rank", "missed_slot", "previous_fire"]
