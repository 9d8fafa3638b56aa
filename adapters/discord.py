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
- A digest is drawn in its channel's ``/paper layout`` (``adapters.discord_layouts``, posted by
  ``adapters.discord_posting``): ``cards``, a header message and then one message per paper, so that a
  reaction or a reply is about exactly one paper; ``compact``, every card in as few messages as Discord's
  limits allow, with 👍/👎 buttons per paper (``adapters.discord_buttons``); ``thread``, the header and
  the cards in a thread started from it. Every message the bot posts about a paper (cards, explanations,
  answers) and every digest header is recorded in ``bot.posted_messages``: reactions (👍 ⭐ 🌟 / 👎, see
  ``adapters.discord_feedback``) teach the channel's radar, and a reply that pings the bot is a question
  about the paper (``adapters.discord_questions``), answered as a reply to it.
- Intents: ``guilds``, ``guild_reactions`` and ``guild_messages``, none privileged. Without
  MESSAGE_CONTENT, Discord gives the bot the text of a message only when it mentions the bot (a reply
  ping does), which is exactly the messages that address it.

The jobs are split: ``adapters.discord_commands`` (the client, the `/paper` command tree, autocompletion,
interaction follow-ups), ``adapters.discord_threads`` (reactions and replies), ``adapters.discord_operations``
(endpoints, login, and the CLI's invite, sync and doctor checks); this module starts and stops the
connection, posts digests and answers commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import discord
from discord import app_commands

from adapters.discord_attachments import equation_attachments
from adapters.discord_buttons import DiscordButtons
from adapters.discord_commands import (
    CHOICES_LIMIT,
    NO_MENTIONS,
    PUBLIC_THINKING,
    PaperbotClient,
    build_paper_group,
    clip,
    feed_choice,
    send_followups,
)
from adapters.discord_embeds import message_nonce, render_reply
from adapters.discord_limiter import RequestLimiter, TokenBucket
from adapters.discord_operations import (
    INVITE_PERMISSIONS,
    bot_token,
    check_discord,
    configure_endpoints,
    invite_url,
    invite_url_for,
    login,
    sync_commands,
)
from adapters.discord_posting import post_parts
from adapters.discord_threads import QUESTIONS_AT_ONCE, DiscordThreads
from bot import posted_messages
from bot.cards import DigestMessage, Reply
from bot.commands import SubCommand, feed_label
from bot.config import Config
from bot.engine import Engine
from bot.errors import ChannelUnavailable, ConfigError, PaperbotError, SourceError
from bot.hint_limit import HintLimiter
from bot.inbound import Request, handle, read_options
from bot.models import ChannelRef
from bot.posted_messages import MessageKind

# The client, the command group and the operations live in adapters.discord_commands and
# adapters.discord_operations; named here too, where the rest of the bot and the tests find them.
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

# Sub-commands whose answer is for the whole channel besides those that manage it: an explanation is
# worth sharing. Every other answer (list, usage, help, errors) is shown to the asker only.
ANSWERED_IN_CHANNEL = frozenset({"explain", "ask"})
DIGEST_POSTED = "Posted this channel's digest."


class DiscordAdapter(DiscordThreads, DiscordButtons):
    """The Discord side of paperbot. Build it with the engine; ``start()`` logs in and connects.

    ``ready_timeout``: how long ``start()`` waits for the gateway's READY. ``guild_ready_timeout``:
    discord.py waits this long after READY for the guilds to stream in (its default is 2 s).
    ``limiter``: the bot's global request budget; by default a token bucket paced below
    ``[delivery] discord_requests_per_s`` (see ``adapters.discord_limiter``).
    """

    platform = "discord"

    def __init__(
        self,
        engine: Engine,
        config: Config | None = None,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.config = config if config is not None else engine.config
        self.ready_timeout = ready_timeout
        if limiter is None:
            limiter = TokenBucket.for_limit(int(self.config.get("delivery", "discord_requests_per_s")))
        self.limiter = limiter
        self.client = PaperbotClient(adapter=self, guild_ready_timeout=guild_ready_timeout, limiter=limiter)
        self._task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None
        self._work: set[asyncio.Task[None]] = set()  # questions being answered, off the gateway handler
        self._questions = asyncio.Semaphore(QUESTIONS_AT_ONCE)
        self.hints = HintLimiter()
        # Set when the gateway is gone for good after start(): the runner exits so a supervisor restarts it.
        self.fatal = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, connect to the gateway in this loop, and return once READY."""
        token = bot_token(self.config)
        configure_endpoints(self.config)
        try:
            await login(self.client, token, self.config)
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
        """Send each part of a digest in the channel's layout and record it (a card with its paper, a
        compact message or a thread's header with its papers, the header, a note), so a reaction, a button
        or a reply to any of them finds what it is about (``adapters.discord_posting``). A part resent
        after a crash comes back from Discord as the same message (its nonce) and is recorded again, in
        place. Each part waits for the bot's request budget with its index as priority, so in a fan-out
        every channel's header goes out before any channel's cards."""
        target = self._messageable(channel)
        await post_parts(self.client, self.engine.store, channel, target, digest, nonce_of, outbox_key=outbox_key)

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
        interaction.extras[PUBLIC_THINKING] = public
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
        if reply.digest is not None and interaction.extras.get(PUBLIC_THINKING):
            await self.answer(interaction, Reply(text=DIGEST_POSTED, ephemeral=True))

    async def answer(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        """Send a Reply as the interaction's follow-up messages. A public answer about one paper (an
        explanation, a paper's card) is recorded, so a reaction or a reply to it finds the paper."""
        private = reply.ephemeral or reply.is_error
        sent = await send_followups(interaction, render_reply(reply), private=private)
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

    # --- autocomplete --------------------------------------------------------------------------

    def followed_choices(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        query = current.strip().lower()
        choices: list[app_commands.Choice[str]] = []
        for sub in self.engine.store.channel_subscriptions(self.channel_ref(interaction)):
            if query and query not in sub.category.lower():
                continue
            label = feed_choice(sub.category, feed_label(self.engine, sub.category))
            if sub.paused_reason:
                label += " (paused)"
            choices.append(app_commands.Choice(name=clip(label, 100), value=sub.category))
        return choices[:CHOICES_LIMIT]


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
