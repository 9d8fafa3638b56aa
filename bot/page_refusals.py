"""Why a paper's full text was not read, in the words an explanation's badge uses.

"No HTML version" is true only when the source has none. A page that exists but was set aside (larger
than the size cap, nested too deeply to parse safely, a parser that failed on it, a redirect to
another host) is named as such, so a reader knows the
explanation rests on the abstract because of the page, not because the paper has no full text.
"""

from __future__ import annotations

__all__ = ["REDIRECTED", "TOO_DEEP", "TOO_LARGE", "UNREADABLE", "abstract_badge"]

TOO_LARGE = "its HTML version is too large to read"
TOO_DEEP = "its HTML version is nested too deeply to read safely"
UNREADABLE = "its HTML version could not be read"
REDIRECTED = "its HTML page redirected to another host, which was not followed"


def abstract_badge(reason: str) -> str:
    """The badge of an explanation built from the abstract because of ``reason``."""
    return f"from the abstract only ({reason})"
