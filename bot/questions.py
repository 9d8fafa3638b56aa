"""Questions about one paper, asked in the thread of the bot's card or explanation.

Adapters turn a platform event (a Slack app_mention in a thread, a Discord reply to the bot's message)
into a ``ThreadQuestion`` and post the returned Reply in the same thread; an ``ephemeral`` Reply (a
refusal, a limit reached) is shown to the asker only.

What happens to a question, cheapest checks first:
1. an empty question, or a thread about no single paper: a short private answer saying what to do;
2. the rate limits (bot.question_limits): past one, a private answer saying when to ask again;
3. the paper, from the store or its source (gone: a private answer saying so), and its full text when
   arXiv has an HTML version (best effort, within the interactive deadline);
4. with an LLM: the cached answer to the same question (bot.question_cache), else one LLM call grounded
   in the paper's metadata and abstract, the passages of its full text most relevant to the question
   (BM25, bot.passage_search), the equations it names and the key ones, and the thread so far
   (bot.question_prompt), if its worst case can be reserved in the questions' share of today's budget
   (bot.question_limits); "Asking <model>…" is told first, "Still waiting…" while it is slow, and a
   person waits at most ``Explainer.wait`` (bot.explain.waiting); the same question asked twice at once
   is one call;
5. without an LLM, past the budget, when the LLM fails or is too slow: the same passages quoted, with the equations
   and abstract sentences that bear on the question (bot.question_offline), and a note saying why.

`paperbot ask` (``ask_paper``) takes steps 3 to 5 for a paper the CLI has looked up.

Question, thread and model text are untrusted throughout: delimited data in the prompt, sanitised and
bounded in the answer (bot.explain.sanitize). The bot's own links (the equations the answer shows, the paper's
full text) travel apart from the text, in ``Reply.links``, and are drawn as real links; a link in the text
goes only to a source's own pages (any other is broken).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.cards import ExplanationEquation, Link, Reply
from bot.errors import PaperbotError, UsageError
from bot.explain.llm import LLMFailure, LLMProvider
from bot.explain.prompt import Grounding
from bot.explain.sanitize import fit_lines, safe_llm_text, truncate
from bot.explain.service import UNREADABLE_ANSWER
from bot.explain.waiting import too_slow_note, wait_for_llm
from bot.fulltext import FullText, PaperEquation
from bot.models import ChannelRef, Paper
from bot.outbox import Outbox
from bot.posted_messages import MessageKind, PostedMessage
from bot.progress import Progress, tell
from bot.question_cache import QuestionCache, answer_key
from bot.question_limits import QuestionSettings, reserve_question, take_a_turn
from bot.question_offline import equation_line, equation_link, equation_unicode, offline_answer
from bot.question_prompt import (
    ANSWER_TOOL,
    QUESTION_SYSTEM_PROMPT,
    PromptParts,
    ThreadAnswer,
    bare_label,
    build_prompt,
)
from bot.single_flight import once
from bot.store import Store
from bot.stray_cancellation import being_cancelled, took_too_long
from bot.text import clean_text
from bot.untrusted import strip_unsafe_chars

if TYPE_CHECKING:
    from bot.engine import Engine

__all__ = [
    "MAX_THREAD_MESSAGES",
    "Answer",
    "ThreadMessage",
    "ThreadQuestion",
    "answer_question",
    "ask_paper",
    "names_a_card",
    "paper_in_thread",
]

log = logging.getLogger(__name__)

MAX_THREAD_MESSAGES = 10  # earlier messages of the thread an adapter passes, newest kept

ANSWER_MAX_CHARS = 2_500  # the model's answer as shown; the adapters split messages to their platform
REPLY_MAX_CHARS = 4_000  # the whole reply: answer, equations and notes
EQUATIONS_SHOWN = 5
NOT_ABOUT_ONE_PAPER = "This thread is not about one paper; ask in the thread of a paper card or explanation."
BRIEFING_HINT = "Name the card you mean to ask about it here, e.g. “what does #4 assume?”."
# "#4" as the briefing cites cards; not "##4", "a#4" or "#4b".
_CARD_NUMBER = re.compile(r"(?<![\w#])#(\d{1,3})(?!\w)")


def names_a_card(parent: PostedMessage) -> bool:
    """Whether a question under this message has to name its card by number: the message covers several
    papers (the day's briefing, a compact digest, a thread layout's header)."""
    return parent.paper_id is None and parent.kind in (MessageKind.BRIEFING, MessageKind.DIGEST)


def paper_in_thread(store: Store, parent: PostedMessage, text: str) -> str | None:
    """The paper a question in the thread of the bot's message is about: that message's own paper, or,
    under the day's briefing or a several-card digest message, the card the question names by its number
    ("what does #4 assume?"); None when there is no one paper to tell (no number, several, or one that is
    not a card of that digest)."""
    if parent.paper_id:
        return parent.paper_id
    if parent.kind == MessageKind.DIGEST:  # several cards in one message (compact or thread layout)
        numbers = {int(n) for n in _CARD_NUMBER.findall(text[:4000])}
        return parent.paper_number(numbers.pop()) if len(numbers) == 1 else None
    if parent.kind != MessageKind.BRIEFING or not parent.outbox_key:
        return None
    outbox = Outbox(store)
    briefing = outbox.get(parent.outbox_key)
    digest = outbox.get(briefing.opens) if briefing is not None and briefing.opens else None
    numbers = {int(n) for n in _CARD_NUMBER.findall(text[:4000])}
    if digest is None or len(numbers) != 1:
        return None
    number = numbers.pop()
    return digest.paper_ids[number - 1] if 1 <= number <= len(digest.paper_ids) else None


EMPTY_QUESTION = "Ask your question after the mention, for example: what does λ control in Eq. 3?"
# Chat users cannot set the bot up: they are told what they get; the set-up hint is for those who can
# (paperbot doctor, the terminal, the log at start).
NO_LLM_NOTE = "No LLM is set up on this bot, so this is only what the paper's text says about your words."
BUDGET_NOTE = (
    "Today's LLM budget for questions is spent, so this is only what the paper's text says about your words; "
    "full answers are back tomorrow (UTC)."
)
FAILED_NOTE = "This is only what the paper's text says about your words."
NOT_IN_PAPER = "The paper does not answer this directly, as far as its text I have goes ({basis})."


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One earlier message of the thread, oldest first. ``text`` is untrusted."""

    text: str
    from_bot: bool


