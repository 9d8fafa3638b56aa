"""Each digest layout through the real Slack adapter (bolt in Socket Mode, the real slack_sdk client) against
the fake Slack on 127.0.0.1: what is posted (messages, threads, blocks within Slack's limits, the buttons and
their values), what is recorded, a 👍/👎 press teaching the radar once, a question naming a card by number
in a compact message's or a thread header's thread, and a crash mid-way through each layout finished by a
restart without a message twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from adapters.slack_blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS, blocks_size
from adapters.slack_layouts import DISLIKE_ACTION_ID, LIKE_ACTION_ID, lay_out
from bot import layouts, posted_messages
from bot.cards import Card, DigestMessage, Layout, Reply, make_card
from bot.config import Config, validate
from bot.delivery import deliver_digest, resume_unfinished
from bot.engine import Engine
from bot.models import ChannelRef, Paper, Subscription
from bot.outbox import Outbox
from bot.posted_messages import MessageKind
from bot.questions import BRIEFING_HINT, ThreadQuestion
from bot.radar import DISLIKE, LIKE, Radar
from bot.sources.arxiv import parse_rss
from bot.untrusted import MAX_UNTRUSTED_CHARS
from bot.votes import NOT_SHOWN, UNKNOWN_MESSAGE
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from tests.support import STAT_FEED, make_config, make_engine
from tests.support_payload_safety import HOSTILE_SHAPES, laid_out, strings, unsafe_parts

CHANNEL = "C111"
HERE = ChannelRef("slack", TEAM_ID, CHANNEL)
USER, OTHER = "W111", "W222"
BOT_USER = "UBOT"  # the fake's auth.test user_id
PACE_S = 0.01  # Slack's one message a second, shortened; the pacing test uses the fake's own check
STAT_PAPERS = tuple(item.paper for item in parse_rss(STAT_FEED, ["stat"]).items)


def numbered(papers: tuple[Paper, ...]) -> tuple[Card, ...]:
    return tuple(replace(make_card(paper), number=n) for n, paper in enumerate(papers, start=1))


def digest_of(count: int, layout: Layout) -> DigestMessage:
    return DigestMessage(("stat",), date(2024, 3, 26), numbered(STAT_PAPERS[:count]), layout=layout)


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action_id, value) of every button, in order."""
    return [
        (element["action_id"], element["value"])
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def parts_in(slack: FakeSlack, channel: str) -> list[tuple[int, str | None]]:
    """(part number, thread_ts) of every digest part the channel holds, threads included."""
    return [
        (int(m["metadata"]["event_payload"]["part"]), m.get("thread_ts"))
        for m in slack.history.get(channel, [])
        if m.get("metadata")
    ]


# --- the harness: the adapter in Socket Mode -------------------------------------------------------


@dataclass
class Answerer:
    """Stands in for bot.questions.answer_question: records the questions."""

    asked: list[ThreadQuestion] = field(default_factory=list)

    async def __call__(self, engine: Engine, question: ThreadQuestion) -> Reply:
        self.asked.append(question)
        return Reply(text="It assumes exchangeability.")


@dataclass
class Bot:
    slack: FakeSlack
    engine: Engine
    adapter: SlackAdapter
    answerer: Answerer

    async def _delivered(self, envelope: str) -> None:
        acked = lambda: any(a.get("envelope_id") == envelope for a in self.slack.socket_acks)  # noqa: E731
        assert await self.slack.wait_async(acked, timeout=15)  # two cores shared with other work: be patient
        await asyncio.sleep(0)
        await self.adapter.idle()

    async def press(self, action_id: str, paper_id: str, message_ts: str, *, user: str = USER) -> list[str]:
        """Press a button of the message, as Slack delivers the click; what its response_url was told."""
        response_url = self.slack.response_url()
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "test"},
            "user": {"id": user, "team_id": TEAM_ID},
            "api_app_id": "A111",
            "token": "verification_token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL, "is_ephemeral": False},
            "trigger_id": "111.222.xxx",
            "channel": {"id": CHANNEL, "name": "papers"},
            "message": {"type": "message", "ts": message_ts, "text": "digest", "bot_id": "BBOT"},
            "response_url": response_url,
            "actions": [
                {"action_id": action_id, "block_id": "b1", "value": paper_id, "type": "button",
                 "text": {"type": "plain_text", "text": "👍"}, "action_ts": "1711440001.000100"}
            ],
        }  # fmt: skip
        await self._delivered(self.slack.send_envelope("interactive", payload))
        path = response_url.removeprefix(self.slack.base_url)
        return [str(c.args["text"]) for c in self.slack.calls("response") if c.path == path]

    async def mention(self, text: str, thread_ts: str, *, user: str = USER) -> None:
        ts = self.slack.add_message(CHANNEL, f"<@{BOT_USER}> {text}", user=user, thread_ts=thread_ts)
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts, "event_ts": ts,
                 "channel": CHANNEL, "team": TEAM_ID, "thread_ts": thread_ts, "parent_user_id": BOT_USER}  # fmt: skip
        await self._delivered(self.slack.send_event(event))

    async def react(self, name: str, ts: str, *, user: str = USER) -> None:
        item = {"type": "message", "channel": CHANNEL, "ts": ts}
        event = {"type": "reaction_added", "user": user, "reaction": name, "item_user": BOT_USER, "item": item,
                 "event_ts": "1711440002.000100"}  # fmt: skip
        await self._delivered(self.slack.send_event(event))

    def likes(self) -> list[tuple[str, float, str]]:
        return [(like.paper_id, like.weight, like.origin) for like in Radar(self.engine.store).profile(HERE).likes]


