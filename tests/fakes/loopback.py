"""The lifecycle every stdlib fake server shares: a ThreadingHTTPServer on 127.0.0.1 with a free port,
served from a daemon thread, usable with ``with`` or ``start()``/``stop()``."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar


class Answer(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class LoopbackHandler(BaseHTTPRequestHandler):
    """What every fake's request handler shares: sending a prepared answer, and silence in the logs."""

    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK (~40 ms on Linux) on every reused keep-alive connection: a stall no real server has.
    disable_nagle_algorithm = True

    def _send(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to tell it

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; the fakes record calls themselves


class LoopbackServer:
    """Subclasses set ``handler`` (a BaseHTTPRequestHandler class; it reaches the fake as ``self.fake``)
    and ``server_name`` (for errors and thread names)."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    server_name: ClassVar[str] = "fake server"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, and every test stops a server.
        thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=self.server_name, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases handlers that are hanging on purpose
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"the {self.server_name} is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"


class _HasPath(Protocol):
    @property
    def path(self) -> str: ...


CallT = TypeVar("CallT", bound=_HasPath)


class CallLog(Generic[CallT]):
    """What a fake was asked, and answers scripted ahead for paths starting with a prefix (used up, in
    order, before the fake's normal answer). Shared by the fakes of the paper sources."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, deque[Any]]] = []
        self._calls: list[CallT] = []

    def script(self, route_prefix: str, *answers: Any) -> None:
        """Queue answers for paths starting with ``route_prefix``, used up before the normal answer."""
        with self._lock:
            self._scripts.append((route_prefix, deque(answers)))

    def calls(self, route_prefix: str = "") -> list[CallT]:
        with self._lock:
            return [call for call in self._calls if call.path.startswith(route_prefix)]

    def count(self, route_prefix: str = "") -> int:
        return len(self.calls(route_prefix))

    def _record(self, call: CallT) -> Any | None:
        """Log ``call`` and return the next scripted answer for it, if any. Hold ``self._lock``."""
        self._calls.append(call)
        for prefix, queue in self._scripts:
            if queue and call.path.startswith(prefix):
                return queue.popleft()
        return None
