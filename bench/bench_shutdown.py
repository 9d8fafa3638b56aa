"""Shutdown benchmark, run by hand: `python bench/bench_shutdown.py [RUNS]` from the repository root.

`paperbot run` on Slack (HTTP mode) against the fake Web API answering each call in 0.4 s resumes 120
unfinished outbox rows at start (50 posts at once); SIGTERM comes as the first post is answered, with
dozens in flight. Measured: seconds from SIGTERM to the process's exit (target ≤ 2 s), and the rows it
left: sent, handed back (planned) or cut off (sending). tests/test_shutdown.py checks the outcomes.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.slack_server import FakeSlack
from tests.support_shutdown import outbox_states, seed_unfinished_notes, start_bot

TARGET_S = 2.0


def one_run() -> tuple[float, Counter[str]]:
    with tempfile.TemporaryDirectory() as folder, FakeSlack(latency_s=0.4) as slack:
        tmp = Path(folder)
        database = tmp / "p.db"
        seed_unfinished_notes(database, 120)
        bot = start_bot(tmp, database, slack)
        if not slack.wait_for(lambda: slack.count("chat.postMessage") >= 1, timeout=60):
            raise SystemExit("the fan-out never started")
        code, took, stderr = bot.stop()
        if code != 0:
            raise SystemExit(f"exit {code}: {stderr[-2000:]}")
        return took, Counter(outbox_states(database).values())


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = []
    for n in range(runs):
        took, states = one_run()
        times.append(took)
        print(f"run {n + 1}: exit after {took:.2f} s; rows {dict(states)}")
    verdict = "met" if max(times) <= TARGET_S else "missed"
    print(f"SIGTERM to exit: {min(times):.2f}–{max(times):.2f} s over {runs} runs (target ≤ {TARGET_S:g} s): {verdict}")


if __name__ == "__main__":
    main()