@dataclass(frozen=True, slots=True)
class ThreadQuestion:
    channel: ChannelRef
    user: str
    # The paper of the thread's parent message (from bot.posted_messages); None when the parent is the
    # bot's but about no single paper (a digest header, a briefing).
    paper_id: str | None
    text: str  # the question, with the mention of the bot removed; untrusted
    thread: tuple[ThreadMessage, ...] = ()
    # Told "Asking <model>…" just before the LLM call, where the platform has no other way to say it at
    # once (the terminal); a chat adapter may post it as it posts "Fetching …".
    progress: Progress | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A question's answer: the text as posted (sanitised, bounded, with its notes), the bot's own links
    drawn under it, and what the CLI's JSON says of it. ``answered_by_paper``: the answer rests on the
    paper's passages, equations or abstract."""

    source: str  # the provider's name ("anthropic", "openai"), or "offline"
    text: str
    answered_by_paper: bool
    equations: tuple[ExplanationEquation, ...] = ()
    # "Eq. (n)" for each equation the text shows, then the full text it was answered from: URLs the bot
    # built (its configured HTML URL, the page's anchor ids), never in ``text`` (see bot.cards.Reply.links).
    links: tuple[Link, ...] = ()

    def reply(self) -> Reply:
        """The answer as a command posts it: its text with its links."""
        return Reply(text=self.text, links=self.links)


