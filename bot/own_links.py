"""The bot's own links, as every renderer draws them: real links, never defanged.

Untrusted text (paper, model and user text) is defanged by :mod:`bot.untrusted`: a link in it to a host the
bot did not choose gets an invisible joiner after ``https:``, so it cannot be clicked. The bot's own links
(an equation's anchor in the paper's HTML version, a glossary entry, a card's abs/pdf/DOI pages, a listing)
are built by the bot from URLs it chose (its configuration, its shipped glossary, the sources' pages), so
they must stay real links. They travel apart from the text (``Link`` values: ``ExplanationSection.links``,
``Card.links``, ``DigestMessage.more_links``) and each renderer draws them with its platform's link syntax.

What this module guarantees for those renderers:

- :func:`own_url` accepts only an ``http(s)`` URL with a plain ASCII host and no control, format (bidi,
  zero-width) or blank character, and percent-encodes every character that could close or split a link in
  some markup (``[]<>|"`\\{}^@``, a second ``#``, non-ASCII): the result is the same address, safe inside
  Slack's ``<url|label>`` and a terminal line, and inside Discord's ``[label](url)`` once
  :func:`masked_link_url` has encoded its parentheses.
- :func:`shown_label` keeps a label (untrusted: an equation's label comes from the paper) from disguising
  the link: a label that reads as an address (``arxiv.org/abs/1``, ``https://…``) is replaced by the
  target's own host. Renderers still escape it like any untrusted text.
- :func:`drawn_links` applies both to a list of links, drops the invalid and bounds how many are drawn.

(``bot.cards.with_own_links`` turns the older shape, the bot's own URLs inside an explanation's section text,
into this one, so renderers handle both.)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from bot.untrusted import is_allowed_link, strip_unsafe_chars

__all__ = [
    "LABEL_MAX",
    "LINKS_PER_SECTION",
    "URL_MAX",
    "LinkLike",
    "card_url",
    "drawn_links",
    "looks_like_address",
    "masked_link_url",
    "own_url",
    "shown_label",
]

URL_MAX = 2_000  # Discord refuses an embed URL over 2,048; no URL the bot builds comes near either
LABEL_MAX = 100
LINKS_PER_SECTION = 20  # a glossary section lists six concepts, an equations section a handful

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}(?::[0-9]{{1,5}})?")
# Characters kept as they are after the host: unreserved and reserved ones that neither Slack's <url|label>
# nor a terminal reads as the end of a link. Everything else is percent-encoded (the same address to any
# server). Parentheses stay (Wikipedia's "Moment_(mathematics)" reads better whole): Discord's masked links
# are the one place they would end a link, and its renderer encodes them (:func:`masked_link_url`).
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/?#&=+,;:!$%()'*")
_HEX = frozenset("0123456789abcdefABCDEF")
_REFUSED_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"))


# A fan-out draws the same few thousand papers' links for every channel: each URL and label is judged once.
_JUDGED = 8_192


@lru_cache(maxsize=_JUDGED)
def own_url(url: str) -> str | None:
    """``url`` (one the bot built) ready to be drawn as a link in any renderer, or None when it is not
    an http(s) URL with a plain host, or holds a control, bidi, zero-width or blank character."""
    if not url or len(url) > URL_MAX or any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in url):
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    end = next((i for i, ch in enumerate(rest) if ch in "/?#"), len(rest))
    host, tail = rest[:end], rest[end:]
    if not _HOST.fullmatch(host):  # no user info ("arxiv.org@evil"), no look-alike letters
        return None
    # An empty path becomes "/": the same address, and a host can then never run into what follows it.
    encoded = scheme.lower() + "://" + host.lower() + _encode_tail(tail if tail.startswith("/") else "/" + tail)
    return encoded if len(encoded) <= URL_MAX else None


def _encode_tail(tail: str) -> str:
    out: list[str] = []
    fragment = False
    for i, ch in enumerate(tail):
        if ch == "%" and tail[i + 1 : i + 2] in _HEX and tail[i + 2 : i + 3] in _HEX and tail[i + 1 : i + 3]:
            out.append(ch)  # already an escape: kept, so that encoding stays idempotent
        elif ch == "#" and not fragment:
            fragment = True
            out.append(ch)
        elif ch in _KEPT and ch not in "%#":
            out.append(ch)
        else:
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8")))
    return "".join(out)


def masked_link_url(url: str) -> str:
    """A URL from :func:`own_url` for a markdown link ``[label](url)``, where ")" would end it."""
    return url.replace("(", "%28").replace(")", "%29")


def card_url(url: str) -> str | None:
    """A card's or a digest's link (built from a source's data): as :func:`own_url`, and only to a host a
    registered source links to, because part of it (a DOI, a code link) comes from the source's data."""
    drawn = own_url(url)
    return drawn if drawn is not None and is_allowed_link(drawn) else None


_ADDRESS = re.compile(r"(?i)://|\bwww\.|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b(?![.-]?[a-z0-9])")
# What a reader may take for a host inside longer text ("everyonewww.evil.example0" shows "everyonewww.evil"):
# any dotted run ending in two letters. Stricter than a real host name on purpose: a false alarm only
# shows the link's own host instead of the label.
_ADDRESS_INSIDE = re.compile(r"(?i)\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")


def looks_like_address(label: str) -> bool:
    """Whether ``label`` reads as a URL or a host name (after folding look-alikes): shown on a link to
    somewhere else, it would disguise that link."""
    # As a reader sees it once drawn: unsafe characters gone (fillers that split "evil\u3164.example"),
    # compatibility forms folded ("ｅｖｉｌ．ｅｘａｍｐｌｅ"), marks dropped.
    folded = unicodedata.normalize("NFKD", strip_unsafe_chars(label))
    folded = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Mn", "Me"))
    folded = re.sub(r"[\u3002\uff0e\uff61\u2024\u00b7\u2027\u30fb]", ".", folded)  # dots that read as dots
    return bool(_ADDRESS.search(folded) or _ADDRESS_INSIDE.search(folded))


@lru_cache(maxsize=_JUDGED)
def shown_label(label: str, url: str) -> str:
    """What a link to ``url`` says: its label, or its host when the label is blank or reads as an address."""
    # Bounded (the check below reads every character), and blank also when only unsafe characters (an
    # escape, a bidi override) make it up: they are dropped when drawn, which would leave no label at all.
    text = " ".join(strip_unsafe_chars(label[: LABEL_MAX * 8]).split())[: LABEL_MAX * 4]
    if not text or looks_like_address(text):
        return urlsplit(url).hostname or "link"
    return text


class LinkLike(Protocol):  # bot.cards.Link, without importing the module that imports this one
    @property
    def label(self) -> str: ...
    @property
    def url(self) -> str: ...


def drawn_links(links: Iterable[LinkLike], *, trusted: bool = True) -> list[tuple[str, str]]:
    """The links a renderer draws: URLs made safe (:func:`own_url`, or :func:`card_url` for links built
    from a source's data), labels that cannot disguise them, duplicates and invalid ones dropped, at most
    ``LINKS_PER_SECTION``: (label, url) pairs. Labels stay untrusted text: the renderer escapes them."""
    check = own_url if trusted else card_url
    drawn: list[tuple[str, str]] = []
    seen: set[str] = set()
    for link in links:
        url = check(link.url)
        if url is None or url in seen:
            continue
        seen.add(url)
        drawn.append((shown_label(link.label, url), url))
        if len(drawn) >= LINKS_PER_SECTION:
            break
    return drawn
