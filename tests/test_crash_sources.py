"""Channels following three sources (an arXiv category, Hugging Face Daily Papers and a bioRxiv subject)
while the bot is SIGKILLed at random points of its progress, then restarted (sometimes killed again):
every channel ends with exactly one card of each paper it should get, nothing lost and nothing twice,
including the paper that arXiv and Hugging Face both list (one card with both sources' fields).

The bot runs as its own process (tests/crash_harness.py) and fetches every source over HTTP from
fakes in this process serving recorded data, at the addresses its config file names. The kill points
are chosen by progress: requests the sources have received (a kill while fetching) or messages the
platform holds (a kill mid fan-out), never by the clock."""

from __future__ import annotations

import copy
import math
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.delivery import message_for
from bot.digest import NEW_TYPES
from bot.models import ChannelRef, Subscription
from bot.outbox import Outbox
from bot.sources.arxiv import parse_rss
from bot.sources.biorxiv import preprint_sources
from bot.sources.huggingface import settled_day
from bot.store import Store
from tests.crash_harness import NOW, kill_when, posted, posted_at_least, start
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.biorxiv_server import FakePreprintServer, item, recorded_items
from tests.fakes.chat_platform import FakeChatPlatform
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.fakes.keyed_poster import CARDS_PER_MESSAGE
from tests.support import feed_for, make_config, make_engine

CHANNELS = 24
RUNS = 8
SHARED = "2403.15527"  # in arXiv's stat.ML listing of 2024-03-26 and, here, top of Hugging Face's day
FEEDS = ("stat.ML", "hf", "biorxiv:neuroscience")
# Each channel follows the three in one of three orders (which source is asked first varies).
ORDERS = tuple(FEEDS[i:] + FEEDS[:i] for i in range(len(FEEDS)))
ARXIV_FEED = feed_for("stat.ML")
# The batch days the harness's clock asks for: Hugging Face's settled day (default settle hour) and
# bioRxiv's finished day. Computed by the sources' own calendars, so the fakes serve what is asked.
HF_DAY = settled_day(NOW, 6)
_PREPRINT_DAY = preprint_sources()[0].batch_day(NOW)
assert _PREPRINT_DAY is not None  # bioRxiv posts every day
PREPRINT_DAY: date = _PREPRINT_DAY
_CARD_ID = re.compile(r"^   (\S+)v\d+ · ", re.M)


def _hf_entries() -> list[dict[str, Any]]:
    entries = copy.deepcopy(recorded_daily_papers())
    entries[0]["paper"]["id"] = SHARED
    entries[0]["paper"]["upvotes"] = 90
    entries[0]["paper"]["githubRepo"] = "https://github.com/example/conformal"
    return entries


def _unpadded(day: date) -> str:
    return f"{day.year}-{day.month}-{day.day}"  # as the API writes some dates ("2026-6-30")


def _preprints() -> list[dict[str, Any]]:
    recorded = [{**i, "date": PREPRINT_DAY.isoformat()} for i in recorded_items()]  # one neuroscience
    made = [item(n, _unpadded(PREPRINT_DAY), "neuroscience") for n in (1, 2, 3)]
    revised = item(4, _unpadded(PREPRINT_DAY), "neuroscience", version="2")  # a revision: not news
    other = item(5, _unpadded(PREPRINT_DAY), "ecology")  # a subject nobody follows
    return [*recorded, *made, revised, other]


def _expected() -> set[str]:
    """What each channel should get, from the inputs themselves: the listing's new and cross-listed
    papers, the whole Hugging Face day, the subject's first versions."""
    arxiv = {i.paper.id for i in parse_rss(ARXIV_FEED, ["stat.ML"]).items if i.paper.announce_type in NEW_TYPES}
    hf = {e["paper"]["id"] for e in _hf_entries()}
    preprints = {p["doi"] for p in _preprints() if p["category"] == "neuroscience" and str(p["version"]) == "1"}
    return arxiv | hf | preprints


