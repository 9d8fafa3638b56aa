"""Reading what a provider sent back: a bounded, well-formed StructuredAnswer, or MalformedAnswer.

A model's answer is untrusted in every way, not only in its words: it can have the wrong shape, be far
longer than the output tokens we asked for allow, be nested past Python's recursion limit, or hold lone
surrogates (``"\\ud800"`` is valid JSON) that no UTF-8 database or chat platform accepts. Each of these
is a MalformedAnswer here, which the providers retry once and the Explainer then answers with the
offline explanation; nothing a provider sends can raise anything else or reach the cache unencodable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bot.explain.prompt import MAX_OUTPUT_TOKENS, MalformedAnswer, StructuredAnswer, parse_answer

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_CONTENT_CHARS",
    "MAX_FIELD_CHARS",
    "MAX_LIST_ITEMS",
    "has_surrogates",
    "loads_answer_json",
    "model_name",
    "read_answer",
    "token_count",
    "without_surrogates",
]

# MAX_OUTPUT_TOKENS (2,000) is about 8,000 characters of text. The bounds leave room for dense Unicode
# math and verbose local models, yet stop an answer no model could have written within that budget (a
# broken proxy, a looping local server) from being parsed, cached and drawn.
MAX_ANSWER_CHARS = 32 * MAX_OUTPUT_TOKENS  # all strings of one answer together
MAX_FIELD_CHARS = 8 * MAX_OUTPUT_TOKENS  # one string
MAX_LIST_ITEMS = 50  # the prompt asks for at most 6
MAX_CONTENT_CHARS = 8 * MAX_ANSWER_CHARS  # the raw JSON text of an answer (escapes and spacing included)
MAX_TOKENS = 10_000_000  # a reported token count beyond this is not believed (and would overflow SQLite)
MAX_MODEL_NAME = 200

_SURROGATE = re.compile("[\ud800-\udfff]")
# A Markdown fence around the whole JSON: the fences on lines of their own. JSON strings cannot hold a
# raw line break, so a ``` inside a string never closes it.
_FENCED = re.compile(r"^[ \t]*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n[ \t]*```[ \t]*$", re.M | re.S)
_MODEL_NAME = re.compile(r"[\w.:/@+-]+", re.ASCII)  # claude-haiku-4-5-20251001, gpt-4o-mini, llama3.1:8b, org/model


def has_surrogates(text: str) -> bool:
    """True when ``text`` holds a lone surrogate: the only thing in a str that UTF-8 cannot encode."""
    return _SURROGATE.search(text) is not None


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it can be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def read_answer(data: Any) -> StructuredAnswer:
    """The structured answer in ``data`` (the tool input, or the parsed JSON content), shape-checked and
    bounded. Raises MalformedAnswer."""
    answer = parse_answer(data)
    if any(length > MAX_LIST_ITEMS for length in answer.list_lengths()):
        raise MalformedAnswer(f"a list has more than {MAX_LIST_ITEMS} items")
    total = 0
    for text in answer.strings():
        if len(text) > MAX_FIELD_CHARS:
            raise MalformedAnswer(f"a string is longer than {MAX_FIELD_CHARS:,} characters")
        if has_surrogates(text):
            raise MalformedAnswer("a string holds a lone surrogate (not valid Unicode)")
        total += len(text)
    if total > MAX_ANSWER_CHARS:
        raise MalformedAnswer(f"the answer is longer than {MAX_ANSWER_CHARS:,} characters")
    return answer


def loads_answer_json(content: str) -> dict[str, Any]:
    """The JSON object in a model's text content: the whole content, else a fenced block on lines of its
    own, else the span from the first ``{`` to the last ``}`` (local models wrap JSON in a fence or a
    sentence). Valid JSON is always taken as it is, whatever its strings hold. Raises MalformedAnswer."""
    if len(content) > MAX_CONTENT_CHARS:
        raise MalformedAnswer(f"content is longer than {MAX_CONTENT_CHARS:,} characters")
    for candidate in _candidates(content):
        try:
            value = json.loads(candidate)
        except RecursionError:
            raise MalformedAnswer("content is nested too deeply") from None
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise MalformedAnswer("content holds no JSON object")


def _candidates(content: str) -> Iterator[str]:
    yield content
    for fenced in _FENCED.finditer(content):
        yield fenced.group(1)
    start, end = content.find("{"), content.rfind("}")
    if 0 <= start < end:
        yield content[start : end + 1]


def model_name(value: object, fallback: str) -> str:
    """The model an answer names, when it looks like a model id; else ``fallback`` (the configured one).
    It is shown to users and stored, so it must be short, plain and encodable."""
    if isinstance(value, str) and len(value) <= MAX_MODEL_NAME and _MODEL_NAME.fullmatch(value):
        return value
    return fallback


def token_count(value: object) -> int:
    """A token count a provider reported, as a plain non-negative int within reason (0 when absent)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_TOKENS)
