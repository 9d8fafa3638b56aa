"""Quoted phrases as people type them: ASCII, typographic and single quotes read as one kind.

Chat clients and phones turn "conformal prediction" into “conformal prediction” (or „…“, «…»), and some
people quote with 'single quotes'. Every one of those is a phrase, so ``straight_quotes`` turns them into
ASCII double quotes before a command's words are read (the radar's keywords, a search). A single quote
counts only as a pair around words, opening after a space and closing before one: an apostrophe (Bayes',
don't, Hoeffding's) stays what it is.
"""

from __future__ import annotations

import re

__all__ = ["DOUBLE_QUOTES", "straight_quotes"]

DOUBLE_QUOTES = '"“”„‟«»″〝〞＂'
_DOUBLE = re.compile(f"[{DOUBLE_QUOTES[1:]}]")
_SINGLE_PAIR = re.compile(r"(?:(?<=\s)|^)['‘‚‹]([^'‘’‚‹›\"\n]*[^\W_][^'‘’‚‹›\"\n]*?)['’›](?=[\s,;.!?:)]|$)")


def straight_quotes(text: str) -> str:
    """``text`` with every quote that marks a phrase written as ``"``."""
    return _DOUBLE.sub('"', _SINGLE_PAIR.sub(r'"\1"', text))
