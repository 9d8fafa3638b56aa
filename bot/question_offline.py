"""A thread answer without the LLM: the paper's passages, sentences and equations that bear on the question.

Used when no LLM is configured, when the questions' share of the day's budget is spent and when the LLM
fails. Deterministic and cheap (a few milliseconds for a paper of hundreds of paragraphs and equations):
- equations the question names by label ("Eq. 3") come first, then those sharing its content words
  (stop words dropped, a crude stem so that "controls" finds "control", single non-Latin letters such as
  λ kept) in their Unicode form, introducing and following sentence and section;
- with the full text, the passages BM25 finds most relevant (bot.passage_search, the same the LLM
  prompt gets), each quoted from its best-matching sentence, bounded, with its section or statement;
- the title and the abstract's sentences sharing the question's words.
When nothing matches, the answer says which words the paper's text does not mention, so the reader
knows what was looked for.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.cards import Link
from bot.explain.sanitize import safe_llm_text
from bot.fulltext import FullText, PaperEquation, Passage
from bot.models import Paper
from bot.passage_search import relevant_passages
from bot.question_prompt import bare_label, named_labels
from bot.text import clean_text

__all__ = ["OfflineAnswer", "equation_line", "equation_link", "equation_unicode", "offline_answer"]

MAX_SENTENCES = 3
MAX_EQUATIONS = 3
MAX_PASSAGES = 3
PASSAGE_QUOTE_CHARS = 400
SENTENCE_CHARS = 300
EQUATION_CHARS = 200
INTRO_CHARS = 160
MAX_WORDS_SHOWN = 6
MAX_EQUATIONS_LOOKED_AT = 400  # a real paper has tens; the rest of a pathological page is not searched

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\d])")
_SAFE_ANCHOR = re.compile(r"[A-Za-z0-9._-]{1,40}")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each eq eqs equation equations few for from
    further had has have having he her here hers him his how i if in into is it its itself just me more most
    my no nor not now of off on once only or other our out over own paper same she should so some such than
    that the their them then there these they this those through to too under until up us very was we were
    what when where which while who whom why will with would you your yours mean means meaning role does
    explain tell say says said work works used use using get gets between much many thing things term""".split()
)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> dict[str, str]:
    """The question's words worth looking for: stem -> the word as typed (folded), in order."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words: dict[str, str] = {}
    for word in _WORD.findall(folded):
        single_symbol = len(word) == 1 and not word.isascii() and word.isalpha()  # λ, θ, ε
        if single_symbol or (len(word) >= 3 and word not in _STOP and not word.isdigit()):
            words.setdefault(_stem(word), word)
    return words


def _stems_of(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold())}


@dataclass(frozen=True, slots=True)
class _Found:
    score: int
    order: int
    text: str


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    text: str  # safe to draw: paper text sanitised, no link of the bot's own (those are in ``links``)
    matched: bool  # whether anything in the paper's text shares the question's words
    equations: tuple[PaperEquation, ...] = ()  # the paper's equations the answer shows, in its order
    passages: int = 0  # how many passages of the full text it quotes
    links: tuple[Link, ...] = ()  # each shown equation's place in the paper's full text, in the same order


def offline_answer(paper: Paper, full_text: FullText | None, question: str) -> OfflineAnswer:
    """What the paper's text says about the question's words (see the module docstring)."""
    wanted = content_words(question)
    sentences = _matching_sentences(paper, set(wanted))
    equations = _matching_equations(full_text, question, set(wanted)) if full_text is not None else []
    passages = _matching_passages(full_text, question) if full_text is not None else []
    quoted = ["What the paper's full text says about it:", *passages] if passages else []
    shown: list[str] = []
    if equations and full_text is not None:
        shown = ["Equations of the paper that bear on it:"]
        shown += [equation_line(e, unicode) for e, unicode in equations]
    # The equations the question names come first, as asked; else the passages, the stronger evidence.
    named = bool(equations) and bare_label(equations[0][0].label) in map(bare_label, named_labels(question))
    lines = [*shown, *quoted] if named else [*quoted, *shown]
    if sentences:
        lines.append("What the paper's title and abstract say about it:")
        lines += [f"• “{text}”" for text in sentences]
    if lines:
        used = tuple(e for e, _ in equations)
        links = _equation_links(full_text, used) if full_text is not None else ()
        return OfflineAnswer("\n".join(lines), matched=True, equations=used, passages=len(passages), links=links)
    return OfflineAnswer(_nothing_found(full_text, list(wanted.values())), matched=False)


def _matching_passages(full_text: FullText, question: str) -> list[str]:
    """The most relevant passages, best first, each quoted from its sentence sharing most of the
    question's words: "• Theorem 2 (Method): “…”"."""
    wanted = set(content_words(question))
    return [_quoted(s.passage, wanted) for s in relevant_passages(full_text.passages, question, MAX_PASSAGES)]


