"""The /paper registry: every sub-command, its usage and its mistakes, through dispatch()."""

from __future__ import annotations

import pytest

from bot.commands import REGISTRY, Invocation, dispatch, help_text, parse
from bot.errors import UsageError
from bot.models import ChannelRef
from tests.support import FakeArxiv, api_body, make_engine

CHANNEL = ChannelRef("test", "w", "c")
INV = Invocation(channel=CHANNEL, user="u1")


def test_usage_is_generated_from_the_registry() -> None:
    assert REGISTRY["subscribe"].usage == "/paper subscribe <category> [HH:MM [Area/City]] [min:N]"
    assert REGISTRY["explain"].usage == "/paper explain <paper-id>"
    assert REGISTRY["list"].usage == "/paper list"
    text = help_text()
    for command in REGISTRY.values():
        assert command.usage in text and command.summary in text
    assert set(REGISTRY) >= {"explain", "subscribe", "unsubscribe", "list", "digest", "help"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Tell me what to do"),
        ("/paper", "Tell me what to do"),
        ("/paper frobnicate", "Unknown command 'frobnicate'"),
        ("/paper explain", "Usage: /paper explain <paper-id>"),
        ("/paper explain 1 2", "Usage: /paper explain <paper-id>"),
        ("/paper subscribe", "Usage: /paper subscribe <category> [HH:MM [Area/City]] [min:N]"),
        ("/paper subscribe cs.LG 09:00 Europe/Berlin extra", "Usage: /paper subscribe"),
        ("/paper explain " + "9" * 400, "too long"),
    ],
)
def test_parse_mistakes_answer_with_usage(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse(text)


def test_parse_accepts_with_or_without_the_prefix() -> None:
    assert parse("/paper SUBSCRIBE cs.LG")[1] == {"category": "cs.LG"}
    assert parse("subscribe cs.LG 9:30 UTC")[1] == {"category": "cs.LG", "time": "9:30", "timezone": "UTC"}


async def test_subscribe_list_unsubscribe_round_trip() -> None:
    engine = make_engine()
    reply = await dispatch(engine, INV, "/paper subscribe cs.lg")
    assert not reply.is_error
    assert reply.text.startswith(
        "This channel now follows cs.LG (Machine Learning). Digest at 00:30 America/New_York after each"
    )
    again = await dispatch(engine, INV, "/paper subscribe cs.LG 09:00 Europe/Berlin")
    assert "Schedule changed: 00:30 America/New_York → 09:00 Europe/Berlin" in again.text
    listed = await dispatch(engine, INV, "/paper list")
    assert "cs.LG (Machine Learning): Digest at 09:00 Europe/Berlin after each arXiv announcement" in listed.text
    gone = await dispatch(engine, INV, "/paper unsubscribe cs.LG")
    assert gone.text == "This channel no longer follows cs.LG."
    assert "follows no categories" in (await dispatch(engine, INV, "/paper list")).text


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # A new time and zone: what changed, old → new.
        ("", "09:00 Europe/Berlin", "already follows cs.LG (Machine Learning). Schedule changed: "
         "00:30 America/New_York → 09:00 Europe/Berlin."),
        # Only the time: the zone stays.
        ("07:00 Asia/Tokyo", "08:15", "Schedule changed: 07:00 Asia/Tokyo → 08:15 Asia/Tokyo."),
        # The same schedule again, or none given: nothing changed, and it says so.
        ("09:00 Europe/Berlin", "09:00 Europe/Berlin", "already follows cs.LG (Machine Learning); nothing changed."),
        ("09:00 Europe/Berlin", "", "already follows cs.LG (Machine Learning); nothing changed."),
        # The configured default spelled out is the same schedule.
        ("", "00:30 America/New_York", "nothing changed"),
    ],
)  # fmt: skip
async def test_subscribing_again_says_what_changed(first: str, second: str, expected: str) -> None:
    engine = make_engine()
    await dispatch(engine, INV, f"/paper subscribe cs.LG {first}")
    reply = await dispatch(engine, INV, f"/paper subscribe cs.LG {second}")
    assert not reply.is_error and expected in reply.text
    if "changed:" not in expected:
        assert "→" not in reply.text


async def test_subscribe_and_list_describe_the_schedule_in_the_same_words() -> None:
    engine = make_engine()
    for text in ("/paper subscribe cs.LG", "/paper subscribe math.OC 07:30 Asia/Tokyo"):
        said = (await dispatch(engine, INV, text)).text
        schedule = said.split(". ", 1)[1].rstrip(".")
        assert schedule.startswith("Digest at ")
        assert schedule in (await dispatch(engine, INV, "/paper list")).text


