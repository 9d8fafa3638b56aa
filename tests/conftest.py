"""Shared fixtures. Keep this small: fakes and helpers live in tests/fakes/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.fakes import FakeArxivServer

# In CI the property tests draw the same examples every run (derandomized, no example database): a landing
# is judged on the code, not on the luck of the draw. Run locally, they explore new examples each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def arxiv_server() -> Iterator[FakeArxivServer]:
    """A fake rss.arxiv.org + export API on 127.0.0.1 (a free port), serving the recorded data."""
    with FakeArxivServer() as server:
        yield server
