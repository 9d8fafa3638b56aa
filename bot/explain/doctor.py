"""`paperbot doctor`'s LLM line: does the configured provider answer, does it take the key, does it know
the model, and at what price are its calls metered? One cheap request that generates nothing
(Anthropic's Models API, an OpenAI-compatible server's model list), a short timeout, and one line saying
what to do; never the key itself."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot.config import Config
from bot.explain.answers import model_name
from bot.explain.llm import DEFAULT_OPENAI_BASE_URL

__all__ = ["CHECK_TIMEOUT_S", "check_llm"]

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 10.0  # at most; a shorter [llm] timeout_s wins
NO_LLM = "LLM: none configured; explanations are offline"


async def check_llm(config: Config) -> tuple[str, bool]:
    """One line on the configured LLM provider, and whether it is ready to explain papers."""
    provider = config.llm_provider
    timeout_s = min(float(config.get("llm", "timeout_s")), CHECK_TIMEOUT_S)
    model = config.llm_model
    base_url = str(config.get("llm", "base_url"))
    if provider == "none":
        return NO_LLM, True
    if provider == "anthropic":
        api_key = config.secret("ANTHROPIC_API_KEY")
        if api_key is None:
            return "LLM: provider anthropic but ANTHROPIC_API_KEY is not set: explanations will be offline", False
        return _priced(await _check_anthropic(api_key, model, base_url or None, timeout_s), config)
    if provider == "openai":
        url = base_url or DEFAULT_OPENAI_BASE_URL
        return _priced(await _check_openai(url, model, config.secret("OPENAI_API_KEY"), timeout_s), config)
    return f"LLM: unknown provider {provider[:30]!r}: use anthropic, openai or none (explanations are offline)", False


async def _check_anthropic(api_key: str, model: str, base_url: str | None, timeout_s: float) -> tuple[str, bool]:
    import anthropic  # only here: the SDK takes a second to import

    client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)
    where = _shown(str(client.base_url))
    try:
        # The Models API checks the key and resolves the model (or its alias) without generating anything.
        async with asyncio.timeout(timeout_s):
            info = await client.models.retrieve(model)
    except (TimeoutError, anthropic.APITimeoutError):
        return f"LLM: anthropic at {where} did not answer within {timeout_s:g} s: check the network", False
    except anthropic.APIConnectionError:
        return (
            f"LLM: anthropic at {where} could not be reached: check the network, or [llm] base_url / "
            "ANTHROPIC_BASE_URL",
            False,
        )
    except anthropic.APIStatusError as err:
        log.debug("anthropic models check: HTTP %d (request %s)", err.status_code, err.request_id or "-")
        return _status_line("anthropic", where, err.status_code, "ANTHROPIC_API_KEY", model), False
    except (anthropic.AnthropicError, ValueError, RecursionError) as err:  # an answer the SDK could not read
        return f"LLM: anthropic at {where} gave an answer that is not the Models API's ({type(err).__name__})", False
    finally:
        await client.close()
    resolved = model_name(getattr(info, "id", None), model)  # the API resolves an alias to a model id
    named = f"model {model[:60]}" + (f" = {resolved}" if resolved != model else "")
    return f"LLM: anthropic OK at {where}: key accepted, {named}", True


async def _check_openai(base_url: str, model: str, api_key: str | None, timeout_s: float) -> tuple[str, bool]:
    where = _shown(base_url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            async with asyncio.timeout(timeout_s):
                response = await http.get(base_url.rstrip("/") + "/models", headers=headers)
    except (TimeoutError, httpx.TimeoutException):
        return f"LLM: openai-compatible server at {where} did not answer within {timeout_s:g} s", False
    except httpx.HTTPError:
        return f"LLM: openai-compatible server at {where} could not be reached: is it running? ([llm] base_url)", False
    if response.status_code in (401, 403) and not api_key:
        return f"LLM: openai-compatible server at {where} wants a key: set OPENAI_API_KEY", False
    if response.status_code == 404:
        return f"LLM: {where} has no /models: is [llm] base_url the API root (often ending in /v1)?", False
    if not response.is_success:
        return _status_line("openai-compatible server", where, response.status_code, "OPENAI_API_KEY", model), False
    listed = _model_ids(response)
    if listed is None:
        return f"LLM: {where} answered, but not with a model list: is [llm] base_url an OpenAI-compatible API?", False
    if model not in listed:
        some = ", ".join(model_name(name, "?") for name in sorted(listed)[:5]) or "none"
        return f"LLM: openai-compatible server at {where} has no model {model[:60]!r} (it has: {some})", False
    return f"LLM: openai-compatible OK at {where}: model {model[:60]} available", True


def _priced(result: tuple[str, bool], config: Config) -> tuple[str, bool]:
    """The line, and at what price the budget meters the model's calls (and why that price)."""
    line, ok = result
    return f"{line}; metered at {config.llm_price().describe(config.llm_model)}", ok


def _status_line(name: str, where: str, status: int, key_name: str, model: str) -> str:
    if status in (401, 403):
        return f"LLM: {name} at {where} rejected {key_name} (HTTP {status}): set a valid key"
    if status == 404:
        return f"LLM: {name} at {where} does not know model {model[:60]!r}: set [llm] model"
    return f"LLM: {name} at {where} answered HTTP {status}: try again later"


def _model_ids(response: httpx.Response) -> set[str] | None:
    try:
        body: Any = response.json()
    except (ValueError, RecursionError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return {item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)}


def _shown(url: str) -> str:
    """The URL without user:password or query (a proxy URL can carry a credential), and no trailing /."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")
