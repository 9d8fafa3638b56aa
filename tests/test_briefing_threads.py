"""A question in the thread of the day's briefing is about the card it names: "what does #2 assume?"."""

from __future__ import annotations

from datetime import date

from bot import posted_messages
from bot.models import ChannelRef
from bot.outbox import Kind, Outbox
from bot.posted_messages import MessageKind
from bot.questions import paper_in_thread
from bot.store import Store
from tests.fakes.slack_server import FakeSlack
from tests.test_slack_adapter import CHANNEL, HERE, slack  # noqa: F401 (fixtures)
from tests.test_slack_feedback import BOT_USER, USER, Socket, mention_event, socket  # noqa: F401 (fixtures)

PAPERS = ("2403.15527", "2403.16871", "2403.16336")
DAY = date(2024, 3, 26)


def _briefing(store: Store, channel: ChannelRef, message_id: str) -> None:
    """A digest of three cards and the briefing that opens it, posted as ``message_id``."""
    outbox = Outbox(store)
    digest, _ = outbox.create(channel, DAY, ("stat",), PAPERS, Kind.DIGEST)
    briefing, _ = outbox.create(channel, DAY, ("stat",), (), Kind.BRIEFING, note="Briefing", opens=digest.key)
    posted_messages.record(store, channel, message_id, MessageKind.BRIEFING, outbox_key=briefing.key)


def test_the_card_a_question_names_is_the_paper_it_is_about() -> None:
    store = Store(":memory:")
    store.migrate()
    _briefing(store, HERE, "1711440000.000100")
    parent = posted_messages.find(store, HERE, "1711440000.000100")
    assert parent is not None
    assert paper_in_thread(store, parent, "what does #2 assume?") == PAPERS[1]
    assert paper_in_thread(store, parent, "how do #1 and #3 differ?") is None  # two cards: which one?
    assert paper_in_thread(store, parent, "what does #4 assume?") is None  # not a card of this digest
    assert paper_in_thread(store, parent, "what is ##2 or a#2?") is None
    assert paper_in_thread(store, parent, "which one first?") is None
    assert paper_in_thread(store, parent, "#" + "9" * 5000) is None


async def test_a_mention_in_the_briefings_thread_asks_about_the_card_it_names(
    socket: Socket,  # noqa: F811
    slack: FakeSlack,  # noqa: F811
) -> None:
    briefing_ts = slack.add_message(CHANNEL, "Briefing · 3 papers", user=BOT_USER)
    _briefing(socket.engine.store, HERE, briefing_ts)
    named = slack.add_message(CHANNEL, f"<@{BOT_USER}> what does #2 assume?", user=USER, thread_ts=briefing_ts)
    await socket.event(mention_event("what does #2 assume?", named, thread_ts=briefing_ts))
    [asked] = socket.answerer.asked
    assert asked.paper_id == PAPERS[1]
    unnamed = slack.add_message(CHANNEL, f"<@{BOT_USER}> which first?", user=USER, thread_ts=briefing_ts)
    await socket.event(mention_event("which first?", unnamed, thread_ts=briefing_ts))
    assert len(socket.answerer.asked) == 1  # nothing to ask about: told privately how to name a card
    [hint] = slack.ephemerals(CHANNEL)
    assert "#4" in hint.args["text"]
