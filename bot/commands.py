"""The `/paper` command registry: each sub-command declared once, as data.

Slack parsing, Discord options, the help text and the README's command reference all come from
``REGISTRY``. Handlers get an ``Invocation`` (who, where, parsed arguments) and return a ``Reply``;
``dispatch`` turns every failure into a reply a user can act on, never a traceback.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from bot import briefing
from bot.cards import Reply
from bot.config import is_time_zone, parse_time, suggest_time_zone
from bot.engine import Engine
from bot.errors import BadTimeError, PaperbotError, PermissionDenied, UsageError
from bot.layouts import layout_command, layout_line
from bot.models import ChannelRef, Subscription
from bot.progress import Progress
from bot.sources.base import FeedName
from bot.sources.huggingface import parse_min_upvotes
from bot.sources.timing import describe_feed_timing
from bot.stray_cancellation import being_cancelled, took_too_long
from bot.user_input import as_typed

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 300
MAX_TEXT_CHARS = 4000  # Slack's own cap on a slash command's text
ArgKind = Literal["id", "category", "time", "timezone", "choice", "floor", "rest"]
_FLOOR_TOKEN = re.compile(r"(?i)^min:\S*$")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    kind: ArgKind
    required: bool = True
    choices: tuple[str, ...] = ()  # for kind "choice"

    @property
    def placeholder(self) -> str:
        if self.kind == "choice":
            return "|".join(self.choices)
        return {
            "id": "<paper-id>",
            "category": "<category>",
            "time": "HH:MM",
            "timezone": "Area/City",
            "floor": "min:N",
            "rest": f"<{self.name}>",
        }[self.kind]


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command as a user sent it: where, who, and whether they may change the channel's settings."""

    channel: ChannelRef
    user: str = ""
    can_manage: bool = True
    args: dict[str, str] = field(default_factory=dict)
    # Told "Fetching … from arXiv…" just before a slow fetch, where the platform has no other way to say
    # it at once (the terminal); Slack's acknowledgement and Discord's "thinking…" already do.
    progress: Progress | None = None