async def test_subscribing_again_keeps_the_other_settings_and_resumes() -> None:
    engine = make_engine()
    await dispatch(engine, INV, "/paper subscribe cs.LG")
    await dispatch(engine, INV, "/paper quiet say")
    engine.store.pause(CHANNEL, "channel_not_found")
    reply = await dispatch(engine, INV, "/paper subscribe cs.LG 09:00 UTC")
    assert reply.text.startswith("Resumed cs.LG (Machine Learning) for this channel. Schedule changed:")
    [sub] = engine.store.channel_subscriptions(CHANNEL)
    assert sub.paused_reason is None and sub.say_when_quiet and (sub.time, sub.timezone) == ("09:00", "UTC")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("subscrib cs.LG", "subscribe"),
        ("SUBSCRIBE", None),  # not a mistake: case does not matter
        ("lst", "list"),
        ("explian 2604.11422", "explain"),
        ("unsub cs.LG", "unsubscribe"),
        ("dgest", "digest"),
        ("stauts", "status"),
        ("hlep", "help"),
    ],
)
def test_a_mistyped_command_gets_a_did_you_mean_with_its_usage(typed: str, meant: str | None) -> None:
    if meant is None:
        parse(f"/paper {typed} cs.LG")
        return
    with pytest.raises(UsageError) as caught:
        parse(f"/paper {typed}")
    text = str(caught.value)
    assert f"Did you mean /paper {meant}?" in text
    assert f"Usage: {REGISTRY[meant].usage}" in text


def test_an_unknown_command_far_from_any_gets_the_help() -> None:
    with pytest.raises(UsageError) as caught:
        parse("/paper frobnicate")
    assert "Did you mean" not in str(caught.value) and help_text() in str(caught.value)


async def test_unknown_category_gets_the_closest_real_ones() -> None:
    reply = await dispatch(make_engine(), INV, "/paper subscribe cs.LF")
    assert reply.is_error and reply.ephemeral
    assert "Did you mean cs.LG (Machine Learning)" in reply.text


@pytest.mark.parametrize(
    ("args", "message"),
    [("25:00", "is not a time"), ("9am", "is not a time"), ("09:00 Mars/Base", "is not a time zone")],
)
async def test_bad_times_get_examples(args: str, message: str) -> None:
    reply = await dispatch(make_engine(), INV, f"/paper subscribe cs.LG {args}")
    assert reply.is_error and message in reply.text and "Europe/Berlin" in reply.text


async def test_unsubscribe_something_not_followed_says_what_is() -> None:
    engine = make_engine()
    await dispatch(engine, INV, "/paper subscribe math.OC")
    reply = await dispatch(engine, INV, "/paper unsubscribe cs.LG")
    assert reply.is_error and "does not follow cs.LG; it follows math.OC" in reply.text


async def test_managing_commands_need_permission() -> None:
    engine = make_engine()
    guest = Invocation(channel=CHANNEL, user="guest", can_manage=False)
    for text in ("/paper subscribe cs.LG", "/paper unsubscribe cs.LG", "/paper digest"):
        reply = await dispatch(engine, guest, text)
        assert reply.is_error and "Only people who can manage this channel" in reply.text
    assert not (await dispatch(engine, guest, "/paper list")).is_error
    assert engine.store.channel_subscriptions(CHANNEL) == []


async def test_explain_fetches_an_unknown_paper_from_the_api_once() -> None:
    fake = FakeArxiv(api={"1605.08386": api_body("id_1605.08386_s0_m100_199195aa31ad.json")})
    engine = make_engine(fake)
    reply = await dispatch(engine, INV, "/paper explain https://arxiv.org/abs/1605.08386v1")
    assert not reply.is_error
    assert reply.cards[0].title == "Heat-bath random walks with Markov bases"
    assert reply.explanation is not None and reply.explanation.source == "offline"
    assert "LLM" in reply.explanation.note
    await dispatch(engine, INV, "/paper explain arXiv:1605.08386")
    assert fake.count("/api/query") == 1  # the second time it comes from the store


async def test_explain_bad_and_unknown_ids() -> None:
    engine = make_engine()
    bad = await dispatch(engine, INV, "/paper explain 2604.1142")
    assert bad.is_error and "is not an arXiv id" in bad.text and "2604.11422" in bad.text
    unknown = await dispatch(engine, INV, "/paper explain 2604.11422")
    assert unknown.is_error and "2604.11422" in unknown.text


