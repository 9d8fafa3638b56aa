"""LLM text is untrusted, like paper text: this makes it plain, bounded and unable to ping or mislead.

Platform renderers still escape for their own markup; this removes what no platform should ever get from
a model: chat control sequences (<!channel>, <@U123>, <#C1>, <@&456>), @everyone/@here, markdown or
Slack links whose target is not arxiv.org or doi.org, bare links elsewhere, raw TeX, and bidi, invisible
and control characters.

The safety pass judges the *final* string: cleaning (which removes TeX, so ``h{}ttps://evil`` or
``<{}!channel>`` only become markup once cleaned) runs first, and the link pass, which can join what it
removes around (``<<!here>!channel>``), and the cut are repeated until nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.text import clean_text
from bot.untrusted import allowed_link_hosts, inert_text, is_allowed_link

__all__ = ["allowed_link_hosts", "fit_lines", "is_allowed_link", "safe_llm_text", "truncate"]

_MD_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*([^)\s]+)\s*\)")
_ANGLE = re.compile(r"<([^<>\n]{0,500})>")
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+|\bwww\.[^\s<>()\[\]]+", re.I)
# Slack/Discord control sequences: <!channel>, <@U1>, <#C1>, <@&1>, </command:1>, <:emoji:1>
_CONTROL_OPENERS = ("!", "@", "#", "/", ":")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[A-Za-z][\w-]*(?:[/:?#]|$)")  # evil.example, www.x.org/y
_MAX_PASSES = 8  # each pass removes markup or shortens the text; real answers settle in one or two


def _link(label: str, url: str) -> str:
    """A link becomes its label as text; the target is shown only when it is an allowed host."""
    label = label.strip()
    if is_allowed_link(url):
        return f"{label} ({url})" if label and label != url else url
    return label


def _looks_like_link(target: str) -> bool:
    """A target a platform could follow: with a scheme or ``www.``/``/``. ``[0, 1](x)`` and ``<x|y>`` are
    mathematics (an indicator, a bracket), and stay; ``defang`` still breaks any ``](`` left."""
    target = target.strip()
    return bool(_SCHEME.match(target) or _HOST.match(target)) or target.startswith("/")


def _markdown_link(match: re.Match[str]) -> str:
    if not _looks_like_link(match.group(2)):
        return match.group(0)
    return _link(match.group(1), match.group(2))


def _angle(match: re.Match[str]) -> str:
    inner = match.group(1)
    if inner[:1] in _CONTROL_OPENERS:
        return ""
    if "|" in inner and _looks_like_link(inner.split("|", 1)[0]):  # Slack <url|label>: the label, as text
        url, label = inner.split("|", 1)
        return _link(label, url)
    if _BARE_URL.fullmatch(inner):
        return inner if is_allowed_link(inner) else ""
    if _SCHEME.match(inner):  # <mailto:x>, <x:/y>: an autolink on some platform; as text, it is harmless
        return inner
    return match.group(0)  # "<x, y>" in math stays


def _bare_url(match: re.Match[str]) -> str:
    url = match.group(0).rstrip(".,;:")
    tail = match.group(0)[len(url) :]
    return (url if is_allowed_link(url) else "[link removed]") + tail


def truncate(text: str, max_chars: int) -> str:
    """Cut at a word boundary with an ellipsis; never mid-word."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def fit_lines(lines: Iterable[str], max_chars: int, *, cut_last: bool = False, keep_blank: bool = False) -> str:
    """The lines that fit in ``max_chars`` together (newlines counted), a line "…" standing for the rest; with
    ``cut_last`` the first line that does not fit is cut at a word instead (when 40 or more characters of room
    are left), so a long answer is shortened, not dropped. Blank lines are dropped unless ``keep_blank``."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if not line and not keep_blank:
            continue
        if used + len(line) + 1 > max_chars:
            room = max_chars - used - 1
            kept.append(truncate(line, room) if cut_last and room >= 40 else "…")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def _remove_links(text: str) -> str:
    text = _MD_LINK.sub(_markdown_link, text)
    text = _ANGLE.sub(_angle, text)
    return _BARE_URL.sub(_bare_url, text)


def safe_llm_text(text: str, max_chars: int) -> str:
    """One line of model text, clean and safe, at most ``max_chars`` (plus the invisible joiners of any
    mass mention or foreign link that had to be broken rather than removed)."""
    text = clean_text(text)  # first: removing TeX can create markup, never the other way round
    for _ in range(_MAX_PASSES):
        settled = text
        text = truncate(" ".join(_remove_links(text).split()), max_chars)
        if text == settled:
            break
    # Whatever is left that could still act (a mass mention, a link cut by truncation, a "<@" left open, an
    # unsettled pathological input) is broken with a joiner: that step is idempotent, so it is safe last.
    return inert_text(text)
