"""The items of an arXiv RSS document, so that each distinct item is parsed once.

arXiv lists a paper in every category it is cross-listed in, so a bot that follows ten categories
fetches most items two or three times in one morning, and feedparser and our cleaning were most of the
cost of each. ``ItemCache`` remembers what an item's exact bytes became, and ``split_items`` cuts a
document into its ``<item>`` elements so that only the items not seen before go to feedparser (with
the document's own head and tail, so feedparser reads them exactly as it would in the whole feed).

The cut is made on bytes of a document that ``xml_guard`` has already read as well-formed XML. It is
only trusted where it cannot be fooled: a document with CDATA sections, comments or processing
instructions from its first item on, or anything but whitespace between its items, is not cut at all
(``split_items`` answers None and the whole document is parsed as before), and the caller checks that
feedparser found exactly as many entries as it was given items.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise

from bot.errors import BadIdError
from bot.ids import parse_arxiv_id
from bot.models import Paper

__all__ = ["ItemCache", "SplitFeed", "item_key", "slim_item", "split_items", "typed_item_key"]

_ITEM = re.compile(rb"<item>.*?</item>", re.S)
_ITEM_TAG = re.compile(rb"<item[\s>/]")
_TRICKY = (b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?", b"?>")
_START_TAG = re.compile(rb"""<[A-Za-z_](?:[^>"']|"[^"]*"|'[^']*')*>""")  # a quoted ">" stays inside
# Licence links: arXiv sends one in every item and nothing we keep reads it. Only a plain-text one is
# dropped (no markup inside), so nothing else can go with it. Its indentation stays: a leading "\s*"
# tried at every position of a long run of blanks would cost the square of its length.
_RIGHTS = re.compile(rb"<dc:rights>[^<]*</dc:rights>")

_GUID_TAG = re.compile(rb"<guid[\s>/]")
_LINK_TAG = re.compile(rb"<link[\s>/]")
_PLAIN_GUID = re.compile(rb'<guid isPermaLink="false">oai:arXiv\.org:([A-Za-z0-9./-]{1,64})</guid>')
_OTHER_ID = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?id[\s>/]", re.I)  # would stand for the guid in feedparser
_PLAIN_LINK = re.compile(rb"<link>[^<]*</link>")

# The announce type, the one thing a cross-listed paper's item says differently from feed to feed ("new" in
# its primary's feed or a combined request holding it, "cross" in the others'). Read only where it is one
# plain word: then it is the whole of the type feedparser gives, and nothing else of the paper depends on it.
_TYPE_ELEMENT = re.compile(rb"<arxiv:announce_type>([A-Za-z-]{1,40})</arxiv:announce_type>")
# The same word in the description's prefix ("arXiv:2403.15527v1 Announce Type: new \nAbstract: ..."):
# only the prefix's fallback id and its length are read from it, and neither depends on the word.
_TYPE_PREFIX = re.compile(rb"<description>(\s*arXiv:[^\s<&]+\s+Announce Type:[ \t]*)[A-Za-z-]{1,40}(?=\s)")
_TYPE_PLACEHOLDER = b"?"

DEFAULT_CACHED_ITEMS = 5_000  # a morning of every category a bot follows, at about 3 KB a paper


@dataclass(frozen=True, slots=True)
class SplitFeed:
    head: bytes  # the document up to its first item (the root, the channel's own elements)
    items: tuple[bytes, ...]
    tail: bytes  # after the last item
    context: bytes  # what of the head can change how an item reads: its start tags (namespaces, xml:base)


def split_items(data: bytes) -> SplitFeed | None:
    """``data`` cut into head, items and tail, or None when the cut could be wrong (see the module)."""
    spans = [match.span() for match in _ITEM.finditer(data)]
    if not spans or len(spans) != len(_ITEM_TAG.findall(data)):
        return None  # no items, or an <item> with attributes or an empty one: not ours to cut
    # From the first item on, markup whose text may look like an item. (A comment in the head, as
    # before arXiv's channel, is harmless: were an "<item>" inside it, its end "-->" would follow.)
    if any(marker in data[spans[0][0] :] for marker in _TRICKY):
        return None
    for (_, end), (start, _) in pairwise(spans):
        if data[end:start].strip():
            return None
    head, tail = data[: spans[0][0]], data[spans[-1][1] :]
    items = tuple(data[start:end] for start, end in spans)
    return SplitFeed(head, items, tail, b"".join(_START_TAG.findall(head)))


def slim_item(item: bytes) -> bytes:
    """The item without the elements no field of ours reads (feedparser's time goes per element).

    The link is read only when the guid holds no readable id, so it goes only when the item's one guid
    is arXiv's plain ``oai:arXiv.org:<id>`` with an id we accept."""
    item = _RIGHTS.sub(b"", item)
    guids = _GUID_TAG.findall(item)
    if len(guids) == 1 and len(_LINK_TAG.findall(item)) == 1 and not _OTHER_ID.search(item):
        guid = _PLAIN_GUID.search(item)
        if guid is not None and _readable(guid.group(1).decode("ascii")):
            item = _PLAIN_LINK.sub(b"", item, count=1)
    return item


def _readable(text: str) -> bool:
    try:
        parse_arxiv_id(text)
    except BadIdError:
        return False
    return True


def item_key(context: bytes, item: bytes) -> bytes:
    """A short key for an item read in a context: a digest, so the cache does not keep every feed's bytes."""
    digest = hashlib.blake2b(item, digest_size=20)
    digest.update(b"\0" + context)
    return digest.digest()


def typed_item_key(context: bytes, item: bytes) -> tuple[bytes, str | None]:
    """A key for an item read in a context that leaves out its announce type, and that type (as the paper's
    ``announce_type`` reads it), so that a paper listed in two feeds is read once whatever each calls it;
    ``(item_key(context, item), None)`` when the type is not one plain word in one element.

    The paper read under such a key is the same for each of its items but for ``announce_type``: the
    caller gives it the type of the item at hand."""
    if item.count(b"announce_type") != 2:  # one element, its start and end; no other namespace's
        return item_key(context, item), None
    element = _TYPE_ELEMENT.search(item)
    if element is None:
        return item_key(context, item), None
    announce_type = element.group(1).decode("ascii").lower()
    untyped = item[: element.start(1)] + _TYPE_PLACEHOLDER + item[element.end(1) :]
    untyped = _TYPE_PREFIX.sub(rb"<description>\g<1>" + _TYPE_PLACEHOLDER, untyped, count=1)
    return item_key(b"typed\0" + context, untyped), announce_type


class ItemCache:
    """What recently seen items became, by ``item_key``: the least recently used go first.

    Shared by the parses of one client, which run in worker threads, hence the lock."""

    def __init__(self, limit: int = DEFAULT_CACHED_ITEMS) -> None:
        self._limit = max(0, limit)
        self._papers: OrderedDict[bytes, Paper] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._papers)

    def get(self, key: bytes) -> Paper | None:
        with self._lock:
            paper = self._papers.get(key)
            if paper is not None:
                self._papers.move_to_end(key)
            return paper

    def put(self, key: bytes, paper: Paper) -> None:
        with self._lock:
            self._papers[key] = paper
            self._papers.move_to_end(key)
            while len(self._papers) > self._limit:
                self._papers.popitem(last=False)
