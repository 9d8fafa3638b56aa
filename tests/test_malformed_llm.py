"""Malformed LLM answers, as a class: whatever a provider sends back (wrong types, missing sections, huge
strings, not JSON, not UTF-8, lone surrogates, nesting 100,000 deep, fences inside valid JSON), the
provider retries once and then fails as "malformed", and the user gets the offline explanation; nothing
raises, nothing unencodable reaches the cache, and an answer our own parsing could read is never paid for
twice. Through the real anthropic SDK and a real httpx client against the fake LLM API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import astuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from bot.explain.answers import (
    MAX_ANSWER_CHARS,
    MAX_CONTENT_CHARS,
    MAX_FIELD_CHARS,
    MAX_LIST_ITEMS,
    loads_answer_json,
    read_answer,
)
from bot.explain.llm import LLMFailure, ProviderAnswer
from bot.explain.prompt import SYSTEM_PROMPT, MalformedAnswer, parse_answer
from bot.explain.providers import AnthropicProvider, OpenAICompatibleProvider
from bot.explain.service import Explainer
from tests.fakes.llm_server import CANNED_ANSWER, FakeLLMServer, Scripted, Text, ToolInput
from tests.support import FakeArxiv, make_config, make_engine

KEY = "sk-ant-test"
MODEL = "claude-haiku-5-5"
PAPER_ID = "2403.15527"  # first paper of the recorded stat feed
MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
JSON_HEADERS = {"Content-Type": "application/json"}
DEEP = 100_000
SURROGATE = "\ud800"


def _message_body(content: str, *, usage: str = '{"input_tokens": 10, "output_tokens": 5}') -> str:
    return (
        '{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-5-5", "content": '
        f'{content}, "stop_reason": "tool_use", "stop_sequence": null, "usage": {usage}}}'
    )


def _tool_use(input_json: str) -> str:
    return f'[{{"type": "tool_use", "id": "toolu_1", "name": "record_explanation", "input": {input_json}}}]'


def _deep(opening: str = "[", closing: str = "]") -> str:
    return opening * DEEP + closing * DEEP


def _with(**changes: Any) -> dict[str, Any]:
    return {**CANNED_ANSWER, **changes}


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in CANNED_ANSWER.items() if k != key}


# Answers whose structured part is malformed, sent the same way through both APIs (a tool input / JSON content).
SHAPES: dict[str, Any] = {
    "not-an-object": ["a list", "not", "an object"],
    "missing-section": _without("equations"),
    "wrong-type": _with(problem=42),
    "empty-string": _with(idea="   "),
    "pairs-not-objects": _with(notation=["x", "y"]),
    "list-of-numbers": _with(prerequisites=[1, 2]),
    "surrogate-in-text": _with(idea=f"the dual {SURROGATE} ascent"),
    "surrogate-in-pair": _with(notation=[{"symbol": "\udfff", "meaning": "a lone low surrogate"}]),
    "surrogate-in-list": _with(caveats=["fine", "broken \udbff"]),
    "surrogate-in-source": _with(main_result={"text": "a rate", "source": "Eq. (\udbff)"}),
    "claim-not-text": _with(novelty={"text": 3, "source": "abstract"}),
    "huge-string": _with(idea="x" * (MAX_FIELD_CHARS + 1)),
    "too-many-items": _with(prerequisites=["linear algebra"] * (MAX_LIST_ITEMS + 1)),
    "too-long-in-all": _with(
        problem="p" * MAX_FIELD_CHARS,
        idea="i" * MAX_FIELD_CHARS,
        caveats=["a" * MAX_FIELD_CHARS] * 2,
        prerequisites=["q" * (MAX_ANSWER_CHARS - 4 * MAX_FIELD_CHARS + 1)],
    ),
}

# Answers malformed at the level of the whole HTTP body (the SDK's or httpx's decoding).
ANTHROPIC_BODIES: dict[str, Scripted] = {
    "body-nested-deep": (200, '{"type": "message", "content": ' + _deep() + "}", JSON_HEADERS),
    "input-nested-deep": (200, _message_body(_tool_use('{"problem": ' + _deep() + "}")), JSON_HEADERS),
    "input-objects-deep": (200, _message_body(_tool_use(_deep('{"a": ', "}"))), JSON_HEADERS),
    "body-not-json": (200, "<html><body>502 Bad Gateway</body></html>", JSON_HEADERS),
    "body-not-utf8": (200, b'{"type": "message", "content": "\xff\xfe"}', JSON_HEADERS),
    "body-a-list": (200, "[]", JSON_HEADERS),
    "body-a-string": (200, '"message"', JSON_HEADERS),
    "content-a-number": (200, _message_body("5"), JSON_HEADERS),
    "blocks-of-junk": (200, _message_body('[7, null, "text", {"type": "tool_use"}]'), JSON_HEADERS),
    "text-only": Text("Here is the explanation: the paper studies optimal transport."),
}
OPENAI_BODIES: dict[str, Scripted] = {
    "body-nested-deep": (200, '{"choices": ' + _deep() + "}", JSON_HEADERS),
    "content-nested-deep": Text(_deep()),
    "content-objects-deep": Text(_deep('{"a": ', "}")),
    "content-field-deep": Text('{"problem": ' + _deep() + "}"),
    "content-escaped-surrogate": Text(json.dumps(_with(idea=SURROGATE))),  # "\ud800" as a JSON escape
    "content-huge": Text(" " * MAX_CONTENT_CHARS + json.dumps(CANNED_ANSWER)),
    "content-not-json": Text("{not json"),
    "content-a-number": (200, {"choices": [{"message": {"role": "assistant", "content": 5}}]}),
    "choices-not-a-list": (200, {"choices": {"0": "x"}}),
    "body-not-json": (200, "<html><body>502 Bad Gateway</body></html>", JSON_HEADERS),
    "body-not-utf8": (200, b'{"choices": "\xff\xfe"}', JSON_HEADERS),
}


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def claude(llm: FakeLLMServer) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(KEY, MODEL, base_url=llm.anthropic_url, timeout_s=5.0, max_retries=0)
    yield provider
    await provider.aclose()


@pytest.fixture
async def compat(llm: FakeLLMServer) -> AsyncIterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(llm.openai_url, "gpt-4o-mini", timeout_s=5.0, retries=0)
    yield provider
    await provider.aclose()


Provider = AnthropicProvider | OpenAICompatibleProvider


async def _malformed_twice(llm: FakeLLMServer, provider: Provider, route: str, bad: Scripted) -> LLMFailure:
    llm.script(route, bad, bad)
    with pytest.raises(LLMFailure) as caught:
        await provider.explain(SYSTEM_PROMPT, "explain")
    assert caught.value.kind == "malformed"
    assert llm.count(route, exact=True) == 2  # one retry, as designed, and no more
    return caught.value


# ---------------------------------------------------------------- providers: every shape of bad answer


@pytest.mark.parametrize("data", SHAPES.values(), ids=SHAPES.keys())
async def test_anthropic_malformed_tool_input_is_retried_once_then_malformed(
    llm: FakeLLMServer, claude: AnthropicProvider, data: Any
) -> None:
    failure = await _malformed_twice(llm, claude, MESSAGES, ToolInput(data))
    assert failure.input_tokens > 0  # both answers were billed, and both are counted


@pytest.mark.parametrize("data", SHAPES.values(), ids=SHAPES.keys())
async def test_openai_malformed_content_is_retried_once_then_malformed(
    llm: FakeLLMServer, compat: OpenAICompatibleProvider, data: Any
) -> None:
    await _malformed_twice(llm, compat, CHAT, ToolInput(data))


@pytest.mark.parametrize("bad", ANTHROPIC_BODIES.values(), ids=ANTHROPIC_BODIES.keys())
async def test_anthropic_unreadable_answers_are_malformed(
    llm: FakeLLMServer, claude: AnthropicProvider, bad: Scripted
) -> None:
    await _malformed_twice(llm, claude, MESSAGES, bad)


@pytest.mark.parametrize("bad", OPENAI_BODIES.values(), ids=OPENAI_BODIES.keys())
async def test_openai_unreadable_answers_are_malformed(
    llm: FakeLLMServer, compat: OpenAICompatibleProvider, bad: Scripted
) -> None:
    await _malformed_twice(llm, compat, CHAT, bad)


@pytest.mark.parametrize("route", [MESSAGES, CHAT])
async def test_one_malformed_answer_then_a_good_one(
    llm: FakeLLMServer, claude: AnthropicProvider, compat: OpenAICompatibleProvider, route: str
) -> None:
    provider: Provider = claude if route == MESSAGES else compat
    llm.script(route, ToolInput(SHAPES["surrogate-in-text"]))

    result = await provider.explain(SYSTEM_PROMPT, "explain")

    assert result.answer == parse_answer(CANNED_ANSWER) and llm.count(route, exact=True) == 2


FENCED_STRINGS = _with(
    problem="Why ```json fences``` in a string are text",
    idea="```\nfenced code on its own lines\n```",
    equations=[{"formula": "```x```", "meaning": "three backticks on each side"}],
)


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(FENCED_STRINGS, ensure_ascii=False),
        json.dumps(FENCED_STRINGS, ensure_ascii=False, indent=2),
        "```json\n" + json.dumps(FENCED_STRINGS, ensure_ascii=False, indent=2) + "\n```",
        "Here it is:\n```\n" + json.dumps(FENCED_STRINGS, ensure_ascii=False) + "\n```\nDone.",
        "Sure! " + json.dumps(FENCED_STRINGS, ensure_ascii=False) + " Hope this helps.",
    ],
    ids=["plain", "indented", "fenced", "fenced-in-prose", "prose-around"],
)
async def test_openai_valid_json_with_fences_in_its_strings_costs_one_call(
    llm: FakeLLMServer, compat: OpenAICompatibleProvider, content: str
) -> None:
    llm.script(CHAT, Text(content))

    result = await compat.explain(SYSTEM_PROMPT, "explain")

    assert result.answer == parse_answer(FENCED_STRINGS)
    assert llm.count(CHAT) == 1


async def test_anthropic_usage_and_model_of_any_shape_are_read_safely(
    llm: FakeLLMServer, claude: AnthropicProvider
) -> None:
    answer = json.dumps(CANNED_ANSWER, ensure_ascii=False)
    huge = '{"input_tokens": 100000000000000000000000, "output_tokens": -5}'
    body = _message_body(_tool_use(answer), usage=huge).replace('"claude-haiku-5-5"', '"\\ud800 <!channel>"')
    llm.script(MESSAGES, (200, body, JSON_HEADERS), (200, _message_body(_tool_use(answer), usage="null")))

    first = await claude.explain(SYSTEM_PROMPT, "explain")
    second = await claude.explain(SYSTEM_PROMPT, "explain")

    assert first.model == MODEL  # a model name that is no model id is not shown or stored
    assert 0 < first.input_tokens <= 10**7 and first.output_tokens == 0
    assert (second.input_tokens, second.output_tokens, second.model) == (0, 0, "claude-haiku-5-5")


async def test_openai_usage_and_model_of_any_shape_are_read_safely(
    llm: FakeLLMServer, compat: OpenAICompatibleProvider
) -> None:
    content = json.dumps(CANNED_ANSWER, ensure_ascii=False)
    body = {
        "model": ["not", "a", "name"],
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10**30, "completion_tokens": True},
    }
    llm.script(CHAT, (200, body))

    result = await compat.explain(SYSTEM_PROMPT, "explain")

    assert result.model == "gpt-4o-mini" and result.input_tokens <= 10**7 and result.output_tokens == 0


async def test_openai_body_that_cannot_be_decoded_is_a_failure_not_an_exception(
    llm: FakeLLMServer, compat: OpenAICompatibleProvider
) -> None:
    llm.script(CHAT, (200, b"not gzip", {**JSON_HEADERS, "Content-Encoding": "gzip"}))

    with pytest.raises(LLMFailure) as caught:
        await compat.explain(SYSTEM_PROMPT, "explain")

    assert caught.value.kind == "connection"


async def test_batch_answers_are_read_the_same_way(llm: FakeLLMServer, claude: AnthropicProvider) -> None:
    llm.script_batch(ToolInput(SHAPES["surrogate-in-text"]), ToolInput(SHAPES["huge-string"]), "succeeded")

    results = await claude.explain_batch(
        [(name, SYSTEM_PROMPT, "explain") for name in ("a", "b", "c")], poll_interval_s=0.01
    )

    assert {name: getattr(result, "kind", "ok") for name, result in results.items()} == {
        "a": "malformed",
        "b": "malformed",
        "c": "ok",
    }


# ---------------------------------------------------------------- the Explainer: offline, never an exception


async def _engine(provider: Any) -> Engine:
    config = make_config(llm={"timeout_s": 5.0})
    engine = make_engine(FakeArxiv(), config=config)
    engine.explainer = Explainer(config, engine.store, provider, now=engine.now)
    await engine.refresh(["stat"])
    return engine


def _rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    return list(engine.store.db.conn.execute(f"SELECT * FROM {table}"))


@pytest.mark.parametrize(
    ("route", "bad"),
    [
        (MESSAGES, ToolInput(SHAPES["surrogate-in-text"])),
        (MESSAGES, ANTHROPIC_BODIES["body-nested-deep"]),
        (CHAT, OPENAI_BODIES["content-nested-deep"]),
        (CHAT, ToolInput(SHAPES["surrogate-in-pair"])),
        (CHAT, ToolInput(SHAPES["huge-string"])),
    ],
    ids=["anthropic-surrogate", "anthropic-deep", "openai-deep", "openai-surrogate", "openai-huge"],
)
async def test_a_malformed_answer_gives_the_offline_explanation(
    llm: FakeLLMServer, claude: AnthropicProvider, compat: OpenAICompatibleProvider, route: str, bad: Scripted
) -> None:
    engine = await _engine(claude if route == MESSAGES else compat)
    llm.script(route, bad, bad)

    _, reply = await engine.explain(PAPER_ID)

    assert reply.explanation is not None and reply.explanation.source == "offline"
    assert "not in the expected shape" in reply.explanation.note
    assert _rows(engine, "explanations") == []
    [call] = _rows(engine, "llm_calls")
    assert "malformed" in call
    # Nothing was cached, so the next request asks again and gets the real answer.
    _, again = await engine.explain(PAPER_ID)
    assert again.explanation is not None and again.explanation.source != "offline"
    assert llm.count(route, exact=True) == 3


class _BrokenProvider:
    """A provider with a bug: it raises what no provider should. The Explainer still answers offline."""

    name = "anthropic"
    model = MODEL

    async def explain(self, system: str, user: str) -> ProviderAnswer:
        raise KeyError("choices")

    async def aclose(self) -> None:
        return None


async def test_an_unexpected_provider_error_still_gives_the_offline_explanation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = await _engine(_BrokenProvider())

    _, reply = await engine.explain(PAPER_ID)

    assert reply.explanation is not None and reply.explanation.source == "offline"
    assert "could not be read" in reply.explanation.note and "choices" not in reply.explanation.note
    outcomes = engine.store.db.conn.execute("SELECT outcome, purpose FROM llm_calls").fetchall()
    assert outcomes == [("error", "explain")]
    assert any(record.exc_info for record in caplog.records)  # the bug is logged with its traceback


async def test_the_cache_never_stores_what_utf8_cannot_encode(llm: FakeLLMServer, claude: AnthropicProvider) -> None:
    engine = await _engine(claude)
    paper, _ = await engine.lookup(PAPER_ID)
    answer = parse_answer(_with(idea=f"bad {SURROGATE}", math_in_a_sentence=f"one {SURROGATE} line"))

    engine.explainer.cache.put(paper.id, paper.version, "math-1", MODEL, "anthropic", answer, engine.now())

    stored = engine.store.db.conn.execute("SELECT answer, one_liner FROM explanations").fetchone()
    assert "\ufffd" in stored[0] and stored[1] == "one \ufffd line"
    engine.explainer.ledger.record(
        at=engine.now(),
        provider="anthropic",
        model=MODEL,
        paper_id=paper.id,
        input_tokens=10**30,  # past SQLite's INTEGER range
        output_tokens=-1,
        cost_usd=0.0,
        batch=False,
        outcome="ok",
    )
    assert engine.store.db.conn.execute("SELECT input_tokens, output_tokens FROM llm_calls").fetchone() == (10**7, 0)


# ---------------------------------------------------------------- properties of the reading itself

_TEXT = st.text(min_size=1, max_size=40).filter(str.strip)
_ANSWERS = st.fixed_dictionaries(
    {
        "problem": _TEXT,
        "main_result": st.fixed_dictionaries({"text": _TEXT, "source": _TEXT}),
        "notation": st.lists(st.fixed_dictionaries({"symbol": _TEXT, "meaning": _TEXT, "source": _TEXT}), max_size=3),
        "equations": st.lists(
            st.fixed_dictionaries({"label": _TEXT, "formula": _TEXT, "meaning": _TEXT, "background": _TEXT}),
            max_size=3,
        ),
        "idea": _TEXT | st.just("```json\n{}\n```"),
        "caveats": st.lists(_TEXT, max_size=3),
        "prerequisites": st.lists(_TEXT, max_size=3),
        "math_in_a_sentence": _TEXT,
    }
)
_WRAPPINGS: list[Callable[[str], str]] = [
    lambda text: text,
    lambda text: "```json\n" + text + "\n```",
    lambda text: "Here you go:\n```\n" + text + "\n```\nAnything else?",
    lambda text: "The answer: " + text + " (as asked)",
]


@settings(max_examples=150, deadline=None)
@given(answer=_ANSWERS, wrap=st.sampled_from(_WRAPPINGS), indent=st.sampled_from([None, 2]))
def test_any_valid_json_answer_is_read_as_it_is(
    answer: dict[str, Any], wrap: Callable[[str], str], indent: int | None
) -> None:
    content = wrap(json.dumps(answer, ensure_ascii=False, indent=indent))

    assert loads_answer_json(content) == answer


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates included
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from(sorted(CANNED_ANSWER)), _JSON) | _JSON)
def test_reading_any_json_value_gives_an_answer_or_malformed(data: Any) -> None:
    try:
        answer = read_answer(data)
    except MalformedAnswer:
        return
    json.dumps(astuple(answer), ensure_ascii=False).encode("utf-8")  # what is accepted can always be stored


@settings(max_examples=100, deadline=None)
@given(
    bad=st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3), where=st.sampled_from(["idea", "problem"])
)
def test_no_answer_with_a_lone_surrogate_is_accepted(bad: str, where: str) -> None:
    with pytest.raises(MalformedAnswer):
        read_answer(_with(**{where: f"text {bad} text"}))
