"""Estimated cost of LLM calls, for the budget and `/paper usage`.

Prices are US dollars per million tokens (input, output) from the providers' price pages
(platform.claude.com model overviews; openai.com/api/pricing), for prompts under 100k tokens, which is
all we send. `[llm] input_usd_per_mtok` / `output_usd_per_mtok` override them (a local model costs 0).
"""

from __future__ import annotations

PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-haiku-5-5": (0.10, 0.50),
    "claude-sonnet-5-5": (2.00, 10.00),
    "claude-opus-5-5": (4.00, 20.00),
    "claude-fable-5-1": (10.00, 50.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
}
BATCH_DISCOUNT = 0.5  # Message Batches cost half


def price_of(model: str, override: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """(input, output) dollars per million tokens; an explicit override wins, unknown models cost 0."""
    if override != (0.0, 0.0):
        return override
    for name, price in PRICES_USD_PER_MTOK.items():
        # Dated snapshots (claude-haiku-4-5-20251001) cost what their family costs.
        if model == name or model.startswith(name + "-"):
            return price
    return (0.0, 0.0)


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    batch: bool = False,
    override: tuple[float, float] = (0.0, 0.0),
) -> float:
    price_in, price_out = price_of(model, override)
    cost = (input_tokens * price_in + output_tokens * price_out) / 1_000_000
    return cost * BATCH_DISCOUNT if batch else cost