def socket_config(slack: FakeSlack) -> Config:
    values = validate({"slack": {"mode": "socket", "api_url": slack.api_url}})
    return Config(values=values, source="test", env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})


async def started(slack: FakeSlack, engine: Engine, answerer: Answerer | None = None) -> SlackAdapter:
    adapter = SlackAdapter(engine, socket_config(slack), post_interval_s=PACE_S, answer_question=answerer)
    await adapter.start()
    assert await slack.wait_async(lambda: slack.socket_connections >= 1)
    return adapter


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def bot(slack: FakeSlack) -> AsyncIterator[Bot]:
    engine = make_engine()
    answerer = Answerer()
    adapter = await started(slack, engine, answerer)
    try:
        yield Bot(slack, engine, adapter, answerer)
    finally:
        await adapter.stop()
        await engine.aclose()


# --- what each layout posts ------------------------------------------------------------------------


async def test_compact_posts_every_card_in_one_message_with_a_like_and_dislike_button_per_paper(bot: Bot) -> None:
    digest = digest_of(6, Layout.COMPACT)
    await bot.adapter.post_digest_keyed(HERE, digest, "key-compact")
    [post] = bot.slack.posts(CHANNEL)
    assert post.args.get("thread_ts") is None
    blocks = post.args["blocks"]
    assert len(blocks) <= MAX_BLOCKS and blocks_size(blocks) <= MAX_MESSAGE_CHARS
    assert blocks[0]["type"] == "header"
    papers = [card.paper_id for card in digest.cards]
    assert buttons(blocks) == [
        pair
        for paper in papers
        for pair in (("paper_explain", paper), (LIKE_ACTION_ID, paper), (DISLIKE_ACTION_ID, paper))
    ]
    assert not any(block.get("accessory") for block in blocks)  # Explain moved into each card's actions row
    found = posted_messages.find(bot.engine.store, HERE, bot.slack.history[CHANNEL][0]["ts"])
    assert found is not None and found.kind == MessageKind.DIGEST and found.papers == tuple(papers)
    assert found.outbox_key == "key-compact" and found.paper_id is None


async def test_a_long_compact_digest_is_split_only_at_slacks_limits_never_inside_a_card(bot: Bot) -> None:
    digest = digest_of(40, Layout.COMPACT)
    await bot.adapter.post_digest(HERE, digest)
    posts = bot.slack.posts(CHANNEL)
    assert 1 < len(posts) <= 8  # about nine cards fill Slack's ~13k characters of blocks
    for post in posts:
        assert len(post.args["blocks"]) <= MAX_BLOCKS and blocks_size(post.args["blocks"]) <= MAX_MESSAGE_CHARS
    # Each message taken as full as it goes: the next one's first card would not have fitted.
    liked = [value for post in posts for action, value in buttons(post.args["blocks"]) if action == LIKE_ACTION_ID]
    assert liked == [card.paper_id for card in digest.cards]  # every paper once, in order
    # Every part holds every paper of the digest, so "#12" in any part's thread is the twelfth card.
    for message in bot.slack.history[CHANNEL]:
        found = posted_messages.find(bot.engine.store, HERE, message["ts"])
        assert found is not None and found.kind == MessageKind.DIGEST and len(found.papers) == 40


