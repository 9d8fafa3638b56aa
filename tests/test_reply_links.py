"""An answer's own links (its equations' places in the paper, the full text it was answered from) are real
links on every platform, wherever the HTML versions are served from; a URL in the answer's text stays text.

The full text is the recorded paper's (tests.support_questions) served by the fake arXiv at 127.0.0.1: a host
that is not a source's own, as a configured ``[sources.arxiv] html_url`` mirror is. In the answer's text such
a URL is defanged like any untrusted link, so the links travel in ``Reply.links`` and each renderer draws them.
Each test renders to what is sent (Slack blocks JSON, Discord content and embed dicts, terminal text).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters import discord_embeds, slack_blocks
from bot.cards import Link, Reply, render_reply_text
from bot.commands import Invocation, dispatch
from bot.engine import Engine
from bot.explain.providers import AnthropicProvider
from bot.explain.service import Explainer
from bot.models import ChannelRef
from bot.questions import ThreadQuestion, answer_question, ask_paper
from bot.sources.arxiv import ArxivClient
from bot.store import Store
from tests.fakes import FakeArxivServer
from tests.fakes.llm_server import FakeLLMServer, ToolInput
from tests.support import make_config
from tests.support_payload_safety import discord_strings, strings, unsafe_parts
from tests.support_questions import RECORDED_PAPER, recorded_full_text, remember_full_text

MODEL = "claude-haiku-5-5"
CHANNEL = ChannelRef("slack", "T1", "C1")
BACKDOOR = "What does Eq. (2) measure about the backdoor trigger?"
EVIL = "https://evil.example/login"
JOINERS = ("\u2060", "\u200b")


@pytest.fixture
async def make(arxiv_server: FakeArxivServer, tmp_path: Path) -> AsyncIterator[Callable[..., Engine]]:
    """Engines on a store holding the recorded paper, its full text already read from the fake arXiv."""
    engines: list[Engine] = []

    def build(llm: FakeLLMServer | None = None) -> Engine:
        database = tmp_path / f"p{len(engines)}.db"
        store = Store(database)
        store.migrate()
        store.save_papers([RECORDED_PAPER])
        remember_full_text(database, recorded_full_text(url=page(arxiv_server)))
        config = make_config(**{"sources.arxiv": {"html_url": arxiv_server.html_url}, "llm": {"timeout_s": 2.0}})
        client = ArxivClient(arxiv_server.rss_url, arxiv_server.api_url, html_url=arxiv_server.html_url, retries=0)
        engine = Engine(config, store, client)
        provider = None
        if llm is not None:
            provider = AnthropicProvider("sk-ant-test", MODEL, base_url=llm.anthropic_url, timeout_s=2.0, max_retries=0)
        engine.explainer = Explainer(config, store, provider)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.aclose()


def page(arxiv_server: FakeArxivServer) -> str:
    return f"{arxiv_server.html_url}/{RECORDED_PAPER.id}v{RECORDED_PAPER.version}"


def drawn(reply: Reply) -> tuple[str, str, str]:
    """What each platform sends for ``reply``: Slack's blocks, Discord's content and embeds, the terminal's text."""
    slack = json.dumps([m.payload() for m in slack_blocks.render_reply(reply)], ensure_ascii=False)
    discord = json.dumps(
        [[m.content, *(e.to_dict() for e in m.embeds)] for m in discord_embeds.render_reply(reply)], ensure_ascii=False
    )
    return slack, discord, render_reply_text(reply)


def assert_live(reply: Reply, url: str, label: str) -> None:
    slack, discord, console = drawn(reply)
    assert f"<{url}|{label}>" in slack
    assert f"[{discord_embeds.escape(label)}]({url})" in discord
    assert f"{label}: {url}\n" in console + "\n"


def assert_safe(reply: Reply) -> None:
    """No string any renderer sends holds anything unsafe, the reply's own links (at the fake arXiv) allowed."""
    out = [render_reply_text(reply)]
    out += [t for m in slack_blocks.render_reply(reply) for t in strings(m.payload())]
    out += discord_strings(discord_embeds.render_reply(reply))
    problems = [p for text in out for p in unsafe_parts(text, [link.url for link in reply.links])]
    assert not problems, problems[:5]


# --- through the question paths --------------------------------------------------------------------------


