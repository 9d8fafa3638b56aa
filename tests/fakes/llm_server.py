"""A fake LLM API on 127.0.0.1: Anthropic's Messages and Message Batches API, and an OpenAI-compatible
``/v1/chat/completions``, shaped like the real ones so that the real anthropic SDK and httpx talk to it.

It is a real HTTP server on a free port (port 0) in a daemon thread. Nothing is patched.

    with FakeLLMServer() as llm:
        llm.script("/v1/messages", overloaded(retry_after_ms=1), ToolInput({"problem": 1}), HANG)
        llm.script_batch(SUCCEEDED, Errored("overloaded_error"), EXPIRED)
        ...  # AsyncAnthropic(base_url=llm.anthropic_url) / OpenAI-compatible base_url=llm.openai_url
        assert llm.count("/v1/messages") == 3

Routes (shapes from the anthropic SDK's types: ``Message``, ``ToolUseBlock``, ``Usage``, ``MessageBatch``,
``MessageBatchIndividualResponse``; errors as ``{"type": "error", "error": {"type", "message"}}``):

- ``POST /v1/messages``: a ``message`` whose content is one ``tool_use`` block for the tool named in
  ``tool_choice`` (stop_reason ``tool_use``), its input ``CANNED_ANSWER``. Checks what the real API checks
  first: an API key, ``anthropic-version``, ``model``/``max_tokens``/``messages`` (else 401/400).
- ``POST /v1/messages/batches``: a ``message_batch`` ``in_progress``; ``custom_id`` must match
  ``^[a-zA-Z0-9_-]{1,64}$`` and be unique, as the API documents.
- ``GET /v1/messages/batches/{id}``: ``in_progress`` until the ``batch_polls``-th retrieve, then ``ended``
  with ``results_url``. ``POST .../{id}/cancel``: ``canceling``; the next retrieve ends the batch with
  the unfinished requests ``canceled``.
- ``GET /v1/messages/batches/{id}/results``: JSONL, one ``{custom_id, result}`` per request, in REVERSE
  request order (the API does not promise any order; clients must match on custom_id).
- ``GET /v1/models/{id}``: Anthropic's ``ModelInfo`` when ``id`` is in ``models``, else a 404
  ``not_found_error``. ``GET /v1/models``: with an ``anthropic-version`` header, Anthropic's page of
  ``ModelInfo``; without, OpenAI's ``{"object": "list", "data": [{"id", "object": "model", ...}]}``.
- With ``anthropic_key`` set, an Anthropic request with another key gets the API's 401.
- ``POST /v1/chat/completions``: a ``chat.completion`` whose ``choices[0].message.content`` is the JSON
  of ``CANNED_ANSWER``; ``usage`` unless ``openai_usage`` is False (local servers often omit it).
  With ``openai_key`` set, a request without ``Authorization: Bearer <key>`` gets OpenAI's 401.
- ``POST /v1/embeddings``: OpenAI's ``{"object": "list", "data": [{"object": "embedding", "index",
  "embedding"}], "model", "usage"}``, one vector per ``input`` text from ``embed(text)`` (set it to choose
  vectors; by default a deterministic one per text). ``openai_key`` is checked as for chat completions.

A script (``script``) is a queue of answers per route, used up before the normal answer. A route is a
path matched exactly, a prefix when it ends with ``/`` (``"/v1/messages/batches/"``), or a pattern with
``*`` (``"/v1/messages/batches/*/results"``). An answer is:
``(status,)``, ``(status, body)`` or ``(status, body, headers)`` (a dict/list body is sent as JSON);
``HANG`` (silence for ``hang_s`` seconds, longer than any client timeout in the tests, then close);
``ToolInput(data)`` (a normal answer carrying ``data`` as the tool input / content JSON);
``Text(text)`` (Anthropic: a text-only message, no tool_use; OpenAI: exactly this content string);
``REFUSAL`` (Anthropic: stop_reason ``refusal``; OpenAI: ``message.refusal`` set, content null).
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from tests.fakes.arxiv_server import Headers
from tests.fakes.loopback import LoopbackHandler, LoopbackServer

HANG: Literal["hang"] = "hang"
REFUSAL: Literal["refusal"] = "refusal"
SUCCEEDED: Literal["succeeded"] = "succeeded"
EXPIRED: Literal["expired"] = "expired"
CANCELED: Literal["canceled"] = "canceled"
KNOWN_MODELS = ("claude-haiku-5-5", "claude-haiku-4-5", "claude-sonnet-4-5", "gpt-4o-mini", "llama3.1:8b")

# A realistic explanation of an entropic optimal transport paper, in the shape the prompt asks for: each
# claim with its source, formulas not from the given text marked background with the reason.
CANNED_ANSWER: dict[str, Any] = {
    "problem": {
        "text": (
            "How fast do Sinkhorn's matrix-scaling iterations reach an ε-accurate solution of entropy-regularised "
            "optimal transport between two discrete distributions?"
        ),
        "source": "abstract",
    },
    "main_result": {
        "text": "Sinkhorn reaches accuracy ε in Õ(n²/ε²) operations.",
        "source": "abstract",
    },
    "novelty": {"text": "Not stated in the given text.", "source": "abstract"},
    "notation": [
        {"symbol": "μ ∈ Δₙ, ν ∈ Δₘ", "meaning": "source and target probability vectors", "source": "abstract"},
        {"symbol": "C ∈ ℝⁿˣᵐ", "meaning": "cost matrix; Cᵢⱼ is the cost of moving unit mass from i to j", "source": ""},
        {"symbol": "η > 0", "meaning": "strength of the entropic regularisation", "source": "abstract"},
    ],
    "equations": [
        {
            "label": "",
            "formula": "min_{P ∈ Π(μ,ν)} ⟨C, P⟩ − η·H(P)",
            "meaning": "the regularised transport problem; the entropy makes it strictly convex",
            "background": "the standard form of the entropic problem the abstract names",
        },
        {
            "label": "",
            "formula": "u ← μ ⊘ (K v),  v ← ν ⊘ (Kᵀ u)",
            "meaning": "Sinkhorn's updates alternately fit the row and the column marginals",
            "background": "Sinkhorn's textbook updates",
        },
    ],
    "idea": {
        "text": (
            "The dual of the regularised problem is smooth and unconstrained; each Sinkhorn update is exact block "
            "coordinate ascent on it, and the dual gap shrinks geometrically in the Hilbert projective metric."
        ),
        "source": "background",
    },
    "stated_assumptions": [{"text": "Costs are bounded: ‖C‖∞ < ∞", "source": "abstract"}],
    "caveats": [
        {
            "text": "Small η gives plans close to unregularised OT but needs more iterations and risks underflow",
            "source": "background",
        }
    ],
    "prerequisites": ["Linear programming duality", "Kullback–Leibler divergence", "Convex conjugates"],
    "math_in_a_sentence": (
        "Alternately rescaling the rows and columns of exp(−C/η) solves entropic optimal transport to accuracy "
        "ε in Õ(n²/ε²) operations."
    ),
}

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_JSON = "application/json"


@dataclass(frozen=True)
class ToolInput:
    """A normal answer whose structured part is ``data`` (any JSON value: garbage, missing fields...)."""

    data: Any


@dataclass(frozen=True)
class Text:
    """Anthropic: a message with only a text block (no tool_use). OpenAI: this exact content string."""

    text: str


@dataclass(frozen=True)
class Errored:
    """A batch result of type ``errored`` with this API error type (``overloaded_error``, ``api_error``...)."""

    error_type: str = "api_error"
    message: str = "Internal server error"


Scripted = (
    tuple[int] | tuple[int, Any] | tuple[int, Any, Mapping[str, str]] | ToolInput | Text | Literal["hang", "refusal"]
)
BatchOutcome = ToolInput | Text | Errored | Literal["succeeded", "expired", "canceled", "refusal"]


# ---------------------------------------------------------------- real error bodies


def anthropic_error(status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> Scripted:
    request_id = _request_id()
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return (status, body, {"request-id": request_id, **(headers or {})})


def overloaded(*, retry_after_ms: int | None = None, retry_after: str | None = None) -> Scripted:
    """Anthropic's 529. Note the SDK ignores a retry-after of 0 (it backs off ~0.5 s): use retry_after_ms=1."""
    return anthropic_error(529, "overloaded_error", "Overloaded", _retry_headers(retry_after_ms, retry_after))


