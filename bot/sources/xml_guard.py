"""A strict first read of a fetched XML document, before feedparser sees it.

feedparser is lenient where we want to be strict, and slow where a hostile document can make it slow:

- It looks for an e-mail address in every author-like field with a regular expression whose cost
  grows with the square of the longest run of address characters: a 40 KB one-word ``dc:creator``
  costs seconds, 100 KB most of a minute. Those fields are bounded here (each run of address
  characters and the whole field), so one bad item costs milliseconds.
- After an XML error it re-reads the document with a loose parser, which accepts what XML forbids
  (``&#xD800;`` becomes a lone surrogate that no UTF-8 encoder takes) and runs the same slow
  regular expression. We only store well-formed documents, so the error is reported here instead.
- Entity declarations (a DTD's "billion laughs") are refused: arXiv never sends a DTD.

The rewrite works on the bytes: an over-long field's content is replaced by its bounded text as
ASCII with character references, so every other byte of the document stays as arXiv sent it.
"""

from __future__ import annotations

import logging
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

__all__ = [
    "AUTHOR_FIELDS",
    "MAX_FIELD_CHARS",
    "MAX_RUN_CHARS",
    "UnreadableXml",
    "bound_author_fields",
    "bounded_name",
    "needs_bounding",
]

log = logging.getLogger(__name__)

# Local names (any namespace, any case) whose text feedparser searches for an e-mail address:
# RSS author/managingEditor/webMaster, Dublin Core creator/author/publisher/contributor, Atom
# author/contributor with name/email/uri, iTunes author/owner.
AUTHOR_FIELDS = frozenset(
    {"author", "creator", "contributor", "publisher", "managingeditor", "webmaster", "owner", "name", "email", "uri"}
)
# The longest real address or name word is a few dozen characters.
MAX_RUN_CHARS = 100
# The longest real author lists (large collaborations) are a few tens of KB.
MAX_FIELD_CHARS = 200_000

# What the e-mail expression can repeat over (ASCII only, as in feedparser's expression).
_ADDRESS_RUN = re.compile(rf"[A-Za-z0-9_.+\-]{{{MAX_RUN_CHARS + 1},}}")
_NOT_ASCII_COMPATIBLE = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00", b"\x00<", b"<\x00")


class UnreadableXml(ValueError):
    """The document is not well-formed XML, or uses something we refuse. ``line`` is 1-based."""

    def __init__(self, reason: str, line: int) -> None:
        super().__init__(f"{reason} at line {line}")
        self.reason = reason
        self.line = line


def bounded_name(text: str) -> str:
    """``text`` with every run of address characters cut to MAX_RUN_CHARS and at most MAX_FIELD_CHARS
    long (cut after the last comma that fits, so no name is cut in half when there is a list)."""
    text = _ADDRESS_RUN.sub(lambda m: m.group(0)[:MAX_RUN_CHARS] + "…", text)
    if len(text) > MAX_FIELD_CHARS:
        cut = text.rfind(",", 0, MAX_FIELD_CHARS)
        text = text[: cut if cut > 0 else MAX_FIELD_CHARS]
    return text


def needs_bounding(text: str) -> bool:
    return len(text) > MAX_FIELD_CHARS or _ADDRESS_RUN.search(text) is not None


def bound_author_fields(data: bytes) -> bytes:
    """Check that ``data`` is well-formed XML without entity declarations and return it with every
    author-like field bounded (see the module docstring). Raises UnreadableXml."""
    reader = _Reader(data)
    reader.read()
    if not reader.rewrites:
        return data
    if data[:2] in _NOT_ASCII_COMPATIBLE:
        # Our replacement is ASCII; a UTF-16/32 document (never arXiv's) cannot take it.
        raise UnreadableXml("an over-long author field in a document that is not UTF-8", reader.rewrites[0].line)
    log.warning("bounded %d over-long author field(s) in a fetched feed", len(reader.rewrites))
    pieces: list[bytes] = []
    done = 0
    for rewrite in reader.rewrites:  # in document order, never overlapping
        pieces += [data[done : rewrite.start], rewrite.text]
        done = rewrite.end
    pieces.append(data[done:])
    return b"".join(pieces)


@dataclass(frozen=True, slots=True)
class _Rewrite:
    start: int  # byte offsets of the element's content
    end: int
    text: bytes
    line: int


@dataclass(slots=True)
class _Open:
    tag_start: int
    tracked: bool
    text: list[str] = field(default_factory=list)
    length: int = 0


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.rewrites: list[_Rewrite] = []
        self._stack: list[_Open] = []
        self._parser = xml.parsers.expat.ParserCreate()
        self._parser.buffer_text = True  # fewer calls; offsets come from the tags, never from text
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._text
        self._parser.EntityDeclHandler = self._entity

    def read(self) -> None:
        try:
            self._parser.Parse(self.data, True)
        except xml.parsers.expat.ExpatError as err:
            log.info("XML error: %s", xml.parsers.expat.ErrorString(err.code))
            raise UnreadableXml("invalid XML", err.lineno) from None

    def _start(self, name: str, attributes: object) -> None:
        del attributes
        local = name.rpartition(":")[2].lower()
        self._stack.append(_Open(self._parser.CurrentByteIndex, local in AUTHOR_FIELDS))

    def _text(self, text: str) -> None:
        top = self._stack[-1] if self._stack else None
        if top is None or not top.tracked:
            return
        # feedparser joins only an element's own text (children keep theirs); so do we. Beyond the
        # cap the text is only counted: it will be cut anyway.
        if top.length <= MAX_FIELD_CHARS:
            top.text.append(text)
        top.length += len(text)

    def _end(self, name: str) -> None:
        del name
        element = self._stack.pop()
        if not element.tracked:
            return
        text = "".join(element.text)
        if element.length <= MAX_FIELD_CHARS and not needs_bounding(text):
            return
        start = _after_start_tag(self.data, element.tag_start)
        if start is None:
            return  # <name/>: no content
        end = self._parser.CurrentByteIndex  # where the end tag begins
        replacement = escape(bounded_name(text)).encode("ascii", "xmlcharrefreplace")
        # The content is replaced whole, so a field rewritten inside it (<author><name>) goes with it.
        self.rewrites = [r for r in self.rewrites if not start <= r.start < end]
        self.rewrites.append(_Rewrite(start, end, replacement, self._parser.CurrentLineNumber))

    def _entity(self, name: str, *rest: object) -> None:
        del rest
        raise UnreadableXml(f"an entity declaration ({name[:40]!r})", self._parser.CurrentLineNumber)


def _after_start_tag(data: bytes, start: int) -> int | None:
    """The offset just after the start tag beginning at ``start``, or None for an empty-element tag.
    Attribute values may hold ">" but no quote of their own kind, so skipping quoted parts is enough."""
    quote = 0
    for index in range(start + 1, len(data)):
        byte = data[index]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):  # " '
            quote = byte
        elif byte == 0x3E:  # >
            return None if data[index - 1] == 0x2F else index + 1  # "/>"
    return None
