"""Several sources behind one engine: feeds resolve through the registry, each source's day batch is
stored like an arXiv announcement, and one paper seen by two sources is one card with both sources'
fields. Real source clients over HTTP against the local fakes (recorded Hugging Face and bioRxiv data)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.cards import make_card
from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.errors import UnknownCategoryError
from bot.models import ChannelRef, Subscription
from tests.fakes.biorxiv_server import FakePreprintServer, item, recorded_items
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.support import FEED_MORNING, FakeArxiv, api_body, make_config, make_engine

CHANNEL = ChannelRef("test", "w", "c")
HF_DAY = "2024-03-25"  # settled by the engine's clock (Tuesday 2024-03-26 09:00 UTC)
SHARED = "2403.15527"  # in the recorded stat feed of 2024-03-26


@pytest.fixture
def hf() -> Iterator[FakeHuggingFaceServer]:
    with FakeHuggingFaceServer() as server:
        entries = copy.deepcopy(recorded_daily_papers()[:3])
        entries[0]["paper"]["id"] = SHARED  # the top paper of the day is also in arXiv's stat listing
        entries[0]["paper"]["upvotes"] = 90
        entries[0]["paper"]["githubRepo"] = "https://github.com/example/conformal"
        entries[1]["paper"]["upvotes"] = 5
        server.set_day(HF_DAY, entries)
        yield server


@pytest.fixture
def preprints() -> Iterator[FakePreprintServer]:
    with FakePreprintServer() as server:
        server.add("biorxiv", [{**i, "date": "2024-03-25"} for i in recorded_items()])
        server.add("biorxiv", [item(1, "2024-3-25", "neuroscience"), item(2, "2024-3-25", "neuroscience", version="2")])
        yield server


def engine_for(hf: FakeHuggingFaceServer, preprints: FakePreprintServer | None = None) -> Engine:
    sections: dict[str, dict[str, object]] = {"sources.huggingface": {"api_url": hf.api_url}}
    if preprints is not None:
        sections["sources.biorxiv"] = {"api_url": preprints.base_url, "content_url": preprints.base_url}
    return make_engine(config=make_config(**sections))


def follow(engine: Engine, *feeds: str, **options: object) -> list[Subscription]:
    for feed in feeds:
        engine.store.subscribe(Subscription(id=0, channel=CHANNEL, category=feed, **options))  # type: ignore[arg-type]
    return engine.store.channel_subscriptions(CHANNEL)


@pytest.mark.parametrize("order", [("stat.ML", "hf"), ("hf", "stat.ML")])
async def test_a_paper_on_arxiv_and_hugging_face_is_one_card_with_both_sources_fields(
    hf: FakeHuggingFaceServer, order: tuple[str, str]
) -> None:
    engine = engine_for(hf)
    subs = follow(engine, *order)
    selection = await engine.plan_digest(CHANNEL, subs)
    ids = [p.id for p in selection.papers]
    assert ids.count(SHARED) == 1
    paper = next(p for p in selection.papers if p.id == SHARED)
    assert "stat.ML" in paper.categories and paper.source == "arxiv"  # arXiv's record, whoever came first
    assert paper.upvotes == 90 and paper.github_url == "https://github.com/example/conformal"
    card = make_card(paper)
    assert card.stats.startswith("▲ 90 upvotes")
    assert [link.label for link in card.links] == ["abs", "pdf", "code", "html", "hf"]
    assert selection.announced is not None and engine.digest_message(selection).header.startswith("Paper digest")
    engine.mark_posted(selection)
    # Posted once: neither source brings it back to this channel.
    again = await engine.plan_digest(CHANNEL, subs)
    assert SHARED not in [p.id for p in again.papers]
    await engine.aclose()


async def test_a_channel_floor_keeps_only_papers_with_enough_upvotes(hf: FakeHuggingFaceServer) -> None:
    engine = engine_for(hf)
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe hf min:10")
    assert reply.text.startswith("This channel now follows Hugging Face Daily Papers, at least 10 upvotes.")
    listed = await dispatch(engine, Invocation(channel=CHANNEL), "list")
    assert "• hf (Hugging Face Daily Papers), at least 10 upvotes: Digest at" in listed.text
    selection = await engine.plan_digest(CHANNEL, engine.store.channel_subscriptions(CHANNEL))
    assert [p.upvotes for p in selection.papers] == sorted((p.upvotes or 0 for p in selection.papers), reverse=True)
    assert all((p.upvotes or 0) >= 10 for p in selection.papers) and len(selection.papers) == 2
    changed = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe hf min:50")
    assert "Upvote floor changed: 10 → 50." in changed.text
    refused = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe cs.LG min:5")
    assert refused.is_error and "for Hugging Face only" in refused.text
    await engine.aclose()


async def test_a_biorxiv_subject_feed_posts_the_days_first_versions(
    hf: FakeHuggingFaceServer, preprints: FakePreprintServer
) -> None:
    engine = engine_for(hf, preprints)
    reply = await dispatch(engine, Invocation(channel=CHANNEL), "subscribe bioRxiv:Neuroscience")
    assert "now follows bioRxiv: Neuroscience" in reply.text
    [sub] = engine.store.channel_subscriptions(CHANNEL)
    assert sub.category == "biorxiv:neuroscience"
    selection = await engine.plan_digest(CHANNEL, [sub])
    titles = [p.title for p in selection.papers]
    assert "Persistent DNA methylation paper" in titles and "Synthetic preprint 1 on neuroscience" in titles
    assert "Synthetic preprint 2 on neuroscience" not in titles  # a revision is not news
    paper = selection.papers[0]
    assert paper.id.startswith("10.1101/") and paper.url.startswith("https://www.biorxiv.org/content/10.1101/")
    assert str(selection.announced) == "2024-03-25"
    await engine.aclose()


async def test_feeds_and_ids_of_every_source_resolve_with_did_you_mean(hf: FakeHuggingFaceServer) -> None:
    engine = engine_for(hf)
    assert engine.sources.resolve_feed("HF").name == "hf"
    assert engine.sources.resolve_feed("medrxiv:Epidemiology").name == "medrxiv:epidemiology"
    with pytest.raises(UnknownCategoryError, match="biorxiv:bioinformatics"):
        engine.sources.resolve_feed("biorxiv:bioinfomatics")
    with pytest.raises(UnknownCategoryError, match="Other feeds: hf, biorxiv, medrxiv"):
        engine.sources.resolve_feed("cs.LF")
    assert engine.sources.parse_ref("https://huggingface.co/papers/1605.08386").key == "1605.08386"
    assert engine.sources.parse_ref("doi:10.1101/2024.12.31.630767").key == "10.1101/2024.12.31.630767"
    await engine.aclose()


async def test_explain_takes_a_hugging_face_link_and_a_preprint_doi(
    hf: FakeHuggingFaceServer, preprints: FakePreprintServer
) -> None:
    fake = FakeArxiv(api={"1605.08386": api_body("id_1605.08386_s0_m100_199195aa31ad.json")})
    sections = {
        "sources.huggingface": {"api_url": hf.api_url},
        "sources.biorxiv": {"api_url": preprints.base_url, "content_url": preprints.base_url},
    }
    engine = make_engine(fake, config=make_config(**sections))
    paper, reply = await engine.explain("https://huggingface.co/papers/1605.08386")
    assert paper.id == "1605.08386" and paper.categories  # arXiv's full record
    assert reply.explanation is not None and reply.explanation.source == "offline"
    paper, reply = await engine.explain("https://doi.org/10.1101/2024.12.31.630767")
    assert paper.source == "biorxiv" and paper.title == "Persistent DNA methylation paper"
    assert reply.cards[0].links[0].url == "https://www.biorxiv.org/content/10.1101/2024.12.31.630767v1"
    await engine.aclose()


def test_the_cli_previews_a_hugging_face_day_as_json(tmp_path: object, hf: FakeHuggingFaceServer) -> None:
    import json
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from bot.sources.huggingface import settled_day

    day = settled_day(datetime.now(UTC), 6)
    entries = copy.deepcopy(recorded_daily_papers()[:2])
    hf.set_day(day.isoformat(), entries)
    folder = Path(str(tmp_path))
    config = folder / "c.toml"
    config.write_text(f'[database]\npath = "{folder / "p.db"}"\n[sources.huggingface]\napi_url = "{hf.api_url}"\n')
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG" and not k.endswith(("_TOKEN", "_API_KEY"))}
    argv = [sys.executable, "-m", "bot", "digest", "--category", "HF", "--json", "--config", str(config)]
    root = Path(__file__).parent.parent
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=root)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["categories"] == ["hf"] and data["announced"] == day.isoformat() and data["stale"] == []
    first = data["papers"][0]
    assert first["source"] == "huggingface" and first["upvotes"] == entries[0]["paper"]["upvotes"]
    assert first["id"] == entries[0]["paper"]["id"] and "github_url" in first and first["doi"] is None
    bad = subprocess.run(
        [*argv[:5], "biorxiv:bioinfomatics", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=root,
    )
    assert bad.returncode == 2 and "Did you mean biorxiv:bioinformatics?" in bad.stderr


async def test_status_shows_every_sources_feeds_and_what_went_wrong(
    hf: FakeHuggingFaceServer, preprints: FakePreprintServer
) -> None:
    engine = engine_for(hf, preprints)
    subs = follow(engine, "hf", "biorxiv:neuroscience")
    await engine.plan_digest(CHANNEL, subs)
    engine.store.record_fetch_error(["biorxiv:neuroscience"], "bioRxiv/medRxiv API is not answering (HTTP 503)")
    text = (await dispatch(engine, Invocation(channel=CHANNEL), "status")).text
    assert "This channel follows 2 feeds." in text
    assert "• hf (Hugging Face): 3 papers, list of 2024-03-25" in text
    assert "• biorxiv:neuroscience (bioRxiv): 2 papers, list of 2024-03-25" in text
    assert "last try failed" in text and "HTTP 503" in text
    await engine.aclose()


async def test_a_failing_source_holds_back_only_its_own_feeds(hf: FakeHuggingFaceServer) -> None:
    """Hugging Face answers 503 for a while: the channel's arXiv papers are posted on time, the slot is
    retried, and the retry posts Hugging Face's papers, the paper both sources list only once."""
    from bot.scheduler import DigestScheduler
    from bot.sources.huggingface import HuggingFaceSource
    from bot.sources.registry import ArxivSource, SourceRegistry
    from tests.test_delivery import Platform

    clock = [FEED_MORNING]
    engine = make_engine(config=make_config(**{"sources.huggingface": {"api_url": hf.api_url}}), now=lambda: clock[0])
    quick = HuggingFaceSource(hf.api_url, retries=0, min_interval_s=0)
    engine.sources = SourceRegistry([quick, *engine.sources.sources[1:-1], ArxivSource(engine.arxiv)])
    follow(engine, "stat.ML", "hf", time="09:00", timezone="UTC")
    platform = Platform()
    scheduler = DigestScheduler(engine, {"test": platform}, now=lambda: clock[0], retry_delay_s=3600)
    scheduler.start()
    hf.script("/api/daily_papers", (503, "busy"))
    await scheduler.run_slot(("09:00", "UTC"))
    [(_, first, _)] = platform.messages
    assert first.categories == ("stat.ML",) and SHARED in first.paper_ids
    assert scheduler._retries[("09:00", "UTC")] == 1  # the slot will be tried again
    assert "last try failed" in (await dispatch(engine, Invocation(channel=CHANNEL), "status")).text

    clock[0] = FEED_MORNING + timedelta(minutes=10)  # the scheduler's retry, Hugging Face answering again
    await scheduler.run_slot(("09:00", "UTC"))
    [_, (_, second, _)] = platform.messages
    assert second.categories == ("hf",)  # only what was held back: arXiv's part went out on time
    assert SHARED not in second.paper_ids and len(second.paper_ids) == 2
    await scheduler.run_slot(("09:00", "UTC"))  # the next run of the slot: nothing more
    assert len(platform.messages) == 2
    assert "Nothing new" in (await dispatch(engine, Invocation(channel=CHANNEL), "digest")).text
    scheduler.shutdown()
    await engine.aclose()


