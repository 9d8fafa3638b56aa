"""LLM providers: Anthropic (a forced tool call, and the half-price Message Batches API) and any
OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM, llama.cpp) through a JSON schema.

Every call is bounded: ``timeout_s`` covers the whole call, retries included, so a slow provider costs a
user one predictable wait. Every failure is an LLMFailure whose text is a short neutral sentence safe to
show a user; the provider's own error text only goes to the log (it can quote the request or a key).
Whatever comes back is read by answers.py: an answer in any other shape is "malformed", never an exception.

The anthropic SDK takes about a second to import, so it is imported when the first request is made, not
when the provider is built: a bot that serves cached explanations never pays for it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import httpx

from bot.explain.answers import loads_answer_json, model_name, token_count

# Re-exported: callers and tests may import these from here too.
from bot.explain.llm import (
    DEFAULT_MODELS,
    DEFAULT_OPENAI_BASE_URL,
    EXPLANATION_TOOL,
    MALFORMED_RETRIES,
    LLMFailure,
    LLMProvider,
    ProviderAnswer,
    T,
    Tool,
    ToolAnswer,
    build_provider,
)
from bot.explain.prompt import TEMPERATURE, MalformedAnswer, StructuredAnswer
from bot.retry_timing import backoff_seconds, retry_after_seconds

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import MessageParam, ToolChoiceToolParam, ToolParam
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
    from anthropic.types.messages.batch_create_params import Request as BatchRequest

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_OPENAI_BASE_URL",
    "AnthropicProvider",
    "LLMFailure",
    "LLMProvider",
    "OpenAICompatibleProvider",
    "ProviderAnswer",
    "build_provider",
]

log = logging.getLogger(__name__)

TOOL_DESCRIPTION = EXPLANATION_TOOL.description

_MESSAGES = {
    "timeout": "The LLM provider did not answer in time.",
    "rate_limited": "The LLM provider is rate-limiting requests right now.",
    "overloaded": "The LLM provider is overloaded right now.",
    "server": "The LLM provider had an internal error.",
    "rejected": "The LLM provider rejected the request.",
    "malformed": "The LLM provider's answer was not in the expected shape.",
    "auth": "The LLM provider rejected the API key.",
    "connection": "The LLM provider could not be reached.",
    "refused": "The LLM provider declined to explain this paper.",
}

# Anthropic API error types (error.type in an error body, as in an errored batch result) to kinds.
_ERROR_TYPE_KINDS = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limited",
    "api_error": "server",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",
}


def _failure(kind: str, *, message_key: str | None = None, tokens: tuple[int, int] = (0, 0)) -> LLMFailure:
    message = _MESSAGES[message_key or kind]
    return LLMFailure(kind, message, input_tokens=tokens[0], output_tokens=tokens[1])


# ---------------------------------------------------------------- Anthropic


class AnthropicProvider:
    """Claude through the anthropic SDK; the SDK retries 408/409/429/5xx itself, honouring retry-after."""

    name: str = "anthropic"

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._base_url = base_url or None
        self._max_retries = max_retries
        self._owns_client = client is None
        self._given_client = client
        self._made_client: anthropic.AsyncAnthropic | None = None
        # Models that answered a sampling parameter with a 400 (newer Claude models removed them): asked
        # without one from then on.
        self._no_sampling: set[str] = set()
        self._sampling_ok: set[str] = set()  # models a call at TEMPERATURE succeeded with

    @property
    def _client(self) -> anthropic.AsyncAnthropic:
        """The SDK client, made (and the SDK imported) on first use."""
        if self._given_client is not None:
            return self._given_client
        if self._made_client is None:
            import anthropic

            # base_url None (not ""), so that the SDK still reads ANTHROPIC_BASE_URL when the config has none.
            self._made_client = anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self._base_url, timeout=self.timeout_s, max_retries=self._max_retries
            )
        return self._made_client

    async def aclose(self) -> None:
        if self._owns_client and self._made_client is not None:
            await self._made_client.close()

    async def explain(self, system: str, user: str) -> ProviderAnswer:
        return _as_explanation(await self.ask(EXPLANATION_TOOL, system, user))

    async def ask(self, tool: Tool[T], system: str, user: str) -> ToolAnswer[T]:
        await _load_sdk()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._ask(tool, system, user)
        except TimeoutError:
            log.warning("anthropic: no answer within %.1f s", self.timeout_s)
            raise _failure("timeout") from None

    async def _ask(self, tool: Tool[T], system: str, user: str) -> ToolAnswer[T]:
        import anthropic

        spent = (0, 0)
        for attempt in range(MALFORMED_RETRIES + 1):
            try:
                message: object = await self._create(_message_params(self.model, system, user, tool))
            except anthropic.AnthropicError as err:
                raise _anthropic_failure(err, tokens=spent) from None
            except (ValueError, RecursionError) as err:
                # The SDK decodes a 2xx body after its error mapping: a body that is not JSON, not UTF-8, or
                # nested too deeply arrives unwrapped. The provider answered, badly: a malformed answer.
                log.warning("anthropic: unreadable answer on attempt %d (%s)", attempt + 1, type(err).__name__)
                continue
            spent = _add(spent, _usage(message))
            try:
                value = _answer_from_message(message, tool)
            except MalformedAnswer as err:
                log.warning("anthropic: malformed answer on attempt %d (%s)", attempt + 1, err)
                continue
            except LLMFailure as failure:
                raise LLMFailure(failure.kind, str(failure), input_tokens=spent[0], output_tokens=spent[1]) from None
            return ToolAnswer(value, spent[0], spent[1], model_name(getattr(message, "model", None), self.model))
        raise _failure("malformed", tokens=spent)

    async def _create(self, params: MessageCreateParamsNonStreaming) -> object:
        """One Messages call at TEMPERATURE (the SDK no longer has the keyword, the API still takes it in the
        body), or without it for a model that refuses sampling parameters: told once by a 400, remembered."""
        import anthropic

        if self.model in self._no_sampling:
            return await self._client.messages.create(**params)
        try:
            message = await self._client.messages.create(**params, extra_body={"temperature": TEMPERATURE})
            self._sampling_ok.add(self.model)
            return message
        except anthropic.BadRequestError as err:
            if not _refuses_sampling(err):
                raise
            log.info("anthropic: %s takes no temperature; asking it without one from now on", self.model)
            self._no_sampling.add(self.model)
            return await self._client.messages.create(**params)

    async def explain_batch(
        self,
        requests: Sequence[tuple[str, str, str]],
        *,
        poll_interval_s: float = 30.0,
        deadline_s: float = 3600.0,
    ) -> dict[str, ProviderAnswer | LLMFailure]:
        """Explain many papers through the Message Batches API (half price, answers within minutes to hours).

        ``requests``: (custom_id, system, user). Never raises for a provider problem: every custom_id gets an
        answer or an LLMFailure. Past ``deadline_s`` the batch is cancelled and what is left is a "timeout".
        """
        await _load_sdk()
        import anthropic

        ids = [custom_id for custom_id, _, _ in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("explain_batch: custom ids must be unique")
        if not requests:
            return {}
        # The API only takes ^[a-zA-Z0-9_-]{1,64}$ as custom_id, which arXiv ids (2401.00001, math/0601001)
        # are not: send our own and map back.
        ours = {f"r{n}": custom_id for n, custom_id in enumerate(ids)}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        try:
            batch = await self._client.messages.batches.create(
                requests=[
                    _batch_request(f"r{n}", self.model, system, user, sampling=self.model in self._sampling_ok)
                    for n, (_, system, user) in enumerate(requests)
                ]
            )
        except anthropic.AnthropicError as err:
            return dict.fromkeys(ids, _anthropic_failure(err))
        log.info("anthropic: batch %s created with %d requests", batch.id, len(requests))
        batch, problem = await self._wait_for_batch(batch, poll_interval_s, deadline)
        results: dict[str, ProviderAnswer | LLMFailure] = {}
        if problem is None and batch.processing_status == "ended":
            problem = await self._read_results(batch.id, ours, results)
        rest = problem or _failure("timeout")  # no result for it: the deadline passed first
        return {custom_id: results.get(custom_id, rest) for custom_id in ids}

    async def _wait_for_batch(
        self, batch: MessageBatch, poll_interval_s: float, deadline: float
    ) -> tuple[MessageBatch, LLMFailure | None]:
        """Poll until the batch ends or the deadline passes (then cancel it). A failure that polling again
        cannot fix (a revoked key) ends the wait; transient ones are waited out."""
        import anthropic

        loop = asyncio.get_running_loop()
        while batch.processing_status != "ended":
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning(
                    "anthropic: batch %s still %s at the deadline: cancelling", batch.id, batch.processing_status
                )
                return await self._cancel(batch), None
            await asyncio.sleep(min(poll_interval_s, remaining))
            try:
                batch = await self._client.messages.batches.retrieve(batch.id)
            except anthropic.AnthropicError as err:
                failure = _anthropic_failure(err)
                if not _is_transient(err):
                    return batch, failure
        return batch, None

    async def _cancel(self, batch: MessageBatch) -> MessageBatch:
        import anthropic

        try:
            return await self._client.messages.batches.cancel(batch.id)
        except anthropic.AnthropicError as err:
            _anthropic_failure(err)  # logged; the batch expires by itself within 24 hours anyway
            return batch

    async def _read_results(
        self, batch_id: str, ours: Mapping[str, str], results: dict[str, ProviderAnswer | LLMFailure]
    ) -> LLMFailure | None:
        """Fill ``results`` (by the caller's ids); a failure while reading is returned for the rest."""
        import anthropic

        try:
            decoder = await self._client.messages.batches.results(batch_id)
            try:
                async for line in decoder:
                    if line.custom_id not in ours:
                        log.warning("anthropic: batch %s returned an unknown custom_id", batch_id)
                        continue
                    results[ours[line.custom_id]] = _batch_outcome(line, self.model)
            finally:
                await decoder.close()
        except anthropic.AnthropicError as err:
            return _anthropic_failure(err)
        except Exception as err:
            # The body streams after the SDK's error mapping is done, so a transport error mid-stream (or a
            # line the decoder cannot read) arrives unwrapped. Keep what arrived; the rest fail.
            log.warning("anthropic: reading batch %s results failed (%s)", batch_id, type(err).__name__)
            return _failure("connection")
        return None


async def _load_sdk() -> None:
    """Import the SDK off the event loop the first time: it takes about a second, which other commands
    being answered meanwhile should not wait for."""
    if "anthropic" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "anthropic")


