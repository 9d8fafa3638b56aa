"""A service's Retry-After is read one way by every client (sources, LLM providers, embeddings)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.retry_timing import backoff_seconds, retry_after_seconds


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # the finer one wins
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # a date: our own backoff decides
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_from_either_header(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers)) == seconds


@given(st.text(max_size=40))
def test_any_header_value_gives_a_finite_wait_or_none(value: str) -> None:
    found = retry_after_seconds({"retry-after": value})
    assert found is None or (found >= 0 and found < float("inf"))


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    waits = [backoff_seconds(attempt) for attempt in range(8)]
    assert 0.375 <= waits[0] <= 0.5 and all(6.0 <= w <= 8.0 for w in waits[5:])
