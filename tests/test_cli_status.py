"""`paperbot status` reads the database alone (no engine): the same report as through the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.models import ChannelRef, Feed, Subscription
from bot.sources.registry import naming
from bot.status import service_of_feed, status_report, status_text
from bot.store import Store
from tests.support import make_config, make_engine

FEEDS = ("cs.LG", "math.OC", "stat.ML", "hf", "biorxiv", "medrxiv", "biorxiv:cancer_biology")


@pytest.mark.parametrize("feed", FEEDS)
def test_the_service_read_from_a_feed_name_is_the_source_registrys(feed: str) -> None:
    source = naming().source_of_feed(feed)
    assert service_of_feed(feed) == (None if source.name == "arxiv" else source.display_name)


def _followed(store: Store) -> None:
    channel = ChannelRef("test", "T1", "c0")
    for feed in ("hf", "cs.LG"):
        store.subscribe(Subscription(id=0, channel=channel, category=feed, time="09:00", timezone="UTC"))
        day = datetime.now(UTC).date() - timedelta(days=1)
        store.save_feed(Feed(categories=(feed,), announced=day), fetched_at=datetime.now(UTC) - timedelta(hours=3))


def test_the_report_without_the_engine_is_the_engines(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    _followed(store)
    engine = make_engine(store=store, now=lambda: datetime.now(UTC))
    through_engine = status_report(engine)
    alone = status_text(store, make_config(), datetime.now(UTC))

    assert alone == through_engine
    assert "• hf (Hugging Face): 0 papers, list of" in alone and "• cs.LG: 0 papers, announcement of" in alone
    store.close()


def test_paperbot_status_prints_the_report_and_the_database_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "p.db")
    store.migrate()
    _followed(store)
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "p.db"}"\n')

    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "• hf (Hugging Face): 0 papers" in out
    assert out.splitlines()[-1].startswith("Database: ")
