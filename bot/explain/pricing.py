"""Estimated cost of LLM calls, for the budget and `/paper usage`: no call is ever unmetered.

Prices are US dollars per million tokens (input, output) from the providers' price pages
(platform.claude.com model overviews; openai.com/api/pricing), for prompts under 100k tokens, which is
all we send. `[llm] input_usd_per_mtok` / `output_usd_per_mtok` override them.

A model the table does not know costs what the dearest known model of its provider costs, so that the
daily budget keeps working for a model newer than this table (``claude-opus-4-8``): an estimate too high
stops explanations early, one of $0 would switch the budget off. Only a model on a server of one's own
(an OpenAI-compatible ``[llm] base_url`` that is not OpenAI's) costs $0 unless priced; config.py refuses
at start an unknown model on a paid API whose prices are not set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "BATCH_DISCOUNT",
    "PRICES_USD_PER_MTOK",
    "Price",
    "cost_usd",
    "is_known",
    "price_for",
    "price_of",
    "provider_of",
]

PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-haiku-5-5": (0.10, 0.50),
    "claude-sonnet-5-5": (2.00, 10.00),
    "claude-opus-5-5": (4.00, 20.00),
    "claude-fable-5-1": (10.00, 50.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
}
BATCH_DISCOUNT = 0.5  # Message Batches cost half
NO_OVERRIDE = (0.0, 0.0)
OPENAI_HOST = "api.openai.com"
# A dated snapshot or an alias of a listed model costs what it costs: claude-haiku-4-5-20251001,
# gpt-4o-2024-08-06, claude-3-5-haiku-latest. Anything else after the name is another model
# (claude-opus-4-8 is not claude-opus-4).
_SNAPSHOT = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)")


@dataclass(frozen=True, slots=True)
class Price:
    """What a model's calls are metered at, and why (for `paperbot doctor`)."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    basis: str  # "configured" | "built-in" | "dearest known" | "own server"

    def describe(self, model: str) -> str:
        said = f"${self.input_usd_per_mtok:g} in / ${self.output_usd_per_mtok:g} out per million tokens"
        why = {
            "configured": "from [llm] input_usd_per_mtok / output_usd_per_mtok",
            "built-in": f"the price of {model[:60]}",
            "dearest known": (
                f"{model[:60]} has no known price, so the dearest known model of its provider's: "
                "set [llm] input_usd_per_mtok / output_usd_per_mtok"
            ),
            "own server": "a model on your own server",
        }[self.basis]
        return f"{said} ({why})"


def provider_of(model: str) -> str:
    """Whose model it is by its name: "anthropic" (claude-…), "openai" (gpt-…, o3…), else ""."""
    if model.startswith("claude-"):
        return "anthropic"
    if model.startswith(("gpt-", "chatgpt-")) or re.match(r"o\d", model):
        return "openai"
    return ""


def _listed(model: str) -> tuple[float, float] | None:
    # The longest name first: gpt-4o-mini is not gpt-4o.
    for name in sorted(PRICES_USD_PER_MTOK, key=len, reverse=True):
        if model == name or (model.startswith(name) and _SNAPSHOT.fullmatch(model[len(name) :])):
            return PRICES_USD_PER_MTOK[name]
    return None


def is_known(model: str) -> bool:
    return _listed(model) is not None


def _dearest(provider: str) -> tuple[float, float]:
    mine = [price for name, price in PRICES_USD_PER_MTOK.items() if provider_of(name) == provider]
    return max(mine or PRICES_USD_PER_MTOK.values(), key=lambda price: (price[1], price[0]))


def own_server(provider: str, base_url: str) -> bool:
    """An OpenAI-compatible server that is not OpenAI's (Ollama, vLLM, llama.cpp on one's machines)."""
    return provider == "openai" and bool(base_url) and (urlsplit(base_url).hostname or "") != OPENAI_HOST


def price_for(
    model: str, override: tuple[float, float] = NO_OVERRIDE, *, provider: str = "", base_url: str = ""
) -> Price:
    """The price ``model``'s calls are metered at. ``override``: the configured prices ((0, 0): none);
    ``provider``/``base_url``: how it is reached, which says whose price an unknown model gets."""
    if override != NO_OVERRIDE:
        return Price(*override, "configured")
    listed = _listed(model)
    if listed is not None:
        return Price(*listed, "built-in")
    if own_server(provider, base_url):
        return Price(0.0, 0.0, "own server")
    return Price(*_dearest(provider_of(model) or provider), "dearest known")


def price_of(model: str, override: tuple[float, float] = NO_OVERRIDE) -> tuple[float, float]:
    """(input, output) dollars per million tokens; an explicit override wins, an unknown model costs what
    the dearest known model of its provider costs (never 0)."""
    price = price_for(model, override)
    return price.input_usd_per_mtok, price.output_usd_per_mtok


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    batch: bool = False,
    override: tuple[float, float] = NO_OVERRIDE,
    provider: str = "",
    base_url: str = "",
) -> float:
    price = price_for(model, override, provider=provider, base_url=base_url)
    cost = (input_tokens * price.input_usd_per_mtok + output_tokens * price.output_usd_per_mtok) / 1_000_000
    return cost * BATCH_DISCOUNT if batch else cost