Handler = Callable[[Engine, Invocation], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class SubCommand:
    name: str
    summary: str
    params: tuple[Param, ...]
    handler: Handler
    example: str
    manages_channel: bool = False  # subscribe/unsubscribe/digest change what a channel receives
    # Some of its actions change the channel and some only show (radar add vs radar list): the handler
    # decides from Invocation.can_manage, which is worked out for it.
    asks_permission: bool = False
    # With asks_permission: the actions (values of the first parameter) open to everyone, the others
    # being for people who manage the channel. Read by ``execute`` and by the docs' generated list.
    open_actions: tuple[str, ...] = ()

    def needs_manager(self, args: Mapping[str, str] | None = None) -> bool:
        """Whether running it (with ``args``; without: any of its actions) needs someone who can manage the
        channel."""
        if self.manages_channel:
            return True
        if not self.asks_permission:
            return False
        if args is None or not self.params:
            return True
        return args.get(self.params[0].name, "").strip().lower() not in self.open_actions

    @property
    def usage(self) -> str:
        parts = [f"/paper {self.name}"]
        optional: list[str] = []
        floors = [f"[{p.placeholder}]" for p in self.params if p.kind == "floor"]
        for p in self.params:
            if p.kind == "floor":  # a named option, anywhere after the feed: not nested with the others
                continue
            if p.required:
                parts.append(p.placeholder)
            else:
                optional.append(p.placeholder)
        if optional:
            # Optional parameters nest: a time zone only makes sense after a time.
            parts.append("[" + " [".join(optional) + "]" * len(optional))
        return " ".join(parts + floors)


# --- handlers ----------------------------------------------------------------------------------


async def _explain(engine: Engine, inv: Invocation) -> Reply:
    _, reply = await engine.explain(inv.args["id"], interactive=True, progress=inv.progress)
    return reply


async def _subscribe(engine: Engine, inv: Invocation) -> Reply:
    feed = engine.sources.resolve_feed(inv.args["category"])
    time, zone = _parse_schedule(inv.args.get("time"), inv.args.get("timezone"))
    floor = _floor(feed, inv.args.get("min"))
    existing = engine.store.find_subscription(inv.channel, feed.name)
    if existing is None:
        sub = Subscription(id=0, channel=inv.channel, category=feed.name, time=time, timezone=zone, min_upvotes=floor)
    else:
        # Only what was asked changes: the channel's other settings (quiet days, replacements) stay.
        # Subscribing again is how a paused channel resumes.
        sub = replace(
            existing,
            time=time or existing.time,
            timezone=zone or existing.timezone,
            paused_reason=None,
            min_upvotes=existing.min_upvotes if floor is None else floor,
        )
    saved, created = engine.store.subscribe(sub)
    engine.subscriptions_changed()
    label = feed.label + (f", at least {saved.min_upvotes} upvotes" if saved.min_upvotes else "")
    now = describe_schedule(engine, saved) + _feed_timing(engine, saved)
    if existing is None or created:
        return Reply(text=f"This channel now follows {label}. {now}.")
    changes = []
    before, after = posting_time(engine, existing), posting_time(engine, saved)
    if before != after:
        changes.append(f"Schedule changed: {before} → {after}.")
    if existing.min_upvotes != saved.min_upvotes:
        changes.append(f"Upvote floor changed: {existing.min_upvotes or 0} → {saved.min_upvotes or 0}.")
    change = " ".join(changes)
    if existing.paused_reason:
        return Reply(text=f"Resumed {label} for this channel. {change or now + '.'}".rstrip())
    if change:
        return Reply(text=f"This channel already follows {label}. {change} {now}.")
    return Reply(text=f"This channel already follows {label}; nothing changed. {now}.")


def _feed_timing(engine: Engine, sub: Subscription) -> str:
    """ ". hf: …": which day's batch this subscription's digests bring at its time and zone, and when a
    day is complete, for sources of day batches (a digest before the settle brings an older list)."""
    time, _, zone = posting_time(engine, sub).partition(" ")
    source = engine.source_of(sub.category)
    said = describe_feed_timing(source, sub.category, time, zone, engine.now().date())
    return f". {said.removesuffix('.')}" if said else ""


def _floor(feed: FeedName, option: str | None) -> int | None:
    """The ``min:N`` upvote floor, which only Hugging Face's feed has."""
    if option is None:
        return None
    if feed.source != "huggingface":
        raise UsageError(f"min:N (an upvote floor) is for Hugging Face only: /paper subscribe hf {option[:12]}")
    return parse_min_upvotes(option) or None


async def _unsubscribe(engine: Engine, inv: Invocation) -> Reply:
    wanted = inv.args["category"].strip()
    try:
        feed = engine.sources.resolve_feed(wanted).name
    except UsageError:
        feed = wanted  # a feed that no longer exists can still be dropped by its stored name
    if engine.store.unsubscribe(inv.channel, feed):
        engine.subscriptions_changed()
        return Reply(text=f"This channel no longer follows {feed}.")
    current = [s.category for s in engine.store.channel_subscriptions(inv.channel)]
    follows = ", ".join(current) if current else "no feeds"
    raise UsageError(f"This channel does not follow {feed[:40]}; it follows {follows}.")


def feed_label(engine: Engine, feed: str) -> str:
    """How a stored feed name reads: "cs.LG (Machine Learning)", "Hugging Face Daily Papers"."""
    try:
        return engine.sources.resolve_feed(feed).label
    except UsageError:
        return feed


async def _list(engine: Engine, inv: Invocation) -> Reply:
    subs = engine.store.channel_subscriptions(inv.channel)
    if not subs:
        return Reply(text="This channel follows no categories yet. Try: /paper subscribe cs.LG (or hf)", ephemeral=True)
    lines = ["This channel follows:"]
    for sub in subs:
        label = feed_label(engine, sub.category)
        name = label if label.startswith(sub.category) else f"{sub.category} ({label})"
        floor = f", at least {sub.min_upvotes} upvotes" if sub.min_upvotes else ""
        paused = f" — paused: {sub.paused_reason}" if sub.paused_reason else ""
        lines.append(f"• {name}{floor}: {describe_schedule(engine, sub)}{paused}")
    lines.append(BRIEFING_ON if briefing.is_on(engine.store, inv.channel) else BRIEFING_OFF)
    lines.append(layout_line(engine.store, inv.channel))
    return Reply(text="\n".join(lines), ephemeral=True)


BRIEFING_ON = "Briefing: on (the digest opens with the day's briefing; /paper briefing off stops it)."
BRIEFING_OFF = "Briefing: off (/paper briefing on opens the digest with the day's briefing)."


async def _briefing(engine: Engine, inv: Invocation) -> Reply:
    choice = inv.args["mode"].strip().lower()
    if choice not in ("on", "off"):
        raise UsageError(f"Say on or off. Usage: {REGISTRY['briefing'].usage}\nExample: {REGISTRY['briefing'].example}")
    changed = briefing.set_on(engine.store, inv.channel, choice == "on")
    if choice == "off":
        return Reply(text="This channel's digest no longer opens with a briefing." if changed else BRIEFING_OFF)
    text = (
        "This channel's digest now opens with a briefing over the day's papers: themes, the papers to read "
        "first and connections, citing the cards by number."
        if changed
        else "This channel's digest already opens with a briefing; nothing changed."
    )
    if not engine.store.channel_subscriptions(inv.channel):
        text += " This channel follows no feeds yet: /paper subscribe cs.LG (or hf)."
    return Reply(text=text)


async def _digest(engine: Engine, inv: Invocation) -> Reply:
    followed = engine.store.channel_subscriptions(inv.channel)
    subs = [s for s in followed if s.paused_reason is None]
    if not subs and followed:
        paused = followed[0]
        raise UsageError(
            f"This channel's digests are paused: {(paused.paused_reason or '')[:300]} "
            f"Once that is fixed, /paper subscribe {paused.category} resumes them."
        )
    if not subs:
        raise UsageError("This channel follows no categories yet. Try: /paper subscribe cs.LG")
    # Someone is waiting: bounded like every interactive fetch (the schedule keeps its longer retries).
    selection = await engine.plan_digest(inv.channel, subs, interactive=True, progress=inv.progress, partial=True)
    held = (
        f" Not included for now: {', '.join(selection.held_back)} ({selection.held_reason[:200]}); "
        "their papers come with a later digest."
        if selection.held_back
        else ""
    )
    if engine.already_posted(selection) or not selection.papers:
        day = selection.announced.isoformat() if selection.announced else "the latest announcement"
        only_arxiv = all(engine.source_of(c).name == "arxiv" for c in selection.categories)
        where = "arXiv's announcement" if only_arxiv else "the latest lists"
        return Reply(
            text=f"Nothing new for this channel in {where} of {day}: every paper in it was already posted here.{held}",
            ephemeral=True,
        )
    # The adapter posts the digest and then calls engine.mark_posted(selection).
    return Reply(digest=engine.digest_message(selection), text=held.strip(), ephemeral=False, selection=selection)


async def _status(engine: Engine, inv: Invocation) -> Reply:
    from bot.status import status_report

    return Reply(text=status_report(engine, inv.channel), ephemeral=True)


async def _quiet(engine: Engine, inv: Invocation) -> Reply:
    choice = inv.args["mode"].lower()
    if choice not in ("say", "skip"):
        raise UsageError(f"Usage: {REGISTRY['quiet'].usage}\nExample: {REGISTRY['quiet'].example}")
    subs = engine.store.channel_subscriptions(inv.channel)
    if not subs:
        raise UsageError("This channel follows no categories yet. Try: /paper subscribe cs.LG")
    for sub in subs:
        engine.store.subscribe(replace(sub, say_when_quiet=choice == "say"))
    if choice == "say":
        return Reply(text="On days without an arXiv announcement this channel gets one line saying so.")
    return Reply(text="On days without an arXiv announcement this channel gets nothing (the default).")


async def _usage(engine: Engine, inv: Invocation) -> Reply:
    del inv
    return Reply(text=engine.explainer.usage().text(), ephemeral=True)


async def _help(engine: Engine, inv: Invocation) -> Reply:
    del engine, inv
    return Reply(text=help_text(), ephemeral=True)


def _parse_schedule(time: str | None, zone: str | None) -> tuple[str | None, str | None]:
    if time is None:
        return None, None
    normalised = parse_time(time)
    if normalised is None:
        raise BadTimeError(
            f"{time[:20]!r} is not a time. Use 24-hour HH:MM and optionally a time zone, "
            "e.g. /paper subscribe cs.LG 09:00 Europe/Berlin or /paper subscribe cs.LG 07:30 America/New_York"
        )
    if zone is not None and not is_time_zone(zone):
        suggestion = suggest_time_zone(zone)
        if suggestion is not None:
            raise BadTimeError(f"{zone[:40]!r} is not a time zone: did you mean {suggestion}? (case matters)")
        raise BadTimeError(
            f"{zone[:40]!r} is not a time zone. Use an IANA name like Europe/Berlin, America/New_York, "
            "Asia/Tokyo or UTC, e.g. /paper subscribe cs.LG 09:00 Europe/Berlin"
        )
    return normalised, zone


def posting_time(engine: Engine, sub: Subscription) -> str:
    """When a subscription's digest comes ("09:00 Europe/Berlin"), the configured default filled in."""
    time = sub.time or engine.config.get("schedule", "time")
    zone = sub.timezone or engine.config.get("schedule", "timezone")
    return f"{time} {zone}"


def describe_schedule(engine: Engine, sub: Subscription) -> str:
    """The one wording of a subscription's schedule, in `subscribe` and `list` alike, after its source's
    calendar: arXiv announces on weekday evenings, the other sources have a batch for every day."""
    when = engine.source_of(sub.category).schedule_note()
    return f"Digest at {posting_time(engine, sub)} {when}"


from bot.question_commands import ask_command  # noqa: E402 - declared with Param and SubCommand above
from bot.radar_commands import radar_command  # noqa: E402 - declared with Param and SubCommand above
from bot.search_commands import search_command  # noqa: E402 - declared with Param and SubCommand above

# --- the registry ------------------------------------------------------------------------------

_ID = Param(
    "id", "arXiv id or link, Hugging Face paper link, or bioRxiv/medRxiv DOI, e.g. 2604.11422 or 10.1101/…", "id"
)
_CATEGORY = Param("category", "feed: an arXiv category (cs.LG), hf, biorxiv or biorxiv:<subject>", "category")
_FLOOR_P = Param("min", "Hugging Face only: leave out papers with fewer upvotes, e.g. min:10", "floor", required=False)
_TIME_P = Param("time", "daily time, 24-hour HH:MM", "time", required=False)
_ZONE_P = Param("timezone", "IANA time zone, e.g. Europe/Berlin", "timezone", required=False)

REGISTRY: dict[str, SubCommand] = {
    c.name: c
    for c in (
        SubCommand("explain", "Explain a paper's mathematics", (_ID,), _explain, "/paper explain 2604.11422"),
        ask_command(),
        SubCommand(
            "subscribe",
            "Follow a feed in this channel: an arXiv category, hf (Hugging Face Daily Papers) or biorxiv/medrxiv",
            (_CATEGORY, _TIME_P, _ZONE_P, _FLOOR_P),
            _subscribe,
            "/paper subscribe cs.LG 09:00 Europe/Berlin",
            manages_channel=True,
        ),
        SubCommand(
            "unsubscribe",
            "Stop following a feed here",
            (_CATEGORY,),
            _unsubscribe,
            "/paper unsubscribe cs.LG",
            manages_channel=True,
        ),
        SubCommand("list", "Show what this channel follows and when", (), _list, "/paper list"),
        SubCommand("digest", "Post this channel's digest now", (), _digest, "/paper digest", manages_channel=True),
        SubCommand(
            "status",
            "Show the last fetch, the last deliveries and anything that went wrong",
            (),
            _status,
            "/paper status",
        ),
        SubCommand(
            "quiet",
            "On days without an arXiv announcement: say so in one line, or skip (default)",
            (
                Param(
                    "mode",
                    "say: one line on days without an announcement; skip: nothing",
                    "choice",
                    choices=("say", "skip"),
                ),
            ),
            _quiet,
            "/paper quiet say",
            manages_channel=True,
        ),
        SubCommand(
            "briefing",
            "Open this channel's digest with a briefing: the day's themes and what to read first",
            (
                Param(
                    "mode",
                    "on: the digest opens with the day's briefing; off: cards only (default)",
                    "choice",
                    choices=("on", "off"),
                ),
            ),
            _briefing,
            "/paper briefing on",
            manages_channel=True,
        ),
        layout_command(),
        search_command(),
        # `radar list` shows; every other radar action changes the channel's ranking.
        replace(radar_command(), open_actions=("list",)),
        SubCommand("usage", "Show today's and this month's LLM calls, tokens and cost", (), _usage, "/paper usage"),
        SubCommand("help", "Show these commands", (), _help, "/paper help"),
    )
}


def help_text() -> str:
    # One command a line, no column padding: chat apps draw text in proportional fonts.
    lines = ["paperbot: the day's new papers (arXiv, Hugging Face, bioRxiv, medRxiv), and their math explained.", ""]
    lines += [f"• {c.usage} — {c.summary}" for c in REGISTRY.values()]
    lines += ["", "Example: " + REGISTRY["subscribe"].example]
    return "\n".join(lines)


# --- parsing and dispatch ----------------------------------------------------------------------


def parse(text: str) -> tuple[SubCommand, dict[str, str]]:
    """Split `/paper ...` text (with or without the leading /paper) into a sub-command and arguments.

    Pasted text is read as typed: full-width letters and digits become ASCII and invisible characters go
    (a zero-width space copied with `help` must not make it an unknown command)."""
    text = as_typed(text)
    words = text.strip().split()
    if words and words[0].lower() in ("/paper", "paper"):
        words = words[1:]
    if not words:
        raise UsageError("Tell me what to do:\n" + help_text())
    name = words[0].lower()
    command = REGISTRY.get(name)
    # Free text (search words, radar keywords) may be longer than an id or a feed name, not unbounded.
    limit = MAX_TEXT_CHARS if command is not None and any(p.kind == "rest" for p in command.params) else MAX_INPUT_CHARS
    if len(text) > limit:
        raise UsageError(f"That is too long for a command ({len(text)} characters). " + _usage_hint(words[0]))
    if command is None:
        raise UsageError(_unknown_command(name))
    values = words[1:]
    floors = [p for p in command.params if p.kind == "floor"]
    named: dict[str, str] = {}
    if floors:  # `min:N` may come anywhere after the feed
        tokens = [v for v in values if _FLOOR_TOKEN.match(v)]
        if len(tokens) > 1:
            raise UsageError(f"Give min:N once. Usage: {command.usage}")
        if tokens:
            named[floors[0].name] = tokens[0]
            values = [v for v in values if v is not tokens[0]]
    required = [p for p in command.params if p.required]
    positional = [p for p in command.params if p.kind != "floor"]
    if positional and positional[-1].kind == "rest" and len(values) > len(positional):
        # The last parameter takes every remaining word ("/paper search score matching in:cs.LG").
        cut = len(positional) - 1
        values = [*values[:cut], " ".join(values[cut:])]
    if len(values) < len(required) or len(values) > len(positional):
        raise UsageError(f"Usage: {command.usage}\nExample: {command.example}")
    return command, {**{p.name: v for p, v in zip(positional, values, strict=False)}, **named}


def closest_commands(name: str) -> list[SubCommand]:
    """Sub-commands a mistyped name probably meant: those it starts (`unsub`), else the nearest
    spellings (`subscrib`, `lst`, `explian`), like the categories' did-you-mean."""
    starting = [c for n, c in REGISTRY.items() if len(name) >= 2 and n.startswith(name)]
    if starting:
        return starting[:3]
    return [REGISTRY[n] for n in difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.6)]


