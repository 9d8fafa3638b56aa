"""Equation images reaching the platforms through their real SDKs: slack_sdk's files_upload_v2 against the fake
Slack (into the explanation's thread, titled, with alt text, paced, a failure leaving the text alone), and
discord.py sending attachments with embeds that show them against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import discord
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord_attachments import equation_attachments
from adapters.slack_uploads import upload_equation_images
from bot.cards import EquationImage, ExplanationEquation, render_images_text
from bot.equation_images import equation_image, render_png
from bot.untrusted import WORD_JOINER
from tests.fakes.discord_server import APPLICATION_ID, FakeDiscord
from tests.fakes.slack_server import FakeSlack, error, server_error

CHANNEL = "C123"
THREAD = "1711440000.000001"


@pytest.fixture(scope="module")
def png_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for name, tex in (("a", r"\frac{1}{N}\sum_{i=1}^{N}x_{i}"), ("b", r"\sqrt{a^{2}+b^{2}}")):
        path = folder / f"{name}.png"
        path.write_bytes(render_png(tex))
        paths.append(path)
    return paths


def _images(paths: list[Path]) -> list[EquationImage]:
    labels = [("3", "(1/N) ∑ᵢ xᵢ"), ("A.2", "√(a² + b²) @everyone <!channel>")]
    return [
        equation_image(
            ExplanationEquation(label, "\\frac{1}{N}", text, f"https://arxiv.org/html/2501.00001v2#S3.E{label}"), path
        )
        for (label, text), path in zip(labels, paths, strict=True)
    ]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


# --- Slack ---------------------------------------------------------------------------------------------------


async def test_slack_uploads_the_images_into_the_explanations_thread(slack: FakeSlack, png_files: list[Path]) -> None:
    paced: list[str] = []

    async def pace(channel: str) -> None:
        paced.append(channel)

    images = _images(png_files)
    uploaded = await upload_equation_images(_client(slack), CHANNEL, THREAD, images, pace=pace)
    assert uploaded == 2
    assert paced == [CHANNEL]  # one message in the thread, one turn of the channel's pacing
    assert slack.count("files.getUploadURLExternal") == 2 and slack.count("upload") == 2
    (shared,) = slack.shared_files
    assert shared["channel"] == CHANNEL and shared["thread_ts"] == THREAD
    assert [f["name"] for f in shared["files"]] == ["eq-3.png", "eq-A-2.png"]
    assert [f["title"] for f in shared["files"]] == ["Eq. (3)", "Eq. (A.2)"]
    assert [f["size"] for f in shared["files"]] == [p.stat().st_size for p in png_files]
    alt = [f["alt_txt"] for f in shared["files"]]
    assert alt[0] == "(1/N) ∑ᵢ xᵢ"
    assert "@everyone" not in alt[1] and "<!channel>" not in alt[1] and f"@{WORD_JOINER}" in alt[1]


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("files.getUploadURLExternal", error("missing_scope")),  # the app lacks files:write
        ("upload", server_error(500)),
        ("files.completeUploadExternal", error("not_in_channel")),
    ],
)
async def test_a_failed_upload_is_logged_and_nothing_raises(
    slack: FakeSlack, png_files: list[Path], method: str, answer: object, caplog: pytest.LogCaptureFixture
) -> None:
    slack.script(method, answer)  # type: ignore[arg-type]
    assert await upload_equation_images(_client(slack), CHANNEL, THREAD, _images(png_files)) == 0
    assert slack.shared_files == []
    assert any("not uploaded" in r.getMessage() for r in caplog.records)


async def test_missing_files_are_skipped(slack: FakeSlack, png_files: list[Path], tmp_path: Path) -> None:
    gone, kept = _images([tmp_path / "evicted.png", png_files[1]])
    assert await upload_equation_images(_client(slack), CHANNEL, THREAD, [gone, kept]) == 1
    assert [f["name"] for f in slack.shared_files[0]["files"]] == ["eq-A-2.png"]
    assert await upload_equation_images(_client(slack), CHANNEL, THREAD, [gone]) == 0
    assert slack.count("files.getUploadURLExternal") == 1  # nothing asked for a file that is not there


# --- Discord -------------------------------------------------------------------------------------------------


@pytest.fixture
async def discord_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        # How the adapter points discord.py at [discord] api_url (configure_endpoints): a class setting.
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_url.rstrip("/"))
        yield fake


async def test_discord_follow_up_attaches_the_images_and_embeds_show_them(
    discord_fake: FakeDiscord, png_files: list[Path]
) -> None:
    attachments = await equation_attachments(_images(png_files))
    assert [f.filename for f in attachments.files] == ["eq-3.png", "eq-A-2.png"]
    async with aiohttp.ClientSession() as session:
        # The interaction follow-up is this webhook (application id + interaction token).
        followup = discord.Webhook.partial(APPLICATION_ID, "interaction-token", session=session)
        message = await followup.send(
            embeds=attachments.embeds,
            files=attachments.files,
            wait=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
    call = discord_fake.calls_to("POST", "/webhooks/")[-1]
    assert [(f["field"], f["filename"]) for f in call.files] == [("files[0]", "eq-3.png"), ("files[1]", "eq-A-2.png")]
    assert [f["size"] for f in call.files] == [p.stat().st_size for p in png_files]
    assert call.files[0]["data"].startswith(b"\x89PNG")
    payload = call.json
    assert [e["image"]["url"] for e in payload["embeds"]] == ["attachment://eq-3.png", "attachment://eq-A-2.png"]
    assert [e["title"] for e in payload["embeds"]] == ["Eq. (3)", "Eq. (A.2)"]
    assert payload["embeds"][0]["url"] == "https://arxiv.org/html/2501.00001v2#S3.E3"
    described = [a["description"] for a in payload["attachments"]]
    assert described[0] == "(1/N) ∑ᵢ xᵢ"
    assert "@everyone" not in described[1] and "<!channel>" not in described[1]
    assert payload["allowed_mentions"] == {"parse": []}
    assert [a.filename for a in message.attachments] == ["eq-3.png", "eq-A-2.png"]


async def test_discord_names_stay_unique_and_missing_files_are_left_out(png_files: list[Path], tmp_path: Path) -> None:
    first, second = _images(png_files)
    same_label = EquationImage(second.path, first.label, second.tex, second.unicode, second.url)
    gone = EquationImage(str(tmp_path / "gone.png"), "Eq. (9)", "x", "x")
    attachments = await equation_attachments([first, same_label, gone])
    assert [f.filename for f in attachments.files] == ["eq-3.png", "eq-3-2.png"]
    assert [e.image.url for e in attachments.embeds] == ["attachment://eq-3.png", "attachment://eq-3-2.png"]


# --- console -------------------------------------------------------------------------------------------------


def test_console_shows_the_unicode_form_and_the_image_path(png_files: list[Path]) -> None:
    text = render_images_text(tuple(_images(png_files)))
    assert "Eq. (3) (1/N) ∑ᵢ xᵢ" in text and f"image: {png_files[0]}" in text


async def test_console_prints_them_after_the_explanation(png_files: list[Path]) -> None:
    import io

    from adapters.console import ConsoleAdapter
    from bot.cards import Explanation, Reply

    out = io.StringIO()
    adapter = ConsoleAdapter(engine=None, stdin=io.StringIO(), stdout=out)  # type: ignore[arg-type]
    images = tuple(_images(png_files))
    await adapter._send(Reply(explanation=Explanation(source="offline", text="The math.", images=images)))
    printed = out.getvalue()
    assert printed.index("The math.") < printed.index("Equation images:") < printed.index(str(png_files[1]))
    assert "@everyone" not in printed