def _quoted(passage: Passage, wanted: set[str]) -> str:
    sentences = _SENTENCE_END.split(" ".join(passage.text[: PASSAGE_QUOTE_CHARS * 20].split()))
    best = max(range(len(sentences)), key=lambda n: (len(wanted & _stems_of(sentences[n])), -n))
    text = " ".join(sentences[best:])
    quote = safe_llm_text(text, PASSAGE_QUOTE_CHARS)
    where = [safe_llm_text(part, 80) for part in (passage.label, passage.section) if part.strip()]
    said = f"{where[0]} ({where[1]})" if len(where) == 2 else (where[0] if where else "")
    return f"• {said + ': ' if said else ''}“{'…' if best else ''}{quote}”"


def _nothing_found(full_text: FullText | None, words: list[str]) -> str:
    have = "its title and abstract"
    if full_text is not None and (full_text.equations or full_text.passages):
        parts = [(len(full_text.passages), "passage"), (len(full_text.equations), "numbered equation")]
        said = " and ".join(f"{n} {what}{'s' if n > 1 else ''}" for n, what in parts if n)
        have += f", and the {said} of its full text"
    if not words:
        return (
            f"I looked in the paper's text I have ({have}) but your question names nothing to look for: "
            "ask about a term, a symbol or an equation, e.g. “what does λ control in Eq. 3?”"
        )
    shown = ", ".join(f"“{safe_llm_text(w, 40)}”" for w in words[:MAX_WORDS_SHOWN])
    return f"The paper's text I have ({have}) does not mention {shown}."


def _matching_sentences(paper: Paper, wanted: set[str]) -> list[str]:
    if not wanted:
        return []
    found: list[_Found] = []
    sentences = [paper.title, *_SENTENCE_END.split(" ".join(paper.abstract.split()))]
    for order, sentence in enumerate(sentences[:200]):
        score = len(wanted & _stems_of(sentence))
        if score:
            found.append(_Found(score, order, sentence))
    best = sorted(found, key=lambda f: (-f.score, f.order))[:MAX_SENTENCES]
    return [safe_llm_text(f.text, SENTENCE_CHARS) for f in sorted(best, key=lambda f: f.order)]


def _matching_equations(full_text: FullText, question: str, wanted: set[str]) -> list[tuple[PaperEquation, str]]:
    named = {bare_label(label): rank for rank, label in enumerate(named_labels(question))}
    found: list[tuple[int, int, PaperEquation, str]] = []
    for order, equation in enumerate(full_text.equations[:MAX_EQUATIONS_LOOKED_AT]):
        is_named = bare_label(equation.label) in named
        if not is_named and not wanted:
            continue
        unicode = equation_unicode(equation)
        score = len(wanted & _stems_of(f"{unicode} {equation.intro} {equation.after} {equation.section}"))
        if is_named or score:
            # A named equation beats any word match; among named ones, the question's order.
            rank = -1000 + named[bare_label(equation.label)] if is_named else -score
            found.append((rank, order, equation, unicode))
    best = sorted(found, key=lambda f: (f[0], f[1]))[:MAX_EQUATIONS]
    return [(equation, unicode) for _, _, equation, unicode in best]


def equation_line(equation: PaperEquation, unicode: str, *, intro: bool = True) -> str:
    """One of the paper's equations as a line: its label, its Unicode and its introducing sentence (when
    ``intro``). Its link is not in the line but apart (:func:`equation_link`), so that it stays a real link."""
    label = safe_llm_text(equation.label, 20)
    said = safe_llm_text(unicode, EQUATION_CHARS)
    introduced = f" — “{safe_llm_text(equation.intro, INTRO_CHARS)}”" if intro and equation.intro else ""
    # The sentence after it often says what its symbols are ("where α is the miscoverage level").
    followed = f" Then: “{safe_llm_text(equation.after, INTRO_CHARS)}”" if intro and equation.after else ""
    return f"• Eq. ({label}) {said}{introduced}{followed}"


def equation_link(url: str, equation: PaperEquation) -> Link | None:
    """The link "Eq. (n)" to ``url``, the equation's place in the paper (from our config and the page's
    anchor id, never paper text); None when the anchor is not a plain id (no link is better than a wrong one)."""
    if not _SAFE_ANCHOR.fullmatch(equation.anchor):
        return None
    return Link(f"Eq. ({safe_llm_text(equation.label, 20)})", url)


def _equation_links(full_text: FullText, equations: tuple[PaperEquation, ...]) -> tuple[Link, ...]:
    return tuple(link for e in equations if (link := equation_link(full_text.link(e), e)) is not None)


def equation_unicode(equation: PaperEquation) -> str:
    # \( \) rather than $ $: a stray dollar inside display math cannot end the formula early.
    return clean_text(f"\\({equation.tex}\\)")
