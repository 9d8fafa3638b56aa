"""Untrusted text (paper metadata, LLM answers, echoed user input) made inert before any platform sees it.

Three steps, in this order, because each later one inserts what the earlier one removes:

1. :func:`strip_unsafe_chars` removes what nobody should receive: bidi overrides and isolates (which can
   make ``https://evil`` read as something else), zero-width and other invisible format characters (which
   can hide inside a mention or a URL), C0/C1 controls and whole terminal escape sequences (colours,
   cursor moves, OSC 8 hyperlinks that hide a link behind any text), and lone surrogates.
2. :func:`defang` breaks, with an invisible joiner, what could act on its own in any renderer: a mass
   mention (``@everyone``, ``@here``, ``@channel``, also ``＠`` look-alikes and any suffix: Discord pings
   ``@everyone1``), a link to a host other than arXiv's and doi.org (``https://evil`` becomes
   ``https:⁠//evil``: still readable, no longer a link) and a masked link's ``](``.
3. Each renderer escapes its own markup (Slack ``&<>``, Discord markdown, :func:`inert_text` for plain
   text). Those escapes insert joiners too, which is why step 1 keeps a joiner right after ``@``, ``<``,
   ``:`` or ``]``: there it can only neutralise, and keeping it makes stripping safe to repeat on output.

Before all three, :func:`bounded` cuts one field to ``MAX_UNTRUSTED_CHARS``: every later step is linear,
and this keeps a hostile megabyte to milliseconds and a message or two.

What is deliberately left alone: host names without a scheme (``evil.example``, ``www.evil.example``).
Neither platform links them in what we send: Slack's mrkdwn objects are sent with ``verbatim: true`` (no
automatic link detection) and Discord links only ``http(s)://``. Breaking them would mangle the many
``github.com/…`` and ``arXiv.org`` mentions in abstracts for no gain.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

__all__ = [
    "MAX_UNTRUSTED_CHARS",
    "allowed_link_hosts",
    "bounded",
    "defang",
    "inert_text",
    "is_allowed_link",
    "strip_unsafe_chars",
]

# Hosts our own renderers link to (arXiv's abs/pdf/html/listing pages, DOIs, Hugging Face paper pages,
# bioRxiv/medRxiv preprints and the GitHub code links Hugging Face lists); subdomains included. A link in
# untrusted text survives only to these. Written out rather than asked of the source registry, whose import
# (every source's HTTP client) would be most of a cached `paperbot explain`: tests/test_cached_explain.py
# holds it equal to the registry's ``link_hosts()``, so registering a source means adding its hosts here.
SOURCE_LINK_HOSTS = ("doi.org", "huggingface.co", "github.com", "biorxiv.org", "medrxiv.org", "arxiv.org")


@cache
def allowed_link_hosts() -> tuple[str, ...]:
    """The hosts the registered sources link to (``Source.link_hosts``)."""
    return SOURCE_LINK_HOSTS

WORD_JOINER = "\u2060"
ZERO_WIDTH_SPACE = "\u200b"
_NEUTRALISES_AFTER = frozenset("@\uff20\ufe6b<:]")  # a joiner here is a deliberate break: keep it
_AT_SIGNS = "@\uff20\ufe6b"  # "@" and the look-alikes that normalise to it
_MASS_MENTIONS = ("everyone", "here", "channel")

# --- characters ------------------------------------------------------------------------------------------

# Every format character (Unicode category Cf: bidi controls, zero-width characters, soft hyphen, BOM,
# invisible operators, tags used to smuggle text past a reader...), C0/C1 controls but tab and newline, and
# surrogates. Controls that separate lines or words (CR, VT, FF, FS-US, NEL, U+2028/9) become newlines
# first: words stay apart, and line-start markdown sees every line start.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Letters and marks that show nothing (Hangul fillers, the combining grapheme joiner, Khmer inherent vowels):
# the blank names and split words of chat trolling, never needed in a paper.
_INVISIBLE_LETTERS = "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
# Variation selectors (emoji and math presentation, Mongolian forms): one after a visible character is a
# real choice (☺️, ≩︀); a run of them, or one after nothing, is hidden data ("emoji smuggling").
_SELECTORS = "\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef"
_BLANKS = "\u2800"  # the braille blank: shown as a space, used as one that no word split sees
_UNSAFE_CHAR = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}{_INVISIBLE_LETTERS}\ud800-\udfff]")
_SUSPECT = re.compile(
    f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}{_INVISIBLE_LETTERS}{_SELECTORS}{_BLANKS}\ud800-\udfff\u2028\u2029]"
)
_SELECTOR_RUN = re.compile(f"([{_SELECTORS}])[{_SELECTORS}]+")
_ORPHAN_SELECTORS = re.compile(f"(^|\\s)[{_SELECTORS}]+")
_BLANK = re.compile(f"[{_BLANKS}]")
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")  # what str.split() would split on
# Whole escape sequences, so that their payload (an OSC 8 URL, a window title) does not stay behind as
# text: CSI (ESC [ or 0x9B), then the string commands OSC/DCS/SOS/PM/APC up to BEL or ST (ESC \ or 0x9C),
# then the short ones (ESC ( B, ESC 7, ...). A string command stops at the next escape, which keeps this
# linear; an unterminated one loses only its introducer.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x90\x98\x9b-\x9f]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
)


_ESCAPE_INTRODUCER = re.compile("[\x1b\x90-\x9f]")


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    return 0x1F000 <= code <= 0x1FAFF or 0x2300 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF


def _keep_or_drop(m: re.Match[str]) -> str:
    ch, text, i = m.group(), m.string, m.start()
    before = text[i - 1] if i else ""
    if (ch == WORD_JOINER or ch == ZERO_WIDTH_SPACE) and before in _NEUTRALISES_AFTER:
        return ch
    if ch == "\u200d" and before and i + 1 < len(text):  # ZWJ inside an emoji sequence: 👨‍👩‍👧 stays one family
        if (_is_emoji(before) or before == "\ufe0f") and _is_emoji(text[i + 1]):
            return ch
    return ""


def strip_unsafe_chars(text: str) -> str:
    """``text`` without bidi controls, invisible format characters and letters, stray variation selectors,
    controls (tab and newline stay; other line breaks become newlines), terminal escape sequences and lone
    surrogates. Idempotent.

    Joiners right after ``@``, ``<``, ``:`` or ``]`` stay: those are the ones our escapers insert."""
    if not _SUSPECT.search(text):
        return text
    if _ESCAPE_INTRODUCER.search(text):
        text = _ESCAPE_SEQUENCE.sub("", text)
    text = _LINE_BREAK.sub("\n", _BLANK.sub(" ", text))
    text = _UNSAFE_CHAR.sub(_keep_or_drop, text)
    # Selectors last, on what is left: dropping a character above can leave one on nothing.
    return _ORPHAN_SELECTORS.sub(r"\1", _SELECTOR_RUN.sub(r"\1", text))


# --- links and mentions ----------------------------------------------------------------------------------

_AUTHORITY = re.compile(r"[^/?#\s]*")  # user info, host and port: up to the path, query, fragment or a blank
_HOST_AND_PORT = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?(?::[0-9]{1,5})?")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _allowed_authority(authority: str) -> bool:
    """Exactly ``host[:port]`` with an allowed host. Anything else (``arxiv.org@evil``, ``evil\\.arxiv.org``,
    percent-encoding, non-ASCII look-alikes) could point elsewhere in some parser, so it is not allowed."""
    if not _HOST_AND_PORT.fullmatch(authority):
        return False
    host = authority.split(":", 1)[0].rstrip(".").lower()
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_link_hosts())


def is_allowed_link(url: str) -> bool:
    """Whether ``url`` is an http(s) link to arxiv.org, doi.org or a subdomain (``arxiv.org/x`` counts as
    ``https://arxiv.org/x``)."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    if scheme.lower() not in ("http", "https"):
        return False
    authority = _AUTHORITY.match(rest)
    return authority is not None and _allowed_authority(authority.group())


def _url_allowed_at(text: str, separator: int) -> bool:
    """Whether the ``://`` at ``separator`` starts an allowed link: scheme exactly http(s), allowed host."""
    start = separator
    while start and text[start - 1] in _SCHEME_CHARS and separator - start <= 5:
        start -= 1
    scheme = text[start:separator]
    if scheme.lower() not in ("http", "https") or (start and text[start - 1] in _SCHEME_CHARS):
        return False
    authority = _AUTHORITY.match(text, separator + 3)
    return authority is not None and _allowed_authority(authority.group())


def _defang_links(text: str, joiner: str) -> str:
    parts: list[str] = []
    last = 0
    found = text.find("://")
    while found >= 0:
        if not _url_allowed_at(text, found):
            parts.append(text[last : found + 1])  # up to and including the ":"
            parts.append(joiner)
            last = found + 1
        found = text.find("://", found + 3)
    parts.append(text[last:])
    return "".join(parts)


# An "@" that could start a mass mention: not one followed by an ASCII character other than e, h or c (the
# common case, and a megabyte of "@" costs no callback at all).
_AT_SIGN = re.compile(f"[{_AT_SIGNS}](?=[^\\x00-\\x7f]|[ehc])", re.I)  # e, h, c: the initials of _MASS_MENTIONS


_LONGEST_MASS_MENTION = max(map(len, _MASS_MENTIONS))
_UNSEEN_CATEGORIES = frozenset(("Mn", "Me", "Cf"))
_UNSEEN = re.compile(f"[{_INVISIBLE_LETTERS}{_SELECTORS}{_BLANKS}]")
_MASS_INITIALS = frozenset(m[0] for m in _MASS_MENTIONS)


def _reads_as_mass_mention(text: str, start: int) -> bool:
    """Whether the text from ``start`` reads as ``everyone``/``here``/``channel`` to a person or a lenient
    parser: compatibility forms folded (``ｅｖｅｒｙｏｎｅ``), case ignored, and whatever shows nothing
    between the letters skipped (accents, variation selectors, fillers: ``e\u0301veryone``, ``every\ufe0fone``).

    Reads only as far as it needs (no slicing of the rest), so a megabyte of ``@`` stays linear."""
    first = text[start : start + 1]
    if first.isascii() and first.lower() not in _MASS_INITIALS:
        return False  # the common case, decided at once: "@", "@1", "@ ", "@x", end of text
    seen: list[str] = []
    for i in range(start, len(text)):
        for part in unicodedata.normalize("NFKD", text[i]):
            if unicodedata.category(part) not in _UNSEEN_CATEGORIES and not _UNSEEN.match(part):
                seen.append(part)
        if len(seen) >= _LONGEST_MASS_MENTION:
            break
    return "".join(seen).casefold().startswith(_MASS_MENTIONS)


def _defang_mass_mentions(text: str, joiner: str) -> str:
    def join(m: re.Match[str]) -> str:
        if text[m.end() : m.end() + 1] in (WORD_JOINER, ZERO_WIDTH_SPACE):
            return m.group()  # already broken
        return m.group() + joiner if _reads_as_mass_mention(text, m.end()) else m.group()

    return _AT_SIGN.sub(join, text)


def defang(text: str, joiner: str = WORD_JOINER) -> str:
    """Break mass mentions, links to other hosts and masked links with ``joiner``; idempotent.

    ``joiner`` is the word joiner, or the zero-width space Discord's own escapes use. Run this after
    :func:`strip_unsafe_chars` and before a platform's own escaping."""
    if joiner not in (WORD_JOINER, ZERO_WIDTH_SPACE):
        raise ValueError("the joiner must be U+2060 or U+200B: strip_unsafe_chars keeps only those")
    if "://" in text:
        text = _defang_links(text, joiner)
    if "@" in text or "\uff20" in text or "\ufe6b" in text:
        text = _defang_mass_mentions(text, joiner)
    if "](" in text:
        text = text.replace("](", "]" + joiner + "(")
    return text


# --- length ---------------------------------------------------------------------------------------------

# The most of one untrusted field any renderer shows: ten arXiv abstracts (arXiv allows 1,920 characters),
# a long subscription list, a long explanation. Cutting first keeps one hostile field (a megabyte abstract or
# answer) to milliseconds of work and a message or two, instead of seconds and dozens of messages.
MAX_UNTRUSTED_CHARS = 20_000


def bounded(text: str, max_chars: int = MAX_UNTRUSTED_CHARS) -> str:
    """``text``, or its first ``max_chars`` characters ending in "…" (at a blank when one is near).

    Run before any other step: a cut can only shorten markup, and what it leaves is judged after."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - 1]
    blank = head.rfind(" ", max_chars - 200)
    return (head[:blank] if blank > 0 else head) + "…"


# <!channel>, <@U1>, <#C1>, <@&1>, </cmd:1>, <:emoji:1> and <scheme:...> links (Slack, Discord).
_ANGLE_MARKUP = re.compile(r"<(?=[!@#/:&]|[A-Za-z][A-Za-z0-9+.-]*:)")


def inert_text(text: str) -> str:
    """Untrusted text for a surface without markup (a terminal, a plain_text field): stripped, defanged,
    and every ``<`` that could open a mention or a link broken with a joiner. Idempotent."""
    text = defang(strip_unsafe_chars(text))
    return _ANGLE_MARKUP.sub("<" + WORD_JOINER, text) if "<" in text else text
