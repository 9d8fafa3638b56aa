"""`paperbot run` on Slack (HTTP mode, the fake Web API answering slowly) with a fan-out of outbox rows
left unfinished by an earlier run, so that SIGTERM arrives while posts are in flight. Shared by the
shutdown test and the shutdown benchmark."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.models import ChannelRef
from bot.outbox import Kind, Outbox
from bot.store import Store
from tests.fakes.slack_server import BOT_TOKEN, TEAM_ID, FakeSlack

ROOT = Path(__file__).parent.parent
SIGNING_SECRET = "shutdown-test-secret"
DAY = date(2024, 3, 26)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed_unfinished_notes(database: Path, channels: int) -> list[str]:
    """One planned note per channel, as a run that stopped before posting them leaves them: the next
    `paperbot run` resumes them all at start (a fan-out, concurrency-bounded)."""
    store = Store(database)
    store.migrate()
    outbox = Outbox(store)
    keys = []
    for n in range(channels):
        channel = ChannelRef("slack", TEAM_ID, f"C{n:05d}")
        row, _ = outbox.create(channel, DAY, (), (), Kind.QUIET, note=f"note for channel {n}")
        keys.append(row.key)
    store.close()
    return keys


def outbox_states(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as conn:
        return {str(k): str(s) for k, s in conn.execute("SELECT key, state FROM outbox")}


@dataclass
class RunningBot:
    process: subprocess.Popen[bytes]

    def stop(self, timeout_s: float = 60.0) -> tuple[int, float, str]:
        """SIGTERM; the exit code, seconds until the process ended, and its stderr."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        took = time.monotonic() - started
        assert self.process.stderr is not None
        return code, took, self.process.stderr.read().decode(errors="replace")


def start_bot(tmp_path: Path, database: Path, slack: FakeSlack) -> RunningBot:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\npath = "{database}"\n'
        f'[slack]\nmode = "http"\nport = {free_port()}\napi_url = "{slack.api_url}"\n'
        # Nothing else to fetch or post: the resumed rows are the only work.
        '[sources.arxiv]\nrss_url = "http://127.0.0.1:9/rss"\napi_url = "http://127.0.0.1:9/api/query"\n'
        # A bound, so that at the stop some rows are in flight and others not started (to be handed back);
        # the default (no bound) would have every row in flight at once.
        "[delivery]\nconcurrency = 20\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG" and not k.endswith(("_TOKEN", "_API_KEY"))}
    env |= {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "LLM_PROVIDER": "none"}
    command = [sys.executable, "-m", "bot", "run", "--config", str(config)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return RunningBot(process)
