"""The terminal channel: /paper lines answered, digests printed, EOF stops only the reader (and says once
how to stop the bot), `[console] categories` followed once."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from adapters.base import Adapter
from adapters.console import CONSOLE_CHANNEL, STDIN_CLOSED, ConsoleAdapter
from bot.cards import DigestMessage
from bot.commands import Invocation, dispatch
from bot.runner import seed_console_subscriptions
from bot.store import Store
from tests.support import make_config, make_engine


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
    assert "• stat.ML (Machine Learning): Digest at 00:30 America/New_York" in out
    assert "Did you mean cs.LG" in out
    assert "Traceback" not in out
    assert console.engine.store.channel_subscriptions(CONSOLE_CHANNEL)[0].category == "stat.ML"


async def test_digest_on_request_is_printed_and_recorded() -> None:
    _, out = await _run_lines("/paper subscribe stat.ML\n/paper digest\n/paper digest\n")
    assert "arXiv digest · stat.ML · Tue 26 Mar 2024" in out
    assert "1. Conformal online model aggregation" in out
    assert "… and 19 more at https://arxiv.org/list/stat.ML/new" in out
    assert out.count("arXiv digest ·") == 1
    assert "already posted here" in out


async def test_eof_stops_only_the_reader() -> None:
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO(""), stdout=out)
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    # The adapter still posts scheduled digests after stdin closed.
    await console.post_digest(CONSOLE_CHANNEL, DigestMessage(categories=("cs.LG",), announced=None, cards=()))
    await console.stop()
    assert "arXiv digest · cs.LG" in out.getvalue()


async def test_eof_is_announced_once_after_every_line_typed_before_it() -> None:
    lines = "".join(f"/paper subscribe {c}\n" for c in ("stat.ML", "math.OC", "cs.LG", "q-bio.NC")) + "/paper list"
    console, out = await _run_lines(lines)  # the last line has no newline: still a line
    assert out.count(STDIN_CLOSED) == 1 and out.rstrip().endswith(STDIN_CLOSED)
    assert out.count("This channel now follows") == 4 and "• q-bio.NC" in out
    assert len(console.engine.store.channel_subscriptions(CONSOLE_CHANNEL)) == 4


async def test_bytes_that_are_not_text_do_not_end_the_reading() -> None:
    """A mistyped byte is a decode error (a ValueError) for a text stdin: it must cost that line its
    odd character, not stop the reader and swallow every line after it."""
    raw = b"/paper subscribe stat.ML\n/paper subscribe \xff\xfe\n/paper list\n"
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=stdin, stdout=out)
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    await console.stop()
    text = out.getvalue()
    assert "This channel now follows stat.ML" in text and "is not an arXiv category" in text
    assert "• stat.ML (Machine Learning)" in text and text.count(STDIN_CLOSED) == 1


async def test_a_line_that_fails_unexpectedly_does_not_stop_the_next_ones() -> None:
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO("/paper digest\n/paper help\n"), stdout=out)
    await dispatch(engine, Invocation(channel=CONSOLE_CHANNEL), "/paper subscribe stat.ML")

    def broken(selection: object) -> None:
        raise RuntimeError("disk full")

    engine.mark_posted = broken  # type: ignore[method-assign]  # recording the digest fails, a bug-shaped failure
    engine.store.record_delivery = broken  # type: ignore[assignment,method-assign]
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    await console.stop()
    text = out.getvalue()
    assert "Sorry, something went wrong on our side (reference" in text
    assert "paperbot: the day's new papers" in text  # /paper help, typed after it, was answered
    assert "disk full" not in text


async def test_terminal_control_sequences_never_reach_the_terminal() -> None:
    engine = make_engine()
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdout=out)
    hostile = "title \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\u202elpmaxe.live//:sptth\x00\x07"
    console.write(hostile)
    await console.post_digest(CONSOLE_CHANNEL, DigestMessage(categories=(), announced=None, cards=(), note=hostile))
    text = out.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text and "\x00" not in text
    assert "title" in text and "click" in text


async def test_console_categories_are_followed_once_and_unsubscribe_stays(tmp_path: Path) -> None:
    config = make_config(console={"categories": ["stat.ML", "cs.LG"]})
    engine = make_engine(config=config, store=_file_store(tmp_path))
    assert seed_console_subscriptions(engine) == ["stat.ML", "cs.LG"]
    await dispatch(engine, Invocation(channel=CONSOLE_CHANNEL), "/paper unsubscribe cs.LG")
    engine.store.close()

    # The next start, on the same database: what was unsubscribed stays so.
    again = make_engine(config=config, store=_file_store(tmp_path))
    assert seed_console_subscriptions(again) == []
    assert [s.category for s in again.store.channel_subscriptions(CONSOLE_CHANNEL)] == ["stat.ML"]
    again.store.close()

    # A category added to the config later is followed at the start after.
    more = make_config(console={"categories": ["stat.ML", "cs.LG", "math.OC"]})
    later = make_engine(config=more, store=_file_store(tmp_path))
    assert seed_console_subscriptions(later) == ["math.OC"]
    assert [s.category for s in later.store.channel_subscriptions(CONSOLE_CHANNEL)] == ["math.OC", "stat.ML"]


def _file_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "console.db")
    store.migrate()
    return store


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


async def test_a_slow_command_says_at_once_what_it_fetches() -> None:
    from tests.support import FakeArxiv, api_body

    fake = FakeArxiv(api={"1605.08386": api_body("id_1605.08386_s0_m100_199195aa31ad.json")})
    engine = make_engine(fake)
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO("/paper explain 1605.08386\n"), stdout=out)
    await console.start()
    await asyncio.wait_for(console.stdin_closed.wait(), 5)
    await console.stop()
    text = out.getvalue()
    assert "Fetching 1605.08386 from arXiv…" in text
    assert text.index("Fetching 1605.08386") < text.index("Heat-bath random walks")


async def test_the_terminal_owner_manages_the_radar() -> None:
    _, out = await _run_lines('/paper radar add "conformal prediction"\n/paper radar list\n')
    assert "Only people who can manage" not in out
    assert "keywords: “conformal prediction”" in out
