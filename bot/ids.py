"""arXiv identifiers (placeholder implementation; being replaced)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import BadIdError

_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$", re.I)


@dataclass(frozen=True, slots=True)
class ArxivId:
    id: str
    version: int | None = None

    def __str__(self) -> str:
        return self.id if self.version is None else f"{self.id}v{self.version}"


def parse_arxiv_id(text: str) -> ArxivId:
    m = _ID.match(text.strip())
    if not m:
        raise BadIdError(f"{text!r} is not an arXiv id")
    return ArxivId(m.group(1), int(m.group(2)) if m.group(2) else None)
