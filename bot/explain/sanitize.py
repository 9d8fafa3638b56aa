"""LLM text is untrusted, like paper text: this makes it plain, bounded and unable to ping or mislead.

Platform renderers still escape for their own markup; this removes what no platform should ever get from
a model: chat control sequences (<!channel>, <@U123>, <#C1>, <@&456>), @everyone/@here, markdown or
Slack links whose target is not arxiv.org or doi.org, bare links elsewhere, and raw TeX.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.text import clean_text

ALLOWED_LINK_HOSTS = ("arxiv.org", "doi.org")
_MD_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*([^)\s]+)\s*\)")
_ANGLE = re.compile(r"<([^<>\n]{0,500})>")
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+|\bwww\.[^\s<>()\[\]]+", re.I)
_MASS_MENTION = re.compile(r"@(everyone|here|channel)\b", re.I)
_WORD_JOINER = "\u2060"


def is_allowed_link(url: str) -> bool:
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return parts.scheme in ("http", "https") and any(host == h or host.endswith("." + h) for h in ALLOWED_LINK_HOSTS)


def _link(label: str, url: str) -> str:
    """A link becomes its label as text; the target is shown only when it is an allowed host."""
    label = label.strip()
    if is_allowed_link(url):
        return f"{label} ({url})" if label and label != url else url
    return label


def _markdown_link(match: re.Match[str]) -> str:
    return _link(match.group(1), match.group(2))


def _angle(match: re.Match[str]) -> str:
    inner = match.group(1)
    if inner[:1] in ("!", "@", "#"):  # Slack/Discord control sequences: mentions, channels, roles
        return ""
    if "|" in inner:  # Slack <url|label>: keep the label only, as text
        url, label = inner.split("|", 1)
        return _link(label, url)
    if _BARE_URL.fullmatch(inner):
        return inner if is_allowed_link(inner) else ""
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


def safe_llm_text(text: str, max_chars: int) -> str:
    text = _MD_LINK.sub(_markdown_link, text)
    text = _ANGLE.sub(_angle, text)
    text = _BARE_URL.sub(_bare_url, text)
    text = clean_text(text)
    text = _MASS_MENTION.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text)
    return truncate(text, max_chars)
