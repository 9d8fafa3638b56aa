"""Optional paper embeddings: the OpenAI-compatible client against the fake LLM server (batches, keys,
retries, every malformed answer refused and logged once), the per-version cache, and the ranking they
feed: a liked paper lifts a paper close in meaning that shares none of its distinctive words only with
vectors, on the recorded stat feed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace

import httpx
import numpy as np
import pytest

from bot.config import Config, validate
from bot.digest import select_digest
from bot.embeddings import (
    BATCH_SIZE,
    EmbeddingsClient,
    EmbeddingSettings,
    embed_new_papers,
    prune,
    vector_lookup,
)
from bot.errors import ConfigError
from bot.models import ChannelRef, Paper, Subscription
from bot.radar import Radar
from bot.store import Store
from tests.fakes.llm_server import HANG, FakeLLMServer, openai_error, openai_rate_limited
from tests.support import FakeArxiv, make_engine
from tests.test_ranking import BY_ID, CONFORMAL, PAPERS

LIKED = "2403.15527"  # "Conformal online model aggregation"
# "Predictive Inference in Multi-environment Scenarios": conformal prediction by another name, sharing
# none of the liked paper's distinctive words (its words alone do not lift it: tests/test_ranking.py).
KIN = "2403.16336"
# "Dual Accuracy-Quality-Driven Neural Network for Prediction Interval Generation": prediction intervals,
# the same purpose in other words; among stat.ML's candidates its words do not lift it either.
INTERVALS = "2212.06370"
CHANNEL = ChannelRef("test", "w", "c1")
SUB = Subscription(id=0, channel=CHANNEL, category="stat.ML", include_replacements=True)


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(hang_s=3.0) as server:
        yield server


def _config(base_url: str, env: dict[str, str] | None = None, **radar: object) -> Config:
    values = validate({"radar": {"embeddings_base_url": base_url, "embeddings_timeout_s": 5, **radar}})
    return Config(values=values, source="test", env=env or {})


def _store() -> Store:
    store = Store(":memory:")
    store.migrate()
    store.save_papers(PAPERS)
    return store


def _topical(text: str, topic: frozenset[str] = frozenset(CONFORMAL)) -> list[float]:
    """The fake model: papers about calibrated prediction sets (``topic``, found by their titles) point one
    way, every other paper elsewhere (a direction of its own, orthogonal to the first)."""
    title = text.split("\n\n", 1)[0]
    if title in {BY_ID[pid].title for pid in topic}:
        return [1.0, 0.05 * (len(title) % 7), 0.0, 0.0]
    return [0.0, 0.0, float(len(title) % 5 + 1), float(len(title) % 3)]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.embeddings" and r.levelno >= logging.WARNING]


# --- the client ----------------------------------------------------------------------------------


async def test_texts_are_embedded_in_batches_as_unit_vectors_with_the_key(llm: FakeLLMServer) -> None:
    llm.openai_key = "sk-emb"
    texts = [f"paper {n}" for n in range(BATCH_SIZE * 2 + 3)]
    async with EmbeddingsClient(llm.openai_url, "text-embedding-3-small", api_key="sk-emb") as client:
        vectors = await client.embed(texts)
    assert vectors is not None and len(vectors) == len(texts)
    assert all(v.dtype == np.float32 and abs(float(np.linalg.norm(v)) - 1) < 1e-5 for v in vectors)
    calls = llm.calls("/v1/embeddings")
    assert [len(c.body["input"]) for c in calls] == [BATCH_SIZE, BATCH_SIZE, 3]
    assert calls[0].body["model"] == "text-embedding-3-small" and client.tokens > 0
    # The same text, the same vector, wherever it was in the batch.
    again = await EmbeddingsClient(llm.openai_url, "m", api_key="sk-emb").embed([texts[-1]])
    assert again is not None and np.array_equal(again[0], vectors[-1])


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"object": "list", "data": []}, "no vector"),
        ({"object": "list"}, "no data"),
        ([1, 2], "not an object"),
        ({"data": [{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.1, 0.2, 0.3]}]}, "dimensions"),
        (b'{"data": [{"index": 0, "embedding": [NaN, 1.0]}, {"index": 1, "embedding": [1.0, 1.0]}]}', "NaN"),
        (b'{"data": [{"index": 0, "embedding": [1e400, 1.0]}, {"index": 1, "embedding": [1.0, 1.0]}]}', "infinite"),
        ({"data": [{"index": 0, "embedding": ["0.1", 1]}, {"index": 1, "embedding": [1, 1]}]}, "strings"),
        ({"data": [{"index": 0, "embedding": [True, 1]}, {"index": 1, "embedding": [1, 1]}]}, "booleans"),
        ({"data": [{"index": 0, "embedding": [0, 0]}, {"index": 1, "embedding": [1, 1]}]}, "all zeros"),
        ({"data": [{"index": 0, "embedding": [1, 1]}, {"index": 0, "embedding": [1, 1]}]}, "same index"),
        ({"data": [{"index": 0, "embedding": [[1], [1]]}, {"index": 1, "embedding": [1, 1]}]}, "nested"),
        ({"data": [{"index": 0, "embedding": [0.5] * 9000}, {"index": 1, "embedding": [0.5] * 9000}]}, "huge"),
        (b"<html>Bad gateway</html>", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "too deep"),
        (b'{"data": [' + b"0.1," * 2_600_000 + b"0.1]}", "10 MB"),
    ],
)
async def test_a_malformed_answer_gives_no_vectors_and_one_warning(
    llm: FakeLLMServer, caplog: pytest.LogCaptureFixture, body: object, what: str
) -> None:
    llm.script("/v1/embeddings", (200, body))
    with caplog.at_level(logging.DEBUG, logger="bot.embeddings"):
        vectors = await EmbeddingsClient(llm.openai_url, "m", retries=0).embed(["a", "b"])
    assert vectors is None, what
    assert len(_warnings(caplog)) == 1, what


async def test_a_huge_answer_without_a_length_is_cut_off_while_read(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):  # a gigabyte, if it were all read
            sent.append(1)
            yield b"1" * 1_000_000

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    async with httpx.AsyncClient(transport=transport) as http:
        vectors = await EmbeddingsClient("http://embed.test/v1", "m", http=http).embed(["a"])
    assert vectors is None and len(sent) < 20 and len(_warnings(caplog)) == 1


async def test_a_rate_limit_is_waited_out_as_the_server_asks(llm: FakeLLMServer) -> None:
    llm.script("/v1/embeddings", openai_rate_limited(retry_after="0.2"), openai_rate_limited(retry_after="0"))
    started = time.monotonic()
    vectors = await EmbeddingsClient(llm.openai_url, "m").embed(["a"])
    assert vectors is not None and llm.count("/v1/embeddings") == 3
    assert time.monotonic() - started >= 0.2


async def test_what_cannot_pass_is_not_retried(llm: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    quota = openai_error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota", "0")
    llm.script("/v1/embeddings", quota)
    assert await EmbeddingsClient(llm.openai_url, "m").embed(["a"]) is None
    llm.openai_key = "right"
    assert await EmbeddingsClient(llm.openai_url, "m", api_key="wrong").embed(["a"]) is None
    assert llm.count("/v1/embeddings") == 2
    messages = [r.getMessage() for r in _warnings(caplog)]
    assert len(messages) == 2 and "insufficient_quota" in messages[0] and "401" in messages[1]
    assert not any("wrong" in m for m in messages)  # the key never reaches a log


async def test_a_silent_server_is_given_up_on_in_time(llm: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    llm.script("/v1/embeddings", HANG, HANG, HANG)
    assert await EmbeddingsClient(llm.openai_url, "m", timeout_s=0.4).embed(["a"]) is None
    # Cut at the time allowed, with no retry after it: waiting out each 3 s silence instead would end in
    # "connection failed" (the fake closes a silent connection) after three requests.
    (warning,) = _warnings(caplog)
    assert "within the time allowed" in warning.getMessage() or "timed out" in warning.getMessage()
    assert llm.count("/v1/embeddings") == 1


async def test_an_unreachable_endpoint_is_logged_once() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        client = EmbeddingsClient("http://embed.test/v1", "m", http=http, timeout_s=0.5)
        assert await client.embed(["a"]) is None


# --- settings --------------------------------------------------------------------------------------


def test_embeddings_are_off_unless_an_endpoint_is_configured() -> None:
    assert EmbeddingSettings.from_config(Config(values=validate({}), source="t", env={})) is None
    with pytest.raises(ConfigError, match="embeddings_base_url"):
        validate({"radar": {"embeddings_base_url": "ftp://example.org"}})
    with pytest.raises(ConfigError, match="embeddings_timeout_s"):
        validate({"radar": {"embeddings_timeout_s": 0}})


def test_the_openai_key_goes_to_openai_alone() -> None:
    env = {"OPENAI_API_KEY": "sk-chat"}
    openai = EmbeddingSettings.from_config(_config("https://api.openai.com/v1", env))
    other = EmbeddingSettings.from_config(_config("http://127.0.0.1:11434/v1", env))
    own = EmbeddingSettings.from_config(_config("http://127.0.0.1:11434/v1", {**env, "EMBEDDINGS_API_KEY": "e"}))
    assert openai is not None and openai.api_key == "sk-chat"
    assert other is not None and other.api_key is None
    assert own is not None and own.api_key == "e"


# --- the cache -------------------------------------------------------------------------------------


async def test_new_papers_are_embedded_once_per_version_and_model(llm: FakeLLMServer) -> None:
    store = _store()
    config = _config(llm.openai_url)
    assert await embed_new_papers(store, config, PAPERS) == len(PAPERS)
    requests = llm.count("/v1/embeddings")
    assert requests == -(-len(PAPERS) // BATCH_SIZE)
    assert await embed_new_papers(store, config, PAPERS) == 0 and llm.count("/v1/embeddings") == requests
    revised = replace(BY_ID[LIKED], version=BY_ID[LIKED].version + 1, abstract="A new abstract.")
    store.save_papers([revised])
    assert await embed_new_papers(store, config, [revised]) == 1
    assert await embed_new_papers(store, _config(llm.openai_url, embeddings_model="other"), [revised]) == 1
    lookup = vector_lookup(store)
    assert lookup is not None
    found = lookup([revised, BY_ID[KIN]])
    assert set(found) == {revised.id, KIN} and all(v.dtype == np.float32 for v in found.values())


async def test_with_embeddings_off_or_failing_nothing_is_stored_and_nothing_raised(
    llm: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store()
    assert await embed_new_papers(store, Config(values=validate({}), source="t", env={}), PAPERS) == 0
    assert llm.count() == 0 and vector_lookup(store) is None
    llm.script("/v1/embeddings", (200, {"data": "nonsense"}))
    assert await embed_new_papers(store, _config(llm.openai_url), PAPERS) == 0
    assert llm.count("/v1/embeddings") == 1 and len(_warnings(caplog)) == 1  # the rest wait for the next feed


async def test_the_time_allowed_bounds_a_whole_feed(caplog: pytest.LogCaptureFixture) -> None:
    # The first batch is answered, the second meets silence (longer than the test would ever wait): the
    # feed's one deadline ends it, with no retry. Were the time allowed counted per request or per batch,
    # the retry would get the fake's answer and every paper would be stored.
    first = {"data": [{"index": n, "embedding": [1.0, float(n)]} for n in range(BATCH_SIZE)]}
    with FakeLLMServer(hang_s=60) as llm:
        llm.script("/v1/embeddings", (200, first, {}), HANG)
        stored = await embed_new_papers(_store(), _config(llm.openai_url, embeddings_timeout_s=1.0), PAPERS)
        assert llm.count("/v1/embeddings") == 2
    assert len(PAPERS) > BATCH_SIZE and stored == BATCH_SIZE  # two batches; the first one kept
    (warning,) = _warnings(caplog)
    assert "within the time allowed" in warning.getMessage() or "timed out" in warning.getMessage()


async def test_a_liked_paper_without_a_vector_is_embedded_with_the_next_feed(llm: FakeLLMServer) -> None:
    store = _store()
    Radar(store).like(CHANNEL, LIKED)
    assert await embed_new_papers(store, _config(llm.openai_url), [BY_ID[KIN]]) == 2
    lookup = vector_lookup(store)
    assert lookup is not None and set(lookup([BY_ID[LIKED], BY_ID[KIN]])) == {LIKED, KIN}


async def test_old_vectors_are_pruned_except_liked_papers(llm: FakeLLMServer) -> None:
    store = _store()
    Radar(store).like(CHANNEL, LIKED)
    await embed_new_papers(store, _config(llm.openai_url), PAPERS[1:6])
    store.db.execute("UPDATE paper_embeddings SET created_at = '2000-01-01T00:00:00+00:00'")
    assert prune(store) == 5  # six stored, the liked one kept
    lookup = vector_lookup(store)
    assert lookup is not None and set(lookup(PAPERS)) == {LIKED}


def test_one_corpus_compares_vectors_of_one_model() -> None:
    store = _store()
    from bot.embeddings import _store_vectors, migrate

    migrate(store)
    unit = np.array([1.0, 0.0], dtype=np.float32)
    _store_vectors(store, "old", PAPERS[:2], [unit, unit])
    _store_vectors(store, "new", PAPERS[:3], [unit, unit, unit])
    _store_vectors(store, "other-dim", PAPERS[3:4], [np.ones(3, dtype=np.float32) / np.sqrt(3)])
    lookup = vector_lookup(store)
    assert lookup is not None
    assert set(lookup(PAPERS)) == {p.id for p in PAPERS[:3]}  # "new": most of the candidates
    assert set(lookup([PAPERS[3]])) == set()  # another model's vector is never mixed in


# --- ranking with and without vectors -------------------------------------------------------------


async def _digest(llm: FakeLLMServer, embedded: bool) -> list[tuple[str, str]]:
    """The channel's whole digest, (paper id, why) in ranked order, with or without vectors stored."""
    engine = make_engine(FakeArxiv())
    engine.store.subscribe(SUB)
    await engine.refresh(["stat.ML"])
    Radar(engine.store).like(CHANNEL, LIKED)
    if embedded:
        llm.embed = lambda text: _topical(text, frozenset(CONFORMAL | {INTERVALS}))
        papers = [p for pid in {p.id for p in PAPERS} if (p := engine.store.get_paper(pid)) is not None]
        assert await embed_new_papers(engine.store, _config(llm.openai_url), papers) == len(papers)
    selection = select_digest(engine.store, CHANNEL, [SUB], limit=0)
    why = dict(selection.why)
    return [(p.id, why.get(p.id, "")) for p in selection.papers]


