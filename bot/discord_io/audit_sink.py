"""Posting the audit trail (``bot/services/audit.py``) to each guild's audit channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.domain.guild_config import GuildConfig
from bot.services.audit import AuditEntry, chunk_lines, describe

log = logging.getLogger(__name__)

#: Entries waiting for the audit channel; past this, new ones are stored but not posted.
MAX_PENDING = 1000
#: Entries taken from the queue at once and coalesced per guild.
BATCH = 25


class DiscordAuditSink:
    """Posts entries to each guild's audit channel, from one background task.

    ``deliver`` only queues (it is awaited on the member's path); the task takes what
    is pending, groups it by guild, looks up each guild's audit channel and posts the
    lines in as few messages as fit. A channel that is gone or forbids the bot costs a
    logged warning, never an error for the member."""

    def __init__(
        self,
        client: discord.Client,
        config_for: Callable[[int], Awaitable[GuildConfig]],
        *,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.client = client
        self.config_for = config_for
        self._queue: asyncio.Queue[AuditEntry] = asyncio.Queue(maxsize=max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def deliver(self, entry: AuditEntry) -> None:
        if entry.guild_id is None:
            return
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("audit channel backlog full; entry %s stored but not posted", entry.id)
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audit-posts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def idle(self) -> None:
        """Wait until everything queued so far was posted (or given up on)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                by_guild: dict[int, list[AuditEntry]] = {}
                for entry in batch:
                    by_guild.setdefault(entry.guild_id or 0, []).append(entry)
                for guild_id, entries in by_guild.items():
                    try:
                        await self._post(guild_id, entries)
                    except Exception:
                        log.exception("could not post %d audit entries", len(entries))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _post(self, guild_id: int, entries: list[AuditEntry]) -> None:
        config = await self.config_for(guild_id)
        channel_id = config.audit_channel_id
        if channel_id is None:
            return
        cached = self.client.get_channel(channel_id)
        channel: discord.abc.Messageable = (
            cached
            if isinstance(cached, discord.abc.Messageable)
            else self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        )
        locale = getattr(self.client.get_guild(guild_id), "preferred_locale", None)
        for text in chunk_lines(describe(e, locale) for e in entries):
            try:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning(
                    "guild %s: cannot post to audit channel %s (%s %s)",
                    guild_id,
                    channel_id,
                    exc.status,
                    exc.code,
                )
                return