def _as_explanation(answer: ToolAnswer[StructuredAnswer]) -> ProviderAnswer:
    return ProviderAnswer(answer.value, answer.input_tokens, answer.output_tokens, answer.model)


def _message_params(
    model: str, system: str, user: str, tool: Tool[Any] = EXPLANATION_TOOL
) -> MessageCreateParamsNonStreaming:
    # The SDK's ToolParam wants a plain dict for the schema; ours is a read-only Mapping.
    param: ToolParam = {"name": tool.name, "description": tool.description, "input_schema": dict(tool.schema)}
    choice: ToolChoiceToolParam = {"type": "tool", "name": tool.name}
    messages: list[MessageParam] = [{"role": "user", "content": user}]
    return {
        "model": model,
        "max_tokens": tool.max_output_tokens,
        # TEMPERATURE goes in the request body (AnthropicProvider._create): the SDK no longer has the keyword.
        "system": system,
        "messages": messages,
        "tools": [param],
        "tool_choice": choice,
    }


def _batch_request(custom_id: str, model: str, system: str, user: str, *, sampling: bool = False) -> BatchRequest:
    """One batch item; at TEMPERATURE only for a model known to take it (a single call did): one refusal
    inside a batch would fail every item of the day's batch."""
    params = _message_params(model, system, user)
    if sampling:
        cast(dict[str, Any], params)["temperature"] = TEMPERATURE  # the SDK's type has no such key any more
    return {"custom_id": custom_id, "params": params}