async def answer_question(engine: Engine, question: ThreadQuestion) -> Reply:
    """The answer to post in the question's thread (see the module docstring). Never raises for anything
    a user or a service can cause: a typed error is its message, anything else an apology with an id."""
    # Imported here: the command registry imports much of the engine, and adapters import this module.
    from bot.commands import apology, refusal

    try:
        return await _answer(engine, question)
    except PaperbotError as err:
        return refusal(err)
    except asyncio.CancelledError:
        if being_cancelled():  # the bot is stopping: this task's own cancellation goes on
            raise
        # Shared work (a lookup, a full text) cancelled under this asker: told, never silence.
        return took_too_long(log, "question about %s in %s", question.paper_id, question.channel)
    except Exception:
        return apology(log, "question about %s in %s failed", question.paper_id, question.channel)


# --- the steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Asked:
    """One LLM call's outcome: an answer, or the neutral sentence saying why there is none."""

    answer: ThreadAnswer | None
    model: str
    failure: str = ""
    over_budget: bool = False


@dataclass
class _PerEngine:
    """What questions keep per engine: its answer cache, and the LLM calls under way by cache key."""

    cache: QuestionCache
    calls: dict[str, asyncio.Future[_Asked]] = field(default_factory=dict)


_per_engine: weakref.WeakKeyDictionary[Engine, _PerEngine] = weakref.WeakKeyDictionary()


def _state(engine: Engine) -> _PerEngine:
    state = _per_engine.get(engine)
    if state is None or state.cache.store is not engine.store:
        state = _per_engine[engine] = _PerEngine(QuestionCache(engine.store))
    return state


async def _answer(engine: Engine, question: ThreadQuestion) -> Reply:
    settings = QuestionSettings.from_config(engine.config)
    text, clipped = _clip(question.text, settings.max_question_chars)
    if not text:
        return Reply(text=EMPTY_QUESTION, ephemeral=True)
    if not question.paper_id:
        return Reply(text=NOT_ABOUT_ONE_PAPER, ephemeral=True)
    now = engine.now()
    hit = take_a_turn(engine.store, question.channel, question.user, settings, now)
    if hit is not None:
        return Reply(text=hit.message(now), ephemeral=True)
    paper = await _paper(engine, question.paper_id)
    thread = tuple((m.from_bot, m.text) for m in question.thread[-MAX_THREAD_MESSAGES:])
    answer = await _answered(engine, settings, paper, (text, clipped), thread, question.progress)
    return answer.reply()


async def ask_paper(engine: Engine, paper: Paper, question: str, *, progress: Progress | None = None) -> Answer:
    """The answer to ``question`` (untrusted, any length) about ``paper``, for `paperbot ask`: grounded,
    cached and within the questions' budget share as in chat, without the per-person rate limits (the
    person at the command line runs the bot). An empty question is a UsageError."""
    settings = QuestionSettings.from_config(engine.config)
    text, clipped = _clip(question, settings.max_question_chars)
    if not text:
        raise UsageError("Ask a question after the paper's id, e.g. paperbot ask 2403.15527 what does Eq. 2 assume?")
    return await _answered(engine, settings, paper, (text, clipped), (), progress)


