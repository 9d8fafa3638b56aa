"""For budget tests: the fake LLM server with a gate that holds every answer until the test opens it (so
that many calls are in flight at once, as when 60 people ask together), and an engine on a store holding the
recorded paper with its full text already read (tests.support_questions)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from bot.engine import Engine
from bot.explain.providers import AnthropicProvider
from bot.explain.service import Explainer
from bot.explain.waiting import Wait
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import FakeLLMServer
from tests.support import make_config
from tests.support_questions import RECORDED_PAPER, recorded_full_text, remember_full_text

MODEL = "claude-haiku-5-5"
# Long enough that no call times out while the gate holds it, however slowly 60 askers get there.
PATIENT_S = 60.0


class GatedLLMServer(FakeLLMServer):
    """Every request is counted when it arrives and answered only once ``gate`` is set."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.gate = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def start(self) -> GatedLLMServer:
        super().start()
        # http.server listens with a backlog of 5: sixty clients connecting at once would be refused.
        assert self._httpd is not None
        self._httpd.socket.listen(128)
        return self

    def on_arrival(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _arrive(self, call: Any) -> Any:
        answer = super()._arrive(call)
        for listener in list(self._listeners):
            listener()
        self.gate.wait(PATIENT_S)
        return answer

    def open(self) -> None:
        self.gate.set()


async def until_each_asked_or_answered(
    tasks: Sequence[asyncio.Task[Any]], llm: GatedLLMServer, route: str = "/v1/messages"
) -> int:
    """Wait (no clock) until every task has either reached the LLM (held at the gate) or finished without
    it; how many reached it (requests that arrived before the tasks started are not counted)."""
    before = llm.count(route, exact=True)
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    llm.on_arrival(lambda: loop.call_soon_threadsafe(changed.set))
    while True:
        changed.clear()
        arrived = llm.count(route, exact=True) - before
        if arrived + sum(task.done() for task in tasks) >= len(tasks):
            return arrived
        waiting = [task for task in tasks if not task.done()]
        signal = asyncio.ensure_future(changed.wait())
        await asyncio.wait([signal, *waiting], return_when=asyncio.FIRST_COMPLETED)
        signal.cancel()


def engine_with_paper(
    tmp_path: Path,
    arxiv_server: FakeArxivServer,
    llm: FakeLLMServer,
    *,
    wait: Wait | None = None,
    provider: Literal["anthropic"] = "anthropic",
    **sections: dict[str, Any],
) -> Engine:
    """An engine on a new store holding the recorded paper and its full text, asking ``llm``."""
    database = tmp_path / f"budget-{len(list(tmp_path.glob('budget-*.db')))}.db"
    store = Store(database)
    store.migrate()
    store.save_papers([RECORDED_PAPER])
    page = f"{arxiv_server.html_url}/{RECORDED_PAPER.id}v1"
    remember_full_text(database, recorded_full_text(url=page))
    llm_config = {"timeout_s": PATIENT_S, **sections.pop("llm", {})}
    config = make_config(**{"sources.arxiv": {"html_url": arxiv_server.html_url}, "llm": llm_config, **sections})
    client = ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, html_url=arxiv_server.html_url, retries=0)
    engine = Engine(config, store, client)
    chosen = AnthropicProvider("sk-ant-test", MODEL, base_url=llm.anthropic_url, timeout_s=PATIENT_S, max_retries=0)
    engine.explainer = Explainer(config, store, chosen, wait=wait)
    return engine