def _answer_from_message(message: object, tool: Tool[T]) -> T:
    """The forced tool call's input, shape-checked and bounded. Raises MalformedAnswer, or
    LLMFailure("refused").

    The SDK does not validate answers (a body of any shape comes back as a Message, a list or a str), so
    every attribute is looked up as if it might be missing or of any type.
    """
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason == "refusal":
        raise _failure("refused")
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise MalformedAnswer("the message has no content list")
    for block in content:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == tool.name:
            return tool.read(getattr(block, "input", None))
    raise MalformedAnswer(f"no {tool.name} tool call (stop_reason {stop_reason!r:.40})")


def _usage(message: object) -> tuple[int, int]:
    usage = getattr(message, "usage", None)
    return token_count(getattr(usage, "input_tokens", 0)), token_count(getattr(usage, "output_tokens", 0))


def _add(spent: tuple[int, int], more: tuple[int, int]) -> tuple[int, int]:
    return spent[0] + more[0], spent[1] + more[1]


def _batch_outcome(line: MessageBatchIndividualResponse, model: str) -> ProviderAnswer | LLMFailure:
    result: object = line.result
    result_type = getattr(result, "type", None)
    if result_type == "succeeded":
        message = getattr(result, "message", None)
        tokens = _usage(message)
        try:
            answer = _answer_from_message(message, EXPLANATION_TOOL)
            return ProviderAnswer(answer, tokens[0], tokens[1], model_name(getattr(message, "model", None), model))
        except MalformedAnswer as err:
            log.warning("anthropic: malformed batch answer for %s (%s)", line.custom_id, err)
            return _failure("malformed", tokens=tokens)
        except LLMFailure as failure:
            return LLMFailure(failure.kind, str(failure), input_tokens=tokens[0], output_tokens=tokens[1])
    if result_type == "errored":
        error_type = str(getattr(getattr(getattr(result, "error", None), "error", None), "type", "api_error"))[:40]
        log.warning("anthropic: batch request %s errored: %s", line.custom_id, error_type)
        kind = _ERROR_TYPE_KINDS.get(error_type, "server")
        return _failure(kind, message_key="rejected" if error_type == "invalid_request_error" else None)
    # canceled (by our deadline) or expired (the API's 24 hours): either way it took too long.
    log.warning("anthropic: batch request %s %s", line.custom_id, str(result_type)[:40])
    return _failure("timeout")


