"""A channel's digest in each layout on Discord (cards, compact, thread): drawn within Discord's limits,
posted through the real discord.py client against the fake Discord, recorded so that questions, reactions
and buttons find their paper, and never posted twice when a run is resent after a crash."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import replace
from typing import Any

import pytest

from adapters import discord_posting
from adapters.discord import DiscordAdapter
from adapters.discord_embeds import (
    CONTENT_LIMIT,
    EMBEDS_PER_MESSAGE,
    MESSAGE_EMBED_TOTAL,
    DiscordMessage,
    embed_units,
    render_digest,
    units,
)
from adapters.discord_layouts import (
    CUSTOM_ID_LIMIT,
    THREAD_NAME_LIMIT,
    button_id,
    read_button,
    render_compact,
    render_layout,
    render_thread,
)
from bot import posted_messages, questions
from bot.cards import DigestMessage, Layout, Reply
from bot.engine import Engine
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.questions import ThreadQuestion
from bot.radar import DISLIKE, LIKE, Radar
from tests.fakes.discord_server import BOT_USER_ID, CHANNEL_ID, GUILD_ID, OTHER_USER_ID, FakeDiscord
from tests.support_discord_layouts import (  # noqa: F401 (the fixtures)
    EPHEMERAL,
    bot_posts,
    custom_ids,
    duplicates,
    fake_discord,
    layout_digest,
    reset_discord_endpoints,
    started_adapter,
    started_bot,
    stat_cards,
)
from tests.support_payload_safety import strings, unsafe_parts
from tests.support_waiting import BACKSTOP_S, until

HERE = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
KEY = "outbox-key-1"


def within_limits(message: DiscordMessage) -> None:
    assert len(message.embeds) <= EMBEDS_PER_MESSAGE
    assert message.embed_units <= MESSAGE_EMBED_TOTAL
    assert units(message.content or "") <= CONTENT_LIMIT
    rows = [b.row for b in message.buttons]
    assert all(0 <= r < 5 for r in rows) and all(rows.count(r) <= 5 for r in set(rows))
    assert all(len(b.custom_id) <= CUSTOM_ID_LIMIT and len(b.label) <= 80 for b in message.buttons)


def split_only_at_a_limit(messages: list[DiscordMessage]) -> None:
    """Each message but the last is full: by count, or by size (the next card would not have fit)."""
    for message, following in itertools.pairwise(messages):
        if not following.papers:
            continue  # the "… and N more" embed alone
        assert len(message.embeds) == EMBEDS_PER_MESSAGE or (
            message.embed_units + embed_units(following.embeds[0]) > MESSAGE_EMBED_TOTAL
        )


# --- drawing ---------------------------------------------------------------------------------------------


def test_a_compact_digest_holds_every_card_in_as_few_messages_as_discord_allows() -> None:
    digest = layout_digest(Layout.COMPACT, 10)
    messages = render_compact(digest)
    for message in messages:
        within_limits(message)
    titles = [embed.title or "" for m in messages for embed in m.embeds]
    assert [t.split(". ", 1)[0] for t in titles] == [str(n) for n in range(1, 11)]
    split_only_at_a_limit(messages)
    assert messages[0].content and messages[0].content.startswith("**arXiv digest")
    assert all(m.papers == digest.paper_ids for m in messages)  # "#n" means card n under any of them


def test_each_compact_message_has_a_like_and_a_dislike_button_per_paper_it_shows_numbered_as_its_card() -> None:
    digest = layout_digest(Layout.COMPACT, 10)
    number = 0
    for message in render_compact(digest):
        expected: list[str] = []
        labels: list[str] = []
        for embed in message.embeds:
            number += 1
            paper = digest.paper_ids[number - 1]
            assert embed.footer.text and embed.footer.text.startswith(paper)
            expected += [f"paper:like:{paper}", f"paper:dislike:{paper}"]
            labels += [f"👍 {number}", f"👎 {number}"]
        assert [b.custom_id for b in message.buttons] == expected
        assert [b.label for b in message.buttons] == labels


def test_ten_cards_and_the_rest_of_the_announcement_are_one_compact_message() -> None:
    digest = layout_digest(Layout.COMPACT, 10, more=30)
    [message] = render_compact(digest)
    within_limits(message)
    assert len(message.embeds) == 10 and len(message.buttons) == 20
    assert message.content and "… and 30 more in this announcement at [" in message.content
    # The listing's link is written so that Discord shows no preview of the page under the message.
    assert "](<https://arxiv.org/list/stat/new>)" in message.content
    assert not unsafe_parts(message.content)


def test_the_rest_of_the_announcement_is_an_embed_when_a_long_header_leaves_the_content_no_room() -> None:
    feeds = tuple(f"biorxiv:subject_number_{n}" for n in range(120))
    digest = replace(layout_digest(Layout.COMPACT, 9, more=30), categories=feeds)
    messages = render_compact(digest)
    for message in messages:
        within_limits(message)
    assert len(messages) == 1 and len(messages[0].embeds) == 10  # nine cards and the "more" embed still fit
    assert "30 more" not in (messages[0].content or "")
    assert "30 more" in (messages[0].embeds[-1].description or "")
    full = render_compact(replace(digest, cards=stat_cards(10)))  # ten cards: the "more" embed is an eleventh
    assert [len(m.embeds) for m in full] == [10, 1] and not full[1].buttons


def test_a_compact_digest_splits_at_ten_embeds_and_at_six_thousand_characters() -> None:
    many = render_compact(layout_digest(Layout.COMPACT, 25, more=40))
    split_only_at_a_limit(many)
    assert sum(len(m.buttons) for m in many) == 50
    assert many[0].content and "40 more" in many[0].content
    long_cards = tuple(replace(c, teaser="word " * 400, authors="A. Author, " * 60) for c in stat_cards(10))
    heavy = render_compact(layout_digest(Layout.COMPACT, cards=long_cards))
    assert len(heavy) > 1 and all(len(m.embeds) < EMBEDS_PER_MESSAGE for m in heavy)
    split_only_at_a_limit(heavy)
    for message in [*many, *heavy]:
        within_limits(message)
    assert all(len(m.buttons) == 2 * len(m.embeds) for m in heavy)


def test_a_thread_digest_is_a_header_naming_its_papers_then_one_card_per_message_in_its_thread() -> None:
    digest = layout_digest(Layout.THREAD, 10, more=3)
    header, *cards = render_thread(digest)
    assert header.papers == digest.paper_ids and header.paper_id is None and not header.in_thread
    assert header.thread_name and len(header.thread_name) <= THREAD_NAME_LIMIT
    assert header.thread_name.startswith("arXiv digest · stat")
    assert header.embeds and "3 more" in (header.embeds[0].description or "")
    assert [c.paper_id for c in cards] == list(digest.paper_ids) and all(c.in_thread for c in cards)
    assert [c.embeds[0].title.split(".")[0] for c in cards if c.embeds[0].title] == [str(n) for n in range(1, 11)]


def test_notes_and_empty_digests_look_the_same_in_every_layout() -> None:
    for layout in Layout:
        note = DigestMessage(("stat",), None, (), note="No announcement today.", layout=layout)
        empty = DigestMessage(("stat",), None, (), layout=layout)
        assert render_layout(note) == render_digest(note) and render_layout(empty) == render_digest(empty)
    cards = layout_digest(Layout.CARDS, 3)
    assert [m.paper_id for m in render_layout(cards)] == [None, *cards.paper_ids]


def test_a_button_id_reads_back_and_nothing_else_does() -> None:
    assert read_button(button_id("like", "2403.16871")) == (LIKE, "2403.16871")
    assert read_button(button_id("dislike", "10.1101/2024.03.26.586789")) == (DISLIKE, "10.1101/2024.03.26.586789")
    for other in (
        "",
        "paper:",
        "paper:love:2403.1",
        "paper:like:",
        "paper:like: ",
        "x:like:1",
        "paper:like:" + "9" * 95,
    ):
        assert read_button(other) is None


def test_a_paper_whose_id_would_overflow_a_custom_id_gets_no_buttons_but_its_card() -> None:
    cards = stat_cards(2)
    long_id = replace(cards[1], paper_id="10.1101/" + "9" * 95)
    [message] = render_compact(layout_digest(Layout.COMPACT, cards=(cards[0], long_id)))
    assert len(message.embeds) == 2 and [b.custom_id for b in message.buttons] == [
        button_id("like", cards[0].paper_id),
        button_id("dislike", cards[0].paper_id),
    ]


# --- posting through discord.py ----------------------------------------------------------------------------


def recorded(bot: DiscordAdapter, message: dict[str, Any], channel: ChannelRef = HERE) -> posted_messages.PostedMessage:
    found = posted_messages.find(bot.engine.store, channel, message["id"])
    assert found is not None
    return found


async def test_a_compact_digest_is_posted_as_few_messages_with_buttons_and_recorded_with_its_papers(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.COMPACT, 25)
    await bot.post_digest_keyed(HERE, digest, KEY)
    posts = bot_posts(fake, CHANNEL_ID)
    drawn = render_compact(digest)
    assert len(posts) == len(drawn) == 3
    assert sum(len(m["embeds"]) for m in posts) == 25
    assert all(len(m["embeds"]) <= EMBEDS_PER_MESSAGE for m in posts)
    assert [custom_ids(m) for m in posts] == [[b.custom_id for b in d.buttons] for d in drawn]
    for message in posts:
        row = recorded(bot, message)
        assert row.kind == MessageKind.DIGEST and row.papers == digest.paper_ids and row.outbox_key == KEY
    calls = [c for c in fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")]
    assert all(c.json["nonce"] and c.json["enforce_nonce"] is True for c in calls)
    assert all(c.json["allowed_mentions"] == {"parse": []} for c in calls)
    assert not bot.client.persistent_views  # nothing kept per message
    assert not fake.threads


async def test_a_compact_digest_of_ten_cards_is_posted_as_one_message_naming_the_rest_of_the_announcement(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.COMPACT, 10, more=30)
    await bot.post_digest_keyed(HERE, digest, KEY)
    [post] = bot_posts(fake, CHANNEL_ID)
    assert len(post["embeds"]) == 10 and len(custom_ids(post)) == 20
    assert "… and 30 more in this announcement" in post["content"]
    assert recorded(bot, post).papers == digest.paper_ids


async def test_a_thread_digest_posts_the_header_then_its_cards_in_the_thread_started_from_it(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.THREAD, 10)
    await bot.post_digest_keyed(HERE, digest, KEY)
    [header] = bot_posts(fake, CHANNEL_ID)
    [start] = fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages/{header['id']}/threads")
    assert start.json["name"].startswith("arXiv digest · stat") and len(start.json["name"]) <= THREAD_NAME_LIMIT
    cards = bot_posts(fake, header["id"])  # a thread started from a message has its id
    assert len(cards) == 10 and all(len(c["embeds"]) == 1 for c in cards)
    head = recorded(bot, header)
    assert head.kind == MessageKind.DIGEST and head.papers == digest.paper_ids
    thread = ChannelRef("discord", str(GUILD_ID), header["id"])
    rows = [recorded(bot, card, thread) for card in cards]
    assert [r.paper_id for r in rows] == list(digest.paper_ids)
    assert all(r.kind == MessageKind.CARD and r.thread_id == header["id"] and r.outbox_key == KEY for r in rows)


async def test_a_thumbs_up_on_a_card_in_the_digest_thread_likes_its_paper(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.THREAD, 3)
    await bot.post_digest_keyed(HERE, digest, KEY)
    [header] = bot_posts(fake, CHANNEL_ID)
    second = bot_posts(fake, header["id"])[1]
    await fake.react(int(second["id"]), "\N{THUMBS UP SIGN}", channel_id=int(header["id"]))
    thread = ChannelRef("discord", str(GUILD_ID), header["id"])
    # The reaction arrives through the gateway and is handled in the client's own time.
    await until(lambda: bool(Radar(bot.engine.store).entries(thread)), what="the reaction taught the radar")
    [entry] = Radar(bot.engine.store).entries(thread)
    assert entry.value == digest.paper_ids[1] and entry.weight == LIKE


class Answerer:
    """Stands in for bot.questions.answer_question: records the question the adapter built."""

    def __init__(self) -> None:
        self.asked: list[ThreadQuestion] = []
        self.called = asyncio.Event()

    async def __call__(self, engine: Engine, question: ThreadQuestion) -> Reply:
        del engine
        self.asked.append(question)
        self.called.set()
        return Reply(text="It assumes a Lipschitz score.")


@pytest.mark.parametrize("layout", [Layout.COMPACT, Layout.THREAD])
async def test_a_question_naming_a_card_number_under_the_digest_message_is_about_that_paper(
    fake: FakeDiscord, bot: DiscordAdapter, monkeypatch: pytest.MonkeyPatch, layout: Layout
) -> None:
    answerer = Answerer()
    monkeypatch.setattr(questions, "answer_question", answerer)
    digest = layout_digest(layout, 25 if layout is Layout.COMPACT else 10)
    await bot.post_digest_keyed(HERE, digest, KEY)
    posts = bot_posts(fake, CHANNEL_ID)
    last = posts[-1]  # for compact, a later part: "#2" still means card 2 as the reader sees it numbered
    await fake.say(f"<@{BOT_USER_ID}> what does #2 assume?", reply_to=int(last["id"]))
    await asyncio.wait_for(answerer.called.wait(), timeout=BACKSTOP_S)  # the backstop only turns a hang into a failure
    await bot.idle()
    [question] = answerer.asked
    assert question.paper_id == digest.paper_ids[1] and question.text == "what does #2 assume?"
    answers = [m for m in bot_posts(fake, CHANNEL_ID) if m.get("message_reference")]
    assert len(answers) == 1 and "Lipschitz" in answers[0]["content"]


# --- buttons -----------------------------------------------------------------------------------------------


def likes(bot: DiscordAdapter) -> list[tuple[str, float, str]]:
    return [(e.value, e.weight, e.origin) for e in Radar(bot.engine.store).entries(HERE) if e.kind == "like"]


async def press(fake: FakeDiscord, message: dict[str, Any], custom_id: str, **kw: Any) -> str:
    """Press a button; the bot's private answer to it."""
    before = fake.count("POST", "/interactions/")
    await fake.press(int(message["id"]), custom_id, **kw)
    call = await fake.wait_for("POST", "/interactions/", before + 1)
    assert call.json["type"] == 4 and call.json["data"]["flags"] & EPHEMERAL
    assert call.json["data"]["allowed_mentions"] == {"parse": []}
    return str(call.json["data"]["content"])


