"""Reactions on the bot's Discord messages teach the channel's radar.

👍 (any skin tone), ⭐ or 🌟 on a message the bot posted about one paper (a digest card, an explanation,
an answer) is that person's like of the paper; 👎 a dislike. Each person counts once per paper (the radar
keys learned likes by ``reaction:<user id>``; the latest reaction wins), and taking a reaction back
removes exactly that person's entry, unless it was since replaced by one of the other sense (👍 then 👎,
then the 👍 taken back: the dislike stays). Anything else is ignored: other emoji, a server's custom
emoji, messages the bot did not post or that are about no single paper.

Works from the raw gateway events (``on_raw_reaction_add`` / ``_remove``), which need only the
non-privileged ``guild_reactions`` intent and no message cache.
"""

from __future__ import annotations

from bot.models import ChannelRef
from bot.radar import DISLIKE, LIKE, Learned
from bot.radar import learn_from_reaction as radar_learning
from bot.store import Store

__all__ = ["Learned", "learn_from_reaction", "reaction_weight"]

_LIKES = frozenset({"\N{THUMBS UP SIGN}", "\N{WHITE MEDIUM STAR}", "\N{GLOWING STAR}"})
_DISLIKES = frozenset({"\N{THUMBS DOWN SIGN}"})
# Skin-tone modifiers (U+1F3FB–U+1F3FF) and the emoji presentation selector: the same reaction to us.
_VARIANTS = {code: None for code in (*range(0x1F3FB, 0x1F400), 0xFE0F)}


def reaction_weight(emoji_name: str | None, *, custom: bool = False) -> float | None:
    """The radar weight a Unicode reaction stands for, or None when it means nothing to the radar."""
    if custom or not emoji_name:
        return None
    base = emoji_name.translate(_VARIANTS)
    if base in _LIKES:
        return LIKE
    if base in _DISLIKES:
        return DISLIKE
    return None


def learn_from_reaction(
    store: Store,
    channel: ChannelRef,
    message_id: str,
    user_id: str,
    emoji_name: str | None,
    *,
    custom: bool = False,
    added: bool,
) -> Learned:
    """Apply one reaction event to the channel's radar (bot.radar.learn_from_reaction): only the emoji's
    meaning is Discord's."""
    weight = reaction_weight(emoji_name, custom=custom)
    if weight is None:
        return Learned.NOTHING
    return radar_learning(store, channel, message_id, user_id, weight, added=added)
