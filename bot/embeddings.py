"""Paper embeddings from any OpenAI-compatible endpoint, cached per paper version and model.

Optional (``[radar] embeddings_base_url``; empty: off). When a feed is stored, ``embed_new_papers`` asks
``POST {base_url}/embeddings`` for the title and abstract of each paper not cached yet, in batches, within
``[radar] embeddings_timeout_s``, and stores each vector normalised as float32 bytes. The ranking reads
only this cache (``vector_lookup``), never the network: a paper without a vector is compared by its words.

The endpoint's answer is untrusted: its size is bounded, its shape checked (one vector per text, numbers
only, finite, one dimension). A failure (unreachable, 4xx, malformed, too slow) is logged once and the
papers stay unembedded; nothing here raises to its caller.

Each request's worst case is reserved in the day's LLM budget before it is sent and settled at the tokens
the endpoint reports (bot.embedding_budget); past the budget, papers wait for the next feed.

The key comes from ``EMBEDDINGS_API_KEY``; ``OPENAI_API_KEY`` is sent only to OpenAI's own host, so a key
for the chat provider never reaches another embeddings server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import sqlite_utils

from bot.config import Config
from bot.embedding_budget import embedding_meter, reserve_embedding
from bot.models import Paper
from bot.retry_timing import backoff_seconds, retry_after_seconds
from bot.store import Store, TableMigrations, _paper_from_row, utcnow

if TYPE_CHECKING:
    # numpy (60 ms to import) is imported by the functions that compute or read vectors, not here: the
    # engine imports this module, and a command that never ranks by embeddings should not pay for it.
    import numpy as np
    from numpy.typing import NDArray

    from bot.ranking import VectorLookup

    Vector = NDArray[np.float32]

__all__ = [
    "BATCH_SIZE",
    "KEEP_DAYS",
    "EmbeddingSettings",
    "EmbeddingsClient",
    "embed_new_papers",
    "migrate",
    "paper_text",
    "prune",
    "vector_lookup",
]

log = logging.getLogger(__name__)

BATCH_SIZE = 64  # texts per request: well within every server's input limit
MAX_TEXT_CHARS = 8000  # about 2,000 tokens: a title and an abstract, cut if a source sent much more
MAX_DIMENSION = 8192  # OpenAI's largest is 3,072; more is a broken server, not a model
MAX_BODY_BYTES = 8_000_000  # 64 vectors of 3,072 numbers as JSON text fit in about 4 MB
MAX_ERROR_BYTES = 64_000  # an error answer is read this far, for its error code
RETRIES = 2
KEEP_DAYS = 60  # vectors of papers no radar likes are dropped after this: a day of 2,000 papers is ~12 MB
_QUERY_CHUNK = 500  # SQLite's bound-parameter limit, with room

migrations = TableMigrations("paperbot.embeddings")


@migrations()
def m001_paper_embeddings(db: sqlite_utils.Database) -> None:
    # One row per paper version and model: a revised abstract or another model is another vector.
    db.execute(
        """CREATE TABLE IF NOT EXISTS paper_embeddings (
               paper_id TEXT NOT NULL, version INTEGER NOT NULL, model TEXT NOT NULL,
               dimension INTEGER NOT NULL, vector BLOB NOT NULL, created_at TEXT NOT NULL,
               PRIMARY KEY (paper_id, version, model))"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS paper_embeddings_age ON paper_embeddings (created_at)")


def migrate(store: Store) -> None:
    """Apply this table's migrations once per store (after the store's own); cheap to repeat."""
    migrations.apply_to(store)


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    base_url: str
    model: str
    timeout_s: float
    api_key: str | None

    @classmethod
    def from_config(cls, config: Config) -> EmbeddingSettings | None:
        """The configured endpoint, or None when embeddings are off."""
        base_url = str(config.get("radar", "embeddings_base_url")).strip()
        if not base_url:
            return None
        key = config.secret("EMBEDDINGS_API_KEY")
        if key is None and (urlsplit(base_url).hostname or "").lower() == "api.openai.com":
            key = config.secret("OPENAI_API_KEY")
        return cls(
            base_url=base_url,
            model=str(config.get("radar", "embeddings_model")) or "text-embedding-3-small",
            timeout_s=float(config.get("radar", "embeddings_timeout_s")),
            api_key=key,
        )


class EmbeddingsFailed(Exception):
    """Why a request brought no vectors (logged by ``EmbeddingsClient.embed``, never raised from it)."""


