"""The Discord adapter end to end: the real discord.py client against a fake Discord (REST + gateway).

Nothing is patched: the client is pointed at the fake through ``[discord] api_url`` / ``gateway_url``,
the same configuration a proxy deployment uses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import discord
import pytest

from adapters.base import Adapter
from adapters.discord import (
    DiscordAdapter,
    check_discord,
    configure_endpoints,
    invite_url,
    invite_url_for,
    sync_commands,
)
from bot import taxonomy
from bot.commands import REGISTRY
from bot.config import Config, validate
from bot.delivery import Outcome, deliver_digest
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError, SourceError
from bot.models import ChannelRef, Subscription
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.fakes.discord_server import (
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    NO_MANAGE_CHANNELS,
    OTHER_CHANNEL_ID,
    PRIVILEGED_INTENTS,
    TOKEN,
    FakeDiscord,
)
from tests.support import FEED_MORNING, make_config, make_engine

HERE = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
THERE = ChannelRef("discord", str(GUILD_ID), str(OTHER_CHANNEL_ID))
EPHEMERAL = 64


def discord_config(fake: FakeDiscord, token: str | None = TOKEN, **sections: dict[str, object]) -> Config:
    values = validate({"discord": {"api_url": fake.api_url, "gateway_url": fake.gateway_url}, **sections})
    return Config(values=values, source="test", env={"DISCORD_TOKEN": token} if token else {})


@pytest.fixture(autouse=True)
def default_endpoints() -> Iterator[None]:
    """discord.py keeps its endpoints in class attributes: put the defaults back after each test."""
    yield
    configure_endpoints(make_config())


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


async def started(engine: Engine) -> DiscordAdapter:
    adapter = DiscordAdapter(engine, ready_timeout=10, guild_ready_timeout=0.05)
    await adapter.start()
    return adapter


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    adapter = await started(make_engine(config=discord_config(fake)))
    yield adapter
    await adapter.stop()


def follow(store: Store, channel: ChannelRef, *categories: str) -> None:
    for category in categories:
        store.subscribe(Subscription(id=0, channel=channel, category=category))


# --- connecting ------------------------------------------------------------------------------------


async def test_start_logs_in_and_returns_once_ready(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = await started(make_engine(config=discord_config(fake)))
    try:
        assert isinstance(adapter, Adapter) and adapter.platform == "discord"
        assert adapter.client.is_ready()
        session = await fake.wait_identified()
        assert session.identify is not None and session.identify["token"] == TOKEN
        intents = discord.Intents._from_value(session.identify["intents"])
        # Minimal: the channel cache, reactions (the radar learns) and messages (replies that ping the bot).
        assert intents == discord.Intents(guilds=True, guild_reactions=True, guild_messages=True)
        assert session.identify["intents"] & PRIVILEGED_INTENTS == 0  # members, presences, message content
        assert fake.gateway_queries == [{"v": "10", "encoding": "json", "compress": "zlib-stream"}]
        assert fake.calls_to("GET", "/users/@me")[0].headers["Authorization"] == f"Bot {TOKEN}"
        assert isinstance(adapter.client.get_channel(CHANNEL_ID), discord.TextChannel)  # GUILD_CREATE arrived
    finally:
        await adapter.stop()
        await adapter.stop()  # safe twice
    assert adapter.client.is_closed()
    assert TOKEN not in caplog.text


async def test_a_missing_or_rejected_token_is_a_config_error(fake: FakeDiscord) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        await DiscordAdapter(make_engine(config=discord_config(fake, token=None))).start()
    adapter = DiscordAdapter(make_engine(config=discord_config(fake, token="wrong")))
    with pytest.raises(ConfigError, match="Discord rejected DISCORD_TOKEN"):
        await adapter.start()
    assert adapter.client.is_closed()
    assert fake.sessions == []


async def test_start_gives_up_when_the_gateway_never_gets_ready(fake: FakeDiscord) -> None:
    fake.send_ready = False
    adapter = DiscordAdapter(make_engine(config=discord_config(fake)), ready_timeout=0.5)
    with pytest.raises(SourceError, match=r"no READY from ws://127\.0\.0\.1:\d+/gateway/ within 0\.5 s"):
        await adapter.start()
    assert adapter.client.is_closed()


# --- commands --------------------------------------------------------------------------------------


async def test_explain_defers_before_the_slow_fetch_then_follows_up_with_the_card(fake: FakeDiscord) -> None:
    with FakeArxivServer(latency_s=1.0) as arxiv:  # the export API answers after a second
        config = discord_config(fake)
        store = Store(":memory:")
        store.migrate()
        client = ArxivClient(arxiv.rss_url, arxiv.api_url, min_interval_s=0, retries=0, backoff_s=0)
        engine = Engine(config, store, client, now=lambda: FEED_MORNING)
        adapter = await started(engine)
        try:
            interaction = await fake.slash("explain", {"id": "arXiv:1605.08386"})
            callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
            followup = await fake.wait_for("POST", "/webhooks/")
        finally:
            await adapter.stop()
            await engine.aclose()
        api_call = arxiv.calls("/api/query")[0]
    assert callback.json == {"type": 5}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: "paperbot is thinking…", public
    assert callback.at < api_call.at  # acknowledged before the fetch started: its second is not waited for
    assert followup.at - callback.at >= 0.9  # the slow work happened in between
    card, *explanation = followup.json["embeds"]
    assert card["url"] == "https://arxiv.org/abs/1605.08386"
    assert card["footer"]["text"].startswith("1605.08386v")
    assert explanation and explanation[0]["title"] == "The math, explained"
    assert followup.json["allowed_mentions"] == {"parse": []}
    assert not followup.json.get("flags")


async def test_subscribe_needs_manage_channels(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    refused = await fake.slash("subscribe", {"category": "cs.LG"}, permissions=NO_MANAGE_CHANNELS)
    callback = await fake.wait_for("POST", f"/interactions/{refused['id']}/")
    assert callback.json["type"] == 4  # answered at once, privately
    assert callback.json["data"]["flags"] == EPHEMERAL
    assert "Manage Channels" in callback.json["data"]["content"]
    assert bot.engine.store.channel_subscriptions(HERE) == []

    allowed = await fake.slash("subscribe", {"category": "cs.LG", "time": "09:00", "timezone": "Europe/Berlin"})
    callback = await fake.wait_for("POST", f"/interactions/{allowed['id']}/")
    followup = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{allowed['token']}")
    assert callback.json == {"type": 5}
    assert followup.json["content"].startswith("This channel now follows cs.LG (Machine Learning). Digest at 09:00")
    [sub] = bot.engine.store.channel_subscriptions(HERE)
    assert (sub.category, sub.time, sub.timezone) == ("cs.LG", "09:00", "Europe/Berlin")


async def test_private_answers_are_deferred_privately(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    follow(bot.engine.store, HERE, "stat.ML")
    interaction = await fake.slash("list")
    callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
    followup = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert followup.json["flags"] == EPHEMERAL
    assert "• stat.ML (Machine Learning)" in followup.json["content"]


async def test_a_question_about_a_paper_is_answered_for_the_channel(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    await bot.engine.refresh(["stat"])
    interaction = await fake.slash("ask", {"id": "2403.15527", "question": "what coverage does it guarantee?"})
    callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
    followup = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
    assert callback.json == {"type": 5}  # public "thinking…", like an explanation
    assert not followup.json.get("flags") and "coverage" in str(followup.json)
    assert followup.json["allowed_mentions"] == {"parse": []}


async def test_an_error_after_a_public_deferral_is_answered_privately(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    interaction = await fake.slash("explain", {"id": "@everyone"})
    followup = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
    # The public "thinking…" message is deleted first: a first follow-up would inherit its visibility.
    deleted = fake.calls_to("DELETE", f"/webhooks/{APPLICATION_ID}/{interaction['token']}/messages/@original")
    assert deleted and deleted[0].at < followup.at
    assert followup.json["flags"] == EPHEMERAL
    assert "@\u200beveryone" in followup.json["content"]  # the user's own input, echoed inert
    assert "Traceback" not in followup.json["content"]


async def test_options_the_text_command_cannot_take_are_refused_with_the_usage(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    spaced = await fake.slash("subscribe", {"category": "machine learning"})
    zone_only = await fake.slash("subscribe", {"category": "cs.LG", "timezone": "Europe/Berlin"})
    for interaction, expected in ((spaced, "cannot contain spaces"), (zone_only, "Give the earlier options too")):
        callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
        assert callback.json["type"] == 4 and callback.json["data"]["flags"] == EPHEMERAL
        assert expected in callback.json["data"]["content"]
        assert "/paper subscribe <category>" in callback.json["data"]["content"]


async def test_digest_command_posts_and_records_the_delivery(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    """`/paper digest` posts to the channel with its outbox key as nonces, like a scheduled digest (so a
    restart after a crash cannot post it twice), and answers the person privately."""
    follow(bot.engine.store, HERE, "stat.ML")
    first = await fake.slash("digest")
    answer = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{first['token']}")
    assert answer.json["content"] == "Posted this channel's digest." and answer.json["flags"] == EPHEMERAL
    header, *cards = fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert header.json["content"].startswith("**arXiv digest · stat.ML · Tue 26 Mar 2024**\n10 papers below")
    [more] = header.json["embeds"]
    assert more["description"].startswith("… and 19 more in this announcement")
    assert len(cards) == 10  # one message per paper
    assert [len(c.json["embeds"]) for c in cards] == [1] * 10 and not any(c.json.get("content") for c in cards)
    assert cards[0].json["embeds"][0]["title"] == "1. Conformal online model aggregation"
    assert all(c.json["nonce"] and c.json["enforce_nonce"] is True for c in [header, *cards])
    assert bot.engine.store.digest_posted(HERE, date(2024, 3, 26), ("stat.ML",))

    again = await fake.slash("digest")
    answer = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{again['token']}")
    assert "already posted here" in answer.json["content"]
    assert answer.json["flags"] == EPHEMERAL
    assert fake.count("POST", f"/channels/{CHANNEL_ID}/messages") == 11


class _FailingEngine(Engine):
    """An engine whose storage breaks while planning a digest: an unexpected error."""

    async def plan_digest(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")


async def test_unexpected_errors_show_only_a_reference(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    base = make_engine(config=discord_config(fake))
    engine = _FailingEngine(base.config, base.store, base.arxiv, now=base.now)
    follow(engine.store, HERE, "stat.ML")
    adapter = await started(engine)
    try:
        interaction = await fake.slash("digest")
        answer = await fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
    finally:
        await adapter.stop()
    assert fake.count("POST", f"/channels/{CHANNEL_ID}/messages") == 0
    assert answer.json["flags"] == EPHEMERAL
    ref = answer.json["content"].split("reference ")[1].split(")")[0]
    assert "disk full" not in answer.json["content"]
    assert f"[ref {ref}]" in caplog.text and "disk full" in caplog.text


async def test_a_command_discord_knows_but_we_do_not_asks_for_a_sync(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    interaction = await fake.slash("frobnicate")
    callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
    assert callback.json["data"]["flags"] == EPHEMERAL
    assert "paperbot discord sync" in callback.json["data"]["content"]


# --- autocomplete ----------------------------------------------------------------------------------


async def choices(fake: FakeDiscord, sub: str, options: dict[str, str], focused: str) -> list[dict[str, str]]:
    interaction = await fake.autocomplete(sub, options, focused)
    callback = await fake.wait_for("POST", f"/interactions/{interaction['id']}/")
    assert callback.json["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    result: list[dict[str, str]] = callback.json["data"]["choices"]
    return result


async def test_category_autocompletes_from_the_taxonomy(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    got = await choices(fake, "subscribe", {"category": "cs.L"}, "category")
    assert [c["value"] for c in got] == [c.id for c in taxonomy.complete("cs.L", 25)]
    assert got[0] == {"name": "cs.LG — Machine Learning", "value": "cs.LG"}
    empty = await choices(fake, "subscribe", {"category": ""}, "category")
    assert len(empty) == 25 and empty[0]["value"] == "cs.LG"


async def test_time_zone_autocompletes(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    got = await choices(fake, "subscribe", {"category": "cs.LG", "time": "09:00", "timezone": "berl"}, "timezone")
    assert got[0]["value"] == "Europe/Berlin"


async def test_unsubscribe_autocompletes_this_channels_subscriptions(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    follow(bot.engine.store, HERE, "stat.ML", "cs.LG")
    follow(bot.engine.store, THERE, "math.OC")
    bot.engine.store.pause(HERE, "testing")
    got = await choices(fake, "unsubscribe", {"category": ""}, "category")
    assert got == [
        {"name": "cs.LG — Machine Learning (paused)", "value": "cs.LG"},
        {"name": "stat.ML — Machine Learning (paused)", "value": "stat.ML"},
    ]
    narrowed = await choices(fake, "unsubscribe", {"category": "st"}, "category")
    assert [c["value"] for c in narrowed] == ["stat.ML"]


# --- scheduled digests -----------------------------------------------------------------------------


async def test_post_digest_sends_embeds_with_a_stable_nonce_and_no_mentions(fake: FakeDiscord) -> None:
    config = discord_config(fake, digest={"limit": 0})  # every paper: several messages
    adapter = await started(make_engine(config=config))
    try:
        follow(adapter.engine.store, HERE, "stat.ML")
        subs = adapter.engine.store.channel_subscriptions(HERE)
        assert await deliver_digest(adapter.engine, adapter, HERE, subs) == Outcome.POSTED
    finally:
        await adapter.stop()
    posts = fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert len(posts) == 1 + 29  # the header, then every stat.ML paper of the recorded feed, one message each
    assert posts[0].json["content"].startswith("**arXiv digest · stat.ML · Tue 26 Mar 2024**\n29 papers below")
    assert [len(p.json["embeds"]) for p in posts[1:]] == [1] * 29
    nonces = [p.json["nonce"] for p in posts]
    assert len(set(nonces)) == len(posts) and all(len(n) <= 25 for n in nonces)
    assert all(p.json["enforce_nonce"] is True for p in posts)
    assert all(p.json["allowed_mentions"] == {"parse": []} for p in posts)


async def test_a_rate_limited_post_is_retried_with_the_same_nonce(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    fake.script("POST", f"/channels/{CHANNEL_ID}/messages", (429, {"retry_after": 0.05}))
    digest = bot.engine.digest_message(await bot.engine.preview(["stat.ML"], limit=1))
    await bot.post_digest(HERE, digest)
    first, second, card = fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert first.json["nonce"] == second.json["nonce"] != card.json["nonce"]


@pytest.mark.parametrize(
    ("status", "code", "message", "reason"),
    [
        (403, 50001, "Missing Access", "Missing Access"),
        (404, 10003, "Unknown Channel", "Unknown Channel: the channel was deleted"),
        (403, 50013, "Missing Permissions", "needs View Channel, Send Messages and Embed Links"),
    ],
)
async def test_a_lost_channel_is_unavailable(
    fake: FakeDiscord, bot: DiscordAdapter, status: int, code: int, message: str, reason: str
) -> None:
    fake.fail_channel(OTHER_CHANNEL_ID, status, code, message)
    digest = bot.engine.digest_message(await bot.engine.preview(["stat.ML"], limit=1))
    with pytest.raises(ChannelUnavailable, match=reason):
        await bot.post_digest(THERE, digest)


async def test_a_removed_channel_pauses_only_its_own_subscriptions(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    store = bot.engine.store
    follow(store, HERE, "stat.ML")
    follow(store, THERE, "stat.ML", "stat.ME")
    fake.fail_channel(OTHER_CHANNEL_ID, 403, 50001, "Missing Access")
    outcomes = {
        channel: await deliver_digest(bot.engine, bot, channel, store.channel_subscriptions(channel))
        for channel in (THERE, HERE)
    }
    assert outcomes == {THERE: Outcome.PAUSED, HERE: Outcome.POSTED}
    assert all("Missing Access" in (s.paused_reason or "") for s in store.channel_subscriptions(THERE))
    assert [s.paused_reason for s in store.channel_subscriptions(HERE)] == [None]
    assert fake.count("POST", f"/channels/{OTHER_CHANNEL_ID}/messages") == 1  # tried once, then paused
    assert fake.count("POST", f"/channels/{CHANNEL_ID}/messages") == 11  # the header, then ten papers


# --- operations ------------------------------------------------------------------------------------


def test_invite_url_asks_for_the_scopes_and_permissions_the_bot_needs() -> None:
    url = urlsplit(invite_url(APPLICATION_ID))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    assert query["client_id"] == str(APPLICATION_ID)
    assert query["scope"] == "bot applications.commands"
    permissions = discord.Permissions(int(query["permissions"]))
    assert permissions == discord.Permissions(
        view_channel=True, send_messages=True, embed_links=True, read_message_history=True
    )


async def test_the_invite_url_can_be_made_from_the_token_alone(fake: FakeDiscord) -> None:
    assert await invite_url_for(discord_config(fake)) == invite_url(APPLICATION_ID)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        await invite_url_for(discord_config(fake, token=None))


@pytest.mark.parametrize("guild", [None, GUILD_ID])
async def test_sync_registers_the_paper_group_from_the_registry(fake: FakeDiscord, guild: int | None) -> None:
    line = await sync_commands(discord_config(fake), guild)
    where = f"in guild {GUILD_ID}" if guild else "globally"
    assert line == f"Discord: synced 1 command(s) {where}: /paper"
    path = f"/applications/{APPLICATION_ID}" + (f"/guilds/{GUILD_ID}" if guild else "") + "/commands"
    assert fake.count("PUT", path) == 1
    [paper] = fake.commands[guild]
    assert paper["name"] == "paper"
    assert paper["contexts"] == [0] and paper["integration_types"] == [0]  # installed to and used in servers
    subs = {s["name"]: s for s in paper["options"]}
    assert list(subs) == list(REGISTRY)
    for name, command in REGISTRY.items():
        assert subs[name]["description"] == command.summary
        options = subs[name].get("options", [])
        assert [(o["name"], o["description"], o["required"]) for o in options] == [
            (p.name, p.description, p.required) for p in command.params
        ]
    autocompleted = {(s, o["name"]) for s in subs for o in subs[s].get("options", []) if o.get("autocomplete")}
    assert {
        ("subscribe", "category"),
        ("subscribe", "timezone"),
        ("unsubscribe", "category"),
        ("quiet", "mode"),
        ("radar", "action"),
    } <= autocompleted
    # Every feed, time zone and fixed choice is autocompleted, whatever sub-commands the registry grows.
    kinds = ("category", "timezone", "choice")
    assert autocompleted == {(n, p.name) for n, c in REGISTRY.items() for p in c.params if p.kind in kinds}
    assert fake.sessions == []  # sync never opens the gateway


async def test_doctor_checks_the_token(fake: FakeDiscord) -> None:
    assert await check_discord(discord_config(fake)) == [f"Discord: token OK for bot paperbot (id {APPLICATION_ID})"]
    assert await check_discord(discord_config(fake, token="wrong")) == [
        "Discord rejected DISCORD_TOKEN (401): copy the bot token again from the Developer Portal"
    ]
    assert await check_discord(discord_config(fake, token=None)) == [
        "Discord: DISCORD_TOKEN is not set (the Discord adapter stays off)"
    ]
