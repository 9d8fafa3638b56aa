"""What embedding papers costs, inside the day's LLM budget (bot.explain.budget): each request's worst case
is reserved before it is sent and settled at the tokens the endpoint reports (purpose "embedding").

Prices are US dollars per million input tokens from openai.com/api/pricing. A model on a server of one's
own (any host but OpenAI's) costs $0; an unknown model on OpenAI's costs what the dearest listed one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from bot.config import Config
from bot.explain.budget import CHARS_PER_TOKEN_AT_LEAST, Budget, Meter, Reservation
from bot.explain.pricing import OPENAI_HOST, Price
from bot.store import Store, utcnow

__all__ = ["EMBEDDING_PRICES_USD_PER_MTOK", "PURPOSE", "embedding_meter", "reserve_embedding"]

PURPOSE = "embedding"
EMBEDDING_PRICES_USD_PER_MTOK = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}


def embedding_meter(base_url: str, model: str) -> Meter:
    if (urlsplit(base_url).hostname or "").lower() != OPENAI_HOST:
        return Meter("embeddings", model, Price(0.0, 0.0, "own server"))
    listed = EMBEDDING_PRICES_USD_PER_MTOK.get(model)
    if listed is not None:
        return Meter("openai", model, Price(listed, 0.0, "built-in"))
    return Meter("openai", model, Price(max(EMBEDDING_PRICES_USD_PER_MTOK.values()), 0.0, "dearest known"))


def reserve_embedding(
    config: Config, store: Store, meter: Meter, texts: Sequence[str], *, hold_s: float
) -> Reservation | None:
    """The worst case of embedding ``texts`` held in today's budget, or None when it does not fit."""
    budget = Budget(config, store, now=utcnow)
    tokens = sum(-(-len(text) // CHARS_PER_TOKEN_AT_LEAST) + 1 for text in texts)
    held = budget.reserve(
        meter, purpose=PURPOSE, subject=f"{len(texts)} papers", tokens=(tokens, 0), hold=timedelta(seconds=hold_s)
    )
    return held