EXPECTED = _expected()
MESSAGES_PER_CHANNEL = math.ceil(len(EXPECTED) / CARDS_PER_MESSAGE)
MESSAGES = CHANNELS * MESSAGES_PER_CHANNEL


@dataclass
class Services:
    platform: FakeChatPlatform
    arxiv: FakeArxivServer
    hf: FakeHuggingFaceServer
    preprints: FakePreprintServer
    config: Path

    def source_requests(self) -> int:
        return self.arxiv.count("/rss") + self.hf.count("/api/daily_papers") + self.preprints.count("/details")

    def requested_at_least(self, count: int) -> Callable[[], bool]:
        return lambda: self.source_requests() >= count


@contextmanager
def services(folder: Path) -> Iterator[Services]:
    with ExitStack() as stack:
        platform = stack.enter_context(FakeChatPlatform(per_channel_per_s=50))
        arxiv = stack.enter_context(FakeArxivServer())
        hf = stack.enter_context(FakeHuggingFaceServer())
        preprints = stack.enter_context(FakePreprintServer(page_sizes=(100,)))
        arxiv.set_feed("stat.ML", ARXIV_FEED)
        hf.set_day(HF_DAY.isoformat(), _hf_entries())
        preprints.add("biorxiv", _preprints())
        config = folder / "config.toml"
        config.write_text(
            f'[sources.arxiv]\nrss_url = "{arxiv.rss_url}"\napi_url = "{arxiv.api_url}"\n'
            f'[sources.huggingface]\napi_url = "{hf.api_url}"\n'
            f'[sources.biorxiv]\napi_url = "{preprints.base_url}"\ncontent_url = "{preprints.base_url}"\n'
            "[digest]\nlimit = 0\n"  # every paper of the day: "each paper it should get" is all of them
        )
        yield Services(platform, arxiv, hf, preprints, config)


def _prepare(db: Path) -> None:
    store = Store(db)
    store.migrate()
    for n in range(CHANNELS):
        for feed in ORDERS[n % len(ORDERS)]:
            channel = ChannelRef("chat", "", f"c{n}")
            store.subscribe(Subscription(id=0, channel=channel, category=feed, time="09:00", timezone="UTC"))
    store.close()


def _cards(platform: FakeChatPlatform, channel: str) -> list[tuple[str, str]]:
    """(paper id, card text) of every card the channel received, in order."""
    cards = []
    for message in platform.messages[channel]:
        for text in str(message["text"]).split("\n\n"):
            found = _CARD_ID.search(text)
            assert found is not None, f"{channel}: not a card: {text[:200]!r}"
            cards.append((found.group(1), text))
    return cards


def _check(run: int, platform: FakeChatPlatform) -> None:
    for n in range(CHANNELS):
        cards = _cards(platform, f"c{n}")
        counts = Counter(paper_id for paper_id, _ in cards)
        twice = sorted(p for p, c in counts.items() if c > 1)
        assert not twice, f"run {run}: channel c{n} got {twice} more than once"
        missing, extra = EXPECTED - counts.keys(), counts.keys() - EXPECTED
        assert not missing and not extra, f"run {run}: channel c{n} is missing {missing}, got unexpected {extra}"
        [shared] = [text for paper_id, text in cards if paper_id == SHARED]
        # One card with arXiv's listing and Hugging Face's upvotes and code link together.
        assert "stat.ML" in shared and "▲ 90 upvotes" in shared and "github.com/example/conformal" in shared, shared
    assert posted(platform) == MESSAGES, f"run {run}: {posted(platform)} messages, expected {MESSAGES}"


def test_the_inputs_hold_all_three_sources_and_the_shared_paper() -> None:
    assert HF_DAY == PREPRINT_DAY == date(2024, 3, 25)  # both days the harness's Tuesday morning asks for
    arxiv = {i.paper.id for i in parse_rss(ARXIV_FEED, ["stat.ML"]).items}
    assert SHARED in arxiv and sum(1 for p in EXPECTED if p.startswith("10.1101/")) == 4
    assert len(EXPECTED - arxiv) > len(recorded_daily_papers())  # Hugging Face and bioRxiv papers besides
    assert MESSAGES_PER_CHANNEL > 2  # a digest long enough to be cut in the middle