class EmbeddingsClient:
    """``POST {base_url}/embeddings`` in the OpenAI shape. ``embed`` returns unit vectors or None."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = RETRIES,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.retries = retries
        self.tokens = 0  # input tokens the endpoint reported, for the log
        self._url = base_url.rstrip("/") + "/embeddings"
        # Local servers need no key; an empty "Bearer " confuses some proxies, so send none.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=min(timeout_s, 60.0))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> EmbeddingsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def embed(self, texts: Sequence[str], deadline: float | None = None) -> list[Vector] | None:
        """One unit vector per text (in ``BATCH_SIZE`` requests), or None after logging why not. Gives up
        at ``deadline`` (the loop's clock; default ``timeout_s`` from now)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s if deadline is None else deadline
        vectors: list[Vector] = []
        try:
            async with asyncio.timeout_at(deadline):
                for start in range(0, len(texts), BATCH_SIZE):
                    vectors += await self._embed_batch(texts[start : start + BATCH_SIZE], deadline)
        except TimeoutError:
            log.warning("embeddings: no answer from %s within the time allowed", self._url)
            return None
        except EmbeddingsFailed as failure:
            log.warning("embeddings: %s (%s)", failure, self._url)
            return None
        return vectors

    async def _embed_batch(self, texts: Sequence[str], deadline: float) -> list[Vector]:
        payload = {"model": self.model, "input": [text[:MAX_TEXT_CHARS] or " " for text in texts]}
        data = await self._post(payload, deadline)
        self.tokens += _usage_tokens(data)
        return _vectors(data, len(texts))

    async def _post(self, payload: dict[str, Any], deadline: float) -> Any:
        """The decoded JSON of a 2xx answer, after retrying what may pass (429, 408/409, 5xx, timeouts,
        transport errors) with backoff or the server's Retry-After, within ``deadline``."""
        loop = asyncio.get_running_loop()
        for attempt in range(self.retries + 1):
            try:
                status, headers, body = await self._exchange(payload)
            except httpx.TimeoutException:
                failure, delay = EmbeddingsFailed("timed out"), backoff_seconds(attempt)
            except httpx.RequestError as err:
                failure, delay = EmbeddingsFailed(f"connection failed ({type(err).__name__})"), backoff_seconds(attempt)
            else:
                if 200 <= status < 300:
                    return _json(body)
                code = _error_code(body)
                failure = EmbeddingsFailed(f"HTTP {status}" + (f" ({code})" if code else ""))
                # An exhausted quota answers 429 too: retrying it only spends the time allowed.
                retryable = (status == 429 and code != "insufficient_quota") or status in (408, 409) or status >= 500
                if not retryable:
                    raise failure
                asked = retry_after_seconds(headers)
                delay = backoff_seconds(attempt) if asked is None else asked
            if attempt == self.retries or loop.time() + delay >= deadline:
                raise failure
            log.debug("embeddings: %s, retrying in %.2f s", failure, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _exchange(self, payload: dict[str, Any]) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and body, the body read no further than its bound (a huge answer is refused
        before it is held in memory)."""
        async with self._http.stream("POST", self._url, json=payload, headers=self._headers) as response:
            limit = MAX_BODY_BYTES if response.is_success else MAX_ERROR_BYTES
            declared = response.headers.get("content-length", "")
            if response.is_success and declared.isdigit() and int(declared) > limit:
                raise EmbeddingsFailed(f"answer of {int(declared):,} bytes, more than {limit:,}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    if not response.is_success:
                        break  # an error's start says enough
                    raise EmbeddingsFailed(f"answer larger than {limit:,} bytes")
            return response.status_code, response.headers, bytes(body[:limit])


def _json(body: bytes) -> Any:
    try:
        return httpx.Response(200, content=body).json()
    except (ValueError, RecursionError):
        return None  # an HTML page from a proxy, bytes that are not UTF-8, JSON nested too deeply


def _error_code(body: bytes) -> str | None:
    data = _json(body)
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _usage_tokens(data: Any) -> int:
    usage = data.get("usage") if isinstance(data, dict) else None
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and 0 <= tokens < 10**9 else 0


def _vectors(data: Any, count: int) -> list[Vector]:
    """``data[i].embedding`` for i < count as unit float32 vectors, in ``index`` order; EmbeddingsFailed
    for any other shape (a missing or extra vector, a non-number, NaN, mixed or absurd dimensions)."""
    import numpy as np  # here, where vectors are computed: see the note on the imports above

    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != count:
        found = len(items) if isinstance(items, list) else "no"
        raise EmbeddingsFailed(f"malformed answer: {found} vectors for {count} texts")
    by_index: dict[int, Any] = {}
    for position, item in enumerate(items):
        index = item.get("index", position) if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or index in by_index:
            raise EmbeddingsFailed("malformed answer: vectors without distinct indexes")
        by_index[index] = item.get("embedding") if isinstance(item, dict) else None
    vectors: list[Vector] = []
    dimension: int | None = None
    for index in range(count):
        raw = by_index[index]
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_DIMENSION:
            raise EmbeddingsFailed("malformed answer: an embedding is not a list of numbers")
        if dimension is not None and len(raw) != dimension:
            raise EmbeddingsFailed(f"malformed answer: embeddings of {dimension} and {len(raw)} dimensions")
        dimension = len(raw)
        if not all(type(x) is float or type(x) is int for x in raw):  # bools and strings are not numbers
            raise EmbeddingsFailed("malformed answer: an embedding holds something other than numbers")
        vector = np.array(raw, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise EmbeddingsFailed("malformed answer: an embedding is not finite or is all zeros")
        unit = (vector / norm).astype(np.float32)
        if not np.isfinite(unit).all():
            raise EmbeddingsFailed("malformed answer: an embedding is not finite")
        vectors.append(unit)
    return vectors


def paper_text(paper: Paper) -> str:
    """What is embedded of a paper: its title and abstract."""
    return f"{paper.title}\n\n{paper.abstract}"[:MAX_TEXT_CHARS]


# --- the cache ---------------------------------------------------------------------------------


def _cached_keys(store: Store, papers: Sequence[Paper], model: str) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    ids = [p.id for p in papers]
    for start in range(0, len(ids), _QUERY_CHUNK):
        chunk = ids[start : start + _QUERY_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = store.db.conn.execute(
            f"SELECT paper_id, version FROM paper_embeddings WHERE model = ? AND paper_id IN ({marks})",
            [model, *chunk],
        )
        found.update((str(pid), int(version)) for pid, version in rows)
    return found


def _store_vectors(store: Store, model: str, papers: Sequence[Paper], vectors: Sequence[Vector]) -> None:
    import numpy as np  # see the note on the imports above

    now = utcnow().isoformat()
    rows = [
        (p.id, p.version, model, len(v), v.astype(np.float32).tobytes(), now)
        for p, v in zip(papers, vectors, strict=True)
    ]
    with store.db.conn:
        store.db.conn.executemany(
            """INSERT INTO paper_embeddings (paper_id, version, model, dimension, vector, created_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (paper_id, version, model) DO UPDATE SET
                   dimension = excluded.dimension, vector = excluded.vector, created_at = excluded.created_at""",
            rows,
        )


def _liked_without_vector(store: Store, model: str, limit: int = 200) -> list[Paper]:
    """Papers some radar likes (or dislikes) that have no vector for ``model``: liked from an older day,
    or before embeddings were turned on."""
    if not store.db["radar_entries"].exists():
        return []
    rows = store.db.conn.execute(
        """SELECT DISTINCT p.* FROM radar_entries r JOIN papers p ON p.id = r.key
           WHERE r.kind = 'like' AND NOT EXISTS (
               SELECT 1 FROM paper_embeddings e WHERE e.paper_id = p.id AND e.version = p.version AND e.model = ?)
           LIMIT ?""",
        (model, limit),
    )
    names = [d[0] for d in rows.description]
    return [_paper_from_row(dict(zip(names, row, strict=True))) for row in rows]


def prune(store: Store, keep_days: int = KEEP_DAYS) -> int:
    """Drop vectors older than ``keep_days`` of papers no radar likes; how many went."""
    migrate(store)
    cutoff = (utcnow() - timedelta(days=keep_days)).isoformat()
    liked = "AND paper_id NOT IN (SELECT key FROM radar_entries WHERE kind = 'like')"
    keep_liked = liked if store.db["radar_entries"].exists() else ""
    with store.db.conn:
        cursor = store.db.conn.execute(f"DELETE FROM paper_embeddings WHERE created_at < ? {keep_liked}", (cutoff,))
    return cursor.rowcount


async def check_embeddings(config: Config) -> tuple[str, bool]:
    """`paperbot doctor`'s line: off, or whether the endpoint embeds one text now (one request, no retry)."""
    settings = EmbeddingSettings.from_config(config)
    if settings is None:
        return "Embeddings: off (the radar ranks by words; set [radar] embeddings_base_url to add meaning)", True
    client = EmbeddingsClient(
        settings.base_url, settings.model, api_key=settings.api_key, timeout_s=min(settings.timeout_s, 10.0), retries=0
    )
    async with client:
        vectors = await client.embed(["paperbot doctor"])
    if vectors is None:
        return f"Embeddings: failed at {settings.base_url} with {settings.model} (the log says why)", False
    return f"Embeddings: OK at {settings.base_url} ({settings.model}, {len(vectors[0])} dimensions)", True


async def embed_new_papers(
    store: Store, config: Config, papers: Iterable[Paper], *, http: httpx.AsyncClient | None = None
) -> int:
    """Embed and cache the papers (and liked papers) that have no vector for the configured model yet;
    how many were stored. Nothing when embeddings are off; never raises (a failure is logged once and the
    papers stay ranked by their words). ``http``: a client to use (tests, a shared pool)."""
    settings = EmbeddingSettings.from_config(config)
    if settings is None:
        return 0
    try:
        migrate(store)
        wanted = list({p.id: p for p in papers}.values())
        cached = _cached_keys(store, wanted, settings.model)
        missing = [p for p in wanted if (p.id, p.version) not in cached]
        liked = [p for p in _liked_without_vector(store, settings.model) if p.id not in {m.id for m in missing}]
        missing = liked + missing  # the few liked ones first: every channel's likes compare against them
    except Exception:
        log.exception("embeddings: could not read the cache")
        return 0
    if not missing:
        return 0
    stored = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.timeout_s
    client = EmbeddingsClient(
        settings.base_url, settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s, http=http
    )
    meter = embedding_meter(settings.base_url, settings.model)
    async with client:
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start : start + BATCH_SIZE]
            texts = [paper_text(p)[:MAX_TEXT_CHARS] for p in batch]
            reservation = reserve_embedding(config, store, meter, texts, hold_s=settings.timeout_s)
            if reservation is None:
                log.info("embeddings: today's LLM budget is spent; %d papers wait", len(missing) - start)
                break
            with reservation:  # released if no request was answered
                spent = client.tokens
                vectors = await client.embed(texts, deadline)
                if vectors is not None:
                    # A local server may not say: then the usual four characters a token.
                    reported = client.tokens - spent or sum(len(text) for text in texts) // 4
                    reservation.settle(reported, 0, outcome="ok")
            if vectors is None:
                break  # logged by the client; the rest wait for the next feed
            try:
                _store_vectors(store, settings.model, batch, vectors)
            except Exception:
                log.exception("embeddings: could not store vectors")
                break
            stored += len(batch)
    if stored:
        # Corpora made before these vectors existed would rank without them until the listings change.
        store.derived.clear()
        log.info("embeddings: %d papers embedded with %s (%d tokens)", stored, settings.model, client.tokens)
        try:
            prune(store)
        except Exception:
            log.exception("embeddings: could not prune old vectors")
    return stored


def vector_lookup(store: Store) -> VectorLookup | None:
    """Where a ranking corpus reads cached vectors, or None when there are none at all.

    All vectors one corpus compares come from one model: the model most of its candidates have vectors
    of (after a change of ``embeddings_model`` the old and new never meet in one cosine)."""
    try:
        present = (
            store.db.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'paper_embeddings')"
            ).fetchone()[0]
            and store.db.conn.execute("SELECT EXISTS (SELECT 1 FROM paper_embeddings)").fetchone()[0]
        )
    except sqlite3.Error:
        return None
    if not present:
        return None
    chosen: list[str] = []

    def lookup(papers: Sequence[Paper]) -> Mapping[str, Vector]:
        try:
            rows = _read_vectors(store, papers)
        except Exception:
            log.exception("embeddings: could not read cached vectors")
            return {}
        if not chosen:
            counts: dict[str, int] = {}
            for _, model, _ in rows:
                counts[model] = counts.get(model, 0) + 1
            if not counts:
                return {}
            chosen.append(max(sorted(counts), key=counts.__getitem__))
        return {pid: vector for pid, model, vector in rows if model == chosen[0]}

    return lookup


def _read_vectors(store: Store, papers: Sequence[Paper]) -> list[tuple[str, str, Vector]]:
    """(paper id, model, vector) of the cached vectors of these papers' current versions."""
    import numpy as np  # see the note on the imports above

    versions = {p.id: p.version for p in papers}
    ids = list(versions)
    found: list[tuple[str, str, Vector]] = []
    for start in range(0, len(ids), _QUERY_CHUNK):
        chunk = ids[start : start + _QUERY_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = store.db.conn.execute(
            f"SELECT paper_id, version, model, dimension, vector FROM paper_embeddings WHERE paper_id IN ({marks})",
            chunk,
        )
        for pid, version, model, dimension, blob in rows:
            if versions.get(pid) != version or not isinstance(blob, bytes) or len(blob) != 4 * dimension:
                continue
            found.append((str(pid), str(model), np.frombuffer(blob, dtype=np.float32)))
    return found