async def test_a_liked_paper_lifts_a_paper_alike_in_meaning_only_with_vectors(llm: FakeLLMServer) -> None:
    words_only = await _digest(llm, embedded=False)
    with_vectors = await _digest(llm, embedded=True)
    others = CONFORMAL - {LIKED}
    like = f"like {LIKED}"
    # By words: the other conformal papers are lifted; the prediction-interval paper is not at all.
    assert {dict(words_only)[pid] for pid in others} == {like} and dict(words_only)[INTERVALS] == ""
    # With vectors: it comes up among the conformal papers, with the same why line.
    assert {pid for pid, _ in with_vectors[:5]} == others | {INTERVALS}
    assert {why for _, why in with_vectors[:5]} == {like}


def test_ranking_reads_cached_vectors_only_and_falls_back_to_words() -> None:
    from bot.ranking import Corpus, Like, RadarProfile, rank

    asked: list[int] = []
    vectors = {p.id: np.array(_topical(f"{p.title}\n\n{p.abstract}"), dtype=np.float32) for p in PAPERS}
    vectors = {pid: v / np.linalg.norm(v) for pid, v in vectors.items()}

    def lookup(papers: object) -> dict[str, np.ndarray]:
        asked.append(1)
        return {pid: v for pid, v in vectors.items() if pid != "2403.16871"}  # one candidate without

    profile = RadarProfile(likes=(Like(LIKED, 1.0),))
    ranked = rank(PAPERS, profile, [BY_ID[LIKED]], corpus=Corpus(PAPERS, lookup))
    lifted = {r.paper.id for r in ranked if r.score > 0}
    lexical = {r.paper.id for r in rank(PAPERS, profile, [BY_ID[LIKED]]) if r.score > 0}
    # Vectors add the kin paper, and keep what words found (2403.16871 has no vector: its words lift it).
    assert lifted == lexical | {KIN} and "2403.16871" in lexical and KIN not in lexical
    assert {r.paper.id for r in ranked[:4]} == CONFORMAL - {LIKED} and len(asked) == 1
    # A liked paper whose vector has another dimension compares by words alone.
    odd = Corpus(PAPERS, lambda papers: {LIKED: np.ones(3, dtype=np.float32)} if len(papers) == 1 else vectors)
    outside = replace(BY_ID[LIKED], id="2401.00001")
    odd_ranked = rank(PAPERS, RadarProfile(likes=(Like(outside.id, 1.0),)), [outside], corpus=odd)
    assert KIN not in {r.paper.id for r in odd_ranked if r.score > 0}