def _unknown_command(name: str) -> str:
    shown = " ".join(name.split())[:30]
    suggestions = closest_commands(name)
    if not suggestions:
        return f"Unknown command {shown!r}.\n" + help_text()
    if len(suggestions) == 1:
        [command] = suggestions
        return (
            f"Unknown command {shown!r}. Did you mean /paper {command.name}?\n"
            f"Usage: {command.usage}\nExample: {command.example}"
        )
    names = " or ".join(f"/paper {c.name}" for c in suggestions)
    return f"Unknown command {shown!r}. Did you mean {names}?\n" + "\n".join(f"Usage: {c.usage}" for c in suggestions)


def _usage_hint(name: str) -> str:
    command = REGISTRY.get(name.lower())
    return f"Usage: {command.usage}" if command else "Try /paper help"


def parse_options(command: SubCommand, options: Mapping[str, str | None]) -> dict[str, str]:
    """A sub-command's arguments as a platform typed them (Discord's options, a button's value), read
    as ``parse`` reads text: as typed (full-width forms folded, invisible characters gone), empty ones
    left out, and checked against the registry. UsageError naming what to give instead."""
    args: dict[str, str] = {}
    missing_earlier = False
    for param in command.params:
        value = as_typed(options.get(param.name) or "").strip()
        if not value:
            # Optional parameters nest (a time zone only after a time); a named floor stands alone.
            missing_earlier = missing_earlier or (not param.required and param.kind != "floor")
            continue
        if missing_earlier and param.kind != "floor":
            raise UsageError(f"Give the earlier options too. Usage: {command.usage}\nExample: {command.example}")
        if param.kind != "rest" and any(ch.isspace() for ch in value):
            raise UsageError(f"`{param.name}` cannot contain spaces: {param.description}. Usage: {command.usage}")
        args[param.name] = value
    size = sum(len(v) for v in args.values())
    if size > MAX_INPUT_CHARS:
        raise UsageError(f"That is too long for a command ({size} characters). Usage: {command.usage}")
    missing = [p.name for p in command.params if p.required and p.name not in args]
    if missing:
        raise UsageError(f"Usage: {command.usage}\nExample: {command.example}")
    return args