def rate_limited(*, retry_after_ms: int | None = None, retry_after: str | None = None) -> Scripted:
    message = "This request would exceed the rate limit for your organization of 50 requests per minute."
    return anthropic_error(429, "rate_limit_error", message, _retry_headers(retry_after_ms, retry_after))


def server_error(*, retry_after_ms: int | None = None) -> Scripted:
    return anthropic_error(500, "api_error", "Internal server error", _retry_headers(retry_after_ms, None))


def unauthorized() -> Scripted:
    return anthropic_error(401, "authentication_error", "invalid x-api-key")


def openai_error(
    status: int, message: str, error_type: str, code: str | None, retry_after: str | None = None
) -> Scripted:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return (status, body, {"retry-after": retry_after} if retry_after is not None else {})


def openai_rate_limited(retry_after: str | None = "0") -> Scripted:
    message = "Rate limit reached for gpt-4o-mini in organization org-fake on requests per min (RPM): Limit 3."
    return openai_error(429, message, "requests", "rate_limit_exceeded", retry_after)


def openai_server_error() -> Scripted:
    message = "The server had an error while processing your request. Sorry about that!"
    return openai_error(500, message, "server_error", None)


def _retry_headers(retry_after_ms: int | None, retry_after: str | None) -> dict[str, str]:
    headers = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return headers