async def _answered(
    engine: Engine,
    settings: QuestionSettings,
    paper: Paper,
    question: tuple[str, bool],
    thread: tuple[tuple[bool, str], ...],
    progress: Progress | None,
) -> Answer:
    """Steps 3 to 5 of the module docstring for a question (its text, and whether it was cut)."""
    text, clipped = question
    full_text = await _full_text(engine, paper)
    notes = [f"Your question was long: I read its first {settings.max_question_chars:,} characters."] if clipped else []
    provider = engine.explainer.provider
    if provider is None:
        return await _offline(paper, full_text, text, [NO_LLM_NOTE, *notes])
    parts = build_prompt(paper, full_text, text, thread, max_input_tokens=settings.max_input_tokens)
    key = answer_key(paper.id, paper.version, provider.model, parts.grounding_key, text, parts.thread_sent)
    cached = _state(engine).cache.get(key)
    if cached is not None:
        return _drawn(paper, parts, cached.answer, cached.provider, cached.model, notes)
    wait = engine.explainer.wait
    work = _ask_once(engine, settings, provider, paper, parts, key, progress)
    asked = await wait_for_llm(work, model=provider.model, wait=wait, progress=progress)
    if asked is None:  # the call goes on, and its answer is cached for the next asker
        log.info("LLM answer to a question about %s not within %g s; offline answer meanwhile", paper.id, wait.limit_s)
        return await _offline(paper, full_text, text, [too_slow_note(provider.model, wait, "answer"), *notes])
    if asked.over_budget:
        return await _offline(paper, full_text, text, [BUDGET_NOTE, *notes])
    if asked.answer is None:
        return await _offline(paper, full_text, text, [f"{asked.failure} {FAILED_NOTE}", *notes])
    return _drawn(paper, parts, asked.answer, provider.name, asked.model, notes)


def _clip(text: str, max_chars: int) -> tuple[str, bool]:
    """The question as read: invisible and control characters gone, at most ``max_chars`` (cut at a word);
    and whether it was cut. Looked at only up to twice the limit, so a megabyte costs nothing more."""
    text = strip_unsafe_chars(text[: 2 * max_chars + 1]).strip()
    if len(text) <= max_chars:
        return text, False
    return truncate(text, max_chars), True


async def _paper(engine: Engine, paper_id: str) -> Paper:
    """The paper, from the store or fetched by its id. A malformed id (BadIdError: which forms work) or a
    paper its source does not know (NotFoundError) is the typed error, said to the asker as it is."""
    stored = engine.store.get_paper(paper_id)
    if stored is not None:
        return stored
    paper, _ = await engine.lookup(paper_id)
    return paper


async def _full_text(engine: Engine, paper: Paper) -> FullText | None:
    # arXiv's HTML version, or a preprint's JATS full text, through the engine's own fetch: the same
    # on-disk cache, interactive deadline and fallbacks as explanations.
    full_text, _ = await engine.full_text(paper, True)
    return full_text


async def _offline(paper: Paper, full_text: FullText | None, question: str, notes: list[str]) -> Answer:
    # Matching words over a paper's passages and equations is CPU work: off the event loop (bounded, ms).
    found = await asyncio.to_thread(offline_answer, paper, full_text, question)
    text = _joined([found.text, "", *(f"ⓘ {note}" for note in notes)])
    equations = _shown(full_text, found.equations) if full_text is not None else ()
    return Answer("offline", text, found.matched, equations, found.links)


async def _ask_once(
    engine: Engine,
    settings: QuestionSettings,
    provider: LLMProvider,
    paper: Paper,
    parts: PromptParts,
    key: str,
    progress: Progress | None,
) -> _Asked:
    """One LLM call per distinct question at a time: a second asker of the same question waits for it
    (and for its reservation: one worst case held, not one per asker)."""
    return await once(_state(engine).calls, key, lambda: _ask(engine, settings, provider, paper, parts, key, progress))


async def _ask(
    engine: Engine,
    settings: QuestionSettings,
    provider: LLMProvider,
    paper: Paper,
    parts: PromptParts,
    key: str,
    progress: Progress | None,
) -> _Asked:
    reservation = reserve_question(engine.explainer, settings, paper.id, parts.user)
    if reservation is None:
        return _Asked(None, provider.model, over_budget=True)
    with reservation:  # released if the call never ends (cancelled at shutdown)
        await tell(progress, f"Asking {safe_llm_text(provider.model, 100)}…")
        try:
            reply = await provider.ask(ANSWER_TOOL, QUESTION_SYSTEM_PROMPT, parts.user)
        except LLMFailure as failure:
            reservation.settle(failure.input_tokens, failure.output_tokens, outcome=failure.kind)  # billed too
            log.warning("LLM answer to a question about %s failed (%s); offline answer", paper.id, failure.kind)
            return _Asked(None, provider.model, str(failure))
        except Exception:
            # Providers turn every answer into a ToolAnswer or an LLMFailure; this net is for what they did
            # not foresee: the asker still gets the offline answer.
            log.exception("LLM answer to a question about %s raised unexpectedly; offline answer", paper.id)
            reservation.settle(0, 0, outcome="error")
            return _Asked(None, provider.model, UNREADABLE_ANSWER)
        reservation.settle(reply.input_tokens, reply.output_tokens, outcome="ok")
    _state(engine).cache.put(
        key, paper.id, paper.version, provider.name, reply.model, reply.value, engine.explainer.now()
    )
    return _Asked(reply.value, reply.model)


