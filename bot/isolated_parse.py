"""Parsing untrusted pages (HTML by lexbor, XML by ElementTree) in a worker process, after a depth check.

Why: lexbor's cost grows with the square of the nesting depth (100,000 nested ``<div>`` take it 25 s) and
a thread running it cannot be stopped. :func:`parse_isolated` runs the parser in the pool of
bot.isolated, where the time limit kills it, and first counts the nesting depth of the raw bytes with a
linear scan (:func:`nesting_depth`), refusing beyond ``MAX_DEPTH`` before any parser runs. Real pages
are far below it: LaTeXML's deepest MathML is a few dozen levels inside a page a dozen levels deep.

A caller turns a refusal or a WorkerError into "no usable full text" (None), which bot.fulltext's
``through_cache`` already remembers per paper version for a day: the page is not downloaded and parsed
again at each ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from bot.isolated import WorkerPool, default_pool

__all__ = ["MAX_DEPTH", "NestingTooDeep", "nesting_depth", "parse_isolated", "refuse_deep_nesting"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MAX_DEPTH = 512
PARSE_TIMEOUT_S = 10.0

# A start tag, an end tag, or a markup declaration / processing instruction / comment start. ``[^<>]``
# keeps every attempt within one tag, so the scan is linear even on a page of unclosed "<a".
_TAG = re.compile(rb"<(?:(/?)([A-Za-z][A-Za-z0-9:._-]{0,63})[^<>]*?(/?)>|!--|!\[CDATA\[|[!?])")
# HTML elements that never hold content, and those whose end tag HTML lets a page leave out: neither
# makes the tree deeper however many the page has.
_FLAT = frozenset(
    b"area base br col embed hr img input link meta param source track wbr "
    b"p li dt dd rt rp optgroup option colgroup caption thead tbody tfoot tr td th html head body".split()
)


class NestingTooDeep(ValueError):
    """The document nests deeper than a parser is allowed to follow."""


def nesting_depth(data: bytes, *, stop_above: int | None = None) -> int:
    """How deep the document's elements nest, by one linear scan of the raw bytes (no parser): start tags
    +1, end tags -1, self-closed, void and optional-end HTML elements, comments and CDATA not at all.
    Stops early once past ``stop_above`` (the answer is then that bound + 1)."""
    depth = deepest = 0
    position = 0
    while (found := _TAG.search(data, position)) is not None:
        position = found.end()
        head = data[found.start() + 1 : found.start() + 4]
        if head.startswith(b"!--"):
            end = data.find(b"-->", position)
            if end < 0:
                break  # the rest is a comment
            position = end + 3
        elif head.startswith(b"![C"):
            end = data.find(b"]]>", position)
            if end < 0:
                break
            position = end + 3
        elif found[2] is None or found[3] or found[2].lower() in _FLAT:
            continue  # a declaration, a processing instruction, <x/>, or an element that adds no depth
        elif found[1]:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
    return deepest


def refuse_deep_nesting(data: bytes, max_depth: int = MAX_DEPTH) -> None:
    """NestingTooDeep when ``data`` nests deeper than ``max_depth``: cheap, run it before any parser."""
    if nesting_depth(data, stop_above=max_depth) > max_depth:
        raise NestingTooDeep(f"nested deeper than {max_depth} elements")


def _checked(max_depth: int, parser: Callable[[bytes, *Ts], T], data: bytes, *args: *Ts) -> T:
    """In the worker: the depth check (a linear scan of up to megabytes, kept off the event loop), then
    the parser."""
    refuse_deep_nesting(data, max_depth)
    return parser(data, *args)


async def parse_isolated(
    parser: Callable[[bytes, *Ts], T],
    data: bytes,
    *args: *Ts,
    timeout_s: float = PARSE_TIMEOUT_S,
    max_depth: int = MAX_DEPTH,
    pool: WorkerPool | None = None,
) -> T:
    """``parser(data, *args)`` in a worker process (``pool``, else bot.isolated's default pool): its
    result, or its own exception, or NestingTooDeep (refused before parsing), or a WorkerError (the parser
    crashed, ran out of memory or outran ``timeout_s`` and was killed). ``parser`` must be a top-level
    function whose result pickles (plain data such as a FullText, not a lexbor tree)."""
    chosen = pool or default_pool()
    name = getattr(parser, "__qualname__", "parser")
    return await chosen.run(
        _checked, max_depth, parser, data, *args, timeout_s=timeout_s, label=f"{name} of {len(data):,} bytes"
    )
