"""A fan-out asks the source registry which source a feed belongs to once per feed, not once per channel.

The registry answers by trying every prefixed source's parser, and a miss (any arXiv category asked of
bioRxiv) runs that source's did-you-mean: repeated for every feed of every channel, several times in each
refresh and stale check, it was a third of the selection time of a 1,000-channel day
(bench/bench_sources.py)."""

from __future__ import annotations

from collections import Counter

from bot.models import ChannelRef, Subscription
from bot.sources.base import Source
from bot.sources.registry import SourceRegistry
from tests.fakes.biorxiv_server import FakePreprintServer, item
from tests.fakes.huggingface_server import FakeHuggingFaceServer, recorded_daily_papers
from tests.support import make_config, make_engine

FEEDS = ("stat.ML", "hf", "biorxiv:neuroscience")
DAY = "2024-03-25"  # Hugging Face's settled day and bioRxiv's finished day on the engine's clock


class CountingRegistry(SourceRegistry):
    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__(registry.sources)
        self.asked: Counter[str] = Counter()

    def source_of_feed(self, feed: str) -> Source:
        self.asked[feed] += 1
        return super().source_of_feed(feed)


async def test_each_feed_is_looked_up_in_the_registry_once_across_a_fan_out() -> None:
    with FakeHuggingFaceServer() as hf, FakePreprintServer() as preprints:
        hf.set_day(DAY, recorded_daily_papers()[:3])
        preprints.add("biorxiv", [item(1, DAY, "neuroscience")])
        sections: dict[str, dict[str, object]] = {
            "sources.huggingface": {"api_url": hf.api_url},
            "sources.biorxiv": {"api_url": preprints.base_url, "content_url": preprints.base_url},
        }
        engine = make_engine(config=make_config(**sections))
        registry = engine.sources = CountingRegistry(engine.sources)
        for n in range(20):
            channel = ChannelRef("test", "w", f"c{n}")
            for feed in FEEDS:
                engine.store.subscribe(Subscription(id=0, channel=channel, category=feed))
            selection = await engine.plan_digest(channel, engine.store.channel_subscriptions(channel))
            assert len(selection.papers) == engine.default_limit  # every source answered
            assert engine.feed_is_stale("hf", engine.now()) is False
        assert registry.asked == Counter(dict.fromkeys(FEEDS, 1))
        await engine.aclose()
