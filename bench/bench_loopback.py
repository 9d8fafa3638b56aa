"""The loopback fakes' own cost, run by hand: `python bench/bench_loopback.py` from the repository root.

20 POSTs on one keep-alive connection to the fake chat platform and to a fake on the shared loopback
lifecycle (tests/fakes/loopback.py). With Nagle's algorithm on, each answer after the first waited ~40 ms
for the client's delayed ACK (0.84 s for 20); target ≤ 0.4 s, a few milliseconds in practice. The test
(tests/test_fanout_standins.py) checks the cause, Nagle off on the fakes' sockets; this times it.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.chat_platform import FakeChatPlatform  # noqa: E402
from tests.fakes.loopback import LoopbackHandler, LoopbackServer  # noqa: E402

REQUESTS = 20
TARGET_S = 0.4


class _Echo(LoopbackHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(_Answer(body))


@dataclass(frozen=True)
class _Answer:
    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class _EchoServer(LoopbackServer):
    handler = _Echo
    server_name = "echo server"


def keep_alive_seconds(url: str) -> float:
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=5)
    started = time.perf_counter()
    for n in range(REQUESTS):
        body = json.dumps({"nonce": f"n{n}", "text": "hello"})
        connection.request("POST", f"/channels/c{n}/messages", body=body, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def main() -> None:
    with FakeChatPlatform(per_channel_per_s=1000) as platform:
        print(f"chat platform: {REQUESTS} keep-alive requests in {keep_alive_seconds(platform.url):.3f} s")
    with _EchoServer() as server:
        print(f"loopback fake: {REQUESTS} keep-alive requests in {keep_alive_seconds(server.base_url):.3f} s")
    print(f"target ≤ {TARGET_S} s each")


if __name__ == "__main__":
    main()
