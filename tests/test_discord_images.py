"""An explanation's equation images reach Discord through the adapter: one follow-up after the text,
with the PNGs attached and shown by embeds (attachment://eq-….png), recorded with the explanation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.engine import Engine
from bot.store import Store
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.discord_server import FakeDiscord
from tests.test_discord_adapter import default_endpoints, discord_config, fake, started  # noqa: F401 (fixtures)
from tests.test_fulltext import SYNTHETIC, _client

PAPER_ID = "1605.08386"  # served by the fake arXiv's export API; its HTML page is set below


async def test_an_explanation_sends_its_equation_images_as_attachments(
    fake: FakeDiscord,  # noqa: F811
    tmp_path: Path,
) -> None:
    with FakeArxivServer() as arxiv:
        arxiv.set_html(f"{PAPER_ID}v1", SYNTHETIC)
        config = discord_config(fake, **{"sources.arxiv": {"html_url": arxiv.html_url}})
        store = Store(tmp_path / "p.db")  # on disk: images are kept next to the database
        store.migrate()
        client = _client(arxiv)
        engine = Engine(config, store, client)
        adapter = await started(engine)
        try:
            await fake.slash("explain", {"id": PAPER_ID})
            await fake.wait_for("POST", "/webhooks/", count=2)
            rows: list[tuple[str, str]] = []
            for _ in range(200):  # the records are written right after Discord answers each follow-up
                rows = store.db.execute("SELECT kind, paper_id FROM posted_messages").fetchall()
                if len(rows) >= 2:
                    break
                await asyncio.sleep(0.01)
        finally:
            await adapter.stop()
            await engine.aclose()
        html_calls = arxiv.calls("/html/")
    assert html_calls
    text, images = fake.calls_to("POST", "/webhooks/")[:2]
    assert not text.files and "The math, explained" in str(text.json)
    assert images.files and all(f["filename"].startswith("eq-") for f in images.files)
    shown = [embed["image"]["url"] for embed in images.json["embeds"]]
    assert shown == [f"attachment://{f['filename']}" for f in images.files]
    assert images.json["allowed_mentions"] == {"parse": []}
    assert rows == [("explanation", PAPER_ID)] * 2  # the text and the images, both the paper's
