"""One inbound path for every adapter: the same scenarios, run against the terminal, Slack (the real bolt
app and slack_sdk against the fake Slack) and Discord (the real discord.py client against the fake
Discord), answer alike; and the pipeline itself (read once, permission asked only when needed, every
failure a typed answer or a reference id)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from adapters.console import CONSOLE_CHANNEL, ConsoleAdapter
from bot.cards import Reply
from bot.commands import REGISTRY, parse
from bot.engine import Engine
from bot.inbound import Request, answer, handle, read_options, read_text
from bot.models import ChannelRef, Subscription
from tests.fakes.discord_server import (
    ALL_PERMISSIONS,
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    NO_MANAGE_CHANNELS,
    FakeDiscord,
)
from tests.fakes.slack_server import TEAM_ID
from tests.support import make_engine
from tests.test_discord_adapter import default_endpoints, discord_config, fake, started  # noqa: F401 (fixtures)
from tests.test_slack_adapter import (  # noqa: F401 (fixtures)
    CHANNEL,
    PAPER,
    Make,
    make_harness,
    slack,
    slack_config,
    text_of,
)

ADMIN = "W_ADMIN"  # a Slack workspace admin; tests.test_slack_adapter.USER is not one
SECRET = "database password is hunter2"
REFERENCE = re.compile(r"Sorry, something went wrong on our side \(reference ([0-9a-f]{8})\)")


class Broken:
    """The engine with a bug: planning a digest and explaining a paper fail unexpectedly."""

    def __init__(self, inner: Engine) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def plan_digest(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET)

    async def explain(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET)


@dataclass(frozen=True)
class Answer:
    text: str
    private: bool | None  # None: the terminal has no private answers


class Driver(Protocol):
    channel: ChannelRef

    async def command(self, text: str, *, manager: bool = True) -> Answer: ...

    async def explain_button(self, paper_id: str) -> Answer: ...


class ConsoleDriver:
    channel = CONSOLE_CHANNEL

    def __init__(self, engine: Any) -> None:
        self.out = io.StringIO()
        self.adapter = ConsoleAdapter(engine, stdin=io.StringIO(""), stdout=self.out)

    async def command(self, text: str, *, manager: bool = True) -> Answer:
        if not manager:
            pytest.skip("the terminal has one person, who runs the bot and manages its one channel")
        start = len(self.out.getvalue())
        await self.adapter.handle_line(f"/paper {text}")
        return Answer(self.out.getvalue()[start:], None)

    async def explain_button(self, paper_id: str) -> Answer:  # no buttons: the command is the way
        return await self.command(f"explain {paper_id}")


class SlackDriver:
    channel = ChannelRef("slack", TEAM_ID, CHANNEL)

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        harness.slack.set_user(ADMIN, is_admin=True)

    async def command(self, text: str, *, manager: bool = True) -> Answer:
        from tests.test_slack_adapter import USER

        responses = await self.harness.command(text, user=ADMIN if manager else USER)
        return _slack_answer(responses)

    async def explain_button(self, paper_id: str) -> Answer:
        before = len(self.harness.slack.posts(CHANNEL))
        _, response_url = await self.harness.click(paper_id, message_ts="1711440000.000001")
        await self.harness.adapter.idle()
        posts = [p.args for p in self.harness.slack.posts(CHANNEL)[before:]]
        if posts:  # the explanation, under the card that was clicked
            assert all(p["thread_ts"] == "1711440000.000001" for p in posts)
            return Answer("\n".join(text_of(p) for p in posts), False)
        return _slack_answer(self.harness.responses(response_url))


def _slack_answer(responses: list[dict[str, Any]]) -> Answer:
    assert responses, "nothing was answered"
    private = {r["response_type"] == "ephemeral" for r in responses}
    assert len(private) == 1
    return Answer("\n".join(text_of(r) for r in responses), private.pop())


class DiscordDriver:
    channel = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))

    def __init__(self, server: FakeDiscord) -> None:
        self.fake = server

    async def command(self, text: str, *, manager: bool = True) -> Answer:
        command, options = parse(text)  # what a person picks in Discord's form for this text
        return await self.slash(command.name, options, manager=manager)

    async def explain_button(self, paper_id: str) -> Answer:  # no buttons on a Discord card: the command
        return await self.slash("explain", {"id": paper_id})

    async def slash(self, name: str, options: dict[str, str], *, manager: bool = True) -> Answer:
        permissions = ALL_PERMISSIONS if manager else NO_MANAGE_CHANNELS
        interaction = await self.fake.slash(name, options, permissions=permissions)
        callback = await self.fake.wait_for("POST", f"/interactions/{interaction['id']}/")
        if callback.json["type"] == 4:  # answered at once
            data = callback.json["data"]
            return Answer(str(data.get("content")), data.get("flags") == 64)
        followup = await self.fake.wait_for("POST", f"/webhooks/{APPLICATION_ID}/{interaction['token']}")
        body = followup.json
        shown = f"{body.get('content') or ''}\n{json.dumps(body.get('embeds') or [], ensure_ascii=False)}"
        return Answer(shown, body.get("flags") == 64)


MakeDriver = Callable[[Any], Awaitable[Driver]]


@pytest.fixture(params=["console", "slack", "discord"])
def platform(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The platform under test and its fake (a Slack harness maker, a fake Discord); only its own starts.
    A plain fixture: it asks for the async ones, which cannot be asked for inside a running loop."""
    name: str = request.param
    if name == "slack":
        return name, request.getfixturevalue("make_harness")
    if name == "discord":
        return name, request.getfixturevalue("fake")
    return name, None


