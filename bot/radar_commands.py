"""`/paper radar …`: a channel's research radar, managed from the chat.

    /paper radar add <word or "phrase"> …   keywords the digest is ranked by
    /paper radar author <name>             an author ("Yang Song", "Y. Song")
    /paper radar like <paper id>           a paper whose like the channel wants more of
    /paper radar mute <word or "phrase"> … papers mentioning it go last
    /paper radar remove <entry>            any of the above (a paper id removes learned likes too; a
                                           person's id as the list shows it, all they taught)
    /paper radar list                      what the radar holds, and who taught each learned like
    /paper radar clear                     forget it all
    /paper radar only on|off               post only matching papers, or all of them ranked

Everything but ``list`` changes what the channel receives, so it needs the right to manage the channel
(checked here: the registry's ``manages_channel`` would refuse ``list`` too).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from bot.cards import Reply
from bot.engine import Engine
from bot.errors import NotFoundError, PermissionDenied, UsageError
from bot.radar import MAX_ENTRIES, Entry, Radar, split_keywords
from bot.radar_teachers import MAX_LEARNED_PER_PERSON, person_of, shown_person

if TYPE_CHECKING:
    from bot.commands import Invocation, SubCommand

__all__ = ["ACTIONS", "RADAR_USAGE", "radar_command"]

ACTIONS = ("add", "author", "like", "mute", "remove", "list", "clear", "only")
RADAR_USAGE = "/paper radar add|author|like|mute|remove|list|clear|only [value]"
_NEEDS_VALUE = {
    "add": '/paper radar add "score matching" diffusion',
    "author": "/paper radar author Yang Song",
    "like": "/paper radar like 2011.13456",
    "mute": "/paper radar mute survey",
    "remove": "/paper radar remove diffusion",
    "only": "/paper radar only on",
}


def _usage(action: str = "") -> str:
    example = _NEEDS_VALUE.get(action, '/paper radar add "conformal prediction"')
    return f"Usage: {RADAR_USAGE}\nExample: {example}"


async def _radar(engine: Engine, inv: Invocation) -> Reply:
    action = inv.args.get("action", "").strip().lower()
    value = " ".join(inv.args.get("value", "").split())
    if action not in ACTIONS:
        shown = action[:20]
        raise UsageError((f"Unknown radar action {shown!r}. " if shown else "") + _usage())
    if action in _NEEDS_VALUE and not value:
        raise UsageError(f"/paper radar {action} needs a value. " + _usage(action))
    if action in ("list", "clear") and value:
        raise UsageError(f"/paper radar {action} takes nothing after it. " + _usage())
    if action != "list" and not inv.can_manage:
        raise PermissionDenied(
            f"Only people who can manage this channel can use /paper radar {action}. Ask a channel or workspace admin."
        )
    radar = Radar(engine.store)
    if action == "list":
        return Reply(text=describe(radar, inv), ephemeral=True)
    if action == "clear":
        removed = radar.clear(inv.channel)
        if not removed:
            return Reply(text="This channel's radar was already empty; its digest keeps the usual order.")
        return Reply(text=f"Cleared this channel's radar ({removed} entries): its digest keeps the usual order again.")
    if action == "only":
        return _only(radar, inv, value)
    if action == "like":
        return await _like(engine, radar, inv, value)
    if action == "remove":
        return _remove(engine, radar, inv, value)
    kind = {"add": "keyword", "author": "author", "mute": "mute"}[action]
    values = [value] if kind == "author" else split_keywords(value)
    if not values:
        raise UsageError(f"/paper radar {action} needs a word or a quoted phrase. " + _usage(action))
    added = radar.add_many(inv.channel, kind, values)
    what = {"keyword": "keyword", "author": "author", "mute": "muted word"}[kind]
    if not added:
        return Reply(text=f"The radar already has {_quoted(values)}; nothing changed.", ephemeral=True)
    plural = "s" if len(added) > 1 else ""
    effect = {
        "keyword": "papers matching it come first in this channel's digest",
        "author": "their papers come first in this channel's digest",
        "mute": "papers mentioning it go last",
    }[kind]
    return Reply(
        text=f"Added {what}{plural} {_quoted(added)}: {effect}.{_gave_way(radar)} /paper radar list shows the radar."
    )


def _gave_way(radar: Radar) -> str:
    """What a typed addition pushed out of a full radar, said, so nobody wonders where a like went."""
    if not radar.forgotten:
        return ""
    n = radar.forgotten
    return f" To make room, the oldest {n} learned entr{'y' if n == 1 else 'ies'} (from reactions) gave way."


def _only(radar: Radar, inv: Invocation, value: str) -> Reply:
    choice = value.lower()
    if choice not in ("on", "off"):
        raise UsageError("Say on or off: /paper radar only on posts only matching papers, off posts all, ranked.")
    radar.set_only(inv.channel, choice == "on")
    if choice == "off":
        return Reply(text="This channel's digest shows every paper again, those matching its radar first.")
    if not radar.profile(inv.channel).ranks:
        return Reply(
            text="Only matching papers will be posted once the radar has entries (/paper radar add …); "
            "until then the digest is posted as usual."
        )
    return Reply(text="This channel's digest now shows only papers that match its radar.")


async def _like(engine: Engine, radar: Radar, inv: Invocation, value: str) -> Reply:
    ref = engine.sources.parse_ref(value)
    if engine.store.get_paper(ref.key) is None:
        raise NotFoundError(
            f"{ref.key[:60]} not found: only papers this bot has stored (from a digest, /paper explain or a search) "
            "can be liked. Nothing changed."
        )
    if not radar.like(inv.channel, ref.key, 1.0, "command"):
        return Reply(text=f"The radar already likes {ref.key}; nothing changed.", ephemeral=True)
    return Reply(text=f"Liked {ref.key}: papers like it come first in this channel's digest.{_gave_way(radar)}")


def _remove(engine: Engine, radar: Radar, inv: Invocation, value: str) -> Reply:
    taught = _teachers(radar.entries(inv.channel)).get(value)
    if taught is not None:  # a person's id as the list shows it: everything they taught
        removed = radar.forget_person(inv.channel, taught)
        return Reply(
            text=f"Forgot what {shown_person(taught)} taught this channel's radar "
            f"({removed} entr{'y' if removed == 1 else 'ies'})."
        )
    removed = radar.remove(inv.channel, None, value)
    if not removed:  # a paper given as a link or with a version: its like is stored by its key
        try:
            key = engine.sources.parse_ref(value).key
        except UsageError:
            key = ""
        if key and key != value:
            removed = radar.remove(inv.channel, "like", key)
    if not removed:
        raise UsageError(f"The radar has no {value[:60]!r}. /paper radar list shows what it has.")
    return Reply(
        text=f"Removed {value[:100]!r} from this channel's radar ({removed} entr{'y' if removed == 1 else 'ies'})."
    )


def _quoted(values: tuple[str, ...] | list[str], most: int = 10) -> str:
    """The values in quotes, the first ``most`` of them (a reply stays short however many were added)."""
    shown = ", ".join(f"“{v}”" for v in values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def _teachers(entries: list[Entry]) -> dict[str, str]:
    """Each person who taught this radar, as the list shows them → as stored."""
    found: dict[str, str] = {}
    for entry in entries:
        person = person_of(entry.origin)
        if person is not None:
            found.setdefault(shown_person(person), person)
    return found


def _origin_label(entry: Entry) -> tuple[str, str]:
    """How a like came about and who taught it (their id as plain text, never a mention; "" when typed)."""
    kind = entry.origin.split(":", 1)[0]
    person = person_of(entry.origin)
    who = shown_person(person) if person is not None else ""
    if kind == "reaction":
        return ("👍" if entry.weight > 0 else "👎"), who
    if kind == "explain":
        return "Explain", who
    return "added", ""


def _how(origins: list[tuple[str, str]]) -> str:
    """"👍 by U1, U2 · Explain by U3 · added": each way once, at most five people named for each."""
    people: dict[str, list[str]] = {}
    for how, who in origins:
        people.setdefault(how, [])
        if who and who not in people[how]:
            people[how].append(who)
    parts = []
    for how, names in people.items():
        more = f" +{len(names) - 5}" if len(names) > 5 else ""
        parts.append(f"{how} by {', '.join(names[:5])}{more}" if names else how)
    return " · ".join(parts)


def _taught_line(entries: list[Entry]) -> str:
    """Who taught how many learned entries, most first: one person's share is bounded, so say it."""
    counts: dict[str, int] = {}
    for entry in entries:
        person = person_of(entry.origin)
        if person is not None:
            counts[shown_person(person)] = counts.get(shown_person(person), 0) + 1
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    more = f" and {len(ranked) - 10} more" if len(ranked) > 10 else ""
    shown = ", ".join(f"{who} {n}" for who, n in ranked[:10]) + more
    return (
        f"• learned, by person: {shown} (each person's reactions and Explain clicks count for at most "
        f"{MAX_LEARNED_PER_PERSON}, their oldest giving way; what you add pushes the oldest learned ones out "
        "when the radar is full; /paper radar remove <person> forgets what one person taught)"
    )