async def test_a_model_answer_links_its_equations_and_the_full_text_live_on_every_platform(
    make: Callable[..., Engine], arxiv_server: FakeArxivServer
) -> None:
    with FakeLLMServer() as llm:
        said = {"answer": "Eq. (2) is the trigger recognition rate.", "equations": ["2"], "answered_by_paper": True}
        llm.script("/v1/messages", ToolInput(said))
        reply = await answer_question(make(llm), ThreadQuestion(CHANNEL, "U1", RECORDED_PAPER.id, BACKDOOR))
    anchor = f"{page(arxiv_server)}#S4.E2"
    assert "Equations it relies on:\n• Eq. (2) p_" in reply.text and "://" not in reply.text
    assert reply.links == (Link("Eq. (2)", anchor), Link("The paper's full text (v1)", page(arxiv_server)))
    assert_live(reply, anchor, "Eq. (2)")
    assert_live(reply, page(arxiv_server), "The paper's full text (v1)")
    assert_safe(reply)


async def test_an_offline_answer_links_its_equations_live_on_every_platform(
    make: Callable[..., Engine], arxiv_server: FakeArxivServer
) -> None:
    reply = await answer_question(make(), ThreadQuestion(CHANNEL, "U1", RECORDED_PAPER.id, BACKDOOR))
    anchor = f"{page(arxiv_server)}#S4.E2"
    assert reply.text.startswith("Equations of the paper that bear on it:\n• Eq. (2)") and "://" not in reply.text
    assert reply.links[0] == Link("Eq. (2)", anchor)
    assert_live(reply, anchor, "Eq. (2)")
    assert_safe(reply)


async def test_paper_ask_keeps_the_links_above_the_paper_card(
    make: Callable[..., Engine], arxiv_server: FakeArxivServer
) -> None:
    asked = Invocation(channel=CHANNEL, user="U1")
    reply = await dispatch(make(), asked, f"ask {RECORDED_PAPER.id} {BACKDOOR}")
    anchor = f"{page(arxiv_server)}#S4.E2"
    assert len(reply.cards) == 1 and Link("Eq. (2)", anchor) in reply.links
    assert_live(reply, anchor, "Eq. (2)")
    # The links follow the answer they belong to, before the paper's card.
    for out in drawn(reply):
        assert out.index(anchor) < out.index(RECORDED_PAPER.title[:20])


async def test_the_cli_answer_carries_its_links_and_its_equations_urls(
    make: Callable[..., Engine], arxiv_server: FakeArxivServer
) -> None:
    """`paperbot ask --json` keeps its contract: each equation with its url; the text holds no URL."""
    answer = await ask_paper(make(), RECORDED_PAPER, BACKDOOR)
    anchor = f"{page(arxiv_server)}#S4.E2"
    assert answer.equations[0].url == anchor and answer.links[0] == Link("Eq. (2)", anchor)
    assert answer.reply() == Reply(text=answer.text, links=answer.links) and "://" not in answer.text


# --- the renderers ---------------------------------------------------------------------------------------


def test_a_url_in_the_answer_text_stays_broken_while_the_same_as_a_link_is_live() -> None:
    """The renderers trust a URL only as one of the reply's links: the text's URLs, the bot's own one
    included, stay untrusted text (a foreign host's defanged), however the text dresses them."""
    mirror = "http://127.0.0.1:8000/html/2501.11120v1#S4.E2"
    text = f"see {EVIL} or <{EVIL}|Eq. (2)> or [Eq. (2)]({EVIL}) and {mirror} @everyone"
    reply = Reply(text=text, links=(Link("Eq. (2)", mirror), Link("<!channel> @here", mirror + "x")))
    assert_live(reply, mirror, "Eq. (2)")
    for out in drawn(reply):
        assert EVIL not in out and "https://evil" not in out
        assert any(f"https:{j}//evil.example/login" in out for j in JOINERS)
        assert any(f"http:{j}//127.0.0.1:8000/html/2501.11120v1#S4.E2" in out for j in JOINERS)
        assert "@everyone" not in out and "<!channel>" not in out and "@here" not in out
    assert_safe(reply)


def test_reply_links_that_are_not_plain_links_are_not_drawn() -> None:
    bad = ("javascript:alert(1)", "https://arxiv.org@evil.example/", "https://evil.example\u202e/x", "")
    reply = Reply(text="An answer.", links=tuple(Link("Eq. (1)", url) for url in bad))
    for out in drawn(reply):
        assert "evil.example" not in out and "javascript" not in out and "Eq. (1)" not in out
