"""How a digest whose feed failed to fetch is retried: the scheduler's timing, which `paperbot status`
also states (without importing the scheduler and APScheduler with it)."""

from __future__ import annotations

__all__ = ["MAX_RETRIES", "RETRY_DELAY_S"]

RETRY_DELAY_S = 600.0  # between two tries of a slot whose feed failed
MAX_RETRIES = 6  # tries after the first, then the slot gives up until its next day
