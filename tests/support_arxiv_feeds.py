"""What rss.arxiv.org serves for ``cat1+cat2``, derived from a recorded archive feed by arXiv's own listing
rule (arXiv/arxiv-feed ``get_announce_papers``): the items of any requested category, each once, its
announce type relative to the request (a new paper is "new" where its primary class is requested, "cross"
elsewhere; a replacement "replace" or "replace-cross" alike), in type order and by id within a type (as the
recorded feed of 2024-03-26 is)."""

from __future__ import annotations

import re

from tests.support import STAT_FEED

_ITEM = re.compile(rb"\s*<item>.*?</item>", re.S)
_CATEGORY = re.compile(rb"<category>([^<]+)</category>")
_ID = re.compile(rb"oai:arXiv\.org:([^<]+?)v\d+</guid>")
_TYPE_TAG = re.compile(rb"<arxiv:announce_type>[^<]*</arxiv:announce_type>")
_TYPE_TEXT = re.compile(rb"Announce Type: [\w-]+")
_ORDER = ("new", "cross", "replace", "replace-cross")


def _belongs(have: str, want: str) -> bool:
    return have == want or ("." not in want and have.startswith(want + "."))


def arxiv_feed(categories: str, source: bytes = STAT_FEED) -> bytes:
    wanted = categories.split("+")
    items = [m.group(0) for m in _ITEM.finditer(source)]
    head = source[: source.index(items[0])]
    tail = source[source.rindex(items[-1]) + len(items[-1]) :]
    listed: list[tuple[int, str, bytes]] = []
    for item in items:
        classes = [c.decode() for c in _CATEGORY.findall(item)]
        if not any(_belongs(have, want) for have in classes for want in wanted):
            continue
        archive_type = _TYPE_TEXT.search(item).group(0).split(b": ")[1].decode()  # type: ignore[union-attr]
        primary_here = any(_belongs(classes[0], want) for want in wanted)
        if archive_type in ("new", "cross"):  # a new submission (its primary in the archive or not)
            shown = "new" if primary_here else "cross"
        else:
            shown = "replace" if primary_here else "replace-cross"
        item = _TYPE_TAG.sub(f"<arxiv:announce_type>{shown}</arxiv:announce_type>".encode(), item)
        item = _TYPE_TEXT.sub(f"Announce Type: {shown}".encode(), item, count=1)
        paper_id = _ID.search(item).group(1).decode()  # type: ignore[union-attr]
        listed.append((_ORDER.index(shown), paper_id, item))
    listed.sort(key=lambda entry: entry[:2])
    return head + b"".join(item for *_, item in listed) + tail
