"""Plain data shared by every part of the engine. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper at its latest known version.

    ``title`` and ``abstract`` are clean text (TeX turned into Unicode, whitespace collapsed);
    ``abstract_tex`` keeps the author's TeX for the LLM, which reads it better than our Unicode.
    """

    id: str  # version-less: 2508.13167, quant-ph/0201082
    version: int
    title: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    primary_category: str
    abstract: str
    abstract_tex: str = ""
    announce_type: str = ""  # new | cross | replace | replace-cross; "" when it came from the API
    announced: date | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    source: str = "arxiv"  # the source that first listed it: arxiv | huggingface | biorxiv | medrxiv
    # What other sources add; None when unknown. Never lost when another source saw the paper first.
    upvotes: int | None = None  # Hugging Face Daily Papers
    num_comments: int | None = None  # Hugging Face discussion
    github_url: str | None = None
    project_url: str | None = None
    published_doi: str | None = None  # bioRxiv/medRxiv: the journal version, once published

    # Where the paper lives, set by a source whose papers are not on arXiv (bioRxiv: its content pages);
    # None: the paper is an arXiv paper and its arXiv pages are used.
    page_url: str | None = None
    pdf_link: str | None = None
    html_link: str | None = None

    @property
    def url(self) -> str:
        return self.page_url or f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str:
        return self.pdf_link or f"https://arxiv.org/pdf/{self.id}v{self.version}"

    @property
    def html_url(self) -> str:
        if self.page_url is not None:
            return self.html_link or self.page_url
        return f"https://arxiv.org/html/{self.id}v{self.version}"

    @property
    def known_by_doi(self) -> bool:
        """A paper without an arXiv id (a preprint server's) is known by its DOI."""
        return self.doi is not None and self.id == self.doi

    @property
    def versioned_id(self) -> str:
        return f"{self.id}v{self.version}"

    def to_json(self) -> dict[str, Any]:
        """The paper object of the CLI JSON contract (ARCHITECTURE.md)."""
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "authors": list(self.authors),
            "categories": list(self.categories),
            "primary_category": self.primary_category,
            "abstract": self.abstract,
            "announce_type": self.announce_type or None,
            "announced": self.announced.isoformat() if self.announced else None,
            "url": self.url,
            "pdf_url": self.pdf_url,
            "html_url": self.html_url,
            "doi": self.doi,
            "journal_ref": self.journal_ref,
            "source": self.source,
            "upvotes": self.upvotes,
            "github_url": self.github_url,
        }


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A paper as listed in one announcement of one feed, with the position arXiv gave it."""

    paper: Paper
    position: int
    listed_in: tuple[str, ...]  # the requested categories this item belongs to


@dataclass(frozen=True, slots=True)
class Feed:
    """One fetched RSS feed: exactly arXiv's latest announcement for the requested categories."""

    categories: tuple[str, ...]
    announced: date | None  # the channel pubDate: the announcement date
    items: tuple[FeedItem, ...] = field(default=())
    skip_days: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, order=True)
class ChannelRef:
    """Where a digest goes: a platform, a workspace/guild on it (or "" where there is none) and a channel."""

    platform: str
    workspace: str
    channel: str

    def __str__(self) -> str:
        return (
            f"{self.platform}:{self.workspace}/{self.channel}" if self.workspace else f"{self.platform}:{self.channel}"
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel following one feed (an arXiv category, ``hf``, ``biorxiv:<subject>``…), with its options."""

    id: int
    channel: ChannelRef
    category: str  # the feed's canonical name
    time: str | None = None  # "HH:MM"; None: the configured default
    timezone: str | None = None
    include_replacements: bool = False
    paused_reason: str | None = None
    say_when_quiet: bool = False  # post one line on days without an arXiv announcement
    min_upvotes: int | None = None  # Hugging Face: this channel's own floor, above the configured one
