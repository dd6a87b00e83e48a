"""The audit trail: every moderator action and every refusal, stored, then posted to the
audit channel (best-effort). Posts never ping anyone, so naming a member is safe."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.services.tasks import notify
from bot.text.i18n import t

if TYPE_CHECKING:
    from bot.domain.job import Job
    from bot.store import Store

log = logging.getLogger(__name__)

#: What a post may hold (Discord's message limit, with room to spare).
POST_MAX_CHARS = 1900
LINE_MAX_CHARS = 400

#: How each action reads in the audit channel (unknown actions show their name).
ACTION_TITLES: dict[str, str] = {
    "refused": "Refused",
    "limits.set": "Limits set",
    "limits.reset": "Limits reset",
    "block": "Blocked",
    "unblock": "Unblocked",
    "usage.export": "Usage exported",
    "budget.alert": "Budget alert",
    "job.cancel": "Job cancelled",
    "usage.grant": "Allowance granted",
    "usage.refund": "Job refunded",
    "settings.models": "Models changed",
    "settings.channels": "Channels changed",
    "settings.words": "Word list changed",
    "settings.audit": "Audit channel changed",
    "settings.budget": "Budget changed",
    "settings.exempt": "Exempt roles changed",
    "settings.spoiler": "Spoiler channels changed",
    "settings.adult": "Adult content changed",
    "settings.channel_defaults": "Channel defaults changed",
    "settings.styles": "House styles changed",
    "report.keep": "Reported result kept",
    "report.remove": "Reported result removed",
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


def target_for(kind: str, target_id: int | None = None) -> str:
    """The stored form of a target: ``user:<id>``, ``role:<id>``, ``channel:<id>``,
    or ``guild`` (the server default)."""
    return kind if target_id is None else f"{kind}:{target_id}"


#: How each kind of target id is mentioned.
MENTIONS = {"user": "<@{}>", "role": "<@&{}>", "channel": "<#{}>"}


def describe_target(target: str | None) -> str:
    """A target as Discord shows it (a mention, which never pings in audit posts)."""
    if not target:
        return ""
    kind, _, raw = target.partition(":")
    if raw.isdigit() and kind in MENTIONS:
        return MENTIONS[kind].format(raw)
    if target == "guild":
        return "server default"
    return f"`{target.replace('`', 'ˋ')}`"


def describe(entry: AuditEntry, locale: Any = None) -> str:
    """One line for the audit channel; an entry with a ``template`` (and ``fields``) in
    its detail reads in ``locale`` (the server's)."""
    title = ACTION_TITLES.get(entry.action, entry.action)
    template = entry.detail.get("template")
    if template:
        title = t(locale, title)
    parts = [f"<t:{int(entry.at)}:T> **{title}**"]
    if entry.actor_id is not None:
        parts.append(("for" if entry.action == "refused" else "by") + f" <@{entry.actor_id}>")
    target = describe_target(entry.target)
    if target:
        parts.append(f"· {target}")
    text = " ".join(parts)
    said = entry.detail.get("summary") or entry.detail.get("reason")
    if template:
        said = t(locale, str(template), **entry.detail.get("fields", {}))
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
    """Store an entry, then notify the sinks (a plain list of hooks). The one way anything
    is audited: moderator commands, the job service, the error path."""

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
        """Store one entry, then notify the sinks."""
        values = dict(detail or {})
        entry_id = await self.store.add_audit(guild_id, actor_id, action, target, values)
        entry = AuditEntry(entry_id, guild_id, actor_id, action, target, values, self.store.clock())
        log.info("audit %s: %s by %s on %s", entry_id, action, actor_id, target)
        await notify(self.sinks, entry)
        return entry

    async def change(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        target: str | None,
        summary: str,
        **detail: Any,
    ) -> AuditEntry:
        """Record a moderator's change: ``summary`` in English, ``detail`` the values."""
        return await self.record(guild_id, actor_id, action, target, {"summary": summary, **detail})

    async def cancelled(self, job: Job, actor_id: int) -> AuditEntry | None:
        """A job cancelled by someone else than its member (a moderator) is audited."""
        if actor_id == job.user_id:
            return None
        return await self.change(
            job.guild_id or 0,
            actor_id,
            "job.cancel",
            target_for("user", job.user_id),
            f"cancelled job #{job.id} ({job.model})",
            job_id=job.id,
        )

    async def refused(
        self, guild_id: int | None, actor_id: int | None, target: str | None, reason: str, kind: str
    ) -> AuditEntry:
        """Record a refusal: ``reason`` in English, ``kind`` the error's class name."""
        detail = {"reason": reason, "kind": kind}
        return await self.record(guild_id, actor_id, "refused", target, detail)
