"""What the Discord adapter posts is recorded (cards, headers, explanations), and reactions on it teach the
channel's radar: the real discord.py client against the fake Discord, raw reaction events through the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from typing import Any

import pytest

from adapters.discord import DiscordAdapter, configure_endpoints
from adapters.discord_feedback import reaction_weight
from bot import posted_messages, radar_teachers
from bot.delivery import Outcome, deliver_digest
from bot.outbox import Outbox, key_for
from bot.posted_messages import MessageKind
from bot.radar import Radar
from tests.fakes.discord_server import APPLICATION_ID, BOT_USER_ID, CHANNEL_ID, OTHER_USER_ID, USER_ID, FakeDiscord
from tests.support import make_config, make_engine
from tests.test_discord_adapter import HERE, discord_config, follow, started

THUMBS_UP, THUMBS_DOWN, STAR, GLOWING = "\N{THUMBS UP SIGN}", "\N{THUMBS DOWN SIGN}", "\N{WHITE MEDIUM STAR}", "🌟"


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds: gateway events are handled in the client's own time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def default_endpoints() -> Iterator[None]:
    """discord.py keeps its endpoints in class attributes: put the defaults back after each test."""
    yield
    configure_endpoints(make_config())


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    adapter = await started(make_engine(config=discord_config(fake)))
    yield adapter
    await adapter.stop()


def bot_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    """What the bot posted in the channel, oldest first."""
    return [
        m
        for m in fake.messages.values()
        if m["author"]["id"] == str(BOT_USER_ID) and m["channel_id"] == str(CHANNEL_ID)
    ]


async def posted_digest(fake: FakeDiscord, bot: DiscordAdapter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Deliver this channel's stat.ML digest; its header message and its card messages."""
    follow(bot.engine.store, HERE, "stat.ML")
    assert await deliver_digest(bot.engine, bot, HERE, bot.engine.store.channel_subscriptions(HERE)) == Outcome.POSTED
    header, *cards = bot_messages(fake)
    return header, cards


def likes(bot: DiscordAdapter) -> set[tuple[str, float, str]]:
    return {(e.value, e.weight, e.origin) for e in Radar(bot.engine.store).entries(HERE) if e.kind == "like"}


# --- what is recorded ------------------------------------------------------------------------------