def _anthropic_failure(err: anthropic.AnthropicError, *, tokens: tuple[int, int] = (0, 0)) -> LLMFailure:
    """Map an SDK error to a kind and log what an operator needs (status, type, request id, not the text)."""
    import anthropic

    if isinstance(err, anthropic.APITimeoutError):  # before APIConnectionError: it is one
        kind, key = "timeout", None
    elif isinstance(err, anthropic.APIConnectionError):
        kind, key = "connection", None
    elif isinstance(err, anthropic.APIStatusError):
        kind, key = _status_kind(err.status_code)
        log.warning(
            "anthropic: HTTP %d (%s, request %s)", err.status_code, err.type or "no error type", err.request_id or "-"
        )
        return _failure(kind, message_key=key, tokens=tokens)
    else:  # e.g. an answer the SDK could not decode
        kind, key = "server", None
    log.warning("anthropic: %s", type(err).__name__)
    return _failure(kind, message_key=key, tokens=tokens)


def _status_kind(status: int) -> tuple[str, str | None]:
    """(kind, message key) for an HTTP status; other 4xx (a bad model id, a too-long prompt) are "server"
    failures worded as a rejected request, since nothing the user does can fix them."""
    if status in (401, 403):
        return "auth", None
    if status == 429:
        return "rate_limited", None
    if status == 529:
        return "overloaded", None
    if status == 408:
        return "timeout", None
    if status >= 500:
        return "server", None
    return "server", "rejected"


def _refuses_sampling(err: Exception) -> bool:
    """A 400 saying the model takes no temperature (sampling parameters removed on newer models)."""
    return "temperature" in str(getattr(err, "message", "") or err).lower()


def _is_transient(err: anthropic.AnthropicError) -> bool:
    """What the SDK itself would retry: worth polling again after."""
    import anthropic

    if isinstance(err, anthropic.APIConnectionError):
        return True
    return isinstance(err, anthropic.APIStatusError) and (err.status_code >= 500 or err.status_code in (408, 409, 429))


# ---------------------------------------------------------------- OpenAI-compatible