async def test_a_digest_resumed_after_a_restart_is_drawn_with_every_planned_paper() -> None:
    """The in-process core of the crash test below: a row planned from three sources, drawn again as a
    restarted bot draws it (no selection at hand), holds every planned paper in the planned order."""
    with ExitStack() as stack:
        hf = stack.enter_context(FakeHuggingFaceServer())
        preprints = stack.enter_context(FakePreprintServer(page_sizes=(100,)))
        hf.set_day(HF_DAY.isoformat(), _hf_entries())
        preprints.add("biorxiv", _preprints())
        sections: dict[str, dict[str, object]] = {
            "sources.huggingface": {"api_url": hf.api_url},
            "sources.biorxiv": {"api_url": preprints.base_url, "content_url": preprints.base_url},
        }
        engine = make_engine(config=make_config(**sections, digest={"limit": 0}), now=lambda: NOW)
        channel = ChannelRef("chat", "", "c0")
        for feed in FEEDS:
            engine.store.subscribe(Subscription(id=0, channel=channel, category=feed))
        selection = await engine.plan_digest(channel, engine.store.channel_subscriptions(channel))
        assert selection.announced is not None and {p.id for p in selection.papers} == EXPECTED
        planned = [p.id for p in selection.papers]
        row = Outbox(engine.store).plan(channel, selection.announced, selection.categories, planned, sending=True)
        drawn = message_for(engine, row)  # as after a restart: from the row and the store only
        assert [card.paper_id for card in drawn.cards] == planned
        await engine.aclose()


def test_sigkill_while_fetching_three_sources_and_mid_fan_out_never_loses_or_repeats_a_paper(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261130)
    template = tmp_path / "template.db"
    _prepare(template)
    killed_mid_run = 0
    for run in range(RUNS):
        db = tmp_path / f"run{run}.db"
        shutil.copyfile(template, db)
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        with services(folder) as fakes, (folder / "bot.log").open("wb") as log:
            processes = 1
            first = start(db, fakes.platform.url, fakes.config, stderr=log)
            if run < 2:
                # While fetching: once the first, then the second of the three sources' requests arrived.
                goal = run + 1
                kill_when(first, fakes.requested_at_least(goal), f"{goal} source requests")
            else:
                # Mid fan-out, each run in its own stretch of it so that the runs cover all of it.
                stretch = ((run - 2) * MESSAGES // (RUNS - 2), (run - 1) * MESSAGES // (RUNS - 2))
                goal = rng.randrange(*stretch)
                kill_when(first, posted_at_least(fakes.platform, goal), f"{goal} posted messages")
            if posted(fakes.platform) < MESSAGES:
                killed_mid_run += 1
            if run % 3 == 1 and posted(fakes.platform) < MESSAGES - 1:
                # The restart killed too, further on: recovery must survive its own crash.
                again = start(db, fakes.platform.url, fakes.config, stderr=log)
                processes += 1
                goal = rng.randrange(posted(fakes.platform) + 1, MESSAGES)
                kill_when(again, posted_at_least(fakes.platform, goal), f"{goal} posted messages")
            last = start(db, fakes.platform.url, fakes.config, stderr=log)
            processes += 1
            out, _ = last.communicate(timeout=60)
            assert last.returncode == 0 and b"done" in out, (folder / "bot.log").read_text()[-3000:]
            _check(run, fakes.platform)
            # Each source asked for its day at most once per process, never once per channel.
            for asked in (fakes.arxiv.count("/rss"), fakes.hf.count("/api/daily_papers"), fakes.preprints.count()):
                assert 1 <= asked <= processes, f"run {run}: a source was asked {asked} times by {processes} processes"
    assert killed_mid_run >= RUNS - 1, "the kills should land while the bot is working"
