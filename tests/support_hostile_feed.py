"""Hostile arXiv feeds shared by tests/test_feed_hardening.py (what the parse must yield) and
bench/bench_feed_hardening.py (what it costs): the recorded feed of tests/data with one field made hostile."""

from __future__ import annotations

from tests.fakes import recorded_feed

FIRST_CREATOR = b"<dc:creator>Matteo Gasparin, Aaditya Ramdas</dc:creator>"
FIRST_TITLE = b"<title>Conformal online model aggregation</title>"
DC = b"http://purl.org/dc/elements/1.1/"

# feedparser's e-mail expression costs 5.7 s on a 40 KB one-word author, 37 s on 100 KB.
HOSTILE_KB = 100


def with_first_creator(raw: bytes, element: bytes) -> bytes:
    """The recorded feed with the first item's dc:creator replaced by ``element``."""
    assert FIRST_CREATOR in raw
    return raw.replace(FIRST_CREATOR, element, 1)


def word(size: int = HOSTILE_KB * 1000) -> bytes:
    return b"a" * size


HOSTILE_AUTHOR_FIELDS = {
    "one word": b"<dc:creator>" + word() + b"</dc:creator>",
    "digits and dots": b"<dc:creator>" + b"1." * (HOSTILE_KB * 500) + b"</dc:creator>",
    "address-like": b"<dc:creator>" + word() + b"@" + b"b." * 20_000 + b"</dc:creator>",
    "character references": b"<dc:creator>" + b"&#97;" * (HOSTILE_KB * 1000) + b"</dc:creator>",
    "CDATA": b"<dc:creator><![CDATA[" + word() + b"]]></dc:creator>",
    "split by child elements": b"<dc:creator>" + b"<x/>".join([word(1000)] * HOSTILE_KB) + b"</dc:creator>",
    "other prefix": b'<d:creator xmlns:d="' + DC + b'">' + word() + b"</d:creator>",
    "default namespace": b'<creator xmlns="' + DC + b'">' + word() + b"</creator>",
    "rss author": b"<author>" + word() + b"</author>",
    "dc:contributor": b"<dc:contributor>" + word() + b"</dc:contributor>",
    "dc:publisher": b"<dc:publisher>" + word() + b"</dc:publisher>",
    "managingEditor": b"<managingEditor>" + word() + b"</managingEditor>",
    "webMaster": b"<webMaster>" + word() + b"</webMaster>",
    "many items": FIRST_CREATOR,  # see below: every item of the feed gets a 40 KB word
}


def hostile_feed(case: str) -> bytes:
    if case == "many items":
        return recorded_feed().replace(b"<dc:creator>", b"<dc:creator>" + word(40_000) + b", ")
    return with_first_creator(recorded_feed(), HOSTILE_AUTHOR_FIELDS[case])


def without_skip_days(raw: bytes) -> bytes:
    start, end = raw.index(b"<skipDays>"), raw.index(b"</skipDays>") + len(b"</skipDays>")
    return raw[:start] + raw[end:]


# Fields our own parsing reads with regular expressions, at the same hostile size.
HOSTILE_FOR_US = {
    "spaces in the authors": (FIRST_CREATOR, b"<dc:creator>A" + b" " * (HOSTILE_KB * 1000) + b"B</dc:creator>"),
    "newlines in the authors": (FIRST_CREATOR, b"<dc:creator>A" + b"\n" * (HOSTILE_KB * 1000) + b"B</dc:creator>"),
    "a link of /abs/": (
        b"<link>https://arxiv.org/abs/2403.15527</link>",
        b"<link>" + b"/abs/" * (HOSTILE_KB * 200) + b"?</link>",
    ),
    "a guid": (b"oai:arXiv.org:2403.15527v1</guid>", b"oai:arXiv.org:" + word() + b" </guid>"),
    "a description prefix": (b"arXiv:2403.15527v1 Announce Type: new", b"arXiv:" + word() + b" " * 100_000 + b"A"),
}