async def execute(engine: Engine, command: SubCommand, inv: Invocation) -> Reply:
    """Run one sub-command with its arguments (``inv.args``), refusing those that change the channel to
    people who may not. Never raises for anything a user can cause: a typed error becomes its message,
    shared work cancelled under it "took too long" (bot.stray_cancellation), anything else an apology
    with a logged reference id."""
    try:
        if command.needs_manager(inv.args) and not inv.can_manage:
            action = command.params[0].name if command.asks_permission and command.params else ""
            shown = f"{command.name} {inv.args.get(action, '').strip().lower()[:20]}".strip()
            raise PermissionDenied(
                f"Only people who can manage this channel can use /paper {shown}. Ask a channel or workspace admin."
            )
        return await command.handler(engine, inv)
    except PaperbotError as err:
        return refusal(err)
    except asyncio.CancelledError:
        if being_cancelled():
            raise  # the bot is stopping, or the asker went away: not ours to swallow
        return took_too_long(log, "/paper %s in %s", command.name, inv.channel)
    except Exception:
        return apology(log, "/paper %s %r in %s failed", command.name, dict(inv.args), inv.channel)


async def dispatch(engine: Engine, inv: Invocation, text: str) -> Reply:
    """Run one `/paper` command given as text. Never raises for anything a user can cause."""
    try:
        command, args = parse(text)
    except PaperbotError as err:
        return refusal(err)
    except Exception:
        return apology(log, "command %r in %s failed", text[:100], inv.channel)
    return await execute(engine, command, replace(inv, args=args))


