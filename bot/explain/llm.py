"""What the rest of the engine knows about LLM providers: the answer, the failure, the protocol, and
how the configured one is built. Kept apart from providers.py so that importing the engine does not
import the anthropic SDK (a second of start-up) when no LLM is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bot.config import DEFAULT_MODELS as DEFAULT_MODELS  # re-exported: what an empty [llm] model means
from bot.config import Config
from bot.explain.answers import read_answer
from bot.explain.prompt import ANSWER_SCHEMA, MAX_OUTPUT_TOKENS, TOOL_NAME, StructuredAnswer

log = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
# A second try usually fixes a bad structured answer; a third rarely does. Both are billed, so the budget
# reserves for every try (bot.explain.budget).
MALFORMED_RETRIES = 1


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tool(Generic[T]):
    """One kind of structured answer: the tool the model is made to call (Anthropic) or the JSON schema
    it must answer in (OpenAI-compatible), and the reader that turns what came back into a ``T``.

    ``read`` gets untrusted data of any shape and raises MalformedAnswer for anything it does not accept
    (wrong shape, too long, lone surrogates: see answers.py); the provider then retries once."""

    name: str
    description: str
    schema: Mapping[str, Any]
    max_output_tokens: int
    read: Callable[[Any], T]


@dataclass(frozen=True, slots=True)
class ToolAnswer(Generic[T]):
    value: T
    input_tokens: int  # over every attempt this answer took (a malformed first answer is billed too)
    output_tokens: int
    model: str  # the model that answered, as the provider names it (aliases resolved)


EXPLANATION_TOOL: Tool[StructuredAnswer] = Tool(
    TOOL_NAME,
    "Record the structured explanation of the paper's mathematics.",
    ANSWER_SCHEMA,
    MAX_OUTPUT_TOKENS,
    read_answer,
)


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    answer: StructuredAnswer
    input_tokens: int  # over every attempt this answer took (a malformed first answer is billed too)
    output_tokens: int
    model: str  # the model that answered, as the provider names it (aliases resolved)


class LLMFailure(Exception):
    """kind: "timeout" | "rate_limited" | "overloaded" | "server" | "malformed" | "auth" | "connection" | "refused"

    ``str(err)`` is a SHORT neutral sentence safe to show a user (never the provider's raw error text).
    ``input_tokens``/``output_tokens``: what the failed call was billed (malformed or refused answers cost too).
    """

    def __init__(self, kind: str, message: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class LLMProvider(Protocol):
    name: str  # "anthropic" | "openai"
    model: str

    async def explain(self, system: str, user: str) -> ProviderAnswer: ...

    async def ask(self, tool: Tool[T], system: str, user: str) -> ToolAnswer[T]:
        """One structured answer of any kind (a briefing, a thread answer). Raises LLMFailure."""
        ...

    async def aclose(self) -> None: ...


def build_provider(config: Config) -> LLMProvider | None:
    """The configured provider, or None: provider "none", or Anthropic without ANTHROPIC_API_KEY."""
    provider = config.llm_provider
    model = config.llm_model
    base_url = str(config.get("llm", "base_url")) or None
    timeout_s = float(config.get("llm", "timeout_s"))
    if provider == "anthropic":
        api_key = config.secret("ANTHROPIC_API_KEY")
        if api_key is None:
            log.warning("llm provider is anthropic but ANTHROPIC_API_KEY is not set: explanations are offline")
            return None
        from bot.explain.providers import AnthropicProvider

        return AnthropicProvider(api_key, model, base_url=base_url, timeout_s=timeout_s)
    if provider == "openai":
        from bot.explain.providers import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            base_url or DEFAULT_OPENAI_BASE_URL, model, api_key=config.secret("OPENAI_API_KEY"), timeout_s=timeout_s
        )
    if provider != "none":
        log.warning("unknown llm provider %r: explanations are offline", provider)
    return None
