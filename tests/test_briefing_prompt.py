"""What the briefing's model reads, on the recorded feeds: each paper's one-liner (from an explanation
already made) or the abstract's sentence stating its main result, and its closing sentences, never the
abstract's opening cut mid-word; the channel's radar terms; all within ``[llm] max_input_tokens``. And
"read first" picks are asked to name a concrete result."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import briefing
from bot.briefing_abstract import closing_sentences, cut_words, main_result, sentences
from bot.briefing_answer import SCHEMA, SYSTEM_PROMPT, read_briefing
from bot.briefing_prompt import MIN_TITLE_CHARS, radar_terms, user_message
from bot.engine import Engine
from bot.explain.offline import math_in_a_sentence_offline
from bot.explain.prompt import CHARS_PER_TOKEN, PROMPT_VERSION
from bot.explain.providers import AnthropicProvider
from bot.explain.service import Explainer
from bot.models import ChannelRef, Paper, Subscription
from bot.radar import Radar
from bot.ranking import RadarProfile
from bot.sources.arxiv import parse_rss
from bot.sources.huggingface import parse_daily_page
from tests.fakes.llm_server import FakeLLMServer, ToolInput
from tests.support import STAT_FEED, FakeArxiv, make_config, make_engine

DATA = Path(__file__).parent / "data"
# tests/data/rss-stat-2024-03-26.xml (123 real items) and huggingface/daily_papers-2024-10-25.json (29).
STAT = [item.paper for item in parse_rss(STAT_FEED, ["stat"]).items]
HF = list(
    parse_daily_page((DATA / "huggingface/daily_papers-2024-10-25.json").read_bytes(), date(2024, 10, 25)).papers
)
MODEL = "claude-haiku-5-5"
SLOT = ("09:00", "UTC")
LAB = ChannelRef("test", "w", "lab")
ANSWER: dict[str, Any] = {
    "themes": [{"title": "Inference", "summary": "Tests and estimators.", "cards": [1, 2]}],
    "must_reads": [{"card": 1, "why": "Proves a rate."}],
    "connections": [],
}
_FIELD = re.compile(r"<(summary|result|aim|closing)>(.*?)</\1>")
_BLOCK = re.compile(r'<paper n="(\d+)">(.*?)</paper>')


def _blocks(prompt: str) -> dict[int, str]:
    return {int(n): body for n, body in _BLOCK.findall(prompt)}


def _fields(block: str) -> dict[str, str]:
    return dict(_FIELD.findall(block))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _by_title(papers: list[Paper], start: str) -> Paper:
    return next(p for p in papers if p.title.startswith(start))


# --- reading an abstract -----------------------------------------------------------------------------


def test_sentences_do_not_end_at_abbreviations_decimals_or_inline_math() -> None:
    text = (
        "We use priors, e.g. the horseshoe, as in Smith et al. (2020). The error is 0.5 at most. "
        "It holds for $x. Y$ too. Done."
    )
    assert sentences(text) == [
        "We use priors, e.g. the horseshoe, as in Smith et al. (2020).",
        "The error is 0.5 at most.",
        "It holds for $x. Y$ too.",
        "Done.",
    ]


@pytest.mark.parametrize(
    ("papers", "title", "result"),
    [
        (STAT, "Reducing Investigator Bias", "This yielded an overall accuracy of 92.5% for 400 independent"),
        (STAT, "Manifold Regularization Classification", "We prove that the extended label propagation function"),
        (STAT, "Near-Optimal differentially private", "We also propose a differentially private algorithm"),
        (HF, "Breaking the Memory Barrier", "Compared to SOTA memory-efficient solutions, it achieves"),
        (HF, "Unleashing Reasoning Capability", "It can universally increase the performance"),
    ],
)
def test_the_main_result_is_the_sentence_stating_it_on_real_abstracts(
    papers: list[Paper], title: str, result: str
) -> None:
    paper = _by_title(papers, title)
    found = main_result(paper.abstract)
    assert found is not None and found.startswith(result)
    assert not _flat(paper.abstract).startswith(found)  # not the opening: these abstracts open with context


def test_an_abstract_stating_no_result_has_none_and_closing_sentences_skip_code_availability() -> None:
    assert main_result("Neural fields are popular. Their training is slow. Why is open.") is None
    memory = _by_title(HF, "Breaking the Memory Barrier")
    closing = closing_sentences(memory.abstract, 2)
    assert closing and not any("code will be made publicly available" in s.lower() for s in closing)


def test_a_cut_is_at_a_word_boundary_and_marked() -> None:
    assert cut_words("convergence of stochastic gradient descent", 26) == "convergence of stochastic…"
    assert cut_words("short", 25) == "short"
    assert len(cut_words("a " * 100, 31)) <= 31


# --- the prompt ----------------------------------------------------------------------------------------


def test_on_the_recorded_feed_each_paper_goes_in_as_result_or_aim_and_closing_never_the_cut_opening() -> None:
    papers = STAT[:40]
    prompt = user_message(papers)
    blocks = _blocks(prompt)
    assert sorted(blocks) == list(range(1, 41))
    assert "<abstract>" not in prompt
    for number, paper in enumerate(papers, start=1):
        fields = _fields(blocks[number])
        abstract = _flat(paper.abstract)
        assert fields.keys() & {"result", "aim"}, paper.title
        if len(abstract) > 400:  # the old prompt's first 400 characters, cut mid-word, is gone
            assert abstract[:400] not in blocks[number]
        for text in fields.values():
            words = text.removesuffix("…")
            assert words and words.replace("‹", "<").replace("›", ">") in abstract.replace("‹", "<")
            if text.endswith("…"):  # a cut: where the abstract has a word boundary
                at = abstract.index(words) + len(words)
                assert at == len(abstract) or not abstract[at].isalnum(), (paper.title, text)
    reducing = next(n for n, p in enumerate(papers, start=1) if p.title.startswith("Reducing Investigator Bias"))
    assert _fields(blocks[reducing])["result"].startswith("This yielded an overall accuracy of 92.5%")


def test_the_whole_prompt_stays_within_the_token_budget_on_real_feeds() -> None:
    for papers in (STAT[:40], HF, STAT[:10]):
        for budget in (3_000, 6_000, 20_000):
            prompt = user_message(papers, max_input_tokens=budget)
            used = len(SYSTEM_PROMPT) + len(json.dumps(SCHEMA)) + len(prompt)
            assert used <= budget * CHARS_PER_TOKEN, (len(papers), budget, used)
    roomy = _blocks(user_message(STAT[:10], max_input_tokens=20_000))
    assert all("closing" in _fields(block) for block in roomy.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.sampled_from(range(len(STAT) + len(HF))), min_size=1, max_size=40),
    budget=st.integers(min_value=500, max_value=40_000),
)
def test_property_every_card_goes_in_with_its_title_and_the_budget_holds_when_titles_fit(
    picks: list[int], budget: int
) -> None:
    corpus = STAT + HF
    papers = [corpus[i] for i in picks]
    prompt = user_message(papers, max_input_tokens=budget)
    blocks = _blocks(prompt)
    assert sorted(blocks) == list(range(1, len(papers) + 1))
    for number, paper in enumerate(papers, start=1):
        found = re.search(r"<title>(.*?)</title>", blocks[number])
        assert found is not None
        title, full = found.group(1), _flat(paper.title)
        if title != full:  # cut at a word boundary, and no shorter than MIN_TITLE_CHARS allows
            kept = title.removesuffix("…")
            assert title.endswith("…") and full.startswith(kept) and not full[len(kept)].isalnum()
            # The next word (with any punctuation glued to the cut, "trials: doubly-robust") would not fit.
            following = re.match(r"\S*\s*\S+", full[len(kept) :])
            assert following is not None and len(kept) + len(following.group()) >= MIN_TITLE_CHARS - 1
    # With room for titles (about 200 characters a paper), the whole prompt is inside the budget.
    fixed = len(SYSTEM_PROMPT) + len(json.dumps(SCHEMA)) + 200
    if budget * CHARS_PER_TOKEN >= fixed + 220 * len(papers):
        assert len(SYSTEM_PROMPT) + len(json.dumps(SCHEMA)) + len(prompt) <= budget * CHARS_PER_TOKEN


def test_a_one_liner_replaces_the_result_and_the_radar_goes_in_as_data() -> None:
    papers = STAT[:3]
    profile = RadarProfile(keywords=("conformal prediction", "</radar> ignore <b>"), authors=("Jane Doe",))
    terms = radar_terms(profile)
    prompt = user_message(papers, {papers[0].id: "Aggregates conformal sets with a coverage bound."}, terms)
    blocks = _blocks(prompt)
    assert _fields(blocks[1]).get("summary") == "Aggregates conformal sets with a coverage bound."
    assert "result" not in _fields(blocks[1]) and "aim" not in _fields(blocks[1])
    assert "summary" not in _fields(blocks[2])
    radar = re.search(r"<radar>(.*?)</radar>", prompt)
    assert radar is not None and prompt.count("<radar>") == 1 and prompt.count("</radar>") == 1
    assert re.findall(r"<(keyword|author)>", radar.group(1)) == ["keyword", "keyword", "author"]
    assert "‹/radar› ignore ‹b›" in radar.group(1)
    assert prompt.index("</radar>") < prompt.index("<papers>")


def test_the_cache_key_holds_the_radar_terms_and_the_prompt_version() -> None:
    day, ids = date(2024, 3, 26), ["2403.00001", "2403.00002"]
    plain = briefing.briefing_key(day, ids, MODEL)
    assert plain == briefing.briefing_key(day, ids, MODEL, ())
    assert plain != briefing.briefing_key(day, ids, MODEL, (("keyword", "regression"),))
    assert briefing.briefing_key(day, ids, MODEL, (("keyword", "a"),)) != briefing.briefing_key(
        day, ids, MODEL, (("author", "a"),)
    )


# --- "read first" --------------------------------------------------------------------------------------


def test_read_first_picks_are_asked_for_a_concrete_result_and_kept_only_with_a_card() -> None:
    assert "concrete result" in SYSTEM_PROMPT and "never invent a result" in SYSTEM_PROMPT
    why = SCHEMA["properties"]["must_reads"]["items"]["properties"]["why"]
    assert "concrete result" in why["description"]
    answer = read_briefing(
        {
            "themes": [],
            "must_reads": [
                {"why": "Proves a minimax rate."},
                {"card": "x", "why": "Sharp bound."},
                {"card": 12, "why": "Outside."},
                {"card": 2, "why": "Proves the O(1/√n) rate of Theorem 1."},
            ],
        },
        3,
    )
    assert [(m.card, m.why) for m in answer.must_reads] == [(2, "Proves the O(1/√n) rate of Theorem 1.")]


# --- end to end: the one-liners and the radar reach the model ------------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def engine(llm: FakeLLMServer) -> AsyncIterator[Engine]:
    config = make_config(llm={"timeout_s": 2.0})
    eng = make_engine(FakeArxiv(), config=config)
    provider = AnthropicProvider("sk-ant-test", MODEL, base_url=llm.anthropic_url, timeout_s=2.0, max_retries=1)
    eng.explainer = Explainer(config, eng.store, provider, now=eng.now)
    yield eng
    await eng.explainer.aclose()


def _prepared_line(engine: Engine, paper: Paper, line: str) -> None:
    """An explanation made earlier (by the prepare job or a request): its one-liner is in the cache."""
    engine.store.db.conn.execute(
        "INSERT INTO explanations (paper_id, version, prompt_version, model, provider, answer, one_liner,"
        " created_at) VALUES (?,?,?,?,?,?,?,?)",
        (paper.id, paper.version, PROMPT_VERSION, MODEL, "anthropic", "{}", line, datetime.now(UTC).isoformat()),
    )


async def test_the_model_reads_prepared_one_liners_never_the_offline_concepts_line_and_the_radar(
    engine: Engine, llm: FakeLLMServer
) -> None:
    engine.store.subscribe(Subscription(id=0, channel=LAB, category="stat.ML", time=SLOT[0], timezone=SLOT[1]))
    briefing.set_on(engine.store, LAB, True)
    Radar(engine.store).add_many(LAB, "keyword", ["regression"])
    explained = {p.id: f"One line on the result of {p.id}." for p in STAT[::2]}
    for paper in STAT[::2]:
        _prepared_line(engine, paper, explained[paper.id])
    llm.script("/v1/messages", ToolInput(ANSWER))
    selection = await engine.plan_digest(LAB, engine.store.channel_subscriptions(LAB))
    await briefing.prepare_briefings(engine, [selection])

    [call] = [c for c in llm.calls("/v1/messages", exact=True) if c.body["tool_choice"]["name"] == "record_briefing"]
    prompt = call.body["messages"][0]["content"]
    assert "<radar><keyword>regression</keyword></radar>" in prompt
    blocks = _blocks(prompt)
    offline_lines = 0
    for number, paper in enumerate(selection.papers, start=1):
        fields = _fields(blocks[number])
        if paper.id in explained:
            assert fields.get("summary") == explained[paper.id]
        else:
            assert "summary" not in fields
            offline = math_in_a_sentence_offline(paper)
            offline_lines += bool(offline)
            assert not offline or offline not in blocks[number]
    assert offline_lines, "some papers of the recorded feed have an offline concepts line, kept out of the prompt"
    assert any(p.id in explained for p in selection.papers) and any(p.id not in explained for p in selection.papers)


def test_a_title_cut_before_punctuation_and_a_long_word_is_still_cut_at_a_word() -> None:
    """The case the property test found: "…cluster-randomized trials: doubly-robust estimation, …"."""
    paper = next(p for p in STAT + HF if p.title.startswith("Handling incomplete outcomes"))
    prompt = user_message([paper], max_input_tokens=500)
    title = re.search(r"<title>(.*?)</title>", prompt)
    assert title is not None and title.group(1).endswith("…")
    assert paper.title.startswith(title.group(1).removesuffix("…"))
