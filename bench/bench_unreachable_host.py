"""An unreachable full-text host, run by hand: `python -m bench.bench_unreachable_host [N]`.

Offline explanations (no LLM) of N different papers, one after another, at the default settings, with the
real arXiv client against the local fake whose HTML route never answers (it holds each request far past
every deadline). Printed: how long each `explain` took a person, beside the same explanations with the
HTML route answering "not found" at once, in the same run. The first explanation waits out the
interactive deadline once; the host is then skipped for a few minutes, so the others answer at once from
the abstract, with a badge naming the host.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import Engine  # noqa: E402
from bot.sources.arxiv import ArxivClient  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fakes import FakeArxivServer  # noqa: E402
from tests.support import FEED_MORNING, make_config  # noqa: E402

HANG_S = 120.0  # far past the person's deadline and the client's timeout


def recorded_ids(server: FakeArxivServer, count: int) -> list[str]:
    """New-style ids the fake has recorded entries for (each is a paper the export API knows)."""
    known = sorted(k for k in server._entries if re.fullmatch(r"\d{4}\.\d{4,5}", k))
    if len(known) < count:
        raise SystemExit(f"the fake knows {len(known)} papers; ask for at most that many")
    return known[:count]


async def explain_all(server: FakeArxivServer, ids: list[str]) -> tuple[list[float], list[str]]:
    store = Store(":memory:")
    store.migrate()
    client = ArxivClient(server.rss_url, server.api_url, html_url=server.html_url, now=lambda: FEED_MORNING)
    config = make_config(**{"sources.arxiv": {"html_url": server.html_url}})
    engine = Engine(config, store, client, now=lambda: FEED_MORNING)
    took: list[float] = []
    notes: list[str] = []
    try:
        for paper_id in ids:
            started = time.perf_counter()
            _, reply = await engine.explain(paper_id)
            took.append(time.perf_counter() - started)
            notes.append(reply.explanation.note if reply.explanation is not None else "")
    finally:
        await engine.aclose()
    return took, notes


def run(count: int, *, hang: bool) -> tuple[list[float], list[str], int]:
    with FakeArxivServer(hang_s=HANG_S) as server:
        ids = recorded_ids(server, count)
        if hang:
            server.script("/html/", *["hang"] * count)
        took, notes = asyncio.run(explain_all(server, ids))
        return took, notes, server.count("/html/")


def main(count: int = 5) -> None:
    down, notes, asked = run(count, hang=True)
    missing, _, _ = run(count, hang=False)
    print(f"{count} offline explanations, one after another, default settings")
    print(f"  full-text host never answers: {' / '.join(f'{t:.2f}' for t in down)} s; HTML asked {asked} time(s)")
    print(f"  full-text host says 404 at once (baseline): {' / '.join(f'{t:.2f}' for t in missing)} s")
    rest = down[1:]
    if rest:
        print(
            f"  after the first: median {statistics.median(rest) * 1000:.0f} ms vs "
            f"{statistics.median(missing[1:]) * 1000:.0f} ms for the baseline"
        )
    print(f"  badge of the first: {notes[0]!r}")
    if len(notes) > 1:
        print(f"  badge of the others: {notes[1]!r}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
