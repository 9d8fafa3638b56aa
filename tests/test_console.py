"""The terminal channel: /paper lines answered, digests printed, EOF stops only the reader."""

from __future__ import annotations

import asyncio
import io

from adapters.base import Adapter
from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from tests.support import make_engine


async def _run_lines(text: str) -> tuple[ConsoleAdapter, str]:
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO(text), stdout=out)
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    await console.stop()
    return console, out.getvalue()


def test_console_satisfies_the_adapter_protocol() -> None:
    assert isinstance(ConsoleAdapter(make_engine()), Adapter)


async def test_commands_typed_on_stdin_are_answered() -> None:
    console, out = await _run_lines("/paper subscribe stat.ML\n\nhello\n/paper list\n/paper subscribe cs.LF\n")
    assert "This channel now follows stat.ML (Machine Learning)" in out
    assert "Commands start with /paper" in out
    assert "• stat.ML (Machine Learning), daily at 00:30 America/New_York" in out
    assert "Did you mean cs.LG" in out
    assert "Traceback" not in out
    assert console.engine.store.channel_subscriptions(CONSOLE_CHANNEL)[0].category == "stat.ML"


async def test_digest_on_request_is_printed_and_recorded() -> None:
    _, out = await _run_lines("/paper subscribe stat.ML\n/paper digest\n/paper digest\n")
    assert "arXiv digest · stat.ML · Tue 26 Mar 2024" in out
    assert "1. Conformal online model aggregation" in out
    assert "… and 19 more: https://arxiv.org/list/stat.ML/new" in out
    assert out.count("arXiv digest ·") == 1
    assert "already posted here" in out


async def test_eof_stops_only_the_reader() -> None:
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO(""), stdout=out)
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    # The adapter still posts scheduled digests after stdin closed.
    from bot.cards import DigestMessage

    await console.post_digest(CONSOLE_CHANNEL, DigestMessage(categories=("cs.LG",), announced=None, cards=()))
    await console.stop()
    assert "arXiv digest · cs.LG" in out.getvalue()


async def test_the_bot_stops_with_exit_1_when_a_platform_is_gone_for_good() -> None:
    from bot.runner import _until_stopped

    class Lost:
        platform = "discord"

        def __init__(self) -> None:
            self.fatal = asyncio.Event()

    lost = Lost()
    asyncio.get_running_loop().call_later(0.05, lost.fatal.set)
    assert await _until_stopped(asyncio.Event(), {"discord": lost}) == 1  # type: ignore[dict-item]
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await _until_stopped(stop, {"discord": Lost()}) == 0  # type: ignore[dict-item]