async def test_thread_posts_the_header_in_the_channel_and_each_card_in_its_thread(bot: Bot) -> None:
    digest = digest_of(4, Layout.THREAD)
    await bot.adapter.post_digest_keyed(HERE, digest, "key-thread")
    header, *cards = bot.slack.posts(CHANNEL)
    assert header.args.get("thread_ts") is None and len(cards) == 4
    header_ts = bot.slack.history[CHANNEL][0]["ts"]
    assert all(card.args["thread_ts"] == header_ts for card in cards)
    assert "in this message's thread" in json.dumps(header.args["blocks"], ensure_ascii=False)
    assert not buttons(header.args["blocks"])  # reactions on the cards teach: no vote buttons here
    found = [posted_messages.find(bot.engine.store, HERE, m["ts"]) for m in bot.slack.history[CHANNEL]]
    assert [(f.kind, f.paper_id, f.thread_id) for f in found if f is not None] == [
        (MessageKind.DIGEST, None, None),
        *((MessageKind.CARD, card.paper_id, header_ts) for card in digest.cards),
    ]
    assert found[0] is not None and found[0].papers == digest.paper_ids


async def test_cards_stays_a_header_then_a_message_per_card_and_notes_and_empty_digests_stay_one_message(
    bot: Bot,
) -> None:
    await bot.adapter.post_digest(HERE, digest_of(2, Layout.CARDS))
    assert [p.args.get("thread_ts") for p in bot.slack.posts(CHANNEL)] == [None, None, None]
    for layout in (Layout.COMPACT, Layout.THREAD):
        assert len(lay_out(replace(digest_of(0, layout), note="No announcement today."))) == 1
        [empty] = lay_out(digest_of(0, layout))
        assert empty.kind == MessageKind.HEADER and not empty.in_thread


async def test_every_message_of_every_layout_waits_its_turn_in_the_channel() -> None:
    with FakeSlack(per_channel_interval_s=0.05) as paced:  # the fake refuses a faster post with a 429
        engine = make_engine()
        adapter = SlackAdapter(engine, socket_config(paced), post_interval_s=0.05)
        await adapter.start()
        try:
            for layout in Layout:
                await adapter.post_digest(HERE, digest_of(12, layout))
        finally:
            await adapter.stop()
            await engine.aclose()
        assert paced.ratelimited_posts == 0
        assert len(paced.posts(CHANNEL)) == (1 + 12) + len(lay_out(digest_of(12, Layout.COMPACT))) + (1 + 12)


# --- buttons, reactions and questions --------------------------------------------------------------


async def test_a_button_press_teaches_the_radar_once_and_says_so_privately(bot: Bot) -> None:
    digest = digest_of(3, Layout.COMPACT)
    await bot.adapter.post_digest(HERE, digest)
    ts = bot.slack.history[CHANNEL][0]["ts"]
    second = digest.cards[1].paper_id
    [said] = await bot.press(LIKE_ACTION_ID, second, ts)
    assert said.startswith("👍 noted for #2") and "rank higher" in said
    assert bot.likes() == [(second, LIKE, f"reaction:{USER}")]
    [again] = await bot.press(LIKE_ACTION_ID, second, ts)  # the same button again: counted once
    assert "already" in again and "nothing changed" in again
    assert bot.likes() == [(second, LIKE, f"reaction:{USER}")]
    [changed] = await bot.press(DISLIKE_ACTION_ID, second, ts)  # changing one's mind: the latest wins
    assert changed.startswith("👎 noted for #2") and "instead of your earlier one" in changed
    assert bot.likes() == [(second, DISLIKE, f"reaction:{USER}")]
    await bot.press(LIKE_ACTION_ID, second, ts, user=OTHER)  # another person counts on their own
    assert len(bot.likes()) == 2
    responses = [c for c in bot.slack.calls("response")]
    assert all(c.args["response_type"] == "ephemeral" and c.args["replace_original"] is False for c in responses)
    assert len(bot.slack.posts(CHANNEL)) == 1  # nothing said in the channel