class OpenAICompatibleProvider:
    """``POST {base_url}/chat/completions`` with a strict JSON schema: OpenAI, Ollama, vLLM, llama.cpp."""

    name: str = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url  # which server: a model on one's own costs nothing unless priced (pricing.py)
        self.timeout_s = timeout_s
        self.retries = retries
        self._url = base_url.rstrip("/") + "/chat/completions"
        # Local servers need no key; sending an empty "Bearer " confuses some proxies, so send none.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def explain(self, system: str, user: str) -> ProviderAnswer:
        return _as_explanation(await self.ask(EXPLANATION_TOOL, system, user))

    async def ask(self, tool: Tool[T], system: str, user: str) -> ToolAnswer[T]:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                return await self._ask(tool, system, user, deadline)
        except TimeoutError:
            log.warning("openai-compatible: no answer within %.1f s", self.timeout_s)
            raise _failure("timeout") from None

    def _payload(self, system: str, user: str, tool: Tool[Any] = EXPLANATION_TOOL) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "max_tokens": tool.max_output_tokens,
            "temperature": TEMPERATURE,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": tool.name, "schema": dict(tool.schema), "strict": True},
            },
        }

    async def _ask(self, tool: Tool[T], system: str, user: str, deadline: float) -> ToolAnswer[T]:
        payload = self._payload(system, user, tool)
        spent = (0, 0)
        for attempt in range(MALFORMED_RETRIES + 1):
            data = await self._post(payload, deadline)
            spent = _add(spent, _openai_usage(data))
            try:
                value = _answer_from_completion(data, tool)
            except MalformedAnswer as err:
                log.warning("openai-compatible: malformed answer on attempt %d (%s)", attempt + 1, err)
                continue
            except LLMFailure as failure:
                raise LLMFailure(failure.kind, str(failure), input_tokens=spent[0], output_tokens=spent[1]) from None
            model = data.get("model") if isinstance(data, dict) else None
            return ToolAnswer(value, spent[0], spent[1], model_name(model, self.model))
        raise _failure("malformed", tokens=spent)

    async def _post(self, payload: dict[str, Any], deadline: float) -> Any:
        """The decoded JSON of a 2xx answer (None if the body is not JSON), after retrying what may pass:
        429, 408/409, 5xx, timeouts and transport errors, with exponential backoff or the server's Retry-After."""
        loop = asyncio.get_running_loop()
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.post(self._url, json=payload, headers=self._headers)
            except httpx.TimeoutException:
                failure, delay = _failure("timeout"), backoff_seconds(attempt)
            except httpx.RequestError as err:  # transport errors, and a body that cannot be decoded (gzip)
                log.warning("openai-compatible: %s", type(err).__name__)
                failure, delay = _failure("connection"), backoff_seconds(attempt)
            else:
                if response.is_success:
                    return _json_or_none(response)
                failure = _openai_status_failure(response)
                if not _openai_retryable(response):
                    raise failure
                asked = retry_after_seconds(response.headers)
                delay = backoff_seconds(attempt) if asked is None else asked
            if attempt == self.retries or loop.time() + delay >= deadline:
                # Out of tries, or waiting would overrun the time budget: say what went wrong, not "timeout".
                raise failure
            log.info("openai-compatible: %s, retrying in %.2f s", failure.kind, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None  # an HTML page from a proxy, bytes that are not UTF-8, JSON nested too deeply: malformed


def _openai_usage(data: Any) -> tuple[int, int]:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return 0, 0  # local servers often report none
    return token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))


def _answer_from_completion(data: Any, tool: Tool[T]) -> T:
    """``choices[0].message.content`` as JSON, shape-checked and bounded. Raises MalformedAnswer, or
    LLMFailure("refused")."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise MalformedAnswer("no choices[0].message") from None
    if not isinstance(message, dict):
        raise MalformedAnswer("choices[0].message is not an object")
    if message.get("refusal"):  # structured-output refusals come here, with the content null
        raise _failure("refused")
    content = message.get("content")
    if not isinstance(content, str):
        raise MalformedAnswer("no text content")
    return tool.read(loads_answer_json(content))


def _openai_retryable(response: httpx.Response) -> bool:
    status = response.status_code
    if status == 429:
        # OpenAI answers an exhausted quota with a 429 too; retrying it only burns the time budget.
        return _openai_error_code(response) != "insufficient_quota"
    return status in (408, 409) or status >= 500


def _openai_status_failure(response: httpx.Response) -> LLMFailure:
    status = response.status_code
    # The error message is not logged: OpenAI's 401 text quotes part of the key.
    log.warning("openai-compatible: HTTP %d (%s)", status, _openai_error_code(response) or "no error code")
    if status == 429 and _openai_error_code(response) == "insufficient_quota":
        return _failure("auth")
    if status in (503, 529):  # OpenAI's "engine overloaded"; a busy vLLM/llama.cpp answers 503 too
        return _failure("overloaded")
    kind, key = _status_kind(status)
    return _failure(kind, message_key=key)


def _openai_error_code(response: httpx.Response) -> str | None:
    data = _json_or_none(response)
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


# ---------------------------------------------------------------- choosing one