async def test_every_digest_message_is_recorded_with_its_paper_and_outbox_key(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    header, cards = await posted_digest(fake, bot)
    store = bot.engine.store
    row = Outbox(store).get(key_for(HERE, date(2024, 3, 26), ("stat.ML",)))
    assert row is not None and row.state == "sent"
    head = posted_messages.find(store, HERE, header["id"])
    assert head is not None and head.kind == MessageKind.HEADER and head.paper_id is None
    assert head.outbox_key == row.key
    found = [posted_messages.find(store, HERE, card["id"]) for card in cards]
    assert all(f is not None and f.kind == MessageKind.CARD and f.outbox_key == head.outbox_key for f in found)
    shown = [card["embeds"][0]["footer"]["text"].split("v")[0] for card in cards]  # the id on each card
    assert [f.paper_id for f in found if f is not None] == shown
    assert len(cards) == 10


async def test_a_public_explanation_is_recorded_and_a_private_answer_is_not(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await bot.engine.refresh(["stat"])
    interaction = await fake.slash("explain", {"id": "2403.15527"})
    followup = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
    assert followup.query.get("wait") in ("1", "true")  # Discord answers with the message, and so its id
    await eventually(lambda: any(m.get("webhook_id") for m in bot_messages(fake)))
    [sent] = [m for m in bot_messages(fake) if m.get("webhook_id")]
    await eventually(lambda: posted_messages.find(bot.engine.store, HERE, sent["id"]) is not None)
    recorded = posted_messages.find(bot.engine.store, HERE, sent["id"])
    assert recorded is not None and (recorded.kind, recorded.paper_id) == (MessageKind.EXPLANATION, "2403.15527")

    private = await fake.slash("list")
    answer = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{private['token']}")
    assert answer.json["flags"] == 64
    [listed] = [m for m in bot_messages(fake) if m.get("webhook_id") and m["flags"] == 64]
    assert posted_messages.find(bot.engine.store, HERE, listed["id"]) is None


# --- reactions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emoji", "weight"),
    [
        (THUMBS_UP, 1.0),
        (THUMBS_UP + "\U0001f3fd", 1.0),  # a skin tone
        (THUMBS_UP + "\U0001f3ff", 1.0),
        (THUMBS_UP + "\ufe0f", 1.0),
        (STAR, 1.0),
        (GLOWING, 1.0),
        (THUMBS_DOWN, -1.0),
        (THUMBS_DOWN + "\U0001f3fb", -1.0),
        ("🎉", None),
        ("❤️", None),
        ("", None),
        (None, None),
    ],
)
def test_which_reactions_mean_something(emoji: str | None, weight: float | None) -> None:
    assert reaction_weight(emoji) == weight


def test_a_custom_emoji_means_nothing_whatever_its_name() -> None:
    assert reaction_weight(THUMBS_UP, custom=True) is None


async def test_a_thumbs_up_on_a_card_likes_its_paper_and_taking_it_back_undoes_it(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    _, cards = await posted_digest(fake, bot)
    card = int(cards[2]["id"])
    paper = posted_messages.find(bot.engine.store, HERE, str(card))
    assert paper is not None and paper.paper_id
    origin = f"reaction:{USER_ID}"

    await fake.react(card, THUMBS_UP + "\U0001f3fe")
    await eventually(lambda: likes(bot) == {(paper.paper_id, 1.0, origin)})
    await fake.react(card, THUMBS_UP)  # the same person again, another tone: still one entry
    await fake.react(card, STAR)
    await fake.react(card, THUMBS_UP, user_id=OTHER_USER_ID)  # another person: an entry of their own
    other = f"reaction:{OTHER_USER_ID}"
    await eventually(lambda: (paper.paper_id, 1.0, other) in likes(bot))
    assert likes(bot) == {(paper.paper_id, 1.0, origin), (paper.paper_id, 1.0, other)}
    assert "like" in {e.kind for e in Radar(bot.engine.store).entries(HERE)}  # shown by /paper radar list

    await fake.unreact(card, THUMBS_UP)  # removes exactly that person's entry
    await eventually(lambda: likes(bot) == {(paper.paper_id, 1.0, other)})
    await fake.unreact(card, THUMBS_UP)  # again: nothing left to take back, nothing breaks
    await fake.react(cards[3]["id"], THUMBS_DOWN, user_id=OTHER_USER_ID)  # a sentinel: handled after the above
    await eventually(lambda: len(likes(bot)) == 2)
    assert likes(bot) == {
        (paper.paper_id, 1.0, other),
        (cards[3]["embeds"][0]["footer"]["text"].split("v")[0], -1.0, other),
    }


async def test_a_thumbs_down_is_a_dislike_and_the_latest_reaction_wins(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    _, cards = await posted_digest(fake, bot)
    card = int(cards[0]["id"])
    paper = posted_messages.find(bot.engine.store, HERE, str(card))
    assert paper is not None and paper.paper_id
    origin = f"reaction:{USER_ID}"
    await fake.react(card, THUMBS_UP)
    await fake.react(card, THUMBS_DOWN)
    await eventually(lambda: likes(bot) == {(paper.paper_id, -1.0, origin)})
    await fake.unreact(card, THUMBS_UP)  # the like was replaced by the dislike: taking it back leaves the dislike
    await fake.react(cards[1]["id"], GLOWING)  # sentinel
    await eventually(lambda: len(likes(bot)) == 2)
    assert (paper.paper_id, -1.0, origin) in likes(bot)
    await fake.unreact(card, THUMBS_DOWN)
    await eventually(lambda: len(likes(bot)) == 1)
    assert all(pid != paper.paper_id for pid, _, _ in likes(bot))


async def test_reactions_that_are_not_a_readers_verdict_on_a_paper_are_ignored(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    header, cards = await posted_digest(fake, bot)
    someone = await fake.say("nice paper list", ping=False)
    await fake.react(int(cards[0]["id"]), THUMBS_UP, user_id=BOT_USER_ID)  # the bot's own reaction
    await fake.react(int(header["id"]), THUMBS_UP)  # the header is about no paper
    await fake.react(int(someone["id"]), THUMBS_UP)  # a message the bot did not post
    await fake.react(int(cards[0]["id"]), "🎉")  # an emoji that means nothing to the radar
    await fake.react(int(cards[0]["id"]), "thumbsup:123456789012345678")  # a server's custom emoji
    await fake.react(999_999_999_999, THUMBS_UP)  # a message unknown altogether
    sentinel = int(cards[5]["id"])
    await fake.react(sentinel, THUMBS_UP)
    await eventually(lambda: len(likes(bot)) == 1)
    found = posted_messages.find(bot.engine.store, HERE, str(sentinel))
    assert found is not None
    assert likes(bot) == {(found.paper_id, 1.0, f"reaction:{USER_ID}")}


async def test_one_persons_reactions_are_capped_and_another_persons_are_never_displaced(
    fake: FakeDiscord, bot: DiscordAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(radar_teachers, "MAX_LEARNED_PER_PERSON", 2)  # the rule, at a size a test reaches fast
    _, cards = await posted_digest(fake, bot)
    await fake.react(int(cards[0]["id"]), THUMBS_UP, user_id=OTHER_USER_ID)
    for card in cards[:5]:
        await fake.react(int(card["id"]), THUMBS_UP)
    await fake.react(int(cards[6]["id"]), THUMBS_DOWN, user_id=OTHER_USER_ID)  # a sentinel: handled after the above
    await eventually(lambda: any(weight < 0 for _, weight, _ in likes(bot)))
    papers = [posted_messages.find(bot.engine.store, HERE, str(card["id"])) for card in cards[:7]]
    ids = [found.paper_id for found in papers if found is not None]
    mine = [e.value for e in Radar(bot.engine.store).entries(HERE) if e.origin == f"reaction:{USER_ID}"]
    assert mine == ids[3:5]  # five reactions: the newest two kept
    assert {(pid, w) for pid, w, origin in likes(bot) if origin == f"reaction:{OTHER_USER_ID}"} == {
        (ids[0], 1.0),
        (ids[6], -1.0),
    }
