"""The Explainer: cache first, then the budget, then the LLM, and the offline explanation whenever any of
those says no. A user always gets an explanation and never a provider's raw error.

Given the paper's full text (arXiv's HTML version, a preprint's JATS), the prompt carries what of it fits
(bot.explain.prompt.ground: contributions, statements, key equations with their sentences, …); the
answer cites equations by label, and each cited one is shown from the paper's own TeX with the model's
meaning beside it and a link (``ExplanationSection.links``) to its place in the paper. The cache key
holds the grounding (version and what was sent), and the note says what the explanation was built from.
Before the provider is asked, its worst-case cost is reserved in the day's budget (bot.explain.budget) and
the progress callback says so ("Asking claude-haiku-5-5…"); a person waits at most ``Wait.limit_s`` for the
answer, hearing "Still waiting…" meanwhile, then gets the offline explanation (bot.explain.waiting).

Every explanation, the LLM's or the offline one, then gets images of the equations it shows that Unicode
draws badly (bot.equation_images), at most ``[images] max_per_explanation``, cached next to the database."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.cards import EquationImage, Explanation, ExplanationEquation
from bot.config import Config
from bot.equation_images import EquationImageCache, EquationRenderer
from bot.explain.basis import GROUNDED_MARK as _GROUNDED_MARK
from bot.explain.basis import NO_EQUATIONS_BADGE as NO_EQUATIONS_BADGE  # re-exported
from bot.explain.basis import NO_JATS_EQUATIONS_BADGE as NO_JATS_EQUATIONS_BADGE
from bot.explain.basis import Basis as _Basis
from bot.explain.budget import Budget, Reservation, worst_case_tokens
from bot.explain.ledger import ExplanationCache, Ledger
from bot.explain.llm import EXPLANATION_TOOL, LLMFailure, LLMProvider, ProviderAnswer, Tool
from bot.explain.offline import math_in_a_sentence_offline
from bot.explain.prompt import (
    ONE_LINER_MAX,
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    StructuredAnswer,
    ground,
    user_message,
)
from bot.explain.render import render_sections
from bot.explain.sanitize import safe_llm_text
from bot.explain.usage import PrepareReport as PrepareReport  # re-exported: the engine reports it
from bot.explain.usage import UsageReport, usage_report
from bot.explain.waiting import Wait, too_slow_note, wait_for_llm
from bot.fulltext import FullText
from bot.models import Paper
from bot.progress import Progress, tell
from bot.single_flight import once
from bot.store import Store, utcnow

log = logging.getLogger(__name__)


@runtime_checkable
class BatchProvider(LLMProvider, Protocol):
    """A provider with a cheaper batch API (Anthropic's Message Batches)."""

    async def explain_batch(
        self, requests: Sequence[tuple[str, str, str]], *, poll_interval_s: float, deadline_s: float
    ) -> dict[str, ProviderAnswer | LLMFailure]: ...


LLM_HINT = "set ANTHROPIC_API_KEY (or LLM_PROVIDER=openai with [llm] base_url) and restart"
# Chat users cannot set up the bot: they are told what they get. The hint is for those who can
# (Explainer.admin_note: doctor, the terminal, admins).
NO_LLM_NOTE = "Math explanations from an LLM are not set up on this bot. Below: formulas and concepts found offline."
ADMIN_NO_LLM_NOTE = f"For explanations by an LLM, {LLM_HINT}."
BUDGET_NOTE = "Today's LLM budget is spent, so this is the offline explanation; the LLM is back tomorrow."
OFFLINE_INSTEAD = "Showing the offline explanation instead."
UNREADABLE_ANSWER = "The LLM provider's answer could not be read."
ABSTRACT_ONLY = "from the title and abstract only"


def _images_folder_of(store: Store) -> Path | None:
    """``equation-images`` beside the database file (as the full-text cache), None for one in memory."""
    if store.path in ("", ":memory:") or store.path.startswith("file:"):
        return None
    return Path(store.path).resolve().parent / "equation-images"


def _shown_equations(explanation: Explanation) -> tuple[ExplanationEquation, ...]:
    """The equations the explanation links to (those the LLM cited, or the offline list), in the paper's
    order; all of them when it links none."""
    linked = {link.url for section in explanation.sections for link in section.links}
    text = "\n".join(section.text for section in explanation.sections) or explanation.text
    shown = tuple(
        e
        for e in explanation.equations
        if e.url and (e.url in linked or re.search(re.escape(e.url) + r"(?![\w.])", text))
    )
    return shown or explanation.equations


def _with_drawn(explanation: Explanation, images: tuple[EquationImage, ...]) -> Explanation:
    """The explanation with ``images``, each equation pointing at its own; unchanged for none."""
    if not images:
        return explanation
    drawn = {image.url: image.path for image in images}
    equations = tuple(replace(e, image=drawn[e.url]) if e.url in drawn else e for e in explanation.equations)
    return replace(explanation, images=images, equations=equations)


class Explainer:
    def __init__(
        self,
        config: Config,
        store: Store,
        provider: LLMProvider | None,
        *,
        now: Callable[[], datetime] = utcnow,
        batch_poll_interval_s: float = 30.0,
        images_folder: Path | None = None,
        wait: Wait | None = None,
    ) -> None:
        """``images_folder``: where equation images are drawn; by default ``equation-images`` next to the
        database, and none at all for a database in memory (it keeps nothing on disk either). ``wait``: how
        long a person waits for the LLM (bot.explain.waiting)."""
        self.config = config
        self.store = store
        self.provider = provider
        self.now = now
        self.cache = ExplanationCache(store)
        self.ledger = Ledger(store)
        self.budget = Budget(config, store, now=lambda: self.now())
        self.wait = wait or Wait()
        self.batch_poll_interval_s = batch_poll_interval_s
        self._inflight: dict[tuple[str, int, str], asyncio.Future[Explanation]] = {}
        self._offline_lines: dict[tuple[str, int], str | None] = {}
        folder = images_folder or _images_folder_of(store)
        self.images: EquationRenderer | None = None
        if folder is not None:
            cache = EquationImageCache(folder, max_bytes=int(config.get("images", "cache_mb")) * 1024 * 1024)
            self.images = EquationRenderer(cache)

    @property
    def model(self) -> str:
        return self.provider.model if self.provider else "offline"

    @property
    def admin_note(self) -> str:
        """What only those who manage the bot should read with an explanation (the terminal, admins,
        doctor): how to turn LLM explanations on. "" when they are on."""
        return ADMIN_NO_LLM_NOTE if self.provider is None else ""

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()

    # --- one paper ----------------------------------------------------------------------------

    async def explain(
        self,
        paper: Paper,
        *,
        full_text: FullText | None = None,
        abstract_badge: str = "",
        progress: Progress | None = None,
    ) -> Explanation:
        """``full_text``: the paper's HTML version, when there is one; else ``abstract_badge`` says why
        not (the note shows it). The equations shown come with images where Unicode is not enough.
        ``progress`` hears "Asking <model>…" before the provider is called (not for a cached answer)."""
        explanation = await self._explain_text(paper, full_text, abstract_badge, progress, self.wait)
        return await self._with_images(explanation, full_text)

    def cached(
        self, paper: Paper, *, full_text: FullText | None = None, abstract_badge: str = ""
    ) -> Explanation | None:
        """What ``explain`` answers with the same arguments when its answer is cached and every image it
        shows is drawn already, found without the provider or a drawing worker; None when ``explain`` would
        ask the provider, draw or explain offline. For a command that must not wait to import either."""
        if self.provider is None:
            return None
        basis = self._basis(paper, full_text, abstract_badge)
        found = self.cache.get(paper.id, paper.version, basis.prompt_version, self.provider.model)
        if found is None:
            return None
        explanation = self.render(paper, found.answer, found.provider, found.model, cached=True, basis=basis)
        limit = int(self.config.get("images", "max_per_explanation"))
        if self.images is None or limit <= 0 or not explanation.equations:
            return explanation
        images = self.images.drawn_images(_shown_equations(explanation), limit, full_text=full_text)
        return None if images is None else _with_drawn(explanation, images)

    async def _with_images(self, explanation: Explanation, full_text: FullText | None = None) -> Explanation:
        """The explanation with images of the equations it shows; unchanged when none can be drawn."""
        limit = int(self.config.get("images", "max_per_explanation"))
        if self.images is None or limit <= 0 or not explanation.equations:
            return explanation
        try:
            # The most important equations get the images (the ranking the prompt uses), not the first ones.
            images = await self.images.images(_shown_equations(explanation), limit, full_text=full_text)
        except Exception:  # images are a garnish: the text explanation stands without them
            log.exception("drawing the equations of an explanation failed")
            return explanation
        return _with_drawn(explanation, images)

    async def _explain_text(
        self,
        paper: Paper,
        full_text: FullText | None,
        abstract_badge: str,
        progress: Progress | None = None,
        wait: Wait | None = None,
    ) -> Explanation:
        """``wait``: a person is waiting (None: preparing ahead, as long as the provider takes)."""
        basis = self._basis(paper, full_text, abstract_badge)
        if self.provider is None:
            return replace(basis.offline(paper, NO_LLM_NOTE), admin_note=self.admin_note)
        cached = self.cache.get(paper.id, paper.version, basis.prompt_version, self.provider.model)
        if cached is not None:
            return self.render(paper, cached.answer, cached.provider, cached.model, cached=True, basis=basis)
        key = (paper.id, paper.version, basis.prompt_version)
        provider = self.provider  # the same paper asked for twice at once: one LLM call
        work = once(self._inflight, key, lambda: self._explain_uncached(paper, provider, basis, progress))
        if wait is None:
            return await work
        explained = await wait_for_llm(work, model=provider.model, wait=wait, progress=progress)
        if explained is None:  # the call goes on, and its answer is cached for the next asker
            log.info("LLM explanation of %s not within %g s; offline explanation meanwhile", paper.id, wait.limit_s)
            return basis.offline(paper, too_slow_note(provider.model, wait, "explanation"))
        return explained

    def _basis(self, paper: Paper, full_text: FullText | None, abstract_badge: str) -> _Basis:
        budget = int(self.config.get("llm", "max_input_tokens"))
        grounding = ground(paper, full_text, max_input_tokens=budget)
        if grounding is not None and not grounding.sent_anything:
            grounding = None  # the prompt is the abstract-only one: so are its cache key and badge
        return _Basis(full_text, grounding, abstract_badge)

    async def _explain_uncached(
        self, paper: Paper, provider: LLMProvider, basis: _Basis, progress: Progress | None = None
    ) -> Explanation:
        user = user_message(paper, basis.grounding)
        reservation = self.reserve(provider, EXPLANATION_TOOL, SYSTEM_PROMPT, user, subject=paper.id)
        if reservation is None:
            return basis.offline(paper, BUDGET_NOTE)
        with reservation:  # released if the call never ends (cancelled at shutdown)
            await tell(progress, f"Asking {provider.model}…")
            try:
                reply = await provider.explain(SYSTEM_PROMPT, user)
            except LLMFailure as failure:
                reservation.settle(failure.input_tokens, failure.output_tokens, outcome=failure.kind)  # billed too
                log.warning("LLM explanation of %s failed (%s); offline fallback", paper.id, failure.kind)
                return basis.offline(paper, f"{failure} {OFFLINE_INSTEAD}")
            except Exception:
                # Providers turn every answer into a ProviderAnswer or an LLMFailure; this net is for an answer
                # they did not foresee. The user still gets what the README promises: the offline explanation.
                log.exception("LLM explanation of %s raised unexpectedly; offline fallback", paper.id)
                reservation.settle(0, 0, outcome="error")
                return basis.offline(paper, f"{UNREADABLE_ANSWER} {OFFLINE_INSTEAD}")
            self._store(reservation, paper, reply, prompt_version=basis.prompt_version)
        return self.render(paper, reply.answer, provider.name, reply.model, cached=False, basis=basis)

    def _store(self, reservation: Reservation, paper: Paper, reply: ProviderAnswer, *, prompt_version: str) -> None:
        reservation.settle(reply.input_tokens, reply.output_tokens, outcome="ok")
        meter = reservation.meter
        self.cache.put(paper.id, paper.version, prompt_version, meter.model, meter.provider, reply.answer, self.now())

    # --- budget and usage -----------------------------------------------------------------------

    def reserve(
        self,
        provider: LLMProvider,
        tool: Tool[Any],
        system: str,
        user: str,
        *,
        subject: str,
        purpose: str = "explain",
        share: float | None = None,
        batch: bool = False,
        hold_s: float | None = None,
    ) -> Reservation | None:
        """The worst case of one call with this prompt held in today's budget (and ``share``, in dollars,
        of it for ``purpose``), or None when it does not fit. ``subject``: the paper id, or what the call is
        about. ``hold_s``: the longest the call can take (default: the provider's timeout)."""
        hold = hold_s if hold_s is not None else float(getattr(provider, "timeout_s", 600.0))
        return self.budget.reserve(
            self.budget.meter(provider),
            purpose=purpose,
            subject=subject,
            tokens=worst_case_tokens(tool, system, user),
            batch=batch,
            share=share,
            hold=timedelta(seconds=hold),
        )

    def budget_spent(self) -> bool:
        return self.budget.day_is_spent()

    def usage(self) -> UsageReport:
        provider = self.provider.name if self.provider else "none"
        return usage_report(
            self.store.db.conn, self.config, provider=provider, model=self.model, day=self.budget.day_start()
        )

    # --- ahead of posting -------------------------------------------------------------------------

    async def prepare(
        self,
        papers: Sequence[Paper],
        *,
        full_texts: Mapping[tuple[str, int], FullText | None] | None = None,
        deadline_s: float | None = None,
    ) -> PrepareReport:
        """Explain papers of upcoming digests before posting time: each distinct paper once, with bounded
        concurrency, or through the Message Batches API (half price) for a large set on Anthropic.

        ``full_texts``: each paper's full text by (id, version), as ``Engine.prepare_explanations`` fetched
        it; a paper missing there (or None) is prepared from the abstract. The basis (equations sent, cache
        key) is the one ``explain`` computes from the same full text, so a later ``/paper explain`` is a hit.
        ``deadline_s`` bounds a Message Batch (default: ``[llm] prepare_minutes``). Images are not drawn
        here: they are drawn (and cached) when an explanation is shown."""
        distinct = list({(p.id, p.version): p for p in papers}.values())
        if self.provider is None:
            return PrepareReport(len(distinct), 0, 0, 0, batched=False)
        provider = self.provider
        texts = full_texts or {}
        bases = {(p.id, p.version): self._basis(p, texts.get((p.id, p.version)), "") for p in distinct}
        todo = [
            p
            for p in distinct
            if self.cache.get(p.id, p.version, bases[(p.id, p.version)].prompt_version, provider.model) is None
        ]
        cached = len(distinct) - len(todo)
        grounded = sum(1 for p in todo if bases[(p.id, p.version)].grounding is not None)
        if not todo or self.budget_spent():
            return PrepareReport(len(distinct), cached, 0, 0, batched=False, skipped_for_budget=len(todo))
        threshold = int(self.config.get("llm", "batch_threshold"))
        if isinstance(provider, BatchProvider) and len(todo) >= threshold:
            deadline = deadline_s if deadline_s is not None else 60.0 * float(self.config.get("llm", "prepare_minutes"))
            explained, failed, skipped = await self._prepare_batch(provider, todo, bases, deadline)
            return PrepareReport(
                len(distinct), cached, explained, failed, batched=True, skipped_for_budget=skipped, grounded=grounded
            )
        limit = asyncio.Semaphore(int(self.config.get("llm", "concurrency")))

        async def one(paper: Paper) -> bool:
            async with limit:
                if self.budget_spent():
                    return False
                basis = bases[(paper.id, paper.version)]
                explanation = await self._explain_text(paper, basis.full_text, basis.abstract_badge)
                return explanation.source != "offline"

        results = await asyncio.gather(*(one(p) for p in todo))
        explained = sum(results)
        return PrepareReport(len(distinct), cached, explained, len(todo) - explained, batched=False, grounded=grounded)

    async def _prepare_batch(
        self, provider: BatchProvider, todo: list[Paper], bases: Mapping[tuple[str, int], _Basis], deadline_s: float
    ) -> tuple[int, int, int]:
        """(explained, failed, skipped for the budget): each request's worst case at the batch price is
        reserved before the batch is sent; those that do not fit wait for another day."""
        held: dict[str, tuple[Paper, Reservation, str]] = {}
        hold_s = deadline_s + 2 * float(getattr(provider, "timeout_s", 600.0))
        for paper in todo:
            custom_id = f"{paper.id.replace('/', '_')}v{paper.version}"
            user = user_message(paper, bases[(paper.id, paper.version)].grounding)
            reservation = self.reserve(
                provider, EXPLANATION_TOOL, SYSTEM_PROMPT, user, subject=paper.id, batch=True, hold_s=hold_s
            )
            if reservation is None:
                break  # the budget is held to the end: the rest would not fit either
            held[custom_id] = (paper, reservation, user)
        if not held:
            return 0, 0, len(todo)
        explained = 0
        try:
            requests = [(custom_id, SYSTEM_PROMPT, user) for custom_id, (_, _, user) in held.items()]
            results = await provider.explain_batch(
                requests, poll_interval_s=self.batch_poll_interval_s, deadline_s=deadline_s
            )
            for custom_id, result in results.items():
                paper, reservation, _ = held[custom_id]
                if isinstance(result, ProviderAnswer):
                    version = bases[(paper.id, paper.version)].prompt_version
                    self._store(reservation, paper, result, prompt_version=version)
                    explained += 1
                else:
                    reservation.settle(result.input_tokens, result.output_tokens, outcome=result.kind)
        finally:
            for _, reservation, _ in held.values():
                reservation.release()  # no result for it: nothing was billed
        return explained, len(held) - explained, len(todo) - len(held)

    # --- drawing -----------------------------------------------------------------------------------

    def one_liners(self, papers: Sequence[Paper]) -> dict[str, str]:
        """ "Math in a sentence" for digest cards: the LLM's when cached, else the offline concepts line."""
        lines: dict[str, str] = {}
        if self.provider is not None:
            keys = [(p.id, p.version) for p in papers]
            found = self.cache.one_liners(keys, PROMPT_VERSION, self.provider.model)
            # An explanation grounded in the full text is the better one: its line wins.
            found.update(self._grounded_one_liners(keys, self.provider.model))
            lines = {pid: safe_llm_text(text, ONE_LINER_MAX) for (pid, _), text in found.items()}
        for paper in papers:
            if paper.id not in lines:
                offline = self._offline_line(paper)
                if offline:
                    lines[paper.id] = offline
        return lines

    def _grounded_one_liners(self, keys: list[tuple[str, int]], model: str) -> dict[tuple[str, int], str]:
        """One-liners of explanations cached under a grounded key (``math-2@v2:3,5``), any grounding."""
        wanted = set(keys)
        found: dict[tuple[str, int], str] = {}
        ids = sorted({k[0] for k in keys})
        prefix = PROMPT_VERSION + _GROUNDED_MARK
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.store.db.conn.execute(
                "SELECT paper_id, version, one_liner FROM explanations WHERE substr(prompt_version, 1, ?) = ?"
                f" AND model=? AND paper_id IN ({','.join('?' * len(chunk))})",
                (len(prefix), prefix, model, *chunk),
            )
            found.update({(r[0], r[1]): r[2] for r in rows if r[2] and (r[0], r[1]) in wanted})
        return found

    def _offline_line(self, paper: Paper) -> str | None:
        # A fan-out draws the same papers for many channels: find their concepts once per version.
        key = (paper.id, paper.version)
        if key not in self._offline_lines:
            if len(self._offline_lines) > 10_000:
                self._offline_lines.clear()
            self._offline_lines[key] = math_in_a_sentence_offline(paper)
        return self._offline_lines[key]

    def render(
        self,
        paper: Paper,
        answer: StructuredAnswer,
        provider: str,
        model: str,
        *,
        cached: bool,
        basis: _Basis | None = None,
    ) -> Explanation:
        basis = basis or _Basis()
        drawn = render_sections(answer, basis.equation, basis.grounding.link if basis.grounding else None)
        badge = basis.badge or ABSTRACT_ONLY
        where = basis.grounding.url if basis.grounding is not None else paper.pdf_url
        note = (
            f"Generated by {model} {badge}; equations cited by number are the paper's own, formulas marked "
            f"background are not: check them against the paper ({where})."
        )
        text = "\n\n".join(f"{s.title}:\n{s.text}" for s in drawn)
        return Explanation(
            source=provider,
            text=text,
            sections=drawn,
            cached=cached,
            note=note,
            grounding="full_text" if basis.grounding is not None else "abstract",
            equations=basis.equations(answer.equation_labels),
            badge=badge,
        )
