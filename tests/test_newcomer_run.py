"""`paperbot run` started the ways a service manager starts it: no standard input at all (fd 0 closed),
and stopped with SIGTERM. It keeps running for the schedule, says so once, and stops promptly and cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fakes import FakeArxivServer
from tests.support_waiting import read_until

ROOT = Path(__file__).parent.parent


def test_run_without_stdin_keeps_running_and_stops_cleanly_on_sigterm(
    tmp_path: Path, arxiv_server: FakeArxivServer
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "p.db"}"\n'
        f'[sources.arxiv]\nrss_url = "{arxiv_server.rss_url}"\napi_url = "{arxiv_server.api_url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG" and not k.endswith(("_TOKEN", "_API_KEY"))}
    # `<&-`: the process starts with file descriptor 0 closed, as some service managers start it.
    command = f"exec {sys.executable} -m bot run --config {config} <&-"
    process = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(process, [b"stdin closed; the bot keeps running"])
        assert b"stdin closed; the bot keeps running" in seen, seen
        assert process.poll() is None  # it said so after handling the closed stdin: running for the schedule
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)  # a backstop that turns a hang into a failure, not a measured time
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr
