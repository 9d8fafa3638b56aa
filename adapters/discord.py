"""The Discord adapter: `/paper` application commands and daily digests as embeds, on discord.py.

It only translates. An interaction becomes a ``bot.inbound.Request`` whose typed options go in as the
sub-command's arguments (never joined into text to be parsed again); the engine's Reply is drawn by
``adapters.discord_embeds``; a scheduled digest is posted with
``channel.send``. The `/paper` group is generated from ``bot.commands.REGISTRY`` (names, descriptions,
option descriptions), so a new sub-command needs no change here.

- Timing: every command is acknowledged with ``response.defer(thinking=True)`` before the engine does
  anything that could fetch or call an LLM; the answer goes out through ``interaction.followup``.
- Visibility is fixed by the deferral (the first follow-up takes the "thinking…" message's visibility).
  Commands that change or post to the channel, and ``explain``, are deferred in the channel; when
  such a command ends in an error or another private answer, the public "thinking…" message is
  deleted first so that the answer can be private.
- Permissions: sub-commands that change what a channel receives (``manages_channel`` in the registry)
  need Manage Channels, checked at run time (Discord ignores ``default_permissions`` on sub-commands).
- A digest is a header message and then one message per paper, so that a reaction or a reply is about
  exactly one paper. Every message the bot posts about a paper (cards, explanations, answers) and every
  digest header is recorded in ``bot.posted_messages``: reactions (👍 ⭐ 🌟 / 👎, see
  ``adapters.discord_feedback``) teach the channel's radar, and a reply that pings the bot is a question
  about the paper (``adapters.discord_questions``), answered as a reply to it.
- Intents: ``guilds``, ``guild_reactions`` and ``guild_messages``, none privileged. Without
  MESSAGE_CONTENT, Discord gives the bot the text of a message only when it mentions the bot (a reply
  ping does), which is exactly the messages that address it.
- Endpoints: ``[discord] api_url`` and ``gateway_url`` set ``discord.http.Route.BASE`` and
  ``DiscordWebSocket.DEFAULT_GATEWAY``: the two places discord.py reads its REST base and, for a
  non-sharded client, its gateway. Both are class attributes, hence one Discord configuration per
  process (which is how paperbot runs). A resumed session uses the ``resume_gateway_url`` Discord sent
  in READY, as Discord asks; a proxy that must see every connection has to rewrite that field.

Operations for the CLI: ``invite_url``, ``sync_commands`` (never run on start: Discord allows 200
command creations per day per guild) and ``check_discord`` (for ``paperbot doctor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import zoneinfo
from collections.abc import Callable, Coroutine, Mapping
from functools import cache
from typing import Any, Optional

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.discord_attachments import equation_attachments
from adapters.discord_embeds import DiscordMessage, message_nonce, render_digest, render_reply
from adapters.discord_feedback import learn_from_reaction
from adapters.discord_questions import HINT, mentions_user, question_text, reply_channel, thread_context
from bot import posted_messages, questions, taxonomy
from bot.cards import DigestMessage, Reply
from bot.commands import REGISTRY, Param, SubCommand, apology, feed_label, refusal
from bot.config import Config
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError, PaperbotError, SourceError
from bot.inbound import Request, handle, read_options
from bot.models import ChannelRef
from bot.posted_messages import MessageKind
from bot.sources.registry import naming

__all__ = [
    "INVITE_PERMISSIONS",
    "DiscordAdapter",
    "PaperbotClient",
    "build_paper_group",
    "check_discord",
    "configure_endpoints",
    "invite_url",
    "invite_url_for",
    "sync_commands",
]

log = logging.getLogger(__name__)

TOKEN_NAME = "DISCORD_TOKEN"
# What the bot needs in a channel to post digests. Interaction answers need no permission at all.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True
)
INVITE_SCOPES = ("bot", "applications.commands")
NO_MENTIONS = discord.AllowedMentions.none()

# Sub-commands whose answer is for the whole channel besides those that manage it: an explanation is
# worth sharing. Every other answer (list, usage, help, errors) is shown to the asker only.
ANSWERED_IN_CHANNEL = frozenset({"explain"})
# Sub-commands whose `category` is one the channel already follows (autocompleted from the store).
FOLLOWED_CATEGORY = frozenset({"unsubscribe"})

# Set on an interaction while its public "thinking…" message awaits the first follow-up.
_PUBLIC_THINKING = "paperbot_public_thinking"
DIGEST_POSTED = "Posted this channel's digest."
QUESTIONS_AT_ONCE = 4  # questions answered in parallel (each may wait on the LLM); more wait their turn
_DESCRIPTION_LIMIT = 100  # Discord's limit for command and option descriptions
_CHOICES_LIMIT = 25
COMMON_TIME_ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome",
    "Europe/Amsterdam", "Europe/Zurich", "Europe/Stockholm", "Europe/Warsaw", "Europe/Moscow",
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
    "America/Sao_Paulo", "America/Mexico_City", "Asia/Tokyo", "Asia/Shanghai", "Asia/Seoul",
    "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney", "Africa/Johannesburg",
)  # fmt: skip


class DiscordAdapter:
    """The Discord side of paperbot. Build it with the engine; ``start()`` logs in and connects.

    ``ready_timeout``: how long ``start()`` waits for the gateway's READY. ``guild_ready_timeout``:
    discord.py waits this long after READY for the guilds to stream in (its default is 2 s).
    """

    platform = "discord"

    def __init__(
        self,
        engine: Engine,
        config: Config | None = None,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self.engine = engine
        self.config = config if config is not None else engine.config
        self.ready_timeout = ready_timeout
        self.client = PaperbotClient(adapter=self, guild_ready_timeout=guild_ready_timeout)
        self._task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None
        self._work: set[asyncio.Task[None]] = set()  # questions being answered, off the gateway handler
        self._questions = asyncio.Semaphore(QUESTIONS_AT_ONCE)
        # Set when the gateway is gone for good after start(): the runner exits so a supervisor restarts it.
        self.fatal = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, connect to the gateway in this loop, and return once READY."""
        token = _token(self.config)
        configure_endpoints(self.config)
        try:
            await _login(self.client, token, self.config)
        except PaperbotError:
            await self.client.close()  # login opened an HTTP session
            raise
        self._task = asyncio.create_task(self._run_gateway(), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready(), name="discord-ready")
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done:
            user = self.client.user
            log.info("Discord: connected as %s (id %s)", user, user.id if user else "?")
            return
        ready.cancel()
        failure = self._failure
        await self.stop()
        if isinstance(failure, discord.PrivilegedIntentsRequired):
            raise ConfigError("Discord refused the gateway intents; paperbot needs no privileged ones")
        if failure is not None:
            raise SourceError(f"Discord gateway connection failed ({failure.__class__.__name__})")
        raise SourceError(
            f"Discord: no READY from {self.config.get('discord', 'gateway_url')} within {self.ready_timeout:g} s"
        )

    async def _run_gateway(self) -> None:
        # discord.py reconnects by itself; connect() only ends for good on a fatal close (bad token,
        # refused intents). Keep the failure for start() instead of leaving an unretrieved exception.
        try:
            await self.client.connect(reconnect=True)
        except Exception as err:
            self._failure = err
            if not self.client.is_closed():
                log.error("Discord gateway connection ended for good; Discord is offline", exc_info=err)
                self.fatal.set()

    async def stop(self) -> None:
        """Close the gateway and the HTTP session; safe to call twice."""
        pending = list(self._work)
        for work in pending:
            work.cancel()  # a question cut short is not answered; the person can ask again
        await asyncio.gather(*pending, return_exceptions=True)
        await self.client.close()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(task, timeout=5)
            except TimeoutError:
                log.warning("the Discord gateway did not close within 5 s")

    # --- scheduled digests --------------------------------------------------------------------

    async def post_digest(self, channel: ChannelRef, digest: DigestMessage) -> None:
        """Post a digest with ``channel.send``: the header, then one message per paper. Each part carries
        a nonce made from the channel, the announcement, the papers and the part number; discord.py sends
        it with ``enforce_nonce``, so Discord drops a retried duplicate instead of posting it twice."""
        await self._post_parts(
            channel,
            digest,
            lambda index: message_nonce(channel, digest.announced, digest.categories, digest.paper_ids, index),
            outbox_key=None,
        )

    async def post_digest_keyed(self, channel: ChannelRef, digest: DigestMessage, key: str) -> None:
        """As post_digest, with nonces made from the outbox key and its part index: a resend after a
        crash is deduped by Discord (enforce_nonce) within its nonce window of a few minutes."""
        await self._post_parts(channel, digest, lambda index: message_nonce(key, index), outbox_key=key)

    async def _post_parts(
        self, channel: ChannelRef, digest: DigestMessage, nonce_of: Callable[[int], str], *, outbox_key: str | None
    ) -> None:
        """Send each part of a digest and record it (a card with its paper, the header, a note), so a
        reaction or a reply to any of them finds what it is about. A part resent after a crash comes
        back from Discord as the same message (its nonce) and is recorded again, in place."""
        target = self._messageable(channel)
        for index, message in enumerate(render_digest(digest)):
            try:
                sent = await target.send(
                    content=message.content,
                    embeds=list(message.embeds),
                    nonce=nonce_of(index),
                    allowed_mentions=NO_MENTIONS,
                )
            except (discord.Forbidden, discord.NotFound) as err:
                raise ChannelUnavailable(_unavailable_reason(err, channel)) from err
            if digest.is_note:
                kind = MessageKind.NOTE
            else:
                kind = MessageKind.CARD if message.paper_id else MessageKind.HEADER
            posted_messages.record(
                self.engine.store, channel, str(sent.id), kind, paper_id=message.paper_id, outbox_key=outbox_key
            )

    async def already_posted(self, channel: ChannelRef, key: str) -> bool | None:
        """Discord's history does not carry nonces, so it cannot tell: the resend relies on the nonce."""
        del channel, key
        return None

    def _messageable(self, channel: ChannelRef) -> discord.abc.Messageable:
        try:
            channel_id = int(channel.channel)
            guild_id = int(channel.workspace) if channel.workspace else None
        except ValueError:
            raise ChannelUnavailable(f"{channel} is not a Discord channel id") from None
        cached = self.client.get_channel(channel_id)
        if cached is None:
            # Not in the cache (a thread, or the guild is not loaded yet): Discord answers the post itself
            # with Missing Access / Unknown Channel if it cannot be used, so no extra lookup is needed.
            return self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        if not isinstance(cached, discord.abc.Messageable):
            kind = getattr(cached, "type", "non-text")
            raise ChannelUnavailable(f"Discord channel {channel_id} is a {kind} channel, not a text channel")
        return cached

    # --- commands ------------------------------------------------------------------------------

    def channel_ref(self, interaction: discord.Interaction[Any]) -> ChannelRef:
        return ChannelRef("discord", str(interaction.guild_id or ""), str(interaction.channel_id or ""))

    async def run_command(
        self, interaction: discord.Interaction[Any], command: SubCommand, options: Mapping[str, str | None]
    ) -> None:
        """One `/paper` sub-command: its typed options go in as they are; defer, run, answer."""
        understood = read_options(command, options)
        if understood.mistake is not None:
            # Answered at once and privately: nothing to fetch, and no public "thinking…" to take back.
            await interaction.response.send_message(
                str(understood.mistake), ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        public = command.manages_channel or command.name in ANSWERED_IN_CHANNEL
        await interaction.response.defer(thinking=True, ephemeral=not public)
        interaction.extras[_PUBLIC_THINKING] = public
        request = Request(
            understood,
            self.channel_ref(interaction),
            user=str(interaction.user.id),
            can_manage=interaction.permissions.manage_channels,
        )

        async def answer(r: Reply) -> None:
            await self.answer(interaction, r)

        # poster=self: a requested digest goes to the channel with its outbox key and nonces, like a scheduled
        # one, so a restart after a crash cannot post it twice. The public "thinking…" it leaves is then
        # resolved with a private line.
        reply = await handle(self.engine, request, answer, poster=self)
        if reply.digest is not None and interaction.extras.get(_PUBLIC_THINKING):
            await self.answer(interaction, Reply(text=DIGEST_POSTED, ephemeral=True))

    async def answer(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        """Send a Reply as the interaction's follow-up messages. A public answer about one paper (an
        explanation, a paper's card) is recorded, so a reaction or a reply to it finds the paper."""
        private = reply.ephemeral or reply.is_error
        sent = await _send_followups(interaction, render_reply(reply), private=private)
        images = await _send_equation_images(interaction, reply, private=private)
        if private:
            return
        kind = MessageKind.EXPLANATION if reply.explanation is not None else MessageKind.RESULT
        channel = self.channel_ref(interaction)
        paper_ids = {message.paper_id for message, _ in sent if message.paper_id is not None}
        for message, message_id in sent:
            if message.paper_id is not None:
                posted_messages.record(self.engine.store, channel, message_id, kind, paper_id=message.paper_id)
        if images and len(paper_ids) == 1:  # the images are part of the explanation: reactions count too
            posted_messages.record(self.engine.store, channel, images, kind, paper_id=paper_ids.pop())

    # --- reactions and replies -----------------------------------------------------------------

    def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction added or removed anywhere the bot can see: teach the radar when it is 👍 ⭐ 🌟 or
        👎 on a message of the bot's about one paper. Quick (one lookup, one row) and never raises."""
        me = self.client.user
        if payload.guild_id is None or me is None or payload.user_id == me.id:
            return
        if payload.member is not None and payload.member.bot:  # other bots' reactions are not readers'
            return
        channel = ChannelRef("discord", str(payload.guild_id), str(payload.channel_id))
        try:
            learned = learn_from_reaction(
                self.engine.store,
                channel,
                str(payload.message_id),
                str(payload.user_id),
                payload.emoji.name,
                custom=payload.emoji.id is not None,
                added=payload.event_type == "REACTION_ADD",
            )
        except Exception:
            log.exception("a reaction in %s could not be applied to the radar", channel)
            return
        log.debug("reaction %s on %s in %s: %s", payload.emoji.name, payload.message_id, channel, learned.value)

    def on_message(self, message: discord.Message) -> None:
        """A message the bot can see. Only one that mentions the bot is looked at (the others reach it
        without text anyway); the work runs in a task of its own, off the gateway handler."""
        me = self.client.user
        if me is None or message.author.bot or message.guild is None or not mentions_user(message, me.id):
            return
        self._spawn(self._answer_mention(message, me.id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name="discord-question")
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def idle(self) -> None:
        """Wait until every question being answered is done (tests; a graceful stop)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)

    async def _answer_mention(self, message: discord.Message, bot_id: int) -> None:
        try:
            async with self._questions:
                await self._answer_question(message, bot_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("answering message %s in %s failed [ref %s]", message.id, message.channel.id, ref)

    async def _answer_question(self, message: discord.Message, bot_id: int) -> None:
        """A mention of the bot: a question when it replies to the bot's message about a paper."""
        channel = reply_channel(message)
        if channel is None:
            return
        reference = message.reference
        # A forwarded message carries a reference too, to a message elsewhere: only a reply here counts.
        is_reply = (
            reference is not None
            and reference.type is discord.MessageReferenceType.reply
            and reference.channel_id == message.channel.id
        )
        replied_to = reference.message_id if reference is not None and is_reply else None
        if replied_to is None:
            await self._send_answer(message, Reply(text=HINT), paper_id=None)
            return
        posted = posted_messages.find(self.engine.store, channel, str(replied_to))
        if posted is None:  # a reply to someone else's message: not a question to the bot
            return
        if posted.paper_id is None:
            await self._send_answer(message, Reply(text=HINT), paper_id=None)
            return
        text = question_text(message.content, bot_id)
        if not text:  # a ping without words (an image, a sticker): nothing to answer
            return
        with contextlib.suppress(discord.HTTPException):
            await message.channel.typing()  # "paperbot is typing…" while the answer is prepared
        question = questions.ThreadQuestion(
            channel=channel,
            user=str(message.author.id),
            paper_id=posted.paper_id,
            text=text,
            thread=await thread_context(message, bot_id),
        )
        try:
            reply = await questions.answer_question(self.engine, question)
        except PaperbotError as err:  # a limit, a paper gone: the message says what to do
            reply = refusal(err)
        except Exception:
            reply = apology(log, "answering a question about %s in %s failed", posted.paper_id, channel)
        await self._send_answer(message, reply, paper_id=None if reply.is_error else posted.paper_id)

    async def _send_answer(self, question: discord.Message, reply: Reply, *, paper_id: str | None) -> None:
        """Post a reply to ``question`` as Discord replies (no ping, no mention of anyone), each part with
        a nonce of its own; the parts of an answer about a paper are recorded as answers in its thread."""
        channel = reply_channel(question)
        reference = question.to_reference(fail_if_not_exists=False)
        for index, message in enumerate(render_reply(reply)):
            sent = await question.channel.send(
                content=message.content,
                embeds=list(message.embeds),
                reference=reference,
                allowed_mentions=NO_MENTIONS,
                mention_author=False,
                nonce=message_nonce("answer", question.id, index),
            )
            if paper_id is not None and channel is not None:
                posted_messages.record(
                    self.engine.store,
                    channel,
                    str(sent.id),
                    MessageKind.ANSWER,
                    paper_id=paper_id,
                    thread_id=str(question.id),
                )

    # --- autocomplete --------------------------------------------------------------------------

    def followed_choices(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        query = current.strip().lower()
        choices: list[app_commands.Choice[str]] = []
        for sub in self.engine.store.channel_subscriptions(self.channel_ref(interaction)):
            if query and query not in sub.category.lower():
                continue
            label = _feed_choice(sub.category, feed_label(self.engine, sub.category))
            if sub.paused_reason:
                label += " (paused)"
            choices.append(app_commands.Choice(name=_clip(label, 100), value=sub.category))
        return choices[:_CHOICES_LIMIT]


# --- the client and the command tree ----------------------------------------------------------------


class PaperbotClient(discord.Client):
    """A discord.py client with minimal intents, no mentions, and the `/paper` command tree.

    Intents, none privileged: ``guilds`` (the channel cache and the startup GUILD_CREATEs; interactions
    arrive whatever the intents), ``guild_reactions`` (reactions teach the radar) and ``guild_messages``
    (replies that ping the bot are questions; without MESSAGE_CONTENT only those carry text).
    ``adapter`` is None for one-off uses (sync, doctor), which ignore every event.
    """

    def __init__(self, *, adapter: DiscordAdapter | None = None, guild_ready_timeout: float = 2.0) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        intents.guild_messages = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,  # we never read messages back
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            guild_ready_timeout=guild_ready_timeout,
        )
        self.adapter = adapter
        self.tree = PaperbotTree(self)
        self.tree.add_command(build_paper_group())

    # discord.py runs each handler in a task of its own and only logs what escapes; the adapter's
    # handlers catch everything themselves.
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.adapter is not None:
            self.adapter.on_reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self.adapter is not None:
            self.adapter.on_reaction(payload)

    async def on_message(self, message: discord.Message) -> None:
        if self.adapter is not None:
            self.adapter.on_message(message)


class PaperbotTree(app_commands.CommandTree[PaperbotClient]):
    """Tells the user what went wrong (discord.py's default only logs): typed errors get a short
    message, anything unexpected a reference id that is logged with the details."""

    async def on_error(
        self, interaction: discord.Interaction[PaperbotClient], error: app_commands.AppCommandError, /
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "paper"
        if isinstance(error, app_commands.MissingPermissions):
            text = (
                f"Only people with the Manage Channels permission can use /{name} here. "
                "Ask a server admin, or use /paper list to see what this channel follows."
            )
        elif isinstance(error, app_commands.NoPrivateMessage):
            text = "Use /paper in a server channel."
        elif isinstance(error, app_commands.CheckFailure):
            text = f"You cannot use /{name} here."
        elif isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
            log.warning("Discord sent /%s, which does not match our commands: run `paperbot discord sync`", name)
            text = "This command is out of date on Discord. Ask the bot's operator to run `paperbot discord sync`."
        else:
            original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            ref = secrets.token_hex(4)
            log.error("/%s failed in %s [ref %s]", name, interaction.channel_id, ref, exc_info=original)
            text = f"Sorry, something went wrong on our side (reference {ref}). Please try again later."
        try:
            await _send_followups(interaction, [DiscordMessage(content=text)], private=True)
        except discord.HTTPException as err:
            log.warning("could not tell the user about a failed /%s: HTTP %s", name, err.status)


def build_paper_group() -> app_commands.Group:
    """The `/paper` group with one sub-command per registry entry. Server channels only (installed to
    a server, used there): digests and subscriptions belong to a channel."""
    group = app_commands.Group(
        name="paper",
        description="Paper digests for this channel, search, and papers' math explained",
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )
    for command in REGISTRY.values():
        group.add_command(_app_command(command))
    return group


def _app_command(command: SubCommand) -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction[Any], **options: str | None) -> None:
        await _adapter_of(interaction).run_command(interaction, command, options)

    # discord.py reads a command's options from its callback's signature: give the generic callback
    # one parameter per registry Param (str, optional ones defaulting to None).
    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)
    ]
    for param in command.params:
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=str if param.required else Optional[str],  # noqa: UP045 (a runtime annotation object)
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = f"paper_{command.name}"
    if command.params:
        app_commands.describe(**{p.name: _clip(p.description, _DESCRIPTION_LIMIT) for p in command.params})(callback)
        completers = {p.name: _completer(command, p) for p in command.params}
        app_commands.autocomplete(**{name: fn for name, fn in completers.items() if fn is not None})(callback)
    if command.manages_channel:
        app_commands.checks.has_permissions(manage_channels=True)(callback)
    return app_commands.Command(
        name=command.name, description=_clip(command.summary, _DESCRIPTION_LIMIT), callback=callback
    )


def _completer(command: SubCommand, param: Param) -> Any:
    """The autocomplete callback for one option, or None. discord.py wants (interaction, current)."""
    if param.kind == "category" and command.name in FOLLOWED_CATEGORY:

        async def followed(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            return _adapter_of(interaction).followed_choices(interaction, current)

        return followed
    if param.kind == "category":

        async def category(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [
                app_commands.Choice(name=_clip(_feed_choice(f.name, f.label), 100), value=f.name)
                for f in naming().complete_feeds(current[: taxonomy.MAX_INPUT], _CHOICES_LIMIT)
            ]

        return category
    if param.kind == "choice":
        choices = param.choices

        async def choice(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [app_commands.Choice(name=c, value=c) for c in choices if c.startswith(current.strip().lower())]

        return choice
    if param.kind == "timezone":

        async def zone(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            del interaction
            return [app_commands.Choice(name=z, value=z) for z in complete_time_zone(current)]

        return zone
    return None


def complete_time_zone(prefix: str, limit: int = _CHOICES_LIMIT) -> list[str]:
    """Common zones for an empty box; else IANA names containing the text, prefix matches first."""
    query = prefix.strip().lower()[:60]
    if not query:
        return list(COMMON_TIME_ZONES[:limit])
    hits = [z for z in _time_zones() if query in z.lower()]
    # "berl" should find Europe/Berlin before Europe/Busingen's neighbours: whole-name prefix, then a
    # part of the name that starts with the text, then the rest.
    hits.sort(key=lambda z: (not z.lower().startswith(query), not _part_starts(z, query), z))
    return hits[:limit]


def _part_starts(zone: str, query: str) -> bool:
    return any(part.startswith(query) for part in zone.lower().split("/"))


@cache
def _time_zones() -> tuple[str, ...]:
    # Etc/ and legacy aliases (US/Eastern, EST5EDT) are valid but only clutter the list.
    names = zoneinfo.available_timezones()
    return tuple(sorted(z for z in names if ("/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))) or z == "UTC"))


def _feed_choice(name: str, label: str) -> str:
    """ "cs.LG — Machine Learning", "hf — Hugging Face Daily Papers": the name first, as it is typed."""
    inner = label.removeprefix(f"{name} (").removesuffix(")") if label.startswith(f"{name} (") else label
    return name if inner == name else f"{name} — {inner}"


def _adapter_of(interaction: discord.Interaction[Any]) -> DiscordAdapter:
    client = interaction.client
    if not isinstance(client, PaperbotClient) or client.adapter is None:
        raise RuntimeError("a /paper interaction reached a client without a paperbot adapter")
    return client.adapter


async def _send_followups(
    interaction: discord.Interaction[Any], messages: list[DiscordMessage], *, private: bool
) -> list[tuple[DiscordMessage, str]]:
    """Answer an interaction with one or more messages, respecting the visibility it was deferred with.
    Returns the follow-ups sent with their message ids (``wait=True``: Discord answers with the message)."""
    sent: list[tuple[DiscordMessage, str]] = []
    if not interaction.response.is_done():
        first, *rest = messages
        await interaction.response.send_message(
            content=first.content, embeds=list(first.embeds), ephemeral=private, allowed_mentions=NO_MENTIONS
        )
        messages = rest
    elif private and interaction.extras.get(_PUBLIC_THINKING):
        # The first follow-up would take over the public "thinking…" message and its visibility; delete
        # that message so the answer can be private (Discord cannot turn a public deferral private).
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as err:
            log.debug("could not delete the deferred response (HTTP %s); answering in the channel", err.status)
    for message in messages:
        followup = await interaction.followup.send(
            content=message.content if message.content is not None else discord.utils.MISSING,
            embeds=list(message.embeds),
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        sent.append((message, str(followup.id)))
        # "thinking…" is resolved (or gone): later follow-ups are new messages with their own visibility.
        interaction.extras[_PUBLIC_THINKING] = False
    return sent


async def _send_equation_images(interaction: discord.Interaction[Any], reply: Reply, *, private: bool) -> str:
    """The explanation's equation images as one follow-up of attachments shown by embeds; its message id,
    or "" when there were none or Discord refused them (the text explanation stands without them)."""
    if not reply.images:
        return ""
    attachments = await equation_attachments(reply.images)
    if not attachments.files:
        return ""
    try:
        message = await interaction.followup.send(
            embeds=attachments.embeds,
            files=attachments.files,
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
    except discord.HTTPException as err:
        log.warning("equation images not sent (HTTP %s): the explanation stands without them", err.status)
        return ""
    return str(message.id)


def _unavailable_reason(err: discord.HTTPException, channel: ChannelRef) -> str:
    known = {
        50001: "Missing Access: the bot cannot see the channel (removed from the server, or the channel is private)",
        10003: "Unknown Channel: the channel was deleted",
        50013: "Missing Permissions: the bot needs View Channel, Send Messages and Embed Links there",
    }
    what = known.get(err.code, f"HTTP {err.status}, Discord error code {err.code}")
    return f"Discord channel {channel.channel}: {what}. Fix it, then /paper subscribe again to resume."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


# --- configuration and operations --------------------------------------------------------------------


def configure_endpoints(config: Config) -> None:
    """Point discord.py at ``[discord] api_url`` (REST, webhooks, interaction callbacks) and
    ``gateway_url``. Process-wide: see the module docstring."""
    discord.http.Route.BASE = str(config.get("discord", "api_url")).rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(config.get("discord", "gateway_url")))


def invite_url(application_id: int) -> str:
    """The URL a server admin opens to add the bot with the scopes and permissions it needs."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


async def invite_url_for(config: Config) -> str:
    """``invite_url`` for the application ``DISCORD_TOKEN`` belongs to (logs in once to learn its id)."""
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await _login(client, _token(config), config)
        if client.application_id is None:
            raise SourceError("Discord: login returned no application id")
        return invite_url(client.application_id)
    finally:
        await client.close()


def _token(config: Config) -> str:
    token = config.secret(TOKEN_NAME)
    if not token:
        raise ConfigError(f"{TOKEN_NAME} is not set: put the bot token from the Discord Developer Portal in it")
    return token


async def _login(client: discord.Client, token: str, config: Config) -> None:
    api = config.get("discord", "api_url")
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise ConfigError(
            f"Discord rejected {TOKEN_NAME} (401): copy the bot token again from the Developer Portal"
        ) from None
    except discord.HTTPException as err:
        raise SourceError(f"Discord: {api} answered HTTP {err.status} at login") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise SourceError(f"Discord: cannot reach {api} ({err.__class__.__name__})") from None


async def sync_commands(config: Config, guild_id: int | None = None) -> str:
    """Register the `/paper` commands with Discord, globally or in one guild. Run when deploying a new
    version, never on every start. A guild copy comes on top of the global command (handy while
    testing a new version in one server; Discord then lists both there)."""
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await _login(client, _token(config), config)
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if guild is not None:
            # The group is declared globally; a guild sync registers a copy there (shown at once).
            client.tree.copy_global_to(guild=guild)
        try:
            synced = await client.tree.sync(guild=guild)
        except discord.Forbidden:
            raise PaperbotError(
                f"Discord: the bot may not create commands in guild {guild_id}: invite it with the "
                "applications.commands scope (paperbot discord invite)"
            ) from None
        except app_commands.CommandSyncFailure:
            raise PaperbotError("Discord rejected the command definitions (HTTP 400); see the log with -v") from None
        except discord.HTTPException as err:
            raise SourceError(f"Discord: command sync failed with HTTP {err.status}") from None
    finally:
        await client.close()
    names = ", ".join(f"/{c.name}" for c in synced) or "none"
    where = f"in guild {guild_id}" if guild_id is not None else "globally"
    return f"Discord: synced {len(synced)} command(s) {where}: {names}"


async def check_discord(config: Config, timeout_s: float = 10.0) -> list[str]:
    """``paperbot doctor`` lines: is the token there, and does Discord accept it."""
    if not config.secret(TOKEN_NAME):
        return [f"Discord: {TOKEN_NAME} is not set (the Discord adapter stays off)"]
    configure_endpoints(config)
    client = PaperbotClient()
    try:
        await asyncio.wait_for(_login(client, _token(config), config), timeout_s)
        user = client.user
        if user is None:
            return ["Discord: login returned no bot user"]
        lines = [f"Discord: token OK for bot {user.name} (id {user.id})"]
        app = client.application
        if app is not None and app.interactions_endpoint_url:
            lines.append(
                "Discord: warning: the application has an Interactions Endpoint URL; slash commands will go "
                "there instead of to this bot. Clear it in the Developer Portal."
            )
        return lines
    except PaperbotError as err:
        return [str(err)]
    except TimeoutError:
        return [f"Discord: no answer from {config.get('discord', 'api_url')} within {timeout_s:g} s"]
    finally:
        await client.close()