# --- drawing -----------------------------------------------------------------------------------------


def _drawn(paper: Paper, parts: PromptParts, answer: ThreadAnswer, source: str, model: str, notes: list[str]) -> Answer:
    """The LLM's answer as posted: sanitised and bounded, the paper's equations it names with links to
    them (label and link from the paper's page, never from the model), and what it was built from, with a
    link to it. The links go in ``links``, not in the text."""
    basis = _basis(parts)
    lines: list[str] = []
    if not answer.answered_by_paper:
        lines.append(NOT_IN_PAPER.format(basis=basis))
    said = [safe_llm_text(line, ANSWER_MAX_CHARS) for line in answer.answer.splitlines()]
    lines.append(fit_lines(said, ANSWER_MAX_CHARS, cut_last=True))
    used = _equations_used(parts, answer)
    grounding = parts.grounding
    links: list[Link] = []
    if used and grounding is not None:
        lines += ["", "Equations it relies on:"]
        lines += [equation_line(e, equation_unicode(e), intro=False) for e in used]
        links += [link for e in used if (link := equation_link(grounding.link(e), e)) is not None]
    shown_model = safe_llm_text(model, 100)
    lines += ["", f"ⓘ Answered by {shown_model} from {basis}: check it against the paper."]
    lines += [f"ⓘ {note}" for note in notes]
    if grounding is not None:
        links.append(Link(f"The paper's full text (v{grounding.version})", grounding.url))
    else:
        links.append(Link("The paper", paper.url))
    equations = _shown(grounding, used) if grounding is not None else ()
    return Answer(source, _joined(lines), answer.answered_by_paper, equations, tuple(links))


def _basis(parts: PromptParts) -> str:
    grounding = parts.grounding
    count = len(grounding.equations) if grounding is not None else 0
    passages = len(parts.passages)
    said = "the paper's title and abstract"
    if grounding is not None and (count or passages):
        sent = [(passages, "passage"), (count, "numbered equation")]
        what = " and ".join(f"{n} {name}{'s' if n > 1 else ''}" for n, name in sent if n)
        said = f"the paper's title, abstract and {what} of its full text (v{grounding.version})"
    return said + (" and this thread" if parts.thread_sent else "")


def _equations_used(parts: PromptParts, answer: ThreadAnswer) -> list[PaperEquation]:
    """The equations the answer relies on, when they are among those sent (else there is no link to draw)."""
    grounding = parts.grounding
    if grounding is None:
        return []
    by_label = {bare_label(e.label): e for e in grounding.equations}
    named = [by_label[bare_label(label)] for label in answer.equation_labels if bare_label(label) in by_label]
    return list(dict.fromkeys(named))[:EQUATIONS_SHOWN]


def _shown(where: FullText | Grounding, equations: Sequence[PaperEquation]) -> tuple[ExplanationEquation, ...]:
    """The equations as an explanation lists them (the CLI's JSON): the paper's label and TeX, Unicode,
    and the link to its place in the full text."""
    return tuple(
        ExplanationEquation(label=clean_text(e.label), tex=e.tex, unicode=equation_unicode(e), url=where.link(e))
        for e in equations
    )



def _joined(lines: list[str]) -> str:
    text = "\n".join(lines).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text if len(text) <= REPLY_MAX_CHARS else truncate(text, REPLY_MAX_CHARS)
