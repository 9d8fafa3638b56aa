"""The Explainer: cache first, then the budget, then the LLM, and the offline explanation whenever any of
those says no. A user always gets an explanation and never a provider's raw error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from bot.cards import Explanation, ExplanationSection
from bot.config import Config
from bot.explain.ledger import ExplanationCache, Ledger, UsageTotals
from bot.explain.llm import LLMFailure, LLMProvider, ProviderAnswer
from bot.explain.offline import math_in_a_sentence_offline, offline_explanation
from bot.explain.pricing import cost_usd
from bot.explain.prompt import ONE_LINER_MAX, PROMPT_VERSION, SECTIONS, SYSTEM_PROMPT, StructuredAnswer, user_message
from bot.explain.sanitize import safe_llm_text
from bot.models import Paper
from bot.store import Store, utcnow

log = logging.getLogger(__name__)


@runtime_checkable
class BatchProvider(LLMProvider, Protocol):
    """A provider with a cheaper batch API (Anthropic's Message Batches)."""

    async def explain_batch(
        self, requests: Sequence[tuple[str, str, str]], *, poll_interval_s: float, deadline_s: float
    ) -> dict[str, ProviderAnswer | LLMFailure]: ...


LLM_HINT = "set ANTHROPIC_API_KEY (or LLM_PROVIDER=openai with [llm] base_url) and restart"
NO_LLM_NOTE = f"Math explanations from an LLM are off: {LLM_HINT}. Below: formulas and concepts found offline."
BUDGET_NOTE = "Today's LLM budget is spent, so this is the offline explanation; the LLM is back tomorrow."
OFFLINE_INSTEAD = "Showing the offline explanation instead."
UNREADABLE_ANSWER = "The LLM provider's answer could not be read."
_LIMITS = {s.key: s.max_chars for s in SECTIONS}


@dataclass(frozen=True, slots=True)
class PrepareReport:
    wanted: int  # distinct papers asked for
    cached: int  # already explained
    explained: int  # explained now
    failed: int
    batched: bool
    skipped_for_budget: int = 0


@dataclass(frozen=True, slots=True)
class UsageReport:
    provider: str
    model: str
    budget_usd: float
    today: UsageTotals
    month: UsageTotals
    cached_explanations: int

    def text(self) -> str:
        def line(label: str, t: UsageTotals) -> str:
            failed = f" ({t.failed} failed)" if t.failed else ""
            return (
                f"{label}: {t.calls} calls{failed}, {t.input_tokens:,} tokens in / {t.output_tokens:,} out, "
                f"≈ ${t.cost_usd:.4f}"
            )

        head = f"LLM usage: {self.provider}" + (
            f" ({self.model})" if self.provider != "none" else " (explanations are offline)"
        )
        return "\n".join(
            [
                head,
                line("Today", self.today) + f" of a ${self.budget_usd:.2f} daily budget",
                line("This month", self.month),
                f"Explanations cached for reuse: {self.cached_explanations:,}",
            ]
        )


class Explainer:
    def __init__(
        self,
        config: Config,
        store: Store,
        provider: LLMProvider | None,
        *,
        now: Callable[[], datetime] = utcnow,
        batch_poll_interval_s: float = 30.0,
    ) -> None:
        self.config = config
        self.store = store
        self.provider = provider
        self.now = now
        self.cache = ExplanationCache(store)
        self.ledger = Ledger(store)
        self.batch_poll_interval_s = batch_poll_interval_s
        self._inflight: dict[tuple[str, int], asyncio.Future[Explanation]] = {}
        self._offline_lines: dict[tuple[str, int], str | None] = {}

    @property
    def model(self) -> str:
        return self.provider.model if self.provider else "offline"

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()

    # --- one paper ----------------------------------------------------------------------------

    async def explain(self, paper: Paper) -> Explanation:
        if self.provider is None:
            return offline_explanation(paper, note=NO_LLM_NOTE)
        cached = self.cache.get(paper.id, paper.version, PROMPT_VERSION, self.provider.model)
        if cached is not None:
            return self.render(paper, cached.answer, cached.provider, cached.model, cached=True)
        key = (paper.id, paper.version)
        running = self._inflight.get(key)
        if running is not None:  # the same paper asked for twice at once: one LLM call
            return await asyncio.shield(running)
        future: asyncio.Future[Explanation] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._explain_uncached(paper, self.provider)
            future.set_result(result)
            return result
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]

    async def _explain_uncached(self, paper: Paper, provider: LLMProvider) -> Explanation:
        if self.budget_spent():
            return offline_explanation(paper, note=BUDGET_NOTE)
        try:
            reply = await provider.explain(SYSTEM_PROMPT, user_message(paper))
        except LLMFailure as failure:
            self._record_failure(provider, paper, failure, batch=False)
            log.warning("LLM explanation of %s failed (%s); offline fallback", paper.id, failure.kind)
            return offline_explanation(paper, note=f"{failure} {OFFLINE_INSTEAD}")
        except Exception:
            # Providers turn every answer into a ProviderAnswer or an LLMFailure; this net is for an answer
            # they did not foresee. The user still gets what the README promises: the offline explanation.
            log.exception("LLM explanation of %s raised unexpectedly; offline fallback", paper.id)
            unreadable = LLMFailure("error", UNREADABLE_ANSWER)
            self._record_failure(provider, paper, unreadable, batch=False)
            return offline_explanation(paper, note=f"{unreadable} {OFFLINE_INSTEAD}")
        self._store(provider, paper, reply, batch=False)
        return self.render(paper, reply.answer, provider.name, reply.model, cached=False)

    def _store(self, provider: LLMProvider, paper: Paper, reply: ProviderAnswer, *, batch: bool) -> None:
        self._record_answer(provider, paper, reply, batch=batch)
        self.cache.put(paper.id, paper.version, PROMPT_VERSION, provider.model, provider.name, reply.answer, self.now())

    def _record_failure(self, provider: LLMProvider, paper: Paper, failure: LLMFailure, *, batch: bool) -> None:
        # A malformed or refused answer is billed too.
        self._record(provider, paper, failure.input_tokens, failure.output_tokens, batch=batch, outcome=failure.kind)

    def _record_answer(self, provider: LLMProvider, paper: Paper, reply: ProviderAnswer, *, batch: bool) -> None:
        self._record(provider, paper, reply.input_tokens, reply.output_tokens, batch=batch, outcome="ok")

    def _record(
        self, provider: LLMProvider, paper: Paper, tokens_in: int, tokens_out: int, *, batch: bool, outcome: str
    ) -> None:
        self.ledger.record(
            at=self.now().astimezone(UTC),
            provider=provider.name,
            model=provider.model,
            paper_id=paper.id,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost_usd(provider.model, tokens_in, tokens_out, batch=batch, override=self._price_override()),
            batch=batch,
            outcome=outcome,
        )

    def _price_override(self) -> tuple[float, float]:
        return (
            float(self.config.get("llm", "input_usd_per_mtok")),
            float(self.config.get("llm", "output_usd_per_mtok")),
        )

    # --- budget and usage -----------------------------------------------------------------------

    def _day_start(self) -> datetime:
        now = self.now().astimezone(UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    def budget_spent(self) -> bool:
        budget = float(self.config.get("llm", "daily_budget_usd"))
        return self.ledger.totals(self._day_start()).cost_usd >= budget

    def usage(self) -> UsageReport:
        day = self._day_start()
        month = day.replace(day=1)
        cached = self.store.db.conn.execute("SELECT count(*) FROM explanations").fetchone()[0]
        return UsageReport(
            provider=self.provider.name if self.provider else "none",
            model=self.model,
            budget_usd=float(self.config.get("llm", "daily_budget_usd")),
            today=self.ledger.totals(day),
            month=self.ledger.totals(month),
            cached_explanations=cached,
        )

    # --- ahead of posting -------------------------------------------------------------------------

    async def prepare(self, papers: Sequence[Paper]) -> PrepareReport:
        """Explain papers of upcoming digests before posting time: each distinct paper once, with bounded
        concurrency, or through the Message Batches API (half price) for a large set on Anthropic."""
        distinct = list({(p.id, p.version): p for p in papers}.values())
        if self.provider is None:
            return PrepareReport(len(distinct), 0, 0, 0, batched=False)
        provider = self.provider
        todo = [p for p in distinct if self.cache.get(p.id, p.version, PROMPT_VERSION, provider.model) is None]
        cached = len(distinct) - len(todo)
        if not todo or self.budget_spent():
            return PrepareReport(len(distinct), cached, 0, 0, batched=False, skipped_for_budget=len(todo))
        threshold = int(self.config.get("llm", "batch_threshold"))
        if isinstance(provider, BatchProvider) and len(todo) >= threshold:
            explained, failed = await self._prepare_batch(provider, todo)
            return PrepareReport(len(distinct), cached, explained, failed, batched=True)
        limit = asyncio.Semaphore(int(self.config.get("llm", "concurrency")))

        async def one(paper: Paper) -> bool:
            async with limit:
                if self.budget_spent():
                    return False
                return (await self.explain(paper)).source != "offline"

        results = await asyncio.gather(*(one(p) for p in todo))
        explained = sum(results)
        return PrepareReport(len(distinct), cached, explained, len(todo) - explained, batched=False)

    async def _prepare_batch(self, provider: BatchProvider, todo: list[Paper]) -> tuple[int, int]:
        by_id = {f"{p.id.replace('/', '_')}v{p.version}": p for p in todo}
        requests = [(custom_id, SYSTEM_PROMPT, user_message(p)) for custom_id, p in by_id.items()]
        deadline = 60.0 * float(self.config.get("llm", "prepare_minutes"))
        results = await provider.explain_batch(
            requests, poll_interval_s=self.batch_poll_interval_s, deadline_s=deadline
        )
        explained = 0
        for custom_id, result in results.items():
            paper = by_id[custom_id]
            if isinstance(result, ProviderAnswer):
                self._store(provider, paper, result, batch=True)
                explained += 1
            else:
                self._record_failure(provider, paper, result, batch=True)
        return explained, len(todo) - explained

    # --- drawing -----------------------------------------------------------------------------------

    def one_liners(self, papers: Sequence[Paper]) -> dict[str, str]:
        """ "Math in a sentence" for digest cards: the LLM's when cached, else the offline concepts line."""
        lines: dict[str, str] = {}
        if self.provider is not None:
            found = self.cache.one_liners([(p.id, p.version) for p in papers], PROMPT_VERSION, self.provider.model)
            lines = {pid: safe_llm_text(text, ONE_LINER_MAX) for (pid, _), text in found.items()}
        for paper in papers:
            if paper.id not in lines:
                offline = self._offline_line(paper)
                if offline:
                    lines[paper.id] = offline
        return lines

    def _offline_line(self, paper: Paper) -> str | None:
        # A fan-out draws the same papers for many channels: find their concepts once per version.
        key = (paper.id, paper.version)
        if key not in self._offline_lines:
            if len(self._offline_lines) > 10_000:
                self._offline_lines.clear()
            self._offline_lines[key] = math_in_a_sentence_offline(paper)
        return self._offline_lines[key]

    def render(self, paper: Paper, answer: StructuredAnswer, provider: str, model: str, *, cached: bool) -> Explanation:
        sections = [
            ("problem", answer.problem),
            ("notation", "\n".join(f"• {s}: {m}" for s, m in answer.notation)),
            ("equations", "\n".join(f"• {f} — {m}" for f, m in answer.equations)),
            ("idea", answer.idea),
            ("assumptions", "\n".join(f"• {a}" for a in answer.assumptions)),
            ("prerequisites", "\n".join(f"• {p}" for p in answer.prerequisites)),
        ]
        drawn = tuple(
            ExplanationSection(spec.title, _safe_lines(text, _LIMITS[spec.key]))
            for spec, (_, text) in zip(SECTIONS, sections, strict=True)
            if text.strip()
        )
        note = (
            f"Generated by {model} from the title and abstract only: the equations are an interpretation, "
            f"check them against the paper ({paper.pdf_url})."
        )
        text = "\n\n".join(f"{s.title}:\n{s.text}" for s in drawn)
        return Explanation(source=provider, text=text, sections=drawn, cached=cached, note=note)


def _safe_lines(text: str, max_chars: int) -> str:
    """Sanitise line by line so bullet lists keep their shape, then bound the whole."""
    lines = [safe_llm_text(line, max_chars) for line in text.splitlines()]
    kept: list[str] = []
    used = 0
    for line in lines:
        if not line:
            continue
        if used + len(line) + 1 > max_chars:
            kept.append("…")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)