def describe(radar: Radar, inv: Invocation) -> str:
    entries = radar.entries(inv.channel)
    profile = radar.profile(inv.channel)
    if not entries:
        return (
            "This channel has no radar: its digest keeps the usual order. "
            'Start one with /paper radar add "your topic" or /paper radar author <name>.'
        )
    groups: dict[str, list[str]] = {"keyword": [], "author": [], "liked": [], "disliked": [], "mute": []}
    likes: dict[tuple[str, bool], list[tuple[str, str]]] = {}
    for entry in entries:
        if entry.kind == "like":
            likes.setdefault((entry.value, entry.weight > 0), []).append(_origin_label(entry))
        else:
            groups[entry.kind].append(f"“{entry.value}”" if entry.kind != "author" else entry.value)
    for (paper_id, positive), origins in likes.items():
        how = _how(origins)
        groups["liked" if positive else "disliked"].append(f"{paper_id} ({how})")
    mode = "only matching papers" if profile.only else "every paper, matching ones first"
    lines = [f"This channel's radar ({len(entries)} of {MAX_ENTRIES} entries; the digest shows {mode}):"]
    names = {"keyword": "keywords", "author": "authors", "liked": "liked", "disliked": "disliked", "mute": "muted"}
    lines += [f"• {names[group]}: {', '.join(items)}" for group, items in groups.items() if items]
    if taught := _taught_line(entries):
        lines.append(taught)
    lines.append("Remove an entry with /paper radar remove <entry>, or everything with /paper radar clear.")
    return "\n".join(lines)


@cache
def radar_command() -> SubCommand:
    """The `/paper radar` declaration for the registry (made once, on first use, so that this module and
    bot.commands can be imported in either order)."""
    from bot.commands import Param, SubCommand

    return SubCommand(
        "radar",
        "Rank this channel's digest by keywords, authors and liked papers; mute topics; only matching papers",
        (
            Param("action", "what to do with the radar", "choice", choices=ACTIONS),
            # Every remaining word, as one value: a phrase, an author's full name.
            Param("value", 'a word or "phrase", an author, a paper id, or on|off', "rest", required=False),
        ),
        _radar,
        '/paper radar add "conformal prediction"',
        asks_permission=True,  # list is for everyone; every other action is for people who manage the channel
    )


def __getattr__(name: str) -> SubCommand:
    # RADAR_COMMAND, declared on first use (see radar_command).
    if name == "RADAR_COMMAND":
        return radar_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