def refusal(err: PaperbotError) -> Reply:
    """A typed error as the private answer it is: its message says what to do instead."""
    return Reply(text=str(err), ephemeral=True, is_error=True)


def apology(logger: logging.Logger, message: str, *args: object) -> Reply:
    """Log an unexpected failure with a reference id; the user sees only the id."""
    ref = secrets.token_hex(4)
    logger.exception(message + " [ref %s]", *args, ref)
    return Reply(
        text=f"Sorry, something went wrong on our side (reference {ref}). Please try again later.",
        ephemeral=True,
        is_error=True,
    )


def markdown_reference() -> str:
    """The README's chat-command table, generated so the docs cannot drift from the registry."""
    rows = ["| command | what it does |", "|---|---|"]
    rows += [f"| `{c.usage}` | {c.summary} |" for c in REGISTRY.values()]
    return "\n".join(rows)


ADMIN_MARKERS = ("<!-- admin-commands:start -->", "<!-- admin-commands:end -->")


def admin_reference() -> str:
    """Who may use which sub-command, generated for the README and each platform's guide so that the
    three cannot drift from the registry (nor from ``execute``, which reads the same declarations)."""
    managers: list[str] = []
    everyone: list[str] = []
    for c in REGISTRY.values():
        if c.manages_channel:
            managers.append(f"`/paper {c.name}`")
        elif c.asks_permission:
            open_ones = " or ".join(f"`{c.name} {a}`" for a in c.open_actions)
            managers.append(f"`/paper {c.name}`" + (f" (all but {open_ones})" if open_ones else ""))
            everyone += [f"`/paper {c.name} {a}`" for a in c.open_actions]
        else:
            everyone.append(f"`/paper {c.name}`")
    return "\n".join(
        [
            f"- Only people who can manage the channel: {', '.join(managers)}.",
            f"- Everyone: {', '.join(everyone)}.",
        ]
    )
