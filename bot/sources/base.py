"""The seam every paper source plugs into: a feed name it understands, a day's batch, one paper by id.

A *feed* is what a channel follows: an arXiv category (``cs.LG``), ``hf`` (Hugging Face Daily Papers),
``biorxiv`` / ``medrxiv`` (every subject) or ``biorxiv:<subject>``. A source validates and completes its
own feed names, knows its calendar (which day's batch is complete now) and turns its upstream answers
into ``bot.models.Paper`` objects and typed ``SourceError``s. The engine asks a source, never a service.

A paper is known by one canonical key whatever source listed it: its arXiv id when it has one (Hugging
Face papers are arXiv papers), else its DOI (bioRxiv/medRxiv). Versions are not new papers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from bot.models import Paper

__all__ = ["Batch", "FeedName", "PaperRef", "Source"]


@dataclass(frozen=True, slots=True)
class FeedName:
    """A feed a source understands, in its canonical spelling."""

    source: str  # "arxiv" | "huggingface" | "biorxiv" | "medrxiv"
    name: str  # as stored and shown: "cs.LG", "hf", "biorxiv", "biorxiv:cancer_biology"
    label: str  # for people: "Hugging Face Daily Papers", "bioRxiv: Cancer Biology"


@dataclass(frozen=True, slots=True)
class PaperRef:
    """What a person pasted, understood: which source can fetch it, its canonical key and a version."""

    source: str
    key: str  # arXiv id (version-less) or DOI (lower case, no prefix)
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One feed's papers for one day, in the source's own order (best first where it ranks them)."""

    feed: str
    day: date
    papers: tuple[Paper, ...]


@runtime_checkable
class Source(Protocol):
    """One upstream service. Implementations live in ``bot/sources/<name>.py`` and are registered once."""

    name: str  # "huggingface"
    display_name: str  # "Hugging Face": how messages name it
    # The hosts this source's cards link to (its pages, the code links it lists); subdomains included.
    # Only these (and doi.org) are ever linked in a message, from our cards or from untrusted text.
    link_hosts: tuple[str, ...]

    def resolve_feed(self, text: str) -> FeedName | None:
        """The feed ``text`` names, if it is one of this source's; None if it is not this source's at all.
        Raises UnknownCategoryError (with suggestions) when it is this source's but misspelt."""
        ...

    def complete_feeds(self, prefix: str, limit: int = 25) -> Sequence[FeedName]:
        """Feeds for autocomplete, best first."""
        ...

    def batch_day(self, now: datetime) -> date | None:
        """The day whose batch is complete and due at ``now``; None when nothing new is due."""
        ...

    def settles_at(self, day: date) -> datetime | None:
        """When the batch of ``day`` is complete, so that ``batch_day`` names it from then on; None for a
        source whose feed is not a day's batch (arXiv's is its latest announcement)."""
        ...

    def expects_papers(self, feed: FeedName, day: date) -> bool:
        """Whether an empty batch of ``feed`` for ``day`` is suspicious (throttling, a broken page) and is
        retried and reported rather than taken as "nothing that day"."""
        ...

    def schedule_note(self) -> str:
        """When this source's digests come, for people: "after each arXiv announcement"."""
        ...

    def parse_ref(self, text: str) -> PaperRef | None:
        """The paper ``text`` points at, if it is this source's id or link form; None otherwise."""
        ...

    async def fetch_batch(self, feed: FeedName, day: date) -> Batch:
        """The feed's complete batch for ``day``. Raises SourceError (typed) on any failure: never a
        partial list."""
        ...

    async def fetch_paper(self, ref: PaperRef) -> Paper:
        """One paper at its latest version. NotFoundError when the service does not know it."""
        ...

    async def aclose(self) -> None: ...