async def test_a_button_press_teaches_the_radar_once_and_the_latest_verdict_wins(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.COMPACT, 10)
    await bot.post_digest_keyed(HERE, digest, KEY)
    first = bot_posts(fake, CHANNEL_ID)[0]
    third = digest.paper_ids[2]
    assert "👍 noted for #3" in await press(fake, first, button_id("like", third))
    assert likes(bot) == [(third, LIKE, f"reaction:{_user(fake)}")]
    assert "already" in await press(fake, first, button_id("like", third))
    assert likes(bot) == [(third, LIKE, f"reaction:{_user(fake)}")]  # pressed twice, counted once
    assert "👎 noted for #3" in await press(fake, first, button_id("dislike", third))
    assert likes(bot) == [(third, DISLIKE, f"reaction:{_user(fake)}")]
    await press(fake, first, button_id("like", third), user_id=OTHER_USER_ID)
    assert len(likes(bot)) == 2  # another person counts on their own


async def test_a_forged_button_naming_a_paper_not_in_that_message_is_refused_and_changes_nothing(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    digest = layout_digest(Layout.COMPACT, 25)
    await bot.post_digest_keyed(HERE, digest, KEY)
    first, second, _ = bot_posts(fake, CHANNEL_ID)
    # A paper of no digest; a paper of this digest shown under another message of it.
    for forged in (button_id("like", "2401.99999"), custom_ids(second)[0]):
        assert "does not belong" in await press(fake, first, forged)
    assert likes(bot) == []
    # The same paper's button on the message that shows it is fine.
    assert "noted" in await press(fake, second, custom_ids(second)[0])
    assert len(likes(bot)) == 1


async def test_buttons_that_are_not_the_bots_are_left_alone(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    await bot.post_digest_keyed(HERE, layout_digest(Layout.COMPACT, 2), KEY)
    await fake.press(int(bot_posts(fake, CHANNEL_ID)[0]["id"]), "someone-elses:button")
    await fake.press(int(bot_posts(fake, CHANNEL_ID)[0]["id"]), button_id("like", "2403.16871"))  # a sync point
    await fake.wait_for("POST", "/interactions/", 1)
    assert fake.count("POST", "/interactions/") == 1


def _user(fake: FakeDiscord) -> str:
    return str(fake.interaction_payload("help")["member"]["user"]["id"])


# --- crash safety ------------------------------------------------------------------------------------------


class Crash(Exception):
    """The process dies: after Discord took a part, before it was recorded."""


@pytest.mark.parametrize("layout", list(Layout))
async def test_a_digest_resent_after_a_crash_posts_nothing_twice(
    fake: FakeDiscord, bot: DiscordAdapter, monkeypatch: pytest.MonkeyPatch, layout: Layout
) -> None:
    digest = layout_digest(layout, 25 if layout is Layout.COMPACT else 10)
    record = posted_messages.record
    taken = 0

    def dies_at_the_third_part(*args: Any, **kwargs: Any) -> None:
        nonlocal taken
        taken += 1
        if taken == 3:
            raise Crash
        record(*args, **kwargs)

    monkeypatch.setattr(discord_posting.posted_messages, "record", dies_at_the_third_part)
    with pytest.raises(Crash):
        await bot.post_digest_keyed(HERE, digest, KEY)
    monkeypatch.setattr(discord_posting.posted_messages, "record", record)
    await bot.post_digest_keyed(HERE, digest, KEY)  # the outbox's resend
    await bot.post_digest_keyed(HERE, digest, KEY)  # and once more, as if it crashed at the very end
    drawn = render_layout(digest)
    assert len(bot_posts(fake)) == len(drawn) and duplicates(fake) == 0
    assert fake.deduped == 3 + len(drawn)  # the parts sent before the crash, then all of them again
    if layout is Layout.THREAD:
        [header] = bot_posts(fake, CHANNEL_ID)
        assert list(fake.threads) == [int(header["id"])] and len(bot_posts(fake, header["id"])) == 10
        assert fake.count("POST", f"/channels/{CHANNEL_ID}/messages/{header['id']}/threads") == 3  # 160004 twice
    thread = ChannelRef("discord", str(GUILD_ID), bot_posts(fake, CHANNEL_ID)[0]["id"])
    where = thread if layout is Layout.THREAD else HERE
    cards = [m for m in bot_posts(fake) if m["channel_id"] == where.channel and m["embeds"]]
    assert all(posted_messages.find(bot.engine.store, where, m["id"]) is not None for m in cards)


# --- where no thread can be --------------------------------------------------------------------------------


async def test_a_channel_that_refuses_threads_gets_the_cards_layout_and_the_log_says_why(
    fake: FakeDiscord, bot: DiscordAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord")
    fake.refuse_threads(CHANNEL_ID, 403, 50013, "Missing Permissions")
    digest = layout_digest(Layout.THREAD, 4)
    await bot.post_digest_keyed(HERE, digest, KEY)
    header, *cards = bot_posts(fake, CHANNEL_ID)
    assert [recorded(bot, c).paper_id for c in cards] == list(digest.paper_ids)
    assert fake.edits == [int(header["id"])] and "one per message" in header["content"]
    assert "thread" not in header["content"]
    assert "Missing Permissions" in caplog.text and "cards" in caplog.text
    assert recorded(bot, header).papers == digest.paper_ids  # "#n" under the header still finds its card


async def test_a_channel_type_without_threads_gets_cards_without_asking_discord(
    fake: FakeDiscord, bot: DiscordAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord")
    fake.guilds[0].channels[0].type = 2  # now a voice channel's text chat, as the gateway would tell
    await bot.stop()
    again = await started_adapter(fake)
    try:
        await again.post_digest_keyed(HERE, layout_digest(Layout.THREAD, 3), KEY)
    finally:
        await again.stop()
    assert len(bot_posts(fake, CHANNEL_ID)) == 4 and not fake.threads
    assert not [c for c in fake.calls if c.path.endswith("/threads")]
    assert "a voice channel cannot hold threads" in caplog.text


async def test_a_direct_message_gets_the_cards_layout(
    fake: FakeDiscord, bot: DiscordAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord")
    direct = ChannelRef("discord", "", "645027906669510999")
    await bot.post_digest_keyed(direct, layout_digest(Layout.THREAD, 3), KEY)
    assert len(bot_posts(fake, direct.channel)) == 4 and not fake.threads
    assert "a direct message cannot hold threads" in caplog.text


# --- payload safety ----------------------------------------------------------------------------------------

HOSTILE = "@everyone <@123> <@&456> [x](http://evil.example) \u202eevil\u202c @here"


@pytest.mark.parametrize("layout", [Layout.COMPACT, Layout.THREAD])
def test_a_hostile_title_and_teaser_stay_inert_in_every_part_of_the_layout(layout: Layout) -> None:
    cards = tuple(replace(c, title=HOSTILE, teaser=HOSTILE, authors=HOSTILE) for c in stat_cards(3))
    digest = replace(layout_digest(layout, cards=cards), categories=(HOSTILE,))
    texts: list[str] = []
    for message in render_layout(digest):
        texts += [message.content or "", message.thread_name or "", *(b.label for b in message.buttons)]
        texts += [text for embed in message.embeds for text in strings(embed.to_dict())]
    problems = [(text, p) for text in texts for p in unsafe_parts(text)]
    assert not problems, problems[:3]
    assert all(label[:2] in ("👍 ", "👎 ") and label[2:].isdigit() for m in render_layout(digest) for label in (
        b.label for b in m.buttons))  # fmt: skip
