"""A fake chat platform on 127.0.0.1 for delivery tests and the fan-out benchmark, with the two
behaviours that matter for exactly-once delivery at scale, taken from the real platforms:

- a per-channel rate limit (Slack: about one message a second per channel): beyond it, HTTP 429 with
  Retry-After, and the message is not posted;
- message nonces enforced like Discord's ``enforce_nonce``: a second post with a nonce already seen in
  that channel returns the existing message instead of creating one; ``GET /channels/{id}/messages``
  lists what a channel received (the reconcile a restarted bot does).

    POST /channels/{id}/messages   {"nonce": "...", "text": "..."} -> 200 {"id", "nonce"} | 429
    GET  /channels/{id}/messages   -> [{"id", "nonce", "text"}]
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a fan-out opens many connections at once; the default backlog is 5

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-connection (the crash test does it on purpose) is not an error here


class FakeChatPlatform:
    def __init__(self, *, per_channel_per_s: float = 1.0) -> None:
        self.min_gap_s = 1.0 / per_channel_per_s
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rejected = 0
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def post(self, channel: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            nonce = body.get("nonce")
            for message in self.messages[channel]:
                if nonce and message["nonce"] == nonce:
                    return 200, message, {}
            now = time.monotonic()
            wait = self._last_post.get(channel, -1e9) + self.min_gap_s - now
            if wait > 0:
                self.rejected += 1
                return 429, {"retry_after": round(wait, 3)}, {"Retry-After": f"{wait:.3f}"}
            self._last_post[channel] = now
            message = {"id": f"{channel}-{len(self.messages[channel]) + 1}", "nonce": nonce, "text": body.get("text")}
            self.messages[channel].append(message)
            return 200, message, {}


def _handler(platform: FakeChatPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _channel(self) -> str | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            return parts[1] if len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages" else None

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            channel = self._channel()
            if channel is None:
                self._send(404, {"error": "not found"})
                return
            with platform._lock:
                self._send(200, list(platform.messages[channel]))

        def do_POST(self) -> None:
            channel = self._channel()
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if len(data) < length or not data:  # the client died mid-request: like a real server, post nothing
                self.close_connection = True
                return
            body = json.loads(data)
            if channel is None:
                self._send(404, {"error": "not found"})
                return
            self._send(*platform.post(channel, body))

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


if __name__ == "__main__":  # run in its own process (benchmarks): prints its URL, serves until killed
    import sys

    with FakeChatPlatform(per_channel_per_s=float(sys.argv[1]) if len(sys.argv) > 1 else 1.0) as served:
        print(served.url, flush=True)
        threading.Event().wait()
