"""The bot's own links are real links in every renderer's final payload, and untrusted links stay broken.

Glossary entries come from the shipped glossary (bot/data/glossary.json, real Wikipedia addresses with
parentheses and percent escapes), equation anchors from the configured HTML URL; a card's links from make_card.
Each test renders to what is sent (Slack blocks JSON, Discord embed dicts, terminal text) and looks there.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from adapters import discord_embeds, slack_blocks
from bot.cards import (
    DigestMessage,
    Explanation,
    ExplanationEquation,
    ExplanationSection,
    Link,
    Reply,
    listing_links,
    make_card,
    render_digest_text,
    render_reply_text,
    with_own_links,
)
from bot.explain.glossary import all_concepts
from bot.models import Paper
from bot.own_links import looks_like_address, own_url, shown_label

JOINERS = ("\u2060", "\u200b")
OT = next(c for c in all_concepts() if c.url.endswith("_(mathematics)"))  # a real entry with parentheses
ANCHOR = "https://arxiv.org/html/2403.00001v2#S2.E1"
MIRROR_ANCHOR = "https://papers.mirror.example/html/2403.00001v2#S3.E4"  # [sources.arxiv] html_url elsewhere
EVIL = "https://evil.example/login"


def _explanation(*, legacy: bool) -> Explanation:
    """An offline explanation as producers wrote it (URLs in the text) or as they will (URLs in links)."""
    equations = (
        ExplanationEquation("1", "x", "x", ANCHOR),
        ExplanationEquation("4", "y", "y", MIRROR_ANCHOR),
    )
    eq_text = f"• Eq. (1) x — see {EVIL}\n• Eq. (4) y"
    concept_text = f"• {OT.term}: {OT.definition}"
    if legacy:
        sections = (
            ExplanationSection("Key equations", f"• Eq. (1) x — see {EVIL} {ANCHOR}\n• Eq. (4) y {MIRROR_ANCHOR}"),
            ExplanationSection("Concepts", f"{concept_text} — {OT.url}"),
        )
    else:
        sections = (
            ExplanationSection("Key equations", eq_text, (Link("Eq. (1)", ANCHOR), Link("Eq. (4)", MIRROR_ANCHOR))),
            ExplanationSection("Concepts", concept_text, (Link(OT.term, OT.url),)),
        )
    return Explanation(source="offline", text="", sections=sections, equations=equations, note=f"note {EVIL}")


def _slack(reply: Reply) -> str:
    return json.dumps([m.payload() for m in slack_blocks.render_reply(reply)], ensure_ascii=False)


def _discord(reply: Reply) -> str:
    messages = discord_embeds.render_reply(reply)
    return json.dumps([[e.to_dict() for e in m.embeds] for m in messages], ensure_ascii=False)


@pytest.mark.parametrize("legacy", [False, True], ids=["links", "urls-in-text"])
def test_glossary_and_equation_links_are_real_links_on_every_platform(legacy: bool) -> None:
    reply = Reply(explanation=_explanation(legacy=legacy))
    slack, discord, console = _slack(reply), _discord(reply), render_reply_text(reply)

    for url, label in [(ANCHOR, "Eq. (1)"), (MIRROR_ANCHOR, "Eq. (4)"), (OT.url, OT.term)]:
        assert f"<{url}|{label}>" in slack
        masked = url.replace("(", "%28").replace(")", "%29")
        assert f"[{discord_embeds.escape(label)}]({masked})" in discord
        assert f"{label}: {url}\n" in console + "\n"
    for out in (slack, discord, console):
        assert "https:\u2060//en.wikipedia" not in out and "https:\u200b//en.wikipedia" not in out
        assert EVIL not in out  # the model's foreign link (text and note) is still broken
        assert any(f"https:{j}//evil.example/login" in out for j in JOINERS)


def test_urls_in_the_text_move_to_links_only_when_the_bot_chose_them() -> None:
    lifted = with_own_links(_explanation(legacy=True))
    equations, concepts = lifted.sections
    assert equations.links == (Link("Eq. (1)", ANCHOR), Link("Eq. (4)", MIRROR_ANCHOR))
    assert equations.text == f"• Eq. (1) x — see {EVIL}\n• Eq. (4) y"  # the foreign one stays untrusted text
    assert concepts.links == (Link(OT.term, OT.url),) and OT.url not in concepts.text


def test_a_model_answer_gets_no_glossary_link_lifted_and_a_broken_url_stays_broken() -> None:
    section = ExplanationSection("Idea", f"read {OT.url} and https:\u2060//arxiv.org/html/x")
    model = Explanation(source="anthropic", text="", sections=(section,))
    assert with_own_links(model) is model
    offline = Explanation(source="offline", text="", sections=(ExplanationSection("C", f"x https:\u2060{OT.url[6:]}"),))
    assert with_own_links(offline) is offline


def test_card_doi_hf_and_listing_links_stay_whole() -> None:
    paper = Paper(
        id="2403.00001", version=2, title="A title", authors=("A. Author",), categories=("stat.ML",),
        primary_category="stat.ML", abstract=f"see {EVIL}", published_doi="10.1016/S0140-6736(20)30183-5", upvotes=3,
    )  # fmt: skip
    card = make_card(paper)
    more = listing_links(["stat.ML"])
    digest = DigestMessage(("stat.ML",), date(2024, 3, 26), (card,), more_count=4, more_links=more)
    doi = "https://doi.org/10.1016/S0140-6736(20)30183-5"
    slack = json.dumps([m.payload() for m in slack_blocks.render_digest(digest)], ensure_ascii=False)
    discord = json.dumps(
        [[e.to_dict() for e in m.embeds] for m in discord_embeds.render_digest(digest)], ensure_ascii=False
    )
    console = render_digest_text(digest)
    assert f"<{doi}|journal>" in slack  # was refused (parentheses), leaving the bare label
    assert "[journal](https://doi.org/10.1016/S0140-6736%2820%2930183-5)" in discord
    assert f"journal: {doi}" in console
    for out in (slack, discord, console):
        assert "https://huggingface.co/papers/2403.00001" in out
        assert "https://arxiv.org/list/stat.ML/new" in out
        assert EVIL not in out


def test_own_url_encodes_what_could_end_a_link_and_refuses_what_is_not_a_plain_link() -> None:
    assert own_url(OT.url) == OT.url
    assert own_url("https://en.wikipedia.org/wiki/Hölder") == "https://en.wikipedia.org/wiki/H%C3%B6lder"
    assert own_url("https://x.org/a|b<c>[d]") == "https://x.org/a%7Cb%3Cc%3E%5Bd%5D"
    assert own_url("https://x.org/a#b#c") == "https://x.org/a#b%23c"
    assert own_url("HTTPS://ArXiv.org") == "https://arxiv.org/"
    bad_urls = ["javascript:alert(1)", "https://arxiv.org@evil.example/", "https://a.org/a b", "https://a.org/\u202e",
                "https://a.org/\u200bx", "https://аrxiv.org/", "", "ftp://x.org/x", "https://a.org/\nx"]  # fmt: skip
    for bad in bad_urls:
        assert own_url(bad) is None, bad
    assert own_url(own_url(OT.url) or "") == OT.url  # idempotent


def test_a_label_that_reads_as_another_address_shows_the_target_host() -> None:
    disguises = [
        "arxiv.org/abs/1",
        "www.evil.example",
        "ｅｖｉｌ．ｅｘａｍｐｌｅ",
        "evil\u3164.ex",
        "https://arxiv.org",
    ]
    for label in disguises:
        assert looks_like_address(label), label
        assert shown_label(label, OT.url) == "en.wikipedia.org"
    for label in ["Eq. (3)", "Eq. (A.2)", "S2.E1", "Optimal transport", "e.g. this", "BERT: pre-training"]:
        assert not looks_like_address(label), label
    section = ExplanationSection("C", "t", (Link("evil.example", ANCHOR),))
    reply = Reply(explanation=Explanation("offline", "", (section,)))
    assert f"<{ANCHOR}|arxiv.org>" in _slack(reply)
    assert "[arxiv.org](" in _discord(reply)


def test_hostile_labels_are_escaped_inside_the_link() -> None:
    links = (Link("<!channel> a|b @everyone", ANCHOR), Link("[x](https://evil.example)", OT.url))
    reply = Reply(explanation=Explanation("offline", "", (ExplanationSection("C", "t", links),)))
    slack, discord, console = _slack(reply), _discord(reply), render_reply_text(reply)
    assert f"<{ANCHOR}|&lt;!channel&gt; a∣b @\u2060everyone>" in slack
    assert "<!channel>" not in discord and "@everyone" not in discord and "](https://evil" not in discord
    assert "@everyone" not in console and f": {ANCHOR}" in console