async def test_a_press_that_names_no_paper_of_the_bots_digest_teaches_nothing(bot: Bot) -> None:
    await bot.adapter.post_digest(HERE, digest_of(2, Layout.COMPACT))
    ts = bot.slack.history[CHANNEL][0]["ts"]
    someone = bot.slack.add_message(CHANNEL, "my own message", user=OTHER)
    for paper, message in (("2403.99999", ts), (STAT_PAPERS[0].id, someone), (STAT_PAPERS[0].id, "1711449999.000001")):
        [said] = await bot.press(LIKE_ACTION_ID, paper, message)
        # A paper the bot's digest does not show is not on it; a message not the bot's is not known.
        expected = NOT_SHOWN if message == ts else UNKNOWN_MESSAGE
        assert said.startswith(expected.split(",")[0].split(";")[0])  # escaped as Slack text
    assert bot.likes() == []


async def test_a_question_in_a_compact_messages_thread_is_about_the_card_it_names(bot: Bot) -> None:
    digest = digest_of(30, Layout.COMPACT)
    await bot.adapter.post_digest(HERE, digest)
    first, *rest = [m["ts"] for m in bot.slack.history[CHANNEL]]
    await bot.mention("what does #2 assume?", first)
    await bot.mention("and #25, what is its main result?", rest[-1])  # a later part: numbers are the digest's
    assert [q.paper_id for q in bot.answerer.asked] == [digest.cards[1].paper_id, digest.cards[24].paper_id]
    assert bot.answerer.asked[0].text == "what does #2 assume?"
    answers = [p for p in bot.slack.posts(CHANNEL) if p.args.get("thread_ts") == first]
    assert len(answers) == 1
    await bot.mention("what is this about?", first)  # no card named: told how to ask, privately
    assert len(bot.answerer.asked) == 2
    assert [e.args["text"] for e in bot.slack.ephemerals(CHANNEL)] == [BRIEFING_HINT]


async def test_in_the_thread_layout_a_reaction_on_a_card_and_a_question_naming_one_find_their_paper(
    bot: Bot,
) -> None:
    digest = digest_of(3, Layout.THREAD)
    await bot.adapter.post_digest(HERE, digest)
    header, _, second, _ = [m["ts"] for m in bot.slack.history[CHANNEL]]
    await bot.react("+1", second)
    assert bot.likes() == [(digest.cards[1].paper_id, LIKE, f"reaction:{USER}")]
    await bot.mention("what does #3 assume?", header)
    assert [q.paper_id for q in bot.answerer.asked] == [digest.cards[2].paper_id]


# --- a crash mid-way, in each layout -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "posted_before", "after_restart"),
    [
        pytest.param(Layout.CARDS, 4, Layout.CARDS, id="cards"),
        pytest.param(Layout.COMPACT, 1, Layout.COMPACT, id="compact"),
        pytest.param(Layout.THREAD, 1, Layout.THREAD, id="thread-header-only"),
        pytest.param(Layout.THREAD, 6, Layout.THREAD, id="thread-mid-cards"),
        # The channel changes its layout while the bot is down: the digest is finished as it was begun.
        pytest.param(Layout.THREAD, 3, Layout.COMPACT, id="thread-then-compact"),
        pytest.param(Layout.COMPACT, 1, Layout.THREAD, id="compact-then-thread"),
    ],
)
async def test_a_crash_mid_way_is_finished_by_the_restart_without_a_message_twice(
    slack: FakeSlack, layout: Layout, posted_before: int, after_restart: Layout
) -> None:
    engine = make_engine(config=make_config(digest={"limit": 20}))
    engine.store.subscribe(Subscription(id=0, channel=HERE, category="stat.ML"))
    layouts.set_layout(engine.store, HERE, layout)
    subscriptions = engine.store.channel_subscriptions(HERE)
    first = await started(slack, engine)
    slack.hold_posts_after(posted_before)
    delivery = asyncio.ensure_future(deliver_digest(engine, first, HERE, subscriptions))
    assert await slack.wait_async(lambda: slack.held == 1, timeout=15)  # the next post is on its way: kill
    delivery.cancel()
    await asyncio.gather(delivery, return_exceptions=True)
    slack.release_held()  # the post in flight never reached Slack
    await first.stop()
    [row] = Outbox(engine.store).unfinished()
    assert row.state == "sending" and len(parts_in(slack, CHANNEL)) == posted_before

    # The crash came between posting and recording too: the restart records what it finds.
    engine.store.db.conn.execute("DELETE FROM posted_messages")
    layouts.set_layout(engine.store, HERE, after_restart)
    restarted = await started(slack, engine)  # a new process: nothing remembered but the database
    try:
        assert await resume_unfinished(engine, {"slack": restarted}) == 1
    finally:
        await restarted.stop()
    parts = parts_in(slack, CHANNEL)
    assert sorted(part for part, _ in parts) == list(range(len(parts)))  # each part exactly once
    assert Outbox(engine.store).get(row.key).state == "sent"  # type: ignore[union-attr]
    assert engine.store.delivered_ids(HERE, list(row.paper_ids)) == set(row.paper_ids)
    if layout == Layout.THREAD:  # the cards went into the header's thread, before the crash and after it
        header_ts = slack.history[CHANNEL][0]["ts"]
        assert [thread for _, thread in parts] == [None] + [header_ts] * (len(parts) - 1)
        assert len(parts) == 1 + len(row.paper_ids)
        assert slack.count("conversations.replies") >= 1  # thread replies are not in the channel's history
    if layout == Layout.COMPACT:
        assert all(thread is None for _, thread in parts) and len(parts) < len(row.paper_ids)
    # Every part is recorded, those posted before the crash too: buttons, reactions and threads find them.
    for message in slack.history[CHANNEL]:
        if message.get("metadata"):
            found = posted_messages.find(engine.store, HERE, message["ts"])
            assert found is not None and found.outbox_key == row.key
            assert str(found.kind) == message["metadata"]["event_payload"]["kind"]
            assert found.thread_id == message.get("thread_ts")
            if found.kind == MessageKind.DIGEST:
                assert found.papers == row.paper_ids
            else:
                assert found.paper_id in (None, *row.paper_ids)
    await engine.aclose()


