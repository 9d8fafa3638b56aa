"""The neutral card and reply models every adapter draws, and the plain-text renderer.

Adapters never decide *what* a user sees, only how it is drawn: a Slack or Discord renderer gets the
same Card/DigestMessage/Reply as the terminal. All strings here are already clean text (no TeX), but
still untrusted: each platform renderer escapes them its own way, and the plain-text renderers below pass
every untrusted piece through ``inert_text`` (no control or bidi characters, no live mention or foreign link).
The bot's own links (``Link``) are the exception: drawn as real links ("label: url" here), never defanged,
their URLs checked by ``bot.own_links``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.explain.glossary import all_concepts
from bot.models import Paper
from bot.own_links import drawn_links
from bot.text import shorten_authors, teaser
from bot.untrusted import bounded, inert_text

if TYPE_CHECKING:
    from bot.digest import DigestSelection

_LINE_MAX = 1_000  # one line of a card (title, authors, categories): far beyond any real one

ANNOUNCE_LABELS = {"new": "new", "cross": "cross-list", "replace": "revised", "replace-cross": "revised cross-list"}
LISTING_URL = "https://arxiv.org/list/{category}/new"


class Layout(StrEnum):
    """How a channel's digest is laid out (``/paper layout``). ``cards``: a header, then one message per
    paper (reactions and thread questions per paper). ``compact``: one message holding every card (split
    only at a platform's limits), with 👍/👎 buttons per paper instead of reactions. ``thread``: the header
    (and briefing) as one message, the cards in its thread."""

    CARDS = "cards"
    COMPACT = "compact"
    THREAD = "thread"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Card:
    paper_id: str
    version: int
    title: str
    url: str
    authors: str  # already shortened for display
    categories: tuple[str, ...]
    primary_category: str
    badge: str  # "new", "cross-list", "revised", or "" (papers fetched by id)
    teaser: str
    links: tuple[Link, ...]
    source: str = "arxiv"
    math_line: str = ""  # "math in a sentence", when an explanation is ready
    stats: str = ""  # what readers did: "▲ 42 upvotes · 3 comments" (Hugging Face), when known
    # Why the channel's radar ranked it here: "matches: score matching · author: Yang Song · like 2011.13456".
    # Holds words the channel's members typed: untrusted like every other field.
    why: str = ""
    # Its place in the digest, 1..n (0 outside a digest): what the day's briefing cites as #n.
    number: int = 0


@dataclass(frozen=True, slots=True)
class DigestMessage:
    """One channel's digest: a header, the cards, and what did not fit."""

    categories: tuple[str, ...]
    announced: date | None
    cards: tuple[Card, ...]
    more_count: int = 0
    more_links: tuple[Link, ...] = ()
    note: str = ""  # a message without cards: no announcement today, the day's briefing, an admin report
    briefing: bool = False  # the note is the day's briefing (recorded as such where it is posted)
    # Whose digest it is: a channel's (what it has not seen yet), or a preview for no channel (what exists).
    for_channel: bool = True
    layout: Layout = Layout.CARDS  # the channel's /paper layout; previews and notes use cards
    # The day's briefing, drawn in the header message (untrusted LLM text: escaped per platform as the
    # briefing note is). Only a thread layout's digest gets one (bot.delivery), and it stays in the thread
    # layout; the cards layout draws it too, for a platform that cannot hold the thread (Discord).
    opening: str = ""

    @property
    def is_note(self) -> bool:
        return bool(self.note) and not self.cards

    @property
    def empty_line(self) -> str:
        """What an empty digest says: a channel has seen everything; a preview found nothing at all."""
        if self.for_channel:
            return "No new papers in this announcement that this channel has not already seen."
        return "No papers in this announcement."

    @property
    def paper_ids(self) -> tuple[str, ...]:
        return tuple(c.paper_id for c in self.cards)

    @property
    def header(self) -> str:
        day = self.announced.strftime("%a %d %b %Y") if self.announced else "latest announcement"
        kind = "arXiv digest" if all(_is_arxiv_feed(c) for c in self.categories) else "Paper digest"
        return f"{kind} · {', '.join(self.categories)} · {day}"


@dataclass(frozen=True, slots=True)
class ExplanationSection:
    title: str
    text: str  # untrusted (model or paper text, already cleaned): renderers defang it
    # The bot's own links for this section (an equation's place in the paper, a glossary entry), built from
    # URLs the bot chose (its configuration, its glossary), never from paper or model text: every renderer
    # draws them as real links (Slack <url|label>, a Discord masked link, "label: url" on a terminal).
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class ExplanationEquation:
    """One of the paper's own numbered equations: clean Unicode, its TeX (untrusted paper text, for
    renderers that draw it), and a link to its place in the HTML version. ``image`` a PNG path, or None."""

    label: str  # as numbered in the paper: "3", "A.2"
    tex: str
    unicode: str
    url: str
    image: str | None = None


@dataclass(frozen=True, slots=True)
class EquationImage:
    """One equation drawn as a PNG (bot.equation_images), to attach to the explanation. ``label`` ("Eq. (3)")
    and ``unicode`` (its alt text) are already inert; ``tex`` is raw paper text, never shown as is."""

    path: str  # a PNG file on this machine
    label: str
    tex: str
    unicode: str
    url: str = ""  # its place in the paper's HTML version


@dataclass(frozen=True, slots=True)
class Explanation:
    source: str  # anthropic | openai | offline
    text: str
    sections: tuple[ExplanationSection, ...] = ()
    cached: bool = False
    note: str = ""
    grounding: str = "abstract"  # what it was built from: "full_text" (the HTML version) | "abstract"
    equations: tuple[ExplanationEquation, ...] = ()
    badge: str = ""  # what it was built from, for people: "from the paper's full text (v2)"
    images: tuple[EquationImage, ...] = ()  # equations Unicode draws badly, as pictures to attach
    # For the people who run the bot, never for chat users ("set ANTHROPIC_API_KEY … and restart"): shown
    # by the terminal surfaces (the console channel, `paperbot explain`), which only an operator sees.
    admin_note: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers. ``text`` alone must make sense (notifications, plain channels)."""

    text: str = ""
    cards: tuple[Card, ...] = ()
    digest: DigestMessage | None = None
    explanation: Explanation | None = None
    ephemeral: bool = False
    abstract: str = ""  # the full abstract, shown under the card by `explain`
    is_error: bool = False
    # Set by `/paper digest`: the adapter posts ``digest`` and then records this selection as delivered.
    selection: DigestSelection | None = None
    # The bot's own links for ``text`` (an answer's equations, the paper's full text), built from URLs the
    # bot chose (its configuration, the page's anchor ids), never from paper, model or user text: drawn right
    # after the text as real links, as an explanation section's ``links`` are. In ``text`` such a URL to a
    # host that is not a source's own (a configured mirror) would be defanged like any untrusted link.
    links: tuple[Link, ...] = ()

    @property
    def images(self) -> tuple[EquationImage, ...]:
        """Equation images to attach after the text (Slack: uploaded in its thread; Discord: attached)."""
        return self.explanation.images if self.explanation is not None else ()


@lru_cache(maxsize=4096)  # a fan-out draws the same papers for many channels
def make_card(paper: Paper, teaser_chars: int = 280, math_line: str = "", why: str = "") -> Card:
    """One paper's card, whichever sources saw it: arXiv's links, Hugging Face's upvotes and code, the
    preprint's DOI and its journal version. Only links we build, to hosts we chose."""
    links = [Link("abs", paper.url), Link("pdf", paper.pdf_url)]
    if paper.github_url:
        links.append(Link("code", paper.github_url))
    if paper.known_by_doi:
        links.append(Link("doi", f"https://doi.org/{paper.id}"))
    else:
        links.append(Link("html", paper.html_url))
    if paper.published_doi:
        links.append(Link("journal", f"https://doi.org/{paper.published_doi}"))
    if paper.upvotes is not None:
        links.append(Link("hf", f"https://huggingface.co/papers/{paper.id}"))
    stats = []
    if paper.upvotes is not None:
        stats.append(f"▲ {paper.upvotes:,} upvote{'' if paper.upvotes == 1 else 's'}")
    if paper.num_comments:
        stats.append(f"{paper.num_comments:,} comment{'' if paper.num_comments == 1 else 's'}")
    return Card(
        paper_id=paper.id,
        version=paper.version,
        title=paper.title or "(untitled)",
        url=paper.url,
        authors=shorten_authors(paper.authors),
        categories=paper.categories,
        primary_category=paper.primary_category,
        badge=ANNOUNCE_LABELS.get(paper.announce_type, ""),
        teaser=teaser(paper.abstract, teaser_chars),
        links=tuple(links),
        source=paper.source,
        math_line=math_line,
        stats=" · ".join(stats),
        why=why,
    )


def listing_links(categories: Sequence[str]) -> tuple[Link, ...]:
    return tuple(Link(f"all of {c}", LISTING_URL.format(category=c)) for c in categories if _is_arxiv_feed(c))


def _is_arxiv_feed(feed: str) -> bool:
    from bot.sources.registry import naming  # the registry knows every source's feed names

    return naming().source_of_feed(feed).name == "arxiv"


# --- the bot's own links inside explanation text (the shape producers used to write) --------------------

# A URL standing on its own at a line's end or before a blank, with the separator written before it.
_URL_IN_TEXT = re.compile(r"(?:[ \t]+(?:[—–:-][ \t]+)?|^)(https?://[^\s]+?)(?=[.,;]?(?:[ \t]|$))", re.M)


@lru_cache(maxsize=1)
def _glossary_links() -> dict[str, str]:
    return {concept.url: concept.term for concept in all_concepts()}


def _trusted_urls(explanation: Explanation) -> dict[str, str]:
    """URL -> label for what this explanation's text may carry that the bot chose itself: its equations'
    anchors (from the configured HTML URL) and, in the offline explanation, the shipped glossary's URLs."""
    trusted = {e.url: f"Eq. ({e.label})" for e in explanation.equations if e.url}
    if explanation.source == "offline":
        trusted = {**_glossary_links(), **trusted}
    return trusted


def _lift(section: ExplanationSection, trusted: dict[str, str]) -> ExplanationSection:
    lifted: list[Link] = []

    def take(m: re.Match[str]) -> str:
        if m.group(1) not in trusted:
            return m.group(0)
        lifted.append(Link(trusted[m.group(1)], m.group(1)))
        return ""

    text = _URL_IN_TEXT.sub(take, section.text)
    return replace(section, text=text, links=(*section.links, *lifted)) if lifted else section


def with_own_links(explanation: Explanation) -> Explanation:
    """``explanation`` with the bot's own URLs that its section text still carries ("… Eq. (3) … https://
    arxiv.org/html/…#S2.E1", "• term: … — https://en.wikipedia.org/…") moved into the sections' ``links``,
    so that every renderer draws them as real links whichever shape the producer wrote. Only exact URLs the
    bot chose move; anything else in the text stays untrusted text. Unchanged when there is none."""
    if not any("://" in s.text for s in explanation.sections):
        return explanation
    trusted = _trusted_urls(explanation)
    if not trusted:
        return explanation
    sections = tuple(_lift(s, trusted) if "://" in s.text else s for s in explanation.sections)
    return replace(explanation, sections=sections)


def text_links(links: Sequence[Link], *, trusted: bool = True) -> list[str]:
    """Links as plain text, "label: url": the label inert, the URL whole (``bot.own_links.drawn_links``)."""
    # The ":" is judged with the label: a label ending in "<" would otherwise open "<:" markup.
    return [f"{inert_text(label + ':')} {url}" for label, url in drawn_links(links, trusted=trusted)]


# --- plain text --------------------------------------------------------------------------------


def render_card_text(card: Card, index: int | None = None) -> str:
    # Every field bounded before it is composed: inert_text below then works on a few kilobytes at most.
    prefix = f"{index}. " if index is not None else ""
    badge = f" [{bounded(card.badge, _LINE_MAX)}]" if card.badge and card.badge != "new" else ""
    cats = ", ".join(card.categories[:4]) + (" …" if len(card.categories) > 4 else "")
    lines = [
        f"{prefix}{bounded(card.title, _LINE_MAX)}{badge}",
        f"   {bounded(card.authors, _LINE_MAX)}",
        "   "
        + " · ".join(
            part
            for part in (f"{bounded(card.paper_id, _LINE_MAX)}v{card.version}", bounded(cats, _LINE_MAX), card.stats)
            if part  # a Hugging Face paper not yet seen on arXiv has no categories
        ),
    ]
    if card.teaser:
        lines.append(f"   {bounded(card.teaser)}")
    if card.math_line:
        lines.append(f"   ∑ {bounded(card.math_line)}")
    if card.why:
        lines.append(f"   ★ {' '.join(bounded(card.why, _LINE_MAX).split())}")
    links = "   " + "  ".join(text_links(card.links, trusted=False))  # built from the source's data: hosts checked
    return inert_text("\n".join(lines)) + "\n" + links.rstrip()


def render_digest_text(digest: DigestMessage) -> str:
    # Untrusted pieces are made inert one by one: the composed text holds the bot's own links, whole.
    if digest.is_note:
        return inert_text(bounded(digest.note))
    header = inert_text(bounded(digest.header, _LINE_MAX))
    lines = [header, "=" * min(len(header), 80)]
    if digest.opening and digest.cards and digest.layout != Layout.COMPACT:  # the day's briefing, in the header
        lines += [inert_text(bounded(digest.opening)), ""]
    if not digest.cards:
        lines.append(digest.empty_line)
    elif digest.layout == Layout.THREAD:  # the header alone, its cards indented below as its thread
        count = len(digest.cards)
        lines += [f"{count} paper{'s' if count != 1 else ''}, in the thread below.", ""]
    for i, card in enumerate(digest.cards, start=1):
        drawn = render_card_text(card, i)
        if digest.layout == Layout.THREAD:
            drawn = textwrap.indent(drawn, "  │ ", lambda _: True)
        lines.append(drawn)
        if digest.layout != Layout.COMPACT:  # compact: one block, no blank line between cards
            lines.append("")
    if digest.more_count:
        where = "  ".join(url for _, url in drawn_links(digest.more_links, trusted=False))
        # "at" the list, or a full stop: never a colon with nothing after it.
        lines.append(f"… and {digest.more_count:,} more at {where}" if where else f"… and {digest.more_count:,} more.")
    return "\n".join(lines).rstrip()


def render_explanation_text(explanation: Explanation) -> str:
    lines = []
    if explanation.note:
        lines.append(inert_text(f"ⓘ {bounded(explanation.note)}"))
    if explanation.admin_note:  # plain text is the terminal's: the operator's own surface
        lines.append(inert_text(f"ⓘ {bounded(explanation.admin_note)}"))
    for section in with_own_links(explanation).sections:
        lines.append(inert_text(f"{bounded(section.title, _LINE_MAX)}:"))
        if section.text.strip():
            lines.append(textwrap.indent(inert_text(bounded(section.text)), "  "))
        lines += [f"  ↗ {link}" for link in text_links(section.links)]  # one a line: each URL whole
    if not explanation.sections and explanation.text:
        lines.append(inert_text(bounded(explanation.text)))
    return "\n".join(lines)


def render_images_text(images: tuple[EquationImage, ...]) -> str:
    """A terminal shows no pictures: each equation's Unicode form and where its image was drawn. (Labels
    and Unicode are inert already; the path is the bot's own file.)"""
    lines = ["Equation images:"]
    lines += [f"  {image.label} {image.unicode}\n    image: {image.path}" for image in images]
    return "\n".join(lines)


def render_reply_text(reply: Reply) -> str:
    # Each part is inert on its own (the drawn ones hold the bot's own links, which must stay whole).
    parts: list[str] = []
    said = [inert_text(bounded(reply.text))] if reply.text else []
    said += [f"↗ {link}" for link in text_links(reply.links)]  # one a line: each URL whole
    if said:
        parts.append("\n".join(said))
    for card in reply.cards:
        parts.append(render_card_text(card))
    if reply.abstract:
        parts.append(inert_text("Abstract:\n  " + bounded(reply.abstract)))
    if reply.explanation is not None:
        parts.append(render_explanation_text(reply.explanation))
    if reply.digest is not None:
        parts.append(render_digest_text(reply.digest))
    return "\n\n".join(parts)