async def test_explain_when_arxiv_is_down_says_so_without_details() -> None:
    fake = FakeArxiv(status={"/api/": 503})
    reply = await dispatch(make_engine(fake), INV, "/paper explain 2604.11422")
    assert reply.is_error and "arXiv" in reply.text and "Traceback" not in reply.text


async def test_digest_posts_once_per_announcement() -> None:
    from bot.delivery import send_reply

    engine = make_engine()
    await dispatch(engine, INV, "/paper subscribe stat.ML")
    sent = []

    async def send(reply: object) -> None:
        sent.append(reply)

    first = await dispatch(engine, INV, "/paper digest")
    assert first.digest is not None and len(first.digest.cards) == 10 and first.digest.more_count > 0
    await send_reply(engine, first, send)
    second = await dispatch(engine, INV, "/paper digest")
    assert second.digest is None and "already posted here" in second.text


async def test_digest_without_subscriptions_explains_how() -> None:
    reply = await dispatch(make_engine(), INV, "/paper digest")
    assert reply.is_error and "/paper subscribe cs.LG" in reply.text


async def test_unexpected_errors_become_an_apology_with_a_reference(caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine()
    engine.store.close()  # every query now fails: a bug-shaped failure, not a user mistake
    reply = await dispatch(engine, INV, "/paper list")
    assert reply.is_error and "reference" in reply.text and "sqlite" not in reply.text.lower()
    assert "ref" in caplog.text


async def test_status_and_quiet_commands() -> None:
    engine = make_engine()
    await dispatch(engine, INV, "/paper subscribe stat.ML 09:00 UTC")
    reply = await dispatch(engine, INV, "/paper status")
    assert reply.ephemeral and "This channel follows 1 feed." in reply.text
    assert "stat.ML: next digest" in reply.text and "not fetched yet" in reply.text
    await engine.refresh(["stat.ML"])
    assert "stat.ML: 58 papers, announcement of 2024-03-26" in (await dispatch(engine, INV, "/paper status")).text
    said = await dispatch(engine, INV, "/paper quiet say")
    assert "gets one line saying so" in said.text
    assert engine.store.channel_subscriptions(CHANNEL)[0].say_when_quiet
    assert "Usage: /paper quiet say|skip" in (await dispatch(engine, INV, "/paper quiet loud")).text
    guest = Invocation(channel=CHANNEL, user="guest", can_manage=False)
    assert (await dispatch(engine, guest, "/paper quiet skip")).is_error


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("subscribe stat.ML 0９:0５", "Digest at 09:05"),  # full-width digits pasted from a phone
        ("subscribe stat.ML ０９:００ UTC", "Digest at 09:00 UTC"),
        ("he\u200blp", "/paper subscribe"),  # a zero-width space copied with the word
        ("ｈｅｌｐ", "/paper subscribe"),
        ("HELP\u200d", "/paper subscribe"),
    ],
)
async def test_pasted_commands_are_read_as_typed(typed: str, expected: str) -> None:
    engine = make_engine()
    reply = await dispatch(engine, Invocation(channel=ChannelRef("test", "w", "c")), typed)
    assert expected in reply.text, reply.text
    for sub in engine.store.channel_subscriptions(ChannelRef("test", "w", "c")):
        assert sub.time is None or sub.time.isascii()


async def test_a_time_zone_in_the_wrong_case_gets_a_did_you_mean() -> None:
    reply = await dispatch(make_engine(), Invocation(channel=ChannelRef("test", "w", "c")), "subscribe cs.LG 09:00 utc")
    assert "did you mean UTC?" in reply.text and reply.is_error


def test_a_rest_parameter_takes_every_remaining_word() -> None:
    from bot.commands import Param, SubCommand, parse_options

    async def echo(engine: object, inv: Invocation) -> object:
        return None

    command = SubCommand(
        "probe",
        "test",
        (Param("what", "a word", "choice", choices=("a", "b")), Param("words", "text", "rest")),
        echo,
        "/paper probe a some words",  # type: ignore[arg-type]
    )
    REGISTRY["probe"] = command
    try:
        assert parse("/paper probe a  score  matching in:cs.LG")[1] == {"what": "a", "words": "score matching in:cs.LG"}
        assert command.usage == "/paper probe a|b <words>"
        assert parse_options(command, {"what": "a", "words": "two words"}) == {"what": "a", "words": "two words"}
    finally:
        del REGISTRY["probe"]
