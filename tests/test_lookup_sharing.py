"""Many people asking about the same papers at once: each paper is looked up once, a lookup outlives the
deadline of the people who asked for it (stored for the next asker), and every explain or ask gets an
answer or a clear message, never nothing. Through `/paper` commands (``bot.commands.dispatch``) and the
engine with the real arXiv client, over an httpx transport whose answers wait for the test's signal:
the fake's latency is events, not sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from bot.cards import Reply
from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.models import ChannelRef
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from bot.stray_cancellation import TOOK_TOO_LONG
from tests.support import FEED_MORNING, api_body, make_config

RECORDED_ID = "1605.08386"
STATUS, RECORDED = api_body("id_1605.08386_s0_m100_199195aa31ad.json")
PAPERS = [f"1605.0838{n}" for n in range(10)]  # the recorded paper, and nine made from it by changing its id
CHANNEL = ChannelRef("test", "w", "c")
SAFETY_S = 30.0  # only so a broken build fails instead of hanging; nothing here is timed


class GatedArxiv:
    """arXiv's API, each answer held until the test lets it go (``release``); HTML pages: none (404)."""

    def __init__(self) -> None:
        self.lookups: Counter[str] = Counter()
        self.held: asyncio.Queue[asyncio.Event] = asyncio.Queue()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/query":
            return httpx.Response(404)
        wanted = request.url.params.get("id_list", "")
        self.lookups[wanted] += 1
        gate = asyncio.Event()
        await self.held.put(gate)
        await gate.wait()
        return httpx.Response(STATUS, content=RECORDED.replace(RECORDED_ID.encode(), wanted.encode()))

    async def release(self, count: int) -> None:
        """Answer the next ``count`` requests as they come (bounded: a request never made fails the test)."""
        async with asyncio.timeout(SAFETY_S):
            for _ in range(count):
                (await self.held.get()).set()


def _engine(fake: GatedArxiv, *, deadline_s: float = 60.0) -> Engine:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler), base_url="http://arxiv.test")
    client = ArxivClient(
        "http://arxiv.test/rss",
        "http://arxiv.test/api/query",
        html_url="http://arxiv.test/html",
        http=http,
        min_interval_s=0,
        retries=0,
        now=lambda: FEED_MORNING,
    )
    store = Store(":memory:")
    store.migrate()
    config = make_config(**{"sources.arxiv": {"html_url": "http://arxiv.test/html"}})
    return Engine(config, store, client, now=lambda: FEED_MORNING, interactive_deadline_s=deadline_s)


async def _settle() -> None:
    for _ in range(200):  # every command started reaches the lookup it waits on
        await asyncio.sleep(0)


def _commands() -> list[str]:
    """200 commands, as a busy channel sends them: explains and questions about ten papers among others."""
    mixed: list[str] = []
    for n in range(200):
        paper = PAPERS[(n // 5) % len(PAPERS)]
        kind = n % 5
        if kind in (0, 1):
            mixed.append(f"/paper explain {paper}")
        elif kind in (2, 3):
            mixed.append(f"/paper ask {paper} what does the main result assume?")
        else:
            mixed.append(("/paper help", "/paper list", "/paper status")[n % 3])
    return mixed


_ABOUT_A_PAPER = ("/paper explain", "/paper ask")


async def _run_all(engine: Engine, commands: list[str]) -> list[asyncio.Future[Reply]]:
    tasks = [
        asyncio.ensure_future(dispatch(engine, Invocation(CHANNEL, user=f"U{n}", can_manage=True), text))
        for n, text in enumerate(commands)
    ]
    await _settle()
    return tasks


async def test_twenty_concurrent_explains_of_one_paper_make_one_arxiv_lookup() -> None:
    fake = GatedArxiv()
    engine = _engine(fake)
    explain = f"/paper explain {RECORDED_ID}"
    asked = [asyncio.ensure_future(dispatch(engine, Invocation(CHANNEL, user=f"U{n}"), explain)) for n in range(20)]
    await _settle()
    await fake.release(1)
    replies = await asyncio.gather(*asked)
    assert all(reply.explanation is not None and not reply.is_error for reply in replies)
    assert fake.lookups == Counter({RECORDED_ID: 1})
    await engine.aclose()


async def test_two_hundred_mixed_commands_are_each_answered_or_told_and_no_lookup_is_thrown_away() -> None:
    fake = GatedArxiv()
    engine = _engine(fake, deadline_s=0.001)  # every person's deadline passes while arXiv is "slow"
    commands = _commands()
    tasks = await _run_all(engine, commands)
    first = await asyncio.gather(*tasks, return_exceptions=True)
    # Each person heard something: an answer, or that arXiv did not answer in time. Nothing raised.
    assert all(isinstance(reply, Reply) and reply.text.strip() for reply in first), [
        r for r in first if not isinstance(r, Reply)
    ][:3]
    about_papers = [r for r, text in zip(first, commands, strict=True) if text.startswith(_ABOUT_A_PAPER)]
    assert all(isinstance(r, Reply) and "did not answer within" in r.text for r in about_papers)
    # The lookups went on without them, one per paper, and were kept.
    await fake.release(len(PAPERS))
    await asyncio.gather(*list(engine._lookups.running.values()))
    assert fake.lookups == Counter({paper: 1 for paper in PAPERS})

    engine.interactive_deadline_s = 60.0  # the same 200 again: every paper is known now
    second = await asyncio.gather(*await _run_all(engine, commands), return_exceptions=True)
    for reply, text in zip(second, commands, strict=True):
        assert isinstance(reply, Reply), (text, reply)
        if text.startswith("/paper explain"):
            assert reply.explanation is not None and not reply.is_error, (text, reply.text)
        elif text.startswith("/paper ask"):
            assert reply.text.strip() and "went wrong" not in reply.text, (text, reply.text)
    assert fake.lookups == Counter({paper: 1 for paper in PAPERS})  # nothing asked twice
    await engine.aclose()


async def test_shared_work_cancelled_under_its_askers_is_told_as_taking_too_long() -> None:
    # Work shared by several people is stopped by its owner (not by any of them): each of them is
    # told, instead of the command ending with a CancelledError and nobody hearing anything.
    fake = GatedArxiv()
    engine = _engine(fake)
    asked = [
        asyncio.ensure_future(dispatch(engine, Invocation(CHANNEL, user=f"U{n}"), text))
        for n, text in enumerate([f"/paper explain {RECORDED_ID}", f"/paper ask {RECORDED_ID} why?"] * 3)
    ]
    await _settle()
    for lookup in list(engine._lookups.running.values()):
        lookup.cancel()
    replies = await asyncio.gather(*asked, return_exceptions=True)
    assert all(isinstance(reply, Reply) and reply.text == TOOK_TOO_LONG and reply.is_error for reply in replies)
    await engine.aclose()


async def test_a_command_whose_own_task_is_cancelled_still_stops() -> None:
    # The bot stopping cancels the command's task itself: that cancellation is not swallowed.
    fake = GatedArxiv()
    engine = _engine(fake)
    task = asyncio.ensure_future(dispatch(engine, Invocation(CHANNEL), f"/paper explain {RECORDED_ID}"))
    await _settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    await fake.release(1)
    await engine.aclose()
