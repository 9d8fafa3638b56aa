"""Fair turns across a channel's feeds for the papers its radar says nothing about.

A channel following cs.LG and hf with one radar keyword used to get, after the matching papers, every
unmatched paper by Hugging Face upvotes first: arXiv papers have none, so one matching arXiv paper and
nine Hugging Face ones filled the digest. The papers that match nothing now take turns: each feed's
papers in that feed's own order (upvotes first, then the newer paper, then the listing's order), one from
each feed in turn, feeds in the order the digest lists them. The matching papers keep their rank order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

__all__ = ["dealt", "feed_queues"]


def feed_queues(count: int, key: Callable[[int], Any], feed_of: Callable[[int], Hashable]) -> list[list[int]]:
    """The positions ``0..count-1`` grouped by feed (``feed_of``; feeds in order of their first position),
    each group ordered by ``key``."""
    queues: dict[Hashable, list[int]] = {}
    for position in range(count):
        queues.setdefault(feed_of(position), []).append(position)
    return [sorted(queue, key=key) for queue in queues.values()]


def dealt(queues: Sequence[Sequence[int]], wanted: Callable[[int], bool]) -> Iterator[int]:
    """The ``wanted`` positions of ``queues``, one feed's next after another's, round after round, lazily
    (a digest stops after a few): strict turns among the wanted ones, whatever the others were."""
    cursors = [0] * len(queues)
    live = list(range(len(queues)))
    while live:
        still: list[int] = []
        for feed in live:
            queue, at = queues[feed], cursors[feed]
            while at < len(queue) and not wanted(queue[at]):
                at += 1
            if at < len(queue):
                yield queue[at]
                at += 1
                still.append(feed)
            cursors[feed] = at
        live = still
