"""Peak memory of `paperbot run` with 1,000 subscriptions: prints the peak RSS in MB on the last line.

Usage: python bench/run_memory.py STORE.db  (a store filled by bench_engine.py). The store is copied,
1,000 terminal-channel subscriptions are added with a posting time five minutes ago, and the real
`paperbot run` catches up: it selects and prints 1,000 digests from the stored feeds (fetched moments
ago, so nothing goes to the network). Its VmHWM is read from /proc when every digest is out.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import ChannelRef, Subscription
from bot.store import Store

CATEGORIES = ("cs.LG", "cs.AI", "cs.CL", "cs.CV", "stat.ML", "math.OC", "math.ST", "stat.ME", "eess.SP", "q-bio.QM")


def main(source: Path, subscriptions: int = 1000) -> None:
    work = Path(tempfile.mkdtemp())
    db = work / "run.db"
    shutil.copy(source, db)
    slot = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M")
    store = Store(db)
    store.migrate()
    rng = random.Random(3)
    for n in range(subscriptions):
        channel = ChannelRef("console", "", f"c{n}")
        store.subscribe(Subscription(id=0, channel=channel, category=rng.choice(CATEGORIES), time=slot, timezone="UTC"))
    store.close()
    config = work / "config.toml"
    config.write_text(
        f'[database]\npath = "{db}"\n[sources.arxiv]\nrss_url = "http://127.0.0.1:9/rss"\n'
        f'api_url = "http://127.0.0.1:9/api/query"\n'
    )
    out_path = work / "out.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 240
        while out_path.read_text().count("arXiv digest ·") < subscriptions:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit(f"only {out_path.read_text().count('arXiv digest ·')} digests were posted")
            time.sleep(0.2)
        tree = _process_tree(proc.pid)
        peaks = {pid: _peak_kb(pid) for pid in tree}
        shared_fairly = sum(_pss_kb(pid) for pid in tree)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)
    # The bot's worker processes (feed parsing, equation drawing) count too: each one's peak, summed.
    print(
        f"process tree: {len(peaks)} processes, {sum(peaks.values()) / 1024:.1f} MB (sum of peaks, shared pages "
        f"counted in each), {shared_fairly / 1024:.1f} MB proportional set size when the digests were out"
    )
    print(f"{peaks[proc.pid] / 1024:.1f}")


def _peak_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it ended meanwhile
        return 0
    return int(next((line for line in status.splitlines() if line.startswith("VmHWM")), "VmHWM: 0").split()[1])


def _pss_kb(pid: int) -> int:
    """Memory of ``pid`` with each page it shares divided among its sharers (the forkserver's workers share
    the interpreter and modules they were forked with)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return int(next((line for line in rollup.splitlines() if line.startswith("Pss:")), "Pss: 0").split()[1])


def _process_tree(root: int) -> list[int]:
    """``root`` and every process below it (the forkserver and its workers included)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


if __name__ == "__main__":
    main(Path(sys.argv[1]))
