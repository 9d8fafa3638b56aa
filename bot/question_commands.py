"""`/paper ask <paper-id> <question>`: a question about one paper anywhere, the terminal included.

On Slack and Discord the natural place to ask is the thread of the paper's card (the adapters turn a
mention there into a ThreadQuestion); the command asks the same thing without a thread, with the same
grounding, limits, budget share and cache (bot.questions)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.cards import Reply, make_card
from bot.questions import ThreadQuestion, answer_question

if TYPE_CHECKING:
    from bot.commands import Invocation, SubCommand
    from bot.engine import Engine

_EXAMPLE = "/paper ask 2403.15527 what does the coverage guarantee assume?"


async def _ask(engine: Engine, inv: Invocation) -> Reply:
    # The paper first, as /paper explain finds it: a typed id of any form, "Fetching … from arXiv…" (and
    # then "Asking <model>…") told where the platform has no other way to say it (the terminal), a bad id
    # or unknown paper said as such.
    paper, _ = await engine.lookup(inv.args["id"], progress=inv.progress)
    question = ThreadQuestion(inv.channel, inv.user, paper.id, inv.args.get("question", ""), progress=inv.progress)
    reply = await answer_question(engine, question)
    if reply.ephemeral or reply.is_error:
        return reply
    # The paper's card under the answer: which paper it is about, its Explain button, and (posted as the
    # bot's own message, recorded) a thread where the next question about it can be asked.
    return replace(reply, cards=(make_card(paper),))


def ask_command() -> SubCommand:
    """The `/paper ask` declaration for the registry."""
    from bot.commands import Param, SubCommand

    paper = Param("id", "the paper: arXiv id or link, Hugging Face paper link, or bioRxiv/medRxiv DOI", "id")
    question = Param("question", "what you want to know about it, in your own words", "rest")
    return SubCommand(
        "ask",
        "Ask a question about one paper (on Slack and Discord also: mention the bot in a card's thread)",
        (paper, question),
        _ask,
        _EXAMPLE,
    )
