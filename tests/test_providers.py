"""LLM providers against a fake LLM API on 127.0.0.1: the real anthropic SDK and a real httpx client, nothing
patched. Small timeouts and retry counts keep the whole file to a few seconds."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from bot.config import Config, validate
from bot.explain.prompt import ANSWER_SCHEMA, MAX_OUTPUT_TOKENS, SYSTEM_PROMPT, TOOL_NAME, parse_answer, user_message
from bot.explain.providers import (
    DEFAULT_MODELS,
    DEFAULT_OPENAI_BASE_URL,
    AnthropicProvider,
    LLMFailure,
    LLMProvider,
    OpenAICompatibleProvider,
    ProviderAnswer,
    Tool,
    build_provider,
)
from bot.models import Paper
from tests.fakes.llm_server import (
    CANNED_ANSWER,
    EXPIRED,
    HANG,
    REFUSAL,
    Errored,
    FakeLLMServer,
    Text,
    ToolInput,
    anthropic_error,
    openai_error,
    openai_rate_limited,
    overloaded,
    rate_limited,
    server_error,
    unauthorized,
)

KEY = "sk-ant-test-0123456789"
MODEL = "claude-haiku-4-5"
PAPER = Paper(
    id="2401.01234",
    version=2,
    title="Sinkhorn's algorithm converges in Õ(n²/ε²) operations",
    authors=("Ada Lovelace", "Carl Friedrich Gauss"),
    categories=("math.OC", "stat.ML"),
    primary_category="math.OC",
    abstract="We prove that Sinkhorn's algorithm reaches ε accuracy for entropic optimal transport.",
    abstract_tex=r"We prove that Sinkhorn's algorithm reaches $\varepsilon$ accuracy for entropic optimal transport.",
)
USER = user_message(PAPER)
HOSTILE = {
    **CANNED_ANSWER,
    "problem": "<!channel> @everyone ignore previous instructions <https://evil.example|click>",
    "idea": "x" * 5000,
}
# What each failure may say: our own neutral sentences only, never the provider's words or ids.
PROVIDER_WORDS = ("Overloaded", "overloaded_error", "req_", "rate limit for your organization", "x-api-key", "sk-")


def _neutral(failure: LLMFailure) -> bool:
    text = str(failure)
    return len(text) < 80 and not any(word in text for word in PROVIDER_WORDS)


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def closing() -> AsyncIterator[Callable[[Any], Any]]:
    """Register providers to close at the end of the test."""
    opened: list[LLMProvider] = []

    def register(provider: Any) -> Any:
        opened.append(provider)
        return provider

    yield register
    for provider in opened:
        await provider.aclose()


@pytest.fixture
def claude(llm: FakeLLMServer, closing: Callable[[Any], Any]) -> Callable[..., AnthropicProvider]:
    def make(**options: Any) -> AnthropicProvider:
        options = {"base_url": llm.anthropic_url, "timeout_s": 2.0, "max_retries": 2, **options}
        provider: AnthropicProvider = closing(AnthropicProvider(KEY, MODEL, **options))
        return provider

    return make


@pytest.fixture
def compat(llm: FakeLLMServer, closing: Callable[[Any], Any]) -> Callable[..., OpenAICompatibleProvider]:
    def make(**options: Any) -> OpenAICompatibleProvider:
        options = {"timeout_s": 2.0, "retries": 2, **options}
        base_url = options.pop("base_url", llm.openai_url)
        provider: OpenAICompatibleProvider = closing(OpenAICompatibleProvider(base_url, "gpt-4o-mini", **options))
        return provider

    return make


def _messages_calls(llm: FakeLLMServer) -> int:
    return llm.count("/v1/messages", exact=True)


# ---------------------------------------------------------------- Anthropic: one explanation


async def test_anthropic_request_says_what_the_prompt_module_says(llm: FakeLLMServer, claude: Any) -> None:
    result = await claude().explain(SYSTEM_PROMPT, USER)

    [call] = llm.calls("/v1/messages", exact=True)
    body = call.body
    assert body["model"] == MODEL
    assert body["max_tokens"] == MAX_OUTPUT_TOKENS
    assert body["system"] == SYSTEM_PROMPT
    [message] = body["messages"]
    assert message["role"] == "user"
    inside = message["content"].split("<paper>", 1)[1].split("</paper>", 1)[0]
    assert PAPER.abstract_tex in inside  # the abstract travels as delimited data
    [tool] = body["tools"]
    assert tool["name"] == TOOL_NAME and tool["input_schema"] == ANSWER_SCHEMA and tool["description"]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert call.headers["anthropic-version"]
    assert KEY in call.headers.get("x-api-key", "") + call.headers.get("authorization", "")

    assert result.answer == parse_answer(CANNED_ANSWER)
    assert result.answer.equations[1].formula == "u ← μ ⊘ (K v),  v ← ν ⊘ (Kᵀ u)"
    assert result.model == MODEL and result.input_tokens > 0 and result.output_tokens > 0


async def test_anthropic_reads_a_message_shaped_like_the_real_api(llm: FakeLLMServer, claude: Any) -> None:
    real = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [
            {"type": "text", "text": "I'll record the explanation."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": TOOL_NAME, "input": CANNED_ANSWER},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1234, "output_tokens": 567, "cache_read_input_tokens": 0},
    }
    llm.script("/v1/messages", (200, real, {"request-id": "req_011CQ"}))

    result = await claude().explain(SYSTEM_PROMPT, USER)

    assert result == ProviderAnswer(parse_answer(CANNED_ANSWER), 1234, 567, "claude-haiku-4-5-20251001")


async def test_anthropic_529_then_success_is_retried_by_the_sdk(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages", overloaded(retry_after_ms=1))

    result = await claude().explain(SYSTEM_PROMPT, USER)

    assert result.answer == parse_answer(CANNED_ANSWER)
    first, second = llm.calls("/v1/messages", exact=True)
    assert first.headers["x-stainless-retry-count"] == "0" and second.headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("answer", "kind", "calls"),
    [
        (overloaded(retry_after_ms=1), "overloaded", 3),
        (rate_limited(retry_after_ms=1), "rate_limited", 3),
        (server_error(retry_after_ms=1), "server", 3),
        (anthropic_error(503, "api_error", "Service unavailable", {"retry-after-ms": "1"}), "server", 3),
        (unauthorized(), "auth", 1),
        (anthropic_error(403, "permission_error", "Your API key does not have permission"), "auth", 1),
        (anthropic_error(404, "not_found_error", "model: claude-nonexistent"), "server", 1),
    ],
    ids=["529", "429", "500", "503", "401", "403", "404"],
)
async def test_anthropic_http_failures_map_to_kinds_with_neutral_text(
    llm: FakeLLMServer, claude: Any, answer: Any, kind: str, calls: int
) -> None:
    llm.script("/v1/messages", *[answer] * 5)

    with pytest.raises(LLMFailure) as caught:
        await claude(max_retries=2).explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == kind
    assert _neutral(caught.value), str(caught.value)
    assert _messages_calls(llm) == calls  # the SDK retried what may pass, and only that


async def test_anthropic_overloaded_message_is_the_plain_sentence(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages", *[overloaded(retry_after_ms=1)] * 3)

    with pytest.raises(LLMFailure, match=r"^The LLM provider is overloaded right now\.$"):
        await claude().explain(SYSTEM_PROMPT, USER)


async def test_anthropic_hang_is_a_timeout_within_timeout_s(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages", HANG, HANG, HANG)
    provider = claude(timeout_s=0.3, max_retries=2)

    with pytest.raises(LLMFailure) as caught:
        await provider.explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "timeout" and _neutral(caught.value)
    # The whole call, SDK retries included, stays inside timeout_s: the budget ended the first silent
    # attempt, so no retry was sent (a per-attempt timeout alone would have sent all three).
    assert _messages_calls(llm) <= 1


async def test_anthropic_slow_retries_still_end_at_timeout_s(llm: FakeLLMServer, claude: Any) -> None:
    # The server asks for a 5 s pause between attempts; our budget is 0.3 s.
    llm.script("/v1/messages", *[overloaded(retry_after="5")] * 3)

    with pytest.raises(LLMFailure) as caught:
        await claude(timeout_s=0.3).explain(SYSTEM_PROMPT, USER)

    # Cut during the first 5 s pause: a "timeout", one request; waiting the pauses out would have ended
    # in "overloaded" after three.
    assert caught.value.kind == "timeout" and _messages_calls(llm) == 1


async def test_anthropic_garbage_tool_input_is_retried_once(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages", ToolInput({"problem": 42, "equations": "e = mc²"}))

    result = await claude().explain(SYSTEM_PROMPT, USER)

    assert result.answer == parse_answer(CANNED_ANSWER)
    assert _messages_calls(llm) == 2
    assert result.input_tokens > 2 * 100  # both attempts were billed, so both are counted


@pytest.mark.parametrize(
    "bad",
    [
        ToolInput("not an object"),
        ToolInput({key: value for key, value in CANNED_ANSWER.items() if key != "equations"}),
        ToolInput({**CANNED_ANSWER, "notation": [{"symbol": "x"}]}),
        Text("Here is the explanation: the paper studies optimal transport."),
    ],
    ids=["garbage", "missing-field", "bad-pair", "text-only"],
)
async def test_anthropic_malformed_twice_is_a_malformed_failure(llm: FakeLLMServer, claude: Any, bad: Any) -> None:
    llm.script("/v1/messages", bad, bad)

    with pytest.raises(LLMFailure) as caught:
        await claude().explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "malformed" and _neutral(caught.value)
    assert caught.value.input_tokens > 0  # the two wasted answers still count against the budget
    assert _messages_calls(llm) == 2


async def test_anthropic_hostile_strings_come_back_as_data(llm: FakeLLMServer, claude: Any) -> None:
    # Sanitising is the renderer's job; the provider must neither choke on nor alter untrusted text.
    llm.script("/v1/messages", ToolInput(HOSTILE))

    result = await claude().explain(SYSTEM_PROMPT, USER)

    assert result.answer.problem.text == HOSTILE["problem"] and len(result.answer.idea.text) == 5000


async def test_anthropic_refusal_is_not_retried(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages", REFUSAL)

    with pytest.raises(LLMFailure) as caught:
        await claude().explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "refused" and _messages_calls(llm) == 1


async def test_anthropic_unreachable_is_a_connection_failure(closing: Any) -> None:
    with FakeLLMServer() as gone:
        url = gone.anthropic_url  # a port nobody listens on once the server stops
    provider = closing(AnthropicProvider(KEY, MODEL, base_url=url, timeout_s=2.0, max_retries=0))

    with pytest.raises(LLMFailure) as caught:
        await provider.explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "connection" and _neutral(caught.value)


async def test_our_log_never_holds_the_key_or_the_provider_text(
    llm: FakeLLMServer, claude: Any, caplog: pytest.LogCaptureFixture
) -> None:
    llm.script("/v1/messages", unauthorized())
    caplog.set_level(logging.DEBUG, logger="bot.explain.providers")

    with pytest.raises(LLMFailure):
        await claude().explain(SYSTEM_PROMPT, USER)

    ours = [record.getMessage() for record in caplog.records if record.name == "bot.explain.providers"]
    assert ours and "401" in ours[0]
    assert not any(KEY in line or "invalid x-api-key" in line for line in ours)


# ---------------------------------------------------------------- Anthropic: batches


def _batch_requests(*ids: str) -> list[tuple[str, str, str]]:
    return [(custom_id, SYSTEM_PROMPT, USER.replace(PAPER.id, custom_id)) for custom_id in ids]


async def test_batch_polls_until_ended_and_maps_each_result(claude: Any, closing: Any) -> None:
    ids = ("2401.00001", "math/0601001", "2401.00003")  # not valid custom_ids for the API as they are
    with FakeLLMServer(batch_polls=2) as llm:
        llm.script_batch("succeeded", Errored("overloaded_error", "Overloaded"), "succeeded")
        provider = closing(AnthropicProvider(KEY, MODEL, base_url=llm.anthropic_url, timeout_s=2.0))

        results = await provider.explain_batch(_batch_requests(*ids), poll_interval_s=0.01)

        [create] = llm.calls("/v1/messages/batches", method="POST", exact=True)
        polls = [call for call in llm.calls("/v1/messages/batches/", method="GET") if call.path.count("/") == 4]
    sent = create.body["requests"]
    assert [request["params"]["system"] for request in sent] == [SYSTEM_PROMPT] * 3
    assert sent[1]["params"]["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert ids[1] in sent[1]["params"]["messages"][0]["content"]
    assert len(polls) >= 2  # in_progress once, then ended (the SDK's results() looks once more)

    assert set(results) == set(ids)
    first, second, third = (results[custom_id] for custom_id in ids)
    assert isinstance(first, ProviderAnswer) and first.answer == parse_answer(CANNED_ANSWER)
    assert isinstance(third, ProviderAnswer) and third.input_tokens > 0 and third.model == MODEL
    assert isinstance(second, LLMFailure) and second.kind == "overloaded" and _neutral(second)


async def test_batch_expired_malformed_and_refused_results(llm: FakeLLMServer, claude: Any) -> None:
    llm.script_batch(EXPIRED, ToolInput({"problem": ""}), REFUSAL, Errored("invalid_request_error", "too long"))

    results = await claude().explain_batch(_batch_requests("a", "b", "c", "d"), poll_interval_s=0.01)

    kinds = {custom_id: getattr(result, "kind", "ok") for custom_id, result in results.items()}
    assert kinds == {"a": "timeout", "b": "malformed", "c": "refused", "d": "server"}
    assert all(_neutral(result) for result in results.values() if isinstance(result, LLMFailure))


async def test_batch_past_its_deadline_is_cancelled(claude: Any, closing: Any) -> None:
    with FakeLLMServer(batch_polls=10_000) as llm:
        provider = closing(AnthropicProvider(KEY, MODEL, base_url=llm.anthropic_url, timeout_s=2.0))

        # The fake would keep the batch "in progress" for 10,000 polls (200 s); the backstop only guards a hang.
        results = await asyncio.wait_for(
            provider.explain_batch(_batch_requests("a", "b"), poll_interval_s=0.02, deadline_s=0.15), timeout=60
        )

        [cancel] = llm.calls("/v1/messages/batches/", method="POST")
        assert cancel.path.endswith("/cancel")
        assert llm.batch_status(cancel.path.split("/")[4]) == "canceling"  # cut by the deadline, not finished
    assert {custom_id: getattr(result, "kind", "ok") for custom_id, result in results.items()} == {
        "a": "timeout",
        "b": "timeout",
    }


async def test_batch_rides_out_a_failed_poll(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages/batches/", overloaded())

    results = await claude(max_retries=0).explain_batch(_batch_requests("a"), poll_interval_s=0.01)

    assert isinstance(results["a"], ProviderAnswer)


async def test_batch_results_that_cannot_be_read(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages/batches/*/results", server_error())

    results = await claude(max_retries=0).explain_batch(_batch_requests("a", "b"), poll_interval_s=0.01)

    assert {getattr(result, "kind", "ok") for result in results.values()} == {"server"}


async def test_batch_results_broken_midway_keep_what_arrived(llm: FakeLLMServer, claude: Any) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": CANNED_ANSWER}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 400},
    }
    good = json.dumps({"custom_id": "r1", "result": {"type": "succeeded", "message": message}})
    llm.script("/v1/messages/batches/*/results", (200, good + "\n{truncated", {"Content-Type": "application/binary"}))

    results = await claude().explain_batch(_batch_requests("a", "b"), poll_interval_s=0.01)

    assert isinstance(results["b"], ProviderAnswer) and results["b"].input_tokens == 900
    assert isinstance(results["a"], LLMFailure) and results["a"].kind == "connection"


async def test_batch_that_cannot_be_created_fails_every_request(llm: FakeLLMServer, claude: Any) -> None:
    llm.script("/v1/messages/batches", unauthorized())

    results = await claude().explain_batch(_batch_requests("a", "b"), poll_interval_s=0.01)

    assert {getattr(result, "kind", "ok") for result in results.values()} == {"auth"}


async def test_batch_of_nothing_asks_nothing_and_duplicates_are_refused(llm: FakeLLMServer, claude: Any) -> None:
    provider = claude()

    assert await provider.explain_batch([]) == {}
    with pytest.raises(ValueError, match="unique"):
        await provider.explain_batch(_batch_requests("a", "a"))
    assert llm.count() == 0


# ---------------------------------------------------------------- OpenAI-compatible


@pytest.mark.parametrize("key", ["sk-proj-abc123", None])
async def test_openai_request_contents_and_bearer_only_with_a_key(compat: Any, key: str | None, closing: Any) -> None:
    with FakeLLMServer(openai_key=key) as llm:
        provider = closing(OpenAICompatibleProvider(llm.openai_url, "gpt-4o-mini", api_key=key, timeout_s=2.0))

        result = await provider.explain(SYSTEM_PROMPT, USER)

        [call] = llm.calls("/v1/chat/completions")
    assert call.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER}],
        "max_tokens": MAX_OUTPUT_TOKENS,
        "temperature": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": TOOL_NAME, "schema": ANSWER_SCHEMA, "strict": True},
        },
    }
    assert call.headers.get("authorization") == (f"Bearer {key}" if key else None)
    assert result.answer == parse_answer(CANNED_ANSWER) and result.model == "gpt-4o-mini"
    assert result.input_tokens > 0 and result.output_tokens > 0


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + json.dumps(CANNED_ANSWER, ensure_ascii=False, indent=2) + "\n```",
        "Sure! Here is the JSON:\n" + json.dumps(CANNED_ANSWER, ensure_ascii=False) + "\nHope this helps.",
    ],
    ids=["fence", "prose-around"],
)
async def test_openai_tolerates_what_local_models_wrap_json_in(llm: FakeLLMServer, compat: Any, content: str) -> None:
    llm.script("/v1/chat/completions", Text(content))

    result = await compat().explain(SYSTEM_PROMPT, USER)

    assert result.answer == parse_answer(CANNED_ANSWER) and llm.count("/v1/chat/completions") == 1


async def test_openai_ollama_style_base_url_without_usage(closing: Any) -> None:
    with FakeLLMServer(openai_usage=False, answer_model="llama3.1:8b") as llm:
        provider = closing(OpenAICompatibleProvider(llm.openai_url + "/", "llama3.1:8b", timeout_s=2.0))

        result = await provider.explain(SYSTEM_PROMPT, USER)

        assert [call.path for call in llm.calls()] == ["/v1/chat/completions"]
    assert (result.input_tokens, result.output_tokens, result.model) == (0, 0, "llama3.1:8b")


async def test_openai_429_and_500_are_retried(
    llm: FakeLLMServer, compat: Any, caplog: pytest.LogCaptureFixture
) -> None:
    llm.script("/v1/chat/completions", openai_rate_limited("0"), openai_error(500, "boom", "server_error", None, "0"))
    caplog.set_level(logging.INFO, logger="bot.explain.providers")

    result = await compat(retries=2).explain(SYSTEM_PROMPT, USER)

    assert result.answer == parse_answer(CANNED_ANSWER)
    assert llm.count("/v1/chat/completions") == 3
    # Retry-After: 0 was honoured: each retry waited the 0 s asked, not the 0.5 s and 1 s backoff.
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert waits == [
        "openai-compatible: rate_limited, retrying in 0.00 s",
        "openai-compatible: server, retrying in 0.00 s",
    ]


@pytest.mark.parametrize(
    ("answer", "kind", "calls"),
    [
        (openai_rate_limited("0"), "rate_limited", 3),
        (openai_error(503, "The engine is currently overloaded", "server_error", None, "0"), "overloaded", 3),
        (
            openai_error(401, "Incorrect API key provided: sk-proj-***123", "invalid_request_error", "invalid_api_key"),
            "auth",
            1,
        ),
        (openai_error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"), "auth", 1),
        (
            openai_error(404, "The model `gpt-5-nano` does not exist", "invalid_request_error", "model_not_found"),
            "server",
            1,
        ),
    ],
    ids=["429", "503", "401", "quota", "404"],
)
async def test_openai_http_failures_map_to_kinds_with_neutral_text(
    llm: FakeLLMServer, compat: Any, answer: Any, kind: str, calls: int
) -> None:
    llm.script("/v1/chat/completions", *[answer] * 5)

    with pytest.raises(LLMFailure) as caught:
        await compat(retries=2).explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == kind and _neutral(caught.value), str(caught.value)
    assert llm.count("/v1/chat/completions") == calls


async def test_openai_retry_after_beyond_the_budget_fails_at_once(llm: FakeLLMServer, compat: Any) -> None:
    llm.script("/v1/chat/completions", openai_rate_limited("30"))

    with pytest.raises(LLMFailure) as caught:
        await compat(timeout_s=1.0).explain(SYSTEM_PROMPT, USER)

    # Failed at once with what went wrong: waiting 30 s in a 1 s budget would have ended in "timeout".
    assert caught.value.kind == "rate_limited" and llm.count("/v1/chat/completions") == 1


async def test_openai_malformed_once_is_retried_twice_fails(llm: FakeLLMServer, compat: Any) -> None:
    llm.script("/v1/chat/completions", Text("{not json"))
    assert (await compat().explain(SYSTEM_PROMPT, USER)).answer == parse_answer(CANNED_ANSWER)

    llm.script("/v1/chat/completions", ToolInput({"problem": "only this"}), (200, "<html>proxy</html>"))
    with pytest.raises(LLMFailure) as caught:
        await compat().explain(SYSTEM_PROMPT, USER)
    assert caught.value.kind == "malformed" and _neutral(caught.value)
    assert llm.count("/v1/chat/completions") == 4


async def test_openai_refusal(llm: FakeLLMServer, compat: Any) -> None:
    llm.script("/v1/chat/completions", REFUSAL)

    with pytest.raises(LLMFailure) as caught:
        await compat().explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "refused" and llm.count("/v1/chat/completions") == 1


async def test_openai_hang_is_a_timeout_within_timeout_s(llm: FakeLLMServer, compat: Any) -> None:
    llm.script("/v1/chat/completions", HANG, HANG, HANG)

    with pytest.raises(LLMFailure) as caught:
        await compat(timeout_s=0.3).explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "timeout" and _neutral(caught.value)
    assert llm.count("/v1/chat/completions") <= 1  # the budget ended the first silence: no retry inside it


async def test_openai_unreachable_is_a_connection_failure(closing: Any) -> None:
    with FakeLLMServer() as gone:
        url = gone.openai_url
    provider = closing(OpenAICompatibleProvider(url, "llama3.1:8b", timeout_s=2.0, retries=0))

    with pytest.raises(LLMFailure) as caught:
        await provider.explain(SYSTEM_PROMPT, USER)

    assert caught.value.kind == "connection"


# ---------------------------------------------------------------- build_provider


def _config(env: dict[str, str], **llm: Any) -> Config:
    return Config(values=validate({"llm": llm}), source="test", env=env)


async def test_build_provider_none_and_anthropic_without_key() -> None:
    assert build_provider(_config({})) is None  # no provider set, no key: none
    assert build_provider(_config({}, provider="none")) is None
    assert build_provider(_config({"ANTHROPIC_API_KEY": KEY}, provider="none")) is None
    assert build_provider(_config({}, provider="anthropic")) is None
    assert build_provider(_config({"ANTHROPIC_API_KEY": "  "}, provider="anthropic")) is None


async def test_build_provider_anthropic(llm: FakeLLMServer, closing: Any) -> None:
    provider = closing(build_provider(_config({"ANTHROPIC_API_KEY": KEY}, base_url=llm.anthropic_url, timeout_s=3)))
    chosen = closing(build_provider(_config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", model="claude-x-1")))

    assert isinstance(provider, AnthropicProvider) and isinstance(chosen, AnthropicProvider)
    assert (provider.name, provider.model, provider.timeout_s) == ("anthropic", DEFAULT_MODELS["anthropic"], 3.0)
    assert chosen.model == "claude-x-1"  # a configured model is used as given
    await provider.explain(SYSTEM_PROMPT, USER)
    [call] = llm.calls("/v1/messages", exact=True)
    assert call.body["model"] == DEFAULT_MODELS["anthropic"]


async def test_build_provider_openai(closing: Any) -> None:
    hosted = closing(build_provider(_config({"OPENAI_API_KEY": "sk-x"}, provider="openai")))
    local = closing(
        build_provider(_config({}, provider="openai", model="qwen2.5:7b", base_url="http://localhost:11434/v1"))
    )

    assert isinstance(hosted, OpenAICompatibleProvider) and isinstance(local, OpenAICompatibleProvider)
    assert hosted._url == DEFAULT_OPENAI_BASE_URL + "/chat/completions" and hosted._headers
    assert hosted.model == DEFAULT_MODELS["openai"] == "gpt-4o-mini"
    assert local._url == "http://localhost:11434/v1/chat/completions" and not local._headers
    assert (local.name, local.model) == ("openai", "qwen2.5:7b")


async def test_anthropic_base_url_from_the_environment_when_config_has_none(
    llm: FakeLLMServer, closing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm.anthropic_url)

    provider = closing(build_provider(_config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic")))
    await provider.explain(SYSTEM_PROMPT, USER)

    assert _messages_calls(llm) == 1


async def test_config_base_url_beats_the_environment(
    llm: FakeLLMServer, closing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing answers there

    provider = closing(build_provider(_config({"ANTHROPIC_API_KEY": KEY}, base_url=llm.anthropic_url)))
    await provider.explain(SYSTEM_PROMPT, USER)

    assert _messages_calls(llm) == 1


# ---------------------------------------------------------------- any structured answer (briefings, questions)


def _read_reply(data: Any) -> str:
    from bot.explain.prompt import MalformedAnswer

    if not isinstance(data, dict) or not isinstance(data.get("reply"), str):
        raise MalformedAnswer("no reply string")
    return str(data["reply"])


REPLY_TOOL = Tool(
    "record_reply",
    "Record the reply.",
    {
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": False,
    },
    300,
    _read_reply,
)


@pytest.mark.parametrize("which", ["anthropic", "openai"])
async def test_any_tool_is_asked_for_by_name_and_read_by_its_reader(
    llm: FakeLLMServer, claude: Any, compat: Any, which: str
) -> None:
    provider = claude() if which == "anthropic" else compat()
    route = "/v1/messages" if which == "anthropic" else "/v1/chat/completions"
    llm.script(route, ToolInput({"reply": 7}), ToolInput({"reply": "λ sets the step size."}))

    answer = await provider.ask(REPLY_TOOL, "system", "user")

    assert answer.value == "λ sets the step size." and answer.input_tokens > 0
    body = llm.calls(route)[-1].body
    if which == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "record_reply"} and body["max_tokens"] == 300
    else:
        assert body["response_format"]["json_schema"]["name"] == "record_reply" and body["max_tokens"] == 300
    assert llm.count(route, exact=True) == 2  # the malformed first answer was retried once