@pytest.fixture
async def make_driver(platform: tuple[str, Any]) -> AsyncIterator[MakeDriver]:
    """Builds the adapter under test around an engine."""
    name, fake_platform = platform
    adapters: list[Any] = []

    async def make(engine: Any) -> Driver:
        if name == "slack":
            return SlackDriver(await fake_platform(engine))
        if name == "discord":
            adapters.append(await started(engine))
            return DiscordDriver(fake_platform)
        return ConsoleDriver(engine)

    yield make
    for adapter in adapters:
        await adapter.stop()


@pytest.fixture
def engine(platform: tuple[str, Any]) -> Engine:
    """An engine for the platform under test (Discord reads its endpoints from the engine's config)."""
    name, fake_platform = platform
    return make_engine(config=discord_config(fake_platform)) if name == "discord" else make_engine()


# --- the contract: every adapter, the same scenarios --------------------------------------------------


async def test_a_good_command_is_answered_for_the_channel(make_driver: MakeDriver, engine: Engine) -> None:
    driver = await make_driver(engine)
    said = await driver.command("subscribe stat.ML")
    assert "This channel now follows stat.ML (Machine Learning)" in said.text
    assert said.private in (False, None)  # everyone sees what the channel now gets
    assert engine.store.find_subscription(driver.channel, "stat.ML") is not None


async def test_a_usage_mistake_answers_privately_with_the_usage(make_driver: MakeDriver, engine: Engine) -> None:
    driver = await make_driver(engine)
    engine.store.subscribe(Subscription(id=0, channel=driver.channel, category="stat.ML"))
    said = await driver.command("quiet loudly")
    assert said.private in (True, None)
    assert "Usage: /paper quiet say" in said.text and "Example: /paper quiet say" in said.text
    assert "Traceback" not in said.text


async def test_a_person_who_may_not_manage_the_channel_is_refused(make_driver: MakeDriver, engine: Engine) -> None:
    driver = await make_driver(engine)
    said = await driver.command("subscribe stat.ML", manager=False)
    assert said.private is True
    assert "Only people" in said.text and "can use /paper subscribe" in said.text
    assert engine.store.channel_subscriptions(driver.channel) == []


async def test_an_unexpected_error_shows_only_a_reference(
    make_driver: MakeDriver, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Broken(engine)
    driver = await make_driver(broken)
    engine.store.subscribe(Subscription(id=0, channel=driver.channel, category="stat.ML"))
    for said in (await driver.command("digest"), await driver.explain_button(PAPER)):
        assert said.private in (True, None)
        found = REFERENCE.search(said.text)
        assert found is not None, said.text
        assert SECRET not in said.text and "RuntimeError" not in said.text
        assert f"[ref {found.group(1)}]" in caplog.text  # logged with the reference …
    assert SECRET in caplog.text and "Traceback" in caplog.text  # … and the traceback


async def test_the_explain_button_goes_through_the_same_path(make_driver: MakeDriver, engine: Engine) -> None:
    await engine.refresh(["stat"])
    driver = await make_driver(engine)
    said = await driver.explain_button(PAPER)
    assert said.private in (False, None)  # an explanation is worth sharing
    assert "Conformal online model aggregation" in said.text
    unknown = await driver.explain_button("2403.99999")
    assert unknown.private in (True, None) and "not found on arXiv" in unknown.text
    # A value the command would refuse is refused the same way, with the command's usage.
    spaced = await driver.explain_button("2403.15527 and more")
    assert spaced.private in (True, None)
    assert "Usage: /paper explain" in spaced.text.replace("&lt;", "<")


# --- the pipeline itself ---------------------------------------------------------------------------

HERE = ChannelRef("test", "", "c1")


@pytest.mark.parametrize(
    "text",
    [
        "explain 2604.11422",
        "explain ２６０４.１１４２２\u200b",
        "subscribe cs.LG",
        "subscribe cs.LG 09:00",
        "subscribe cs.LG 09:00 Europe/Berlin",
        "subscribe hf min:10",
        "subscribe hf 07:30 UTC min:5",
        "unsubscribe stat.ML",
        "quiet say",
        "list",
        "digest",
        "help",
    ],
)
def test_typed_options_read_as_the_same_text_does(text: str) -> None:
    from_text = read_text(text)
    assert from_text.command is not None and from_text.mistake is None
    typed = read_options(from_text.command.name, dict(from_text.args))
    assert (typed.command, dict(typed.args), typed.mistake) == (from_text.command, dict(from_text.args), None)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("subscribe", {"category": "machine learning"}, "`category` cannot contain spaces"),
        ("subscribe", {"category": "cs.LG", "timezone": "Europe/Berlin"}, "Give the earlier options too"),
        ("explain", {"id": "9" * 400}, "That is too long for a command (400 characters)"),
        ("explain", {"id": "  "}, "Usage: /paper explain <paper-id>"),
        ("frobnicate", {}, "Unknown command 'frobnicate'"),
    ],
)
async def test_typed_option_mistakes_are_answered_privately(name: str, options: dict[str, str], expected: str) -> None:
    reply = await answer(make_engine(), Request(read_options(name, options), HERE, can_manage=True))
    assert reply.is_error and reply.ephemeral
    assert expected in reply.text


