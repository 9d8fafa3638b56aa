"""How long to wait before asking a service again: its own Retry-After when it says, else our backoff.

Shared by every client of an outside service (paper sources, LLM providers, the embeddings endpoint),
so that a server's wish is read one way everywhere."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

__all__ = ["backoff_seconds", "retry_after_seconds"]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI and Anthropic send it) or a numeric ``Retry-After``;
    None for an HTTP date, garbage, a negative or a non-finite value (the caller's backoff decides)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(str(headers.get(name, "")).strip()) * scale
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


def backoff_seconds(attempt: int, *, base_s: float = 0.5, cap_s: float = 8.0) -> float:
    """Exponential backoff with jitter, as the anthropic SDK does: ``base_s`` doubling up to ``cap_s``,
    minus up to a quarter, so that clients retrying together spread out."""
    return min(base_s * 2.0**attempt, cap_s) * (1 - 0.25 * random.random())
