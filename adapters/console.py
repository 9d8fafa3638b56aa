"""The terminal channel: the embedded default when no platform token is set.

Lines typed on stdin that start with `/paper` are commands; digests and replies are printed. stdin is
read by a daemon thread so a blocked read never holds up shutdown. Every line read before EOF is answered,
in order; EOF (Ctrl-D) stops only the reader, and the terminal is told once how to stop the bot.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from bot.cards import DigestMessage, Reply, render_digest_text, render_images_text, render_reply_text
from bot.commands import apology
from bot.engine import Engine
from bot.inbound import Request, handle, read_text
from bot.models import ChannelRef
from bot.text import strip_unsafe_chars

log = logging.getLogger(__name__)

CONSOLE_CHANNEL = ChannelRef("console", "", "terminal")


class ConsoleAdapter:
    platform = "console"

    def __init__(self, engine: Engine, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.engine = engine
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.channel = CONSOLE_CHANNEL
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.stdin_closed = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        reader = threading.Thread(target=self._read_stdin, args=(loop,), name="console-stdin", daemon=True)
        reader.start()
        self._task = asyncio.create_task(self._serve())
        self.write("paperbot is running in this terminal. Type /paper help (Ctrl-C to stop).")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        self.write(render_digest_text(digest))

    def write(self, text: str) -> None:
        # Control, bidi and escape sequences from paper or LLM text must not reach the terminal.
        self.stdout.write(strip_unsafe_chars(text) + "\n")
        self.stdout.flush()

    def _read_stdin(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for line in _lines(self.stdin):
                loop.call_soon_threadsafe(self._lines.put_nowait, line)
        except (OSError, ValueError):
            pass  # stdin closed under us
        finally:
            try:
                loop.call_soon_threadsafe(self._lines.put_nowait, None)
            except RuntimeError:
                pass  # the loop is already closed: we are shutting down

    async def _serve(self) -> None:
        while True:
            line = await self._lines.get()
            if line is None:
                self.write(STDIN_CLOSED)
                self.stdin_closed.set()
                return
            try:
                await self.handle_line(line)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failed line must not stop the reading: the lines after it would go unanswered.
                self.write(render_reply_text(apology(log, "console line %r failed", line[:100])))

    async def handle_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if not text.lower().startswith(("/paper", "paper ")) and text.lower() != "paper":
            self.write("Commands start with /paper. Type /paper help.")
            return
        # The terminal's owner runs the bot: they manage its one channel.
        request = Request(read_text(text), self.channel, user="console", can_manage=True, progress=self.write)
        await handle(self.engine, request, self._send, poster=self)

    async def _send(self, reply: Reply) -> None:
        self.write(render_reply_text(reply))
        if reply.images:
            self.write(render_images_text(reply.images))


STDIN_CLOSED = "stdin closed; the bot keeps running for scheduled digests. Press Ctrl-C to stop."


def _lines(stream: TextIO) -> Iterator[str]:
    """The lines of stdin, each decoded on its own: bytes that are not valid in the terminal's encoding
    become U+FFFD in that line instead of ending the reading (a decode error is a ValueError)."""
    raw = getattr(stream, "buffer", None)
    if raw is None:  # already text (a StringIO in tests)
        yield from stream
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    for chunk in raw:
        yield chunk.decode(encoding, errors="replace")