async def test_an_upvote_floor_needs_no_time_before_it() -> None:
    """A named floor is not one of the nested optional values: `subscribe hf min:10` as typed options."""
    engine = make_engine()
    reply = await answer(
        engine, Request(read_options("subscribe", {"category": "hf", "min": "min:10"}), HERE, can_manage=True)
    )
    assert not reply.is_error, reply.text
    [sub] = engine.store.channel_subscriptions(HERE)
    assert (sub.category, sub.min_upvotes) == ("hf", 10)


async def test_permission_is_asked_only_for_commands_that_change_the_channel() -> None:
    engine = make_engine()
    asked: list[str] = []

    async def may_manage() -> bool:
        asked.append("asked")
        return False

    for text in ("help", "list", "explain 2403.99999", "usage", "status"):
        await answer(engine, Request(read_text(text), HERE, can_manage=may_manage))
    assert asked == []
    refused = await answer(engine, Request(read_text("subscribe cs.LG"), HERE, can_manage=may_manage))
    assert asked == ["asked"] and refused.is_error and "Only people who can manage" in refused.text


async def test_a_failing_permission_check_is_an_apology(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> bool:
        raise RuntimeError(SECRET)

    reply = await answer(make_engine(), Request(read_text("subscribe cs.LG"), HERE, can_manage=broken))
    found = REFERENCE.search(reply.text)
    assert reply.is_error and found is not None and SECRET not in reply.text
    assert f"[ref {found.group(1)}]" in caplog.text


async def test_a_failure_while_answering_is_an_apology_and_a_failing_apology_escapes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[Reply] = []

    async def send_once(reply: Reply) -> None:
        sent.append(reply)
        if len(sent) == 1:
            raise RuntimeError(SECRET)

    request = Request(read_text("help"), HERE)
    await handle(make_engine(), request, send_once)
    assert len(sent) == 2 and REFERENCE.search(sent[1].text) and SECRET not in sent[1].text

    async def send_never(reply: Reply) -> None:
        raise OSError("the platform is gone")

    with pytest.raises(OSError):  # the adapter's own last resort (a log line) takes it from here
        await handle(make_engine(), request, send_never)


def test_every_sub_command_can_be_read_from_typed_options() -> None:
    for command in REGISTRY.values():
        required = {p.name: "x" for p in command.params if p.required}
        assert read_options(command, required).mistake is None, command.name


async def test_discord_options_go_in_as_typed_not_as_text_parsed_again(fake: FakeDiscord) -> None:  # noqa: F811
    """An upvote floor picked alone in Discord's form (no time before it) subscribes with it; read as
    rejoined text it used to be refused as an option given without the earlier ones."""
    engine = make_engine(config=discord_config(fake))
    adapter = await started(engine)
    try:
        said = await DiscordDriver(fake).slash("subscribe", {"category": "hf", "min": "min:10"})
    finally:
        await adapter.stop()
    assert "This channel now follows Hugging Face Daily Papers, at least 10 upvotes" in said.text
    [sub] = engine.store.channel_subscriptions(DiscordDriver.channel)
    assert (sub.category, sub.min_upvotes) == ("hf", 10)
