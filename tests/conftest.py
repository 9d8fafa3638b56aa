"""Shared fixtures. Keep this small: fakes and helpers live in tests/fakes/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeArxivServer


@pytest.fixture
def arxiv_server() -> Iterator[FakeArxivServer]:
    """A fake rss.arxiv.org + export API on 127.0.0.1 (a free port), serving the recorded data."""
    with FakeArxivServer() as server:
        yield server
