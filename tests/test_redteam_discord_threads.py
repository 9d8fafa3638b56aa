"""Hostile MESSAGE_CREATE payloads against the real discord.py client (fake Discord, gateway): replies that
point elsewhere, at deleted messages, in loops or in chains a thousand long, from webhooks, or with
thousands of mentions. Each is ignored or answered shortly, with a bounded number of requests, nothing
escapes into discord.py's log, and the next real question is answered."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from bot import posted_messages
from bot.cards import Reply
from bot.posted_messages import MessageKind
from bot.questions import MAX_THREAD_MESSAGES
from tests.fakes.discord_server import BOT_USER_ID, CHANNEL_ID, GUILD_ID, OTHER_CHANNEL_ID, OTHER_USER_ID, FakeDiscord
from tests.test_discord_adapter import HERE
from tests.test_discord_replies import (  # noqa: F401 (fixtures)
    Answerer,
    answerer,
    bot,
    cards_posted,
    default_endpoints,
    eventually,
    fake,
    paper_of,
    posts,
    replies_to,
)


async def _deliver(fake: FakeDiscord, message: dict[str, Any]) -> None:  # noqa: F811
    fake.messages[int(message["id"])] = message
    await fake.dispatch("MESSAGE_CREATE", fake.seen_by_bot(message))


async def _still_answers(fake: FakeDiscord, card: dict[str, Any], answerer: Answerer) -> None:  # noqa: F811
    before = len(answerer.asked)
    question = await fake.say("still there?", reply_to=int(card["id"]))
    await eventually(lambda: bool(replies_to(fake, question)))
    assert len(answerer.asked) == before + 1, [q.text for q in answerer.asked]


async def test_replies_pointing_elsewhere_or_at_nothing_ask_nothing(
    fake: FakeDiscord,  # noqa: F811
    bot: DiscordAdapter,  # noqa: F811
    answerer: Answerer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, cards = await cards_posted(fake, bot)
    card = cards[0]
    # In another channel, replying to the card's id as if it were there.
    elsewhere = fake.user_message(
        f"<@{BOT_USER_ID}> about this?", reply_to=int(card["id"]), channel_id=OTHER_CHANNEL_ID
    )
    # Here, but the reference names another guild's channel.
    foreign = fake.user_message("and this?", reply_to=int(card["id"]))
    foreign["message_reference"].update(channel_id="1", guild_id="2")
    # A reply to a message that was deleted since (Discord sends referenced_message null).
    gone = fake.user_message(f"<@{BOT_USER_ID}> gone?", reply_to=int(card["id"]))
    gone["message_reference"]["message_id"] = "123456789012345678"
    gone["referenced_message"] = None
    # A webhook's message that pings the bot (a feed relay, say).
    hook = fake.user_message(f"<@{BOT_USER_ID}> relayed text", reply_to=int(card["id"]))
    hook["webhook_id"] = "999999999999999999"
    for message in (elsewhere, foreign, gone, hook):
        await _deliver(fake, message)
    await _still_answers(fake, card, answerer)
    await bot.idle()
    assert [q.text for q in answerer.asked] == ["still there?"]
    assert replies_to(fake, gone) == [] and replies_to(fake, hook) == []
    assert "Ignoring exception" not in caplog.text and "Traceback" not in caplog.text


async def test_a_reply_chain_that_loops_or_is_a_thousand_long_costs_a_bounded_walk(
    fake: FakeDiscord,  # noqa: F811
    bot: DiscordAdapter,  # noqa: F811
    answerer: Answerer,  # noqa: F811
) -> None:
    _, cards = await cards_posted(fake, bot)
    paper = paper_of(bot, cards[0])
    parent = int(cards[0]["id"])
    for n in range(1_000):
        said = fake.user_message(f"<@{BOT_USER_ID}> step {n}", reply_to=parent, author_id=OTHER_USER_ID)
        parent = int(said["id"])
    # A loop: the top of the chain is made to reply to its own bottom.
    first = next(m for m in fake.messages.values() if m.get("content") == f"<@{BOT_USER_ID}> step 0")
    first["message_reference"]["message_id"] = str(parent)
    answer = fake.user_message("an answer", reply_to=parent, bot_author=True)
    posted_messages.record(bot.engine.store, HERE, answer["id"], MessageKind.ANSWER, paper_id=paper)
    gets = fake.count("GET", f"/channels/{CHANNEL_ID}/messages/")
    question = await fake.say("so?", reply_to=int(answer["id"]))
    await eventually(lambda: bool(replies_to(fake, question)))
    # The cost of the walk is counted, not timed: at most one message fetched per place in the thread.
    assert fake.count("GET", f"/channels/{CHANNEL_ID}/messages/") - gets <= MAX_THREAD_MESSAGES
    assert len(answerer.asked[0].thread) <= MAX_THREAD_MESSAGES


async def test_thousands_of_mentions_make_one_bounded_question(
    fake: FakeDiscord,  # noqa: F811
    bot: DiscordAdapter,  # noqa: F811
    answerer: Answerer,  # noqa: F811
) -> None:
    _, cards = await cards_posted(fake, bot)
    message = fake.user_message(
        f"<@{BOT_USER_ID}> " * 2_000 + "what? " + "<@1234> " * 2_000, reply_to=int(cards[0]["id"])
    )
    message["mentions"] += [fake.person(1000 + n) for n in range(2_000)]
    message["mention_everyone"] = True
    await _deliver(fake, message)
    await eventually(lambda: bool(replies_to(fake, message)))
    await bot.idle()
    [asked] = answerer.asked
    assert asked.text.startswith("what?") and len(asked.text) <= 20_000
    assert len(posts(fake)) >= 1 and GUILD_ID


async def test_a_limit_reached_is_told_but_not_recorded_as_an_answer_about_the_paper(
    fake: FakeDiscord,  # noqa: F811
    bot: DiscordAdapter,  # noqa: F811
    answerer: Answerer,  # noqa: F811
) -> None:
    """Discord has no private replies: the limit is said in the channel, and a 👍 on it likes nothing."""
    _, cards = await cards_posted(fake, bot)
    answerer.reply = Reply(
        text="You have asked 10 questions in the last hour; ask again after 14:00 UTC.", ephemeral=True
    )
    question = await fake.say("one more?", reply_to=int(cards[0]["id"]))
    await eventually(lambda: bool(replies_to(fake, question)))
    [told] = replies_to(fake, question)
    [sent] = [m for m in fake.messages.values() if m.get("nonce") == told.json["nonce"]]
    assert posted_messages.find(bot.engine.store, HERE, sent["id"]) is None