async def test_embedding_never_blocks_the_event_loop_for_long(llm: FakeLLMServer) -> None:
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await embed_new_papers(_store(), _config(llm.openai_url), PAPERS)
    ticker.cancel()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps, default=0) < 0.5


def test_liked_papers_outside_the_candidates_are_read_in_one_lookup() -> None:
    from bot.ranking import Corpus, Like, RadarProfile, top

    asked: list[list[str]] = []
    unit = np.array([1.0, 0.0], dtype=np.float32)

    def lookup(papers: Sequence[Paper]) -> dict[str, np.ndarray]:
        asked.append([p.id for p in papers])
        return {p.id: unit for p in papers}

    outside = [replace(BY_ID[LIKED], id=f"2401.0000{n}") for n in range(1, 6)]
    profile = RadarProfile(likes=tuple(Like(p.id, 1.0) for p in outside))
    corpus = Corpus(PAPERS, lookup)
    top(PAPERS, profile, outside, 5, corpus=corpus)
    top(PAPERS, profile, outside, 10, corpus=corpus)
    assert len(asked) == 2 and sorted(asked[1]) == sorted(p.id for p in outside)  # candidates, then the likes


# --- wired into the engine's refresh ------------------------------------------------------------------------


def _embedded(store: Store) -> int:
    return int(store.db.execute("SELECT count(*) FROM paper_embeddings").fetchone()[0])


