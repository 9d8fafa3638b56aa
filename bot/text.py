"""Text hygiene (placeholder implementation; being replaced)."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def latex_to_unicode(text: str) -> str:
    return text


def clean_text(text: str) -> str:
    return _WS.sub(" ", text).strip()


def shorten_authors(authors: tuple[str, ...] | list[str], shown: int = 3) -> str:
    if len(authors) <= shown + 1:
        return ", ".join(authors)
    return ", ".join(authors[:shown]) + f" … and {len(authors) - shown:,} more"


def teaser(abstract: str, max_chars: int = 280) -> str:
    return abstract if len(abstract) <= max_chars else abstract[: max_chars - 1] + "…"
