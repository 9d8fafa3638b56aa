"""An explanation the engine would serve from the database alone, found without the engine.

`paperbot explain ID` for a paper explained before answers from the store, the full-text cache and the
explanation cache; building the engine to find that out (its sources' HTTP clients, the ranking's numpy, the
LLM SDK) would be most of the wait. ``cached_explanation`` answers exactly what ``Engine.explain`` answers
then, or None whenever the engine might answer anything else, and the caller asks the engine:

- the id is a plain arXiv form (a Hugging Face link or a DOI is parsed by its source, with the registry);
- the paper is stored, and at least as new as the version asked for (else the engine fetches it);
- it is an arXiv paper whose full text the cache knows about: the parsed page, or that there was none
  lately (and why). Unknown means the engine would fetch it, and whether that succeeds changes the
  explanation's cache key and its badge;
- an LLM is configured (without one the engine explains offline) and its answer is cached under the key
  ``Explainer.explain`` computes for that full text, with every equation image it shows drawn already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from bot.cards import Reply, make_card
from bot.config import Config
from bot.errors import BadIdError
from bot.explain.llm import ProviderAnswer, Tool, ToolAnswer
from bot.explain.offline import NO_HTML_BADGE
from bot.explain.service import Explainer
from bot.fulltext import FullText, FullTextCache
from bot.ids import ArxivId, parse_arxiv_id, tidy_pasted
from bot.models import Paper
from bot.page_refusals import abstract_badge
from bot.store import Store

__all__ = ["arxiv_ref", "cached_explanation", "configured_model"]

# What only the other sources parse (bot.sources.huggingface, bot.sources.biorxiv): text holding these is left
# to the registry, so that an id read here is one the registry reads the same way.
_OTHER_SOURCES_MARKS = ("/papers/", "10.1101")


class ConfiguredModel:
    """The configured provider as the explanation cache knows it, its name and model, without its SDK: an
    answer is cached under the model it was asked of. Never asked anything."""

    def __init__(self, name: str, model: str) -> None:
        self.name = name
        self.model = model

    async def explain(self, system: str, user: str) -> ProviderAnswer:
        _never_asked()

    async def ask(self, tool: Tool[Any], system: str, user: str) -> ToolAnswer[Any]:
        _never_asked()

    async def aclose(self) -> None:
        return None


def _never_asked() -> NoReturn:
    raise RuntimeError("a cached explanation asks no provider")


def configured_model(config: Config) -> ConfiguredModel | None:
    """The provider ``bot.explain.llm.build_provider`` would build, by name and model; None for none
    (provider "none" or unknown, or Anthropic without its key): then the engine explains offline."""
    provider = config.llm_provider
    if provider == "anthropic" and config.secret("ANTHROPIC_API_KEY") is None:
        return None
    if provider not in ("anthropic", "openai"):
        return None
    return ConfiguredModel(provider, config.llm_model)


def arxiv_ref(id_text: str) -> ArxivId | None:
    """The arXiv paper ``id_text`` names, as the source registry reads it (its arXiv source: the same id and
    version); None for any other text (another source's id, or no id at all: the registry says which, and
    how to write one). Not the registry itself: importing the sources imports their HTTP clients."""
    pasted = tidy_pasted(id_text)
    if any(mark in pasted.lower() for mark in _OTHER_SOURCES_MARKS):
        return None
    try:
        return parse_arxiv_id(pasted)
    except BadIdError:
        return None


def cached_explanation(config: Config, store: Store, ref: ArxivId) -> tuple[Paper, Reply] | None:
    """What ``Engine.explain`` answers for ``ref`` (from ``arxiv_ref``), when it would answer from the database
    and the caches on disk alone; None when it might fetch, ask the LLM, draw or explain offline (see the
    module docstring)."""
    paper = store.get_paper(ref.id)
    if paper is None or (ref.version is not None and ref.version > paper.version):
        return None
    full_text = _known_full_text(store, paper)
    model = configured_model(config)
    if full_text is None or model is None:
        return None
    explainer = Explainer(config, store, model)
    explanation = explainer.cached(paper, full_text=full_text[0], abstract_badge=full_text[1])
    if explanation is None:
        return None
    text = ""
    if ref.version is not None and ref.version != paper.version:
        text = f"You asked for v{ref.version}; this is the latest version, v{paper.version}."
    line = explainer.one_liners([paper]).get(paper.id, "")
    return paper, Reply(text=text, cards=(make_card(paper, math_line=line),), explanation=explanation)


def _known_full_text(store: Store, paper: Paper) -> tuple[FullText | None, str] | None:
    """The full text and badge the engine's full-text step gives an arXiv paper whose page the cache on
    disk knows (read, or missing lately); None when the engine would go and fetch it."""
    if paper.page_url is not None or paper.known_by_doi:
        return None  # a preprint server's paper: its JATS full text is the engine's to find
    if store.path in ("", ":memory:") or store.path.startswith("file:"):
        return None  # the engine keeps full texts of such a store in its own memory: none yet
    cache = FullTextCache(Path(store.path).resolve().parent / "fulltext")
    found = cache.get(paper.id, paper.version)
    if isinstance(found, FullText):
        return found, NO_HTML_BADGE
    if found is False:
        reason = cache.missing_reason(paper.id, paper.version)
        return None, abstract_badge(reason) if reason else NO_HTML_BADGE
    return None