async def test_an_empty_list_where_there_are_always_papers_is_retried_not_posted(hf: FakeHuggingFaceServer) -> None:
    """Monday's Hugging Face list empty, or a whole bioRxiv day empty: throttling or a broken page, not a
    quiet day. Recorded as a failure (retried, reported); a Sunday's empty list is just quiet."""
    from bot.errors import SuspiciousEmptyFeed

    engine = engine_for(hf)
    hf.set_day(HF_DAY, [])  # 2024-03-25 is a Monday
    subs = follow(engine, "hf")
    with pytest.raises(SuspiciousEmptyFeed, match="empty hf list for Mon 25 Mar"):
        await engine.plan_digest(CHANNEL, subs)
    assert "empty hf list" in (engine.store.last_fetch("hf", ok_only=False).error or "")
    await engine.aclose()
    sunday = make_engine(
        config=make_config(**{"sources.huggingface": {"api_url": hf.api_url}}),
        now=lambda: FEED_MORNING - timedelta(days=1),  # Monday morning: Sunday's list is due
    )
    hf.set_day("2024-03-24", [])
    selection = await sunday.plan_digest(CHANNEL, follow(sunday, "hf"))
    assert selection.papers == ()
    await sunday.aclose()


def test_which_empty_lists_are_suspicious() -> None:
    from datetime import date

    from bot.sources.registry import naming

    sources = naming()
    day = date(2024, 3, 24)  # a Sunday
    for feed, expected in (("biorxiv", True), ("biorxiv:neuroscience", False), ("hf", False), ("cs.LG", True)):
        name = sources.resolve_feed(feed)
        assert sources.source_of_feed(feed).expects_papers(name, day) is expected, feed
    assert sources.source_of_feed("hf").expects_papers(sources.resolve_feed("hf"), date(2024, 3, 25))
