"""The lifecycle every stdlib fake server shares: a ThreadingHTTPServer on 127.0.0.1 with a free port,
served from a daemon thread, usable with ``with`` or ``start()``/``stop()``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Self


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