# --- what reaches the channel stays inert --------------------------------------------------------------

HOSTILE_TITLE = "Attention <!channel> @here <!here> <@U123> see <https://evil.example|arxiv.org> https://evil.example/x"


async def test_a_hostile_title_stays_inert_in_the_compact_message_its_buttons_and_the_thread_header(
    bot: Bot,
) -> None:
    paper = replace(STAT_PAPERS[0], title=HOSTILE_TITLE, authors=("@everyone", "<!subteam^S1|@team>"))
    cards = numbered((paper, *STAT_PAPERS[1:3]))
    for layout in (Layout.COMPACT, Layout.THREAD):
        await bot.adapter.post_digest(HERE, DigestMessage(("stat",), date(2024, 3, 26), cards, layout=layout))
    posts = bot.slack.posts(CHANNEL)
    sent = [text for post in posts for text in strings({"text": post.args["text"], "blocks": post.args["blocks"]})]
    assert not [problem for text in sent for problem in unsafe_parts(text)]
    compact = posts[0].args["blocks"]
    assert [value for _, value in buttons(compact)] == [card.paper_id for card in cards for _ in range(3)]
    labels = [e["accessibility_label"] for b in compact if b["type"] == "actions" for e in b["elements"]]
    assert labels[:3] == ["Explain #1", "More papers like #1", "Fewer papers like #1"]


@pytest.mark.parametrize("shape", list(HOSTILE_SHAPES))
def test_a_megabyte_of_hostile_text_in_every_layout_renders_bounded_and_safe(shape: str) -> None:
    text = HOSTILE_SHAPES[shape]
    paper = Paper(id="2403.00001", version=1, title=text, authors=(text,), categories=("stat.ML", text),
                  primary_category="stat.ML", abstract=text)  # fmt: skip
    card = make_card(paper, math_line=text, why=text)
    digest = DigestMessage(categories=("stat",), announced=None, cards=(card, card), more_count=1)
    drawn: dict[str, int] = {}
    for renderer, out in laid_out(digest):
        drawn[renderer] = drawn.get(renderer, 0) + len(out)
        if len(out) < 30_000:  # the checker is slow on big text
            assert not unsafe_parts(out), renderer
    assert set(drawn) == {f"{kind}.{layout}" for kind in ("slack.lay_out", "console.render_digest_text")
                          for layout in (Layout.COMPACT, Layout.THREAD)} | {
        f"discord.render_layout[{layout}]" for layout in (Layout.COMPACT, Layout.THREAD)}  # fmt: skip
    assert all(size < 4 * MAX_UNTRUSTED_CHARS for size in drawn.values()), drawn
