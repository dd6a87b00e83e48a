"""The audit trail: every moderator action and every refusal, stored and shown.

:class:`AuditLog` stores an entry (through the store, so it survives anything that
happens next) and then tells its sinks. The one sink today is
:class:`DiscordAuditSink`, which posts to the guild's audit channel when one is set.
Posting is best-effort and happens in the background: a refusal must not wait on
Discord before the member gets their answer, and a burst (a hundred refused commands
in a second) becomes a few messages, not a hundred, because pending entries for the
same guild are coalesced into one post. The stored row is the record; the post is a
convenience.

Posts never ping anyone (allowed mentions: none), so naming a member or a role in an
entry is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.guild_config import GuildConfig

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

#: What a post may hold (Discord's message limit, with room to spare).
POST_MAX_CHARS = 1900
LINE_MAX_CHARS = 400
#: Entries waiting for the audit channel; past this, new ones are stored but not posted.
MAX_PENDING = 1000
#: Entries taken from the queue at once and coalesced per guild.
BATCH = 25

#: How each action reads in the audit channel (unknown actions show their name).
ACTION_TITLES: dict[str, str] = {
    "refused": "Refused",
    "limits.set": "Limits set",
    "limits.reset": "Limits reset",
    "block": "Blocked",
    "unblock": "Unblocked",
    "usage.export": "Usage exported",
    "settings.models": "Models changed",
    "settings.channels": "Channels changed",
    "settings.words": "Word list changed",
    "settings.audit": "Audit channel changed",
    "settings.budget": "Budget changed",
    "settings.exempt": "Exempt roles changed",
}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit row, as the sinks see it."""

    id: int
    guild_id: int | None
    actor_id: int | None
    action: str
    target: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: float = 0.0


AuditHook = Callable[[AuditEntry], Awaitable[None]]


async def notify(hooks: Iterable[AuditHook], entry: AuditEntry) -> None:
    """Tell every hook; one failing hook neither stops the others nor the caller."""
    for hook in list(hooks):
        try:
            await hook(entry)
        except Exception:
            log.exception("audit hook %r failed for entry %s", hook, entry.id)


def target_for(kind: str, target_id: int | None = None) -> str:
    """The stored form of a target: ``user:<id>``, ``role:<id>``, ``channel:<id>``,
    or ``guild`` (the server default)."""
    return kind if target_id is None else f"{kind}:{target_id}"


def describe_target(target: str | None) -> str:
    """A target as Discord shows it (a mention, which never pings in audit posts)."""
    if not target:
        return ""
    kind, _, raw = target.partition(":")
    if raw.isdigit():
        if kind == "user":
            return f"<@{raw}>"
        if kind == "role":
            return f"<@&{raw}>"
        if kind == "channel":
            return f"<#{raw}>"
    if target == "guild":
        return "server default"
    return f"`{target.replace('`', 'ˋ')}`"


def describe(entry: AuditEntry) -> str:
    """One line for the audit channel."""
    title = ACTION_TITLES.get(entry.action, entry.action)
    parts = [f"<t:{int(entry.at)}:T> **{title}**"]
    if entry.actor_id is not None:
        parts.append(("for" if entry.action == "refused" else "by") + f" <@{entry.actor_id}>")
    target = describe_target(entry.target)
    if target:
        parts.append(f"· {target}")
    text = " ".join(parts)
    said = entry.detail.get("summary") or entry.detail.get("reason")
    if said:
        text += f": {' '.join(str(said).split())}"
    if len(text) > LINE_MAX_CHARS:
        text = text[: LINE_MAX_CHARS - 1] + "…"
    return text


def chunk_lines(lines: Iterable[str], limit: int = POST_MAX_CHARS) -> list[str]:
    """Lines joined into as few posts as Discord's length limit allows."""
    posts: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            posts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        posts.append(current)
    return posts


class AuditLog:
    """Store an entry, then tell the sinks (``sinks`` is a plain list of hooks)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sinks: list[AuditHook] = []

    async def record(
        self,
        guild_id: int | None,
        actor_id: int | None,
        action: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        values = dict(detail or {})
        entry_id = await self.store.add_audit(guild_id, actor_id, action, target, values)
        entry = AuditEntry(entry_id, guild_id, actor_id, action, target, values, self.store.clock())
        log.info("audit %s: %s by %s on %s", entry_id, action, actor_id, target)
        await notify(self.sinks, entry)
        return entry


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
        for text in chunk_lines(describe(e) for e in entries):
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