async def test_a_scheduled_refresh_embeds_the_new_papers_before_returning(llm: FakeLLMServer) -> None:
    engine = make_engine(FakeArxiv(), config=_config(llm.openai_url))
    try:
        result = await engine.refresh(["stat"])
        assert result.fetched == ("stat",)
        listed = engine.store.db.execute("SELECT count(DISTINCT paper_id) FROM listings").fetchone()[0]
        assert _embedded(engine.store) == listed > 0
        asked = llm.count("/v1/embeddings")
        await engine.refresh(["stat"], force=True)  # the same papers again: nothing new to embed
        assert llm.count("/v1/embeddings") == asked
    finally:
        await engine.aclose()


async def test_an_interactive_refresh_embeds_in_the_background(llm: FakeLLMServer) -> None:
    engine = make_engine(FakeArxiv(), config=_config(llm.openai_url))
    try:
        await engine.refresh(["stat"], interactive=True)
        await asyncio.gather(*engine._background)
        assert _embedded(engine.store) > 0
    finally:
        await engine.aclose()


async def test_without_an_endpoint_a_refresh_asks_nothing(llm: FakeLLMServer) -> None:
    engine = make_engine(FakeArxiv())
    try:
        await engine.refresh(["stat"])
        assert llm.count("/v1/embeddings") == 0
    finally:
        await engine.aclose()


async def test_the_doctor_says_whether_the_endpoint_embeds(llm: FakeLLMServer) -> None:
    from bot.embeddings import check_embeddings
    from tests.support import make_config

    assert await check_embeddings(make_config()) == (
        "Embeddings: off (the radar ranks by words; set [radar] embeddings_base_url to add meaning)",
        True,
    )
    line, fine = await check_embeddings(_config(llm.openai_url))
    assert fine and line.startswith(f"Embeddings: OK at {llm.openai_url}") and "dimensions" in line
    llm.script("/v1/embeddings", openai_error(401, "Incorrect API key", "invalid_request_error", "invalid_api_key"))
    line, fine = await check_embeddings(_config(llm.openai_url))
    assert not fine and line.startswith("Embeddings: failed at")
