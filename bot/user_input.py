"""What a person typed or pasted, read as they meant it.

Text copied from a web page or a PDF carries characters nobody sees (a zero-width space, a soft hyphen,
a bidi mark), and input methods type full-width forms ("ｃｓ.ＬＧ", "２６０４.１１４２２"). Neither changes
which id or category is meant, so both are undone before an id or a category is read; and an input that
is still refused is echoed without them.
"""

from __future__ import annotations

import unicodedata

__all__ = ["as_typed"]


def as_typed(text: str) -> str:
    """``text`` in NFKC form (full-width letters and digits become ASCII) without invisible characters
    (format characters and controls other than white space)."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc"))


def common_prefix_length(a: str, b: str) -> int:
    """How many leading characters two strings share (a typo usually keeps the start of a name right)."""
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size
