"""An explanation's equation images reach Slack through the adapter: uploaded into the thread the
explanation went to, after its text; a refused upload leaves the text explanation as it is."""

from __future__ import annotations

from pathlib import Path

from bot.engine import Engine
from bot.store import Store
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.slack_server import FakeSlack, error
from tests.support import make_config
from tests.test_fulltext import PAPER, SYNTHETIC, _client
from tests.test_slack_adapter import CHANNEL, Make, make_harness, slack, text_of  # noqa: F401 (fixtures)

CARD_TS = "1711440000.000001"


def _engine(server: FakeArxivServer, tmp_path: Path) -> Engine:
    store = Store(tmp_path / "p.db")  # on disk: the images are kept next to the database
    store.migrate()
    store.save_papers([PAPER])
    config = make_config(**{"sources.arxiv": {"html_url": server.html_url}})
    return Engine(config, store, _client(server))


async def test_the_explain_button_uploads_the_equations_into_the_cards_thread(
    arxiv_server: FakeArxivServer,
    tmp_path: Path,
    make_harness: Make,  # noqa: F811
    slack: FakeSlack,  # noqa: F811
) -> None:
    arxiv_server.set_html(f"{PAPER.id}v{PAPER.version}", SYNTHETIC)
    engine = _engine(arxiv_server, tmp_path)
    harness = await make_harness(engine)
    try:
        await harness.click(PAPER.id, message_ts=CARD_TS)
        await harness.adapter.idle()
    finally:
        await engine.aclose()
    [post] = slack.posts(CHANNEL)
    assert post.args["thread_ts"] == CARD_TS and "Eq." in text_of(post.args)
    [shared] = slack.shared_files
    assert shared["channel"] == CHANNEL and shared["thread_ts"] == CARD_TS
    assert shared["files"] and all(f["title"].startswith("Eq. (") for f in shared["files"])
    wanted = ("chat.postMessage", "files.completeUploadExternal")
    order = [call.method for call in slack.calls() if call.method in wanted]
    assert order == ["chat.postMessage", "files.completeUploadExternal"]  # the text first, then its images


async def test_a_refused_upload_leaves_the_explanation_standing(
    arxiv_server: FakeArxivServer,
    tmp_path: Path,
    make_harness: Make,  # noqa: F811
    slack: FakeSlack,  # noqa: F811
) -> None:
    arxiv_server.set_html(f"{PAPER.id}v{PAPER.version}", SYNTHETIC)
    slack.script("files.getUploadURLExternal", error("missing_scope"))
    engine = _engine(arxiv_server, tmp_path)
    harness = await make_harness(engine)
    try:
        await harness.click(PAPER.id, message_ts=CARD_TS)
        await harness.adapter.idle()
    finally:
        await engine.aclose()
    [post] = slack.posts(CHANNEL)
    assert post.args["thread_ts"] == CARD_TS
    assert slack.shared_files == []
    assert not [c for c in slack.calls("response") if "went wrong" in str(c.body)]