_ids = itertools.count(1)


def _request_id() -> str:
    return f"req_fake{next(_ids):08d}"


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Call:
    """One request the server received; ``body`` is the parsed JSON (None when there was none or it was bad)."""

    method: str
    path: str
    headers: Headers
    body: Any
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


@dataclass
class _Batch:
    id: str
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, params)
    outcomes: list[BatchOutcome]
    polls_left: int
    created_at: datetime = field(default_factory=_now)
    status: str = "in_progress"  # in_progress | canceling | ended
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None


# ---------------------------------------------------------------- the server


class FakeLLMServer(LoopbackServer):
    """See the module docstring. Start with ``with`` (or ``start()``/``stop()``)."""

    server_name = "fake LLM server"

    def __init__(
        self,
        *,
        hang_s: float = 5.0,
        batch_polls: int = 1,
        openai_key: str | None = None,
        openai_usage: bool = True,
        answer_model: str | None = None,
        anthropic_key: str | None = None,
        models: tuple[str, ...] = KNOWN_MODELS,
    ) -> None:
        self.hang_s = hang_s
        self.batch_polls = batch_polls  # the batch_polls-th retrieve of a batch is the first to say "ended"
        self.openai_key = openai_key
        self.openai_usage = openai_usage
        self.answer_model = answer_model  # the model named in answers (the API resolves aliases); else the request's
        self.anthropic_key = anthropic_key  # None: any key is accepted
        self.models = models  # what the Models API and the OpenAI model list know
        self.embed: Callable[[str], list[float]] = _hashed_embedding  # /v1/embeddings: a text's vector
        super().__init__()
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, deque[Scripted]]] = []
        self._batch_script: deque[BatchOutcome] = deque()
        self._batches: dict[str, _Batch] = {}
        self._calls: list[Call] = []

    @property
    def anthropic_url(self) -> str:
        """What to pass as the SDK's base_url (it adds /v1/messages itself)."""
        return self.base_url

    @property
    def openai_url(self) -> str:
        """An OpenAI-style base URL, like https://api.openai.com/v1 or Ollama's http://localhost:11434/v1."""
        return self.base_url + "/v1"

    # -- programming

    def script(self, route: str, *answers: Scripted) -> None:
        """Queue answers for ``route`` (exact path, prefix ending in ``/``, or ``*`` pattern), used first.
        ``route#tool`` (``/v1/messages#record_briefing``): only calls forcing that tool use them up."""
        with self._lock:
            self._scripts.append((route, deque(answers)))

    def script_batch(self, *outcomes: BatchOutcome) -> None:
        """Outcomes for the requests of the next batches, in request order; unscripted requests succeed."""
        with self._lock:
            self._batch_script.extend(outcomes)

    # -- inspection

    def calls(self, prefix: str = "", *, method: str | None = None, exact: bool = False) -> list[Call]:
        with self._lock:
            return [
                call
                for call in self._calls
                if (call.path == prefix if exact else call.path.startswith(prefix))
                and (method is None or call.method == method)
            ]

    def count(self, prefix: str = "", *, method: str | None = None, exact: bool = False) -> int:
        return len(self.calls(prefix, method=method, exact=exact))

    def batch_status(self, batch_id: str) -> str:
        with self._lock:
            return self._batches[batch_id].status

    # -- used by the handler thread

    def _arrive(self, call: Call) -> _Answer | Literal["hang"]:
        with self._lock:
            self._calls.append(call)
            for route, queue in self._scripts:
                path, _, tool = route.partition("#")
                if queue and _route_matches(path, call.path) and (not tool or _forced_tool(call) == tool):
                    return self._scripted(call, queue.popleft())
            return self._route(call, None)

    def _scripted(self, call: Call, item: Scripted) -> _Answer | Literal["hang"]:
        if item == HANG:
            return HANG
        if isinstance(item, tuple):
            body = item[1] if len(item) > 1 else b""
            headers = item[2] if len(item) > 2 else {}
            content_type = {"Content-Type": _JSON} if isinstance(body, dict | list) else {}
            return _Answer(item[0], _bytes(body), {**content_type, **headers})
        return self._route(call, item)

    def _route(self, call: Call, special: ToolInput | Text | Literal["refusal"] | None) -> _Answer:
        path, method = call.path, call.method
        if method == "POST" and path == "/v1/messages":
            return self._messages(call, special)
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(call, special)
        if method == "POST" and path == "/v1/embeddings":
            return self._embeddings(call)
        if method == "POST" and path == "/v1/messages/batches":
            return self._create_batch(call)
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return self._models(call)
        found = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results|/cancel)?", path)
        if found and found.group(1) in self._batches:
            batch = self._batches[found.group(1)]
            action = found.group(2)
            if method == "GET" and action is None:
                return _json(200, self._poll(batch))
            if method == "POST" and action == "/cancel":
                return _json(200, self._cancel(batch))
            if method == "GET" and action == "/results":
                return self._results(batch)
        if found:
            return _json(404, _error_body("not_found_error", f"Message Batch {found.group(1)} not found"))
        return _json(404, _error_body("not_found_error", "Not found"))

    # -- Anthropic: messages

    def _check_anthropic(self, call: Call) -> _Answer | None:
        if not (call.headers.get("x-api-key") or call.headers.get("authorization", "").startswith("Bearer ")):
            return _json(401, _error_body("authentication_error", "x-api-key header is required"))
        bearer = call.headers.get("authorization", "").removeprefix("Bearer ")
        if self.anthropic_key is not None and self.anthropic_key not in (call.headers.get("x-api-key"), bearer):
            return _json(401, _error_body("authentication_error", "invalid x-api-key"))
        if "anthropic-version" not in call.headers:
            return _json(400, _error_body("invalid_request_error", "anthropic-version: header is required"))
        return None

    def _messages(self, call: Call, special: ToolInput | Text | Literal["refusal"] | None) -> _Answer:
        problem = self._check_anthropic(call) or _check_params(call.body)
        return problem or _json(200, self._message(call.body, special))

    def _message(self, params: dict[str, Any], special: ToolInput | Text | Literal["refusal"] | None) -> dict[str, Any]:
        tool = (params.get("tool_choice") or {}).get("name") or "record_explanation"
        data = special.data if isinstance(special, ToolInput) else copy.deepcopy(CANNED_ANSWER)
        if isinstance(special, Text):
            content: list[dict[str, Any]] = [{"type": "text", "text": special.text}]
            stop_reason = "end_turn"
        elif special == REFUSAL:
            content, stop_reason = [], "refusal"
        else:
            content = [{"type": "tool_use", "id": f"toolu_fake{next(_ids):08d}", "name": tool, "input": data}]
            stop_reason = "tool_use"
        return {
            "id": f"msg_fake{next(_ids):08d}",
            "type": "message",
            "role": "assistant",
            "model": self.answer_model or params["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": _tokens(params.get("system"), params.get("messages"), params.get("tools")),
                "output_tokens": _tokens(content),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    # -- models (Anthropic's Models API, an OpenAI-compatible model list)

    def _models(self, call: Call) -> _Answer:
        if "anthropic-version" not in call.headers:
            return self._openai_models(call)
        problem = self._check_anthropic(call)
        if problem:
            return problem
        wanted = call.path.removeprefix("/v1/models").strip("/")
        if not wanted:
            infos = [_model_info(name) for name in self.models]
            page = {"data": infos, "has_more": False, "first_id": None, "last_id": None}
            if infos:
                page.update(first_id=infos[0]["id"], last_id=infos[-1]["id"])
            return _json(200, page)
        if wanted in self.models:
            return _json(200, _model_info(wanted))
        return _json(404, _error_body("not_found_error", f"model: {wanted}"))

    def _openai_models(self, call: Call) -> _Answer:
        if self.openai_key is not None and call.headers.get("authorization") != f"Bearer {self.openai_key}":
            return _openai_unauthorized()
        data = [{"id": name, "object": "model", "created": 1_715_367_049, "owned_by": "system"} for name in self.models]
        return _json(200, {"object": "list", "data": data})

    # -- Anthropic: batches

    def _create_batch(self, call: Call) -> _Answer:
        problem = self._check_anthropic(call)
        if problem:
            return problem
        requests = call.body.get("requests") if isinstance(call.body, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= 100_000:
            return _json(400, _error_body("invalid_request_error", "requests: expected 1 to 100000 items"))
        seen: set[str] = set()
        for n, request in enumerate(requests):
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id) or custom_id in seen:
                message = f"requests.{n}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$ and be unique"
                return _json(400, _error_body("invalid_request_error", message))
            seen.add(custom_id)
            params_problem = _check_params(request.get("params"))
            if params_problem:
                return params_problem
        outcomes = [self._batch_script.popleft() if self._batch_script else SUCCEEDED for _ in requests]
        batch = _Batch(
            id=f"msgbatch_fake{next(_ids):08d}",
            requests=[(r["custom_id"], r["params"]) for r in requests],
            outcomes=outcomes,
            polls_left=self.batch_polls,
        )
        self._batches[batch.id] = batch
        return _json(200, self._batch_object(batch))

    def _poll(self, batch: _Batch) -> dict[str, Any]:
        if batch.status == "canceling":
            self._end(batch, canceled=True)
        elif batch.status == "in_progress":
            batch.polls_left -= 1
            if batch.polls_left <= 0:
                self._end(batch, canceled=False)
        return self._batch_object(batch)

    def _cancel(self, batch: _Batch) -> dict[str, Any]:
        if batch.status == "in_progress":
            batch.status = "canceling"
            batch.cancel_initiated_at = _now()
        return self._batch_object(batch)

    def _end(self, batch: _Batch, *, canceled: bool) -> None:
        if canceled:
            # Requests the fake had not "finished" are canceled: here, every one still scripted to succeed.
            batch.outcomes = [CANCELED if outcome == SUCCEEDED else outcome for outcome in batch.outcomes]
        batch.status = "ended"
        batch.ended_at = _now()

    def _batch_object(self, batch: _Batch) -> dict[str, Any]:
        ended = batch.status == "ended"
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for outcome in batch.outcomes:
            counts[_result_type(outcome) if ended else "processing"] += 1
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": _rfc3339(batch.ended_at),
            "created_at": _rfc3339(batch.created_at),
            "expires_at": _rfc3339(batch.created_at + timedelta(hours=24)),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
            "results_url": f"{self.base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _results(self, batch: _Batch) -> _Answer:
        if batch.status != "ended":
            message = f"Message Batch {batch.id} has not finished processing"
            return _json(400, _error_body("invalid_request_error", message))
        lines = []
        for (custom_id, params), outcome in reversed(list(zip(batch.requests, batch.outcomes, strict=True))):
            lines.append(json.dumps({"custom_id": custom_id, "result": self._result(params, outcome)}))
        body = ("\n".join(lines) + "\n").encode("utf-8")
        return _Answer(200, body, {"Content-Type": "application/binary"})

    def _result(self, params: dict[str, Any], outcome: BatchOutcome) -> dict[str, Any]:
        if isinstance(outcome, Errored):
            error = {"type": "error", "error": {"type": outcome.error_type, "message": outcome.message}}
            return {"type": "errored", "error": {**error, "request_id": _request_id()}}
        if outcome in (EXPIRED, CANCELED):
            return {"type": outcome}
        special = None if isinstance(outcome, str) and outcome == SUCCEEDED else outcome
        return {"type": "succeeded", "message": self._message(params, special)}

    # -- OpenAI-compatible

    def _chat(self, call: Call, special: ToolInput | Text | Literal["refusal"] | None) -> _Answer:
        if self.openai_key is not None and call.headers.get("authorization") != f"Bearer {self.openai_key}":
            return _openai_unauthorized()
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body.get("messages"):
            return _json(
                400, {"error": {"message": "model and messages are required", "type": "invalid_request_error"}}
            )
        refusal = None
        if isinstance(special, Text):
            content: str | None = special.text
        elif special == REFUSAL:
            content, refusal = None, "I'm sorry, I can't help with that."
        else:
            data = special.data if isinstance(special, ToolInput) else CANNED_ANSWER
            content = json.dumps(data, ensure_ascii=False)
        answer: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(_ids):08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.answer_model or body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
        }
        if self.openai_usage:
            prompt, completion = _tokens(body["messages"]), _tokens(content)
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return _json(200, answer)

    def _embeddings(self, call: Call) -> _Answer:
        if self.openai_key is not None and call.headers.get("authorization") != f"Bearer {self.openai_key}":
            return _openai_unauthorized()
        body = call.body
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(texts, list):
            return _json(400, {"error": {"message": "model and input are required", "type": "invalid_request_error"}})
        data = [{"object": "embedding", "index": i, "embedding": self.embed(str(t))} for i, t in enumerate(texts)]
        tokens = _tokens(texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return _json(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # cut short by stop()


def _openai_unauthorized() -> _Answer:
    message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account."
    return _json(401, {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}})


def _model_info(name: str) -> dict[str, Any]:
    return {"id": name, "type": "model", "display_name": name, "created_at": "2025-10-01T00:00:00Z"}


def _route_matches(route: str, path: str) -> bool:
    if "*" in route:
        return fnmatch.fnmatchcase(path, route)
    return path.startswith(route) if route.endswith("/") else path == route


def _check_params(params: Any) -> _Answer | None:
    """The checks the Messages API makes before anything else (a 400 invalid_request_error)."""
    if not isinstance(params, dict):
        return _json(400, _error_body("invalid_request_error", "body: expected an object"))
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(params.get(name), kind):
            return _json(400, _error_body("invalid_request_error", f"{name}: Field required"))
    return None


def _result_type(outcome: BatchOutcome) -> str:
    if isinstance(outcome, Errored):
        return "errored"
    return outcome if outcome in (EXPIRED, CANCELED) else "succeeded"


def _tokens(*parts: Any) -> int:
    """A stable stand-in for a token count: about four characters a token."""
    return max(1, len(json.dumps(parts, ensure_ascii=False)) // 4)


def _hashed_embedding(text: str, dimension: int = 8) -> list[float]:
    """A deterministic vector for a text: the same text always gets the same one."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return [b / 255 - 0.5 for b in digest[:dimension]]


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": _request_id()}


def _json(status: int, body: Any) -> _Answer:
    headers = {"Content-Type": _JSON, "request-id": _request_id()}
    return _Answer(status, _json_bytes(body), headers)


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return _json_bytes(body)


def _json_bytes(body: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate in a string goes out as a ``\\ud800`` escape, which is valid JSON that
    a real server can send (and a client decodes back into a lone surrogate)."""
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body).encode("ascii")


class _Handler(LoopbackHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each answer would wait ~40 ms for a
    # delayed ACK, and these tests make hundreds of requests.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        call = Call(method, unquote(urlsplit(self.path).path), Headers(self.headers.items()), body, time.monotonic())
        answer = self.fake._arrive(call)
        if answer == HANG:
            self.fake._pause(self.fake.hang_s)
            self.close_connection = True
            return
        self._send(answer)


FakeLLMServer.handler = _Handler  # defined after the class, which it serves


def _forced_tool(call: Call) -> str:
    body = call.body if isinstance(call.body, dict) else {}
    choice = body.get("tool_choice")
    return str(choice.get("name") or "") if isinstance(choice, dict) else ""
