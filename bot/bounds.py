"""Numbers from outside, range-checked where they enter.

A source's JSON may hold any integer (``1e30`` written out as 31 digits is a valid JSON integer), and SQLite
stores at most 64-bit ones: an unchecked count raised OverflowError deep in the store and cost a whole
refresh. Every number a source reads goes through one of these readers, which answer a plain int within
the field's range or None (the field unknown, or the item skipped by its caller), and log each kind of
out-of-range value once per process so a hostile feed cannot flood the log.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["MAX_COUNT", "MAX_VERSION", "count", "whole_number"]

MAX_COUNT = 1_000_000_000  # upvotes, comments, totals: far above any real one, far below SQLite's limit
MAX_VERSION = 10_000  # a paper version: arXiv's ids allow four digits
_MAX_DIGITS = 12  # a number written as text longer than this is junk, not parsed at all

_reported: set[tuple[str, str]] = set()


def _report(field: str, problem: str) -> None:
    if (field, problem) not in _reported:
        _reported.add((field, problem))
        log.warning("%s out of range (%s); clamped or left unknown", field, problem)


def whole_number(value: Any, field: str, low: int, high: int) -> int | None:
    """``value`` as an int in ``[low, high]``: a JSON number or a string of digits; None otherwise.

    bool is not a number (JSON's true), nor is a float (NaN, 1e400); out of range is None (logged)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isdecimal() or len(text) > _MAX_DIGITS or not text.isascii():
            return None
        value = int(text)
    if not isinstance(value, int):
        return None
    if not low <= value <= high:
        _report(field, "too large" if value > high else "too small")
        return None
    return value


def count(value: Any, field: str, maximum: int = MAX_COUNT) -> int | None:
    """A count (upvotes, comments): a non-negative int, clamped to ``maximum``; None when not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    if value > maximum:
        _report(field, "too large")
        return maximum
    return value
