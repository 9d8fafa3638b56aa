"""`paperbot doctor`'s LLM line, against the fake LLM API on 127.0.0.1 with the real anthropic SDK and httpx:
one cheap request that generates nothing, a short timeout, one line saying what to do, never the key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Config, validate
from bot.explain.doctor import check_llm
from tests.fakes.llm_server import HANG, FakeLLMServer, overloaded

KEY = "sk-ant-api03-secret-0123456789"
OPENAI_KEY = "sk-proj-secret-0123456789"


def _config(env: dict[str, str], **llm: Any) -> Config:
    return Config(values=validate({"llm": llm}), source="test", env=env)


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(anthropic_key=KEY, openai_key=OPENAI_KEY) as server:
        yield server


def _no_secret(line: str) -> bool:
    return KEY not in line and OPENAI_KEY not in line and "secret" not in line


async def test_no_provider_is_fine_and_asks_nothing() -> None:
    assert await check_llm(_config({})) == ("LLM: none configured; explanations are offline", True)
    assert await check_llm(_config({"ANTHROPIC_API_KEY": KEY}, provider="none")) == (
        "LLM: none configured; explanations are offline",
        True,
    )


async def test_anthropic_without_a_key_says_which_variable() -> None:
    line, ok = await check_llm(_config({}, provider="anthropic"))

    assert not ok and "ANTHROPIC_API_KEY is not set" in line


async def test_anthropic_ok_is_one_models_request(llm: FakeLLMServer) -> None:
    config = _config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", base_url=llm.anthropic_url)

    line, ok = await check_llm(config)

    assert ok, line
    assert line.startswith("LLM: anthropic OK at http://127.0.0.1:") and "claude-haiku-5-5" in line
    [call] = llm.calls()
    assert (call.method, call.path) == ("GET", "/v1/models/claude-haiku-5-5")  # nothing was generated
    assert _no_secret(line)


@pytest.mark.parametrize(
    ("env", "llm_config", "expected"),
    [
        (
            {"ANTHROPIC_API_KEY": "sk-ant-api03-secret-wrong"},
            {},
            "rejected ANTHROPIC_API_KEY (HTTP 401): set a valid key",
        ),
        ({"ANTHROPIC_API_KEY": KEY}, {"model": "claude-nonexistent-9"}, "does not know model 'claude-nonexistent-9'"),
    ],
    ids=["bad-key", "unknown-model"],
)
async def test_anthropic_problems_are_one_line_each(
    llm: FakeLLMServer, env: dict[str, str], llm_config: dict[str, Any], expected: str
) -> None:
    line, ok = await check_llm(_config(env, provider="anthropic", base_url=llm.anthropic_url, **llm_config))

    assert not ok and expected in line and "\n" not in line
    assert _no_secret(line) and "invalid x-api-key" not in line  # our words, not the provider's
    assert llm.count() == 1


async def test_anthropic_overloaded_is_reported_without_retrying(llm: FakeLLMServer) -> None:
    llm.script("/v1/models/", overloaded(retry_after_ms=1))

    line, ok = await check_llm(_config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", base_url=llm.anthropic_url))

    assert not ok and "answered HTTP 529: try again later" in line and llm.count() == 1


async def test_anthropic_unreachable() -> None:
    with FakeLLMServer() as gone:
        url = gone.anthropic_url

    line, ok = await check_llm(_config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", base_url=url))

    assert not ok and "could not be reached" in line and url in line and _no_secret(line)


async def test_anthropic_silence_ends_within_the_timeout() -> None:
    with FakeLLMServer(hang_s=5.0) as llm:
        llm.script("/v1/models/", HANG)
        config = _config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", base_url=llm.anthropic_url, timeout_s=0.3)

        line, ok = await check_llm(config)
        asked = llm.count("/v1/models/")

    # The check's own deadline ended it ("within 0.3 s" is its wording), after one request and no retry:
    # the fake would keep the connection silent for 5 s.
    assert not ok and "did not answer within 0.3 s" in line
    assert asked == 1


async def test_a_credential_in_the_base_url_is_not_printed(llm: FakeLLMServer) -> None:
    url = llm.anthropic_url.replace("http://", "http://user:hunter2@")

    line, _ = await check_llm(_config({"ANTHROPIC_API_KEY": KEY}, provider="anthropic", base_url=url))

    assert llm.anthropic_url in line and "hunter2" not in line and "user" not in line


async def test_openai_compatible_ok(llm: FakeLLMServer) -> None:
    config = _config({"OPENAI_API_KEY": OPENAI_KEY}, provider="openai", base_url=llm.openai_url)

    line, ok = await check_llm(config)

    assert ok and line == (
        f"LLM: openai-compatible OK at {llm.openai_url}: model gpt-4o-mini available; metered at $0.15 in / "
        "$0.6 out per million tokens (the price of gpt-4o-mini)"
    )
    [call] = llm.calls()
    assert (call.method, call.path, call.headers["authorization"]) == ("GET", "/v1/models", f"Bearer {OPENAI_KEY}")


@pytest.mark.parametrize(
    ("env", "llm_config", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-proj-secret-wrong"}, {}, "rejected OPENAI_API_KEY (HTTP 401): set a valid key"),
        ({}, {}, "wants a key: set OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": OPENAI_KEY}, {"model": "qwen2.5:7b"}, "has no model 'qwen2.5:7b' (it has: claude-haiku"),
    ],
    ids=["bad-key", "no-key", "unknown-model"],
)
async def test_openai_compatible_problems(
    llm: FakeLLMServer, env: dict[str, str], llm_config: dict[str, Any], expected: str
) -> None:
    config = _config(env, provider="openai", base_url=llm.openai_url, **llm_config)

    line, ok = await check_llm(config)

    assert not ok and expected in line and _no_secret(line)


async def test_openai_compatible_base_url_without_v1(llm: FakeLLMServer) -> None:
    config = _config({"OPENAI_API_KEY": OPENAI_KEY}, provider="openai", base_url=llm.base_url)

    line, ok = await check_llm(config)

    assert not ok and "has no /models: is [llm] base_url the API root (often ending in /v1)?" in line


async def test_openai_compatible_that_is_not_an_api(llm: FakeLLMServer) -> None:
    llm.script("/v1/models", (200, "<html>login page</html>", {"Content-Type": "text/html"}))

    line, ok = await check_llm(_config({"OPENAI_API_KEY": OPENAI_KEY}, provider="openai", base_url=llm.openai_url))

    assert not ok and "not with a model list" in line


async def test_openai_compatible_unreachable() -> None:
    with FakeLLMServer() as gone:
        url = gone.openai_url

    line, ok = await check_llm(_config({}, provider="openai", base_url=url))

    assert not ok and "could not be reached: is it running?" in line
