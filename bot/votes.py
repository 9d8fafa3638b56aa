"""A 👍 or 👎 button under a paper of a compact digest (``/paper layout compact``): what a reaction on that
paper's card would teach the channel's radar (bot.radar.learn_about_paper, origin ``reaction:<user>``, so
a person counts once per paper whether they reacted or pressed), and the private answer that says so.

Pressing the same button again changes nothing and says so; the other button changes one's mind (the
latest wins, as with reactions). Only a paper of the bot's own digest message counts: a button names the
message it is on and the paper it is for, and both are checked against what the bot recorded posting
(bot.posted_messages). Platform-neutral: each adapter reads its button event into these arguments.
"""

from __future__ import annotations

from bot.cards import Reply
from bot.models import ChannelRef
from bot.posted_messages import MessageKind, find
from bot.radar import DISLIKE, LIKE, Learned, Radar, learn_about_paper, learned_weight
from bot.store import Store

__all__ = ["NOT_SHOWN", "UNKNOWN_MESSAGE", "vote"]

UNKNOWN_MESSAGE = "I no longer know that digest, so that button teaches nothing; /paper radar like <paper-id> does."
NOT_SHOWN = "That button does not belong to a paper of this message; nothing was changed."
_SAID = {LIKE: ("👍", "higher"), DISLIKE: ("👎", "lower")}


def vote(store: Store, channel: ChannelRef, message_id: str, paper_id: str, user: str, *, like: bool) -> Reply:
    """One press of a paper's 👍 (``like``) or 👎 button on the bot's message ``message_id``: the radar
    taught, and a private answer for the person who pressed. Never raises for anything a person can cause."""
    weight = LIKE if like else DISLIKE
    posted = find(store, channel, message_id)
    papers = posted.papers if posted is not None and posted.kind == MessageKind.DIGEST else ()
    if posted is not None and posted.paper_id:
        papers = (posted.paper_id,)  # a button on a one-paper message (none today): that paper
    if not user or not papers:
        return Reply(text=UNKNOWN_MESSAGE, ephemeral=True)
    if paper_id not in papers:  # a forged or stale button: the message is ours, the paper is not on it
        return Reply(text=NOT_SHOWN, ephemeral=True)
    which = f"#{papers.index(paper_id) + 1} ({paper_id})" if len(papers) > 1 else paper_id
    emoji, rank = _SAID[weight]
    before = learned_weight(Radar(store), channel, paper_id, user)
    if before == weight:
        return Reply(text=f"You already gave {which} a {emoji}; nothing changed.", ephemeral=True)
    learned = learn_about_paper(store, channel, paper_id, user, weight)
    if learned is Learned.NOTHING:
        return Reply(
            text="Not noted: this channel's radar is full of typed entries (/paper radar list shows them).",
            ephemeral=True,
        )
    changed = " (instead of your earlier one)" if before is not None else ""
    return Reply(
        text=f"{emoji} noted for {which}{changed}: papers like it rank {rank} in this channel's digests.",
        ephemeral=True,
    )
