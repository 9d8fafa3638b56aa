"""A fake chat platform on 127.0.0.1 for delivery tests and the fan-out benchmark, with the behaviours
that matter for exactly-once delivery at scale, taken from the real platforms:

- a per-channel rate limit (Slack: about one message a second per channel): beyond it, HTTP 429 with
  Retry-After, and the message is not posted. Every answer to a post also carries Discord's rate-limit
  headers (``X-RateLimit-Remaining``, ``X-RateLimit-Reset-After``), so a client can pace itself from the
  answer instead of learning the limit from 429s;
- message nonces enforced like Discord's ``enforce_nonce``: a second post with a nonce already seen in
  that channel returns the existing message instead of creating one; ``GET /channels/{id}/messages``
  lists what a channel received (the reconcile a restarted bot does).

It counts what a benchmark must report to be honest about its client: the 429s it answered and the TCP
connections it accepted (a client that reuses its connections opens about as many as it runs at once).

    POST /channels/{id}/messages   {"nonce": "...", "text": "..."} -> 200 {"id", "nonce"} | 429
    GET  /channels/{id}/messages   -> [{"id", "nonce", "text"}]
    GET  /stats                    -> {"posted", "rejected", "connections"}
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

RATE_LIMIT_LIMIT = "X-RateLimit-Limit"
RATE_LIMIT_REMAINING = "X-RateLimit-Remaining"
RATE_LIMIT_RESET_AFTER = "X-RateLimit-Reset-After"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a fan-out opens many connections at once; the default backlog is 5

    def __init__(self, platform: FakeChatPlatform) -> None:
        self.platform = platform
        super().__init__(("127.0.0.1", 0), _handler(platform))

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.platform._lock:
            self.platform.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-connection (the crash test does it on purpose) is not an error here


class FakeChatPlatform:
    def __init__(self, *, per_channel_per_s: float = 1.0) -> None:
        self.min_gap_s = 1.0 / per_channel_per_s
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rejected = 0  # posts answered 429
        self.connections = 0  # TCP connections accepted
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server = _Server(self)
        # A short poll interval: shutdown() waits up to one interval, and every test stops the platform.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stats(self) -> dict[str, int]:
        with self._lock:
            posted = sum(len(messages) for messages in self.messages.values())
            return {"posted": posted, "rejected": self.rejected, "connections": self.connections}

    def post(self, channel: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            nonce = body.get("nonce")
            for message in self.messages[channel]:
                if nonce and message["nonce"] == nonce:
                    return 200, message, self._rate_headers(channel, time.monotonic())
            now = time.monotonic()
            wait = self._last_post.get(channel, -1e9) + self.min_gap_s - now
            if wait > 0:
                self.rejected += 1
                headers = self._rate_headers(channel, now)
                retry_after = headers[RATE_LIMIT_RESET_AFTER]
                return 429, {"retry_after": float(retry_after)}, {"Retry-After": retry_after, **headers}
            self._last_post[channel] = now
            message = {"id": f"{channel}-{len(self.messages[channel]) + 1}", "nonce": nonce, "text": body.get("text")}
            self.messages[channel].append(message)
            return 200, message, self._rate_headers(channel, now)

    def _rate_headers(self, channel: str, now: float) -> dict[str, str]:
        # One message per window per channel: after a post nothing remains until the window has passed.
        # Rounded up to the millisecond, so a client that waits exactly this long is never early.
        reset_after = math.ceil(max(0.0, self._last_post.get(channel, -1e9) + self.min_gap_s - now) * 1000) / 1000
        return {
            RATE_LIMIT_LIMIT: "1",
            RATE_LIMIT_REMAINING: "0" if reset_after > 0 else "1",
            RATE_LIMIT_RESET_AFTER: f"{reset_after:.3f}",
        }


def _handler(platform: FakeChatPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
        # delayed ACK (~40 ms on Linux) on every reused connection, which would be timed as the bot's.
        disable_nagle_algorithm = True

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
            if self.path.split("?")[0].rstrip("/") == "/stats":
                self._send(200, platform.stats())
                return
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
