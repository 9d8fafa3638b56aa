"""Start-up benchmark, run by hand: `python bench/bench_startup.py [RUNS] [--baseline DIR]` from the repository root.

Wall time of a whole `python -m bot …` process, as a person at a terminal waits for it, against bare
Python's start (`python -c pass`) measured in the same run, interleaved, so that other work on the cores
weighs on both alike: `--help`, `status`, `usage` and `explain` of papers explained before (every remote
address refuses at once, so nothing waits on a network): "cached explain" is a paper explained from its full
text, its equation images drawn (`paperbot explain` ran once against fake arXiv and Claude servers), text and
--json, answered from the database; "explain, page never fetched" has its Claude explanation in the database
but its full text was never fetched, so the engine tries arXiv first (refused at once here).
Median of RUNS (default 10) each; target for `--help`: ≤ 2.5× bare Python. ``--baseline DIR`` measures
the same commands on the code in DIR (e.g. a checkout of main), in the same run. Also printed: how many
modules each command imported and which heavy ones.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support_startup import CACHED, GROUNDED, ROOT, prepare, run_paperbot

TARGET_HELP = 2.5
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "status": ["status"],
    "usage": ["usage"],
    "cached explain": ["explain", GROUNDED.id],
    "cached explain --json": ["explain", GROUNDED.id, "--json"],
    "explain, page never fetched": ["explain", CACHED.id],
}
HEAVY = (
    "bot.engine",
    "numpy",
    "httpx",
    "feedparser",
    "sqlite_utils",
    "anthropic",
    "discord",
    "slack_sdk",
    "apscheduler",
    "matplotlib",
)


def _seconds(argv: list[str], env: dict[str, str], code: Path = ROOT) -> float:
    # Run from the code's folder: `python -m` puts the working directory before PYTHONPATH.
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=code, capture_output=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[1:]} exited {done.returncode}: {done.stderr.decode()[-1000:]}")
    return took


def measure(runs: int, codes: list[Path], env: dict[str, str]) -> dict[str, list[float]]:
    """Seconds per run of bare Python and of each command on each code, taken in turn within each round."""
    times: dict[str, list[float]] = {"python -c pass": []}
    for _ in range(runs):
        times["python -c pass"].append(_seconds([sys.executable, "-c", "pass"], env))
        for code in codes:
            for label, argv in COMMANDS.items():
                key = label if code == ROOT else f"{label} (baseline)"
                run_env = {**env, "PYTHONPATH": str(code)}
                times.setdefault(key, []).append(_seconds([sys.executable, "-m", "bot", *argv], run_env, code))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="a checkout to measure the same way, in the same run")
    args = parser.parse_args()
    codes = [ROOT, *([args.baseline.resolve()] if args.baseline else [])]
    with tempfile.TemporaryDirectory() as folder:
        env = prepare(Path(folder))
        for code in codes:
            _seconds([sys.executable, "-m", "bot", "--help"], {**env, "PYTHONPATH": str(code)}, code)  # warm the cache
        times = measure(args.runs, codes, env)
        bare = statistics.median(times["python -c pass"])
        print(f"python -c pass: median {bare * 1000:.0f} ms over {args.runs} runs")
        for key, values in times.items():
            if key == "python -c pass":
                continue
            median, fastest = statistics.median(values), min(values)
            print(f"{key}: median {median * 1000:.0f} ms (min {fastest * 1000:.0f}), {median / bare:.1f}× bare Python")
        for code in codes:
            for label, argv in COMMANDS.items():
                started = run_paperbot(argv, env, code)
                heavy = [name for name in HEAVY if started.imported(name)] or ["none of them"]
                where = "" if code == ROOT else " (baseline)"
                print(f"{label}{where}: {len(started.modules)} modules; of {', '.join(HEAVY)}: {', '.join(heavy)}")
        ratio = statistics.median(times["--help"]) / bare
        verdict = "met" if ratio <= TARGET_HELP else "missed"
        print(f"--help: {ratio:.1f}× bare Python's start (target ≤ {TARGET_HELP:g}×): {verdict}")


if __name__ == "__main__":
    main()
