"""Paper sources: each turns an upstream service into ``bot.models`` objects and typed errors."""

from __future__ import annotations

from bot.sources.arxiv import ArxivClient, parse_api, parse_rss

__all__ = ["ArxivClient", "parse_api", "parse_rss"]
