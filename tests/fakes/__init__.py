"""Fake upstream services for tests: real HTTP servers on 127.0.0.1, fed with recorded data."""

from tests.fakes.arxiv_server import (
    HANG,
    Call,
    FakeArxivServer,
    Headers,
    big_feed,
    empty_feed,
    one_item_feed,
    recorded_feed,
)

__all__ = ["HANG", "Call", "FakeArxivServer", "Headers", "big_feed", "empty_feed", "one_item_feed", "recorded_feed"]
