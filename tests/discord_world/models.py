"""The world's entities, each able to render the JSON Discord would send for it.

Ids are ints here and strings on the wire, as Discord does.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.discord_world import permissions as perms
from tests.discord_world.snowflake import snowflake_time

JSON = dict[str, Any]

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
TIER_UPLOAD_LIMITS = {
    0: DEFAULT_UPLOAD_LIMIT,
    1: DEFAULT_UPLOAD_LIMIT,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}

EPHEMERAL = 1 << 6
LOADING = 1 << 7

TEXT = 0
DM = 1
CATEGORY = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREADS = (PUBLIC_THREAD, PRIVATE_THREAD)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_closed: bool = False
    """When set, opening a DM works but sending to it fails with 50007."""

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None
    colour: int = 0

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.colour,
            "colors": {"primary_color": self.colour},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    user: User
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def payload(self, *, permissions: int | None = None, with_user: bool = True) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Channel:
    id: int
    guild_id: int | None
    name: str
    type: int = TEXT
    nsfw: bool = False
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    bot_deny: int = 0
    """Permissions taken from the bot in this channel (a member overwrite)."""
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    """Per role or member (by id): what this channel allows or denies them."""
    recipient: User | None = None
    deleted: bool = False
    owner_id: int | None = None
    """A thread's creator."""
    archived: bool = False
    thread_members: set[int] = field(default_factory=set)
    """Who joined a thread (a private one is visible only to them and Manage Threads)."""

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return self.type in THREADS

    def overwrite_pairs(self, bot_id: int | None) -> list[JSON]:
        """``permission_overwrites`` as Discord sends them (the bot's deny mask folded in)."""
        found = dict(self.overwrites)
        if self.bot_deny and bot_id is not None:
            mine = found.get(bot_id, Overwrite(bot_id, MEMBER_OVERWRITE))
            found[bot_id] = Overwrite(
                bot_id, MEMBER_OVERWRITE, mine.allow, mine.deny | self.bot_deny
            )
        return [o.payload() for o in found.values()]

    def payload(self, *, bot_id: int | None = None, permissions: int | None = None) -> JSON:
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": None,
                "recipients": [self.recipient.payload()],
                "flags": 0,
            }
        if self.is_thread:
            return self._thread_payload(permissions)
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "nsfw": self.nsfw,
            "topic": self.topic,
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            "permission_overwrites": self.overwrite_pairs(bot_id),
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def _thread_payload(self, permissions: int | None) -> JSON:
        """A thread: no overwrites of its own (its parent's apply), archive metadata."""
        data: JSON = {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id or 0),
            "type": self.type,
            "name": self.name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": len(self.thread_members),
            "flags": 0,
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso(time.time()),
                "locked": False,
                "invitable": False,
            },
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


ROLE_OVERWRITE, MEMBER_OVERWRITE = 0, 1


@dataclass(frozen=True)
class Overwrite:
    """One entry of a channel's ``permission_overwrites``."""

    id: int
    type: int  # ROLE_OVERWRITE or MEMBER_OVERWRITE
    allow: int = 0
    deny: int = 0

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    upload_limit_override: int | None = None
    locale: str = "en-US"
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    joined_at: float = field(default_factory=time.time)

    @property
    def upload_limit(self) -> int:
        """Per-file upload limit the server enforces (40005 above it)."""
        if self.upload_limit_override is not None:
            return self.upload_limit_override
        return TIER_UPLOAD_LIMITS.get(self.premium_tier, DEFAULT_UPLOAD_LIMIT)

    @upload_limit.setter
    def upload_limit(self, value: int | None) -> None:
        self.upload_limit_override = value

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def permissions_for(self, member: Member, channel: Channel | None = None) -> int:
        """Guild-wide, or in ``channel`` after its overwrites (a thread: its parent's; a
        private thread shows only to its members and to Manage Threads)."""
        roles = [self.everyone.permissions]
        roles += [self.roles[r].permissions for r in member.role_ids if r in self.roles]
        base = perms.combine(roles, owner=member.id == self.owner_id)
        if channel is None or base == perms.ALL:
            return base
        thread = channel if channel.is_thread else None
        if thread is not None:
            channel = self.channels[thread.parent_id or 0]
        ow = channel.overwrites
        none = Overwrite(0, ROLE_OVERWRITE)
        own = ow.get(member.id, none)
        value = perms.overwritten(
            base,
            everyone=(ow.get(self.id, none).allow, ow.get(self.id, none).deny),
            roles=[(ow[r].allow, ow[r].deny) for r in member.role_ids if r in ow],
            member=(own.allow, own.deny | (channel.bot_deny if member.user.bot else 0)),
        )
        if (
            thread is not None
            and thread.type == PRIVATE_THREAD
            and member.id not in thread.thread_members
            and not value & perms.MANAGE_THREADS
        ):
            return value & ~perms.ALL_CHANNEL
        return value

    def role_named(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise KeyError(name)

    def channel_named(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name and not channel.deleted:
                return channel
        raise KeyError(name)


@dataclass
class Attachment:
    """A file as uploaded (by the bot) or offered (by a member, as a command option)."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    width: int | None = None
    height: int | None = None
    declared_size: int | None = None
    """A member's attachment may claim a size without carrying that many bytes."""
    fetches: list[str | None] = field(default_factory=list)
    """The ``Range`` header of each GET of its URL (``None``: the whole file)."""
    resign: Callable[[str], str] | None = field(default=None, repr=False, compare=False)
    """Set by the world: the link a payload carries now (re-signed once half-expired)."""

    @property
    def size(self) -> int:
        return self.declared_size if self.declared_size is not None else len(self.data)

    def payload(self) -> JSON:
        if self.resign is not None:
            self.url = self.resign(self.url)
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            data["content_type"] = self.content_type
        if self.description is not None:
            data["description"] = self.description
        if self.width is not None and self.height is not None:
            data["width"], data["height"] = self.width, self.height
        return data


@dataclass
class Message:
    """Everything the bot posted (or a member's message the test planted)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    allowed_mentions: JSON | None = None
    nonce: str | None = None
    enforce_nonce: bool = False
    flags: int = 0
    tts: bool = False
    type: int = 0
    kind: str = "channel"
    """``channel`` (channel route), ``response`` (interaction callback), ``followup``, or
    ``member`` (``world.say``)."""
    interaction_id: int | None = None
    interaction_meta: JSON | None = None
    webhook_id: int | None = None
    message_reference: JSON | None = None
    edited_at: float | None = None
    deleted: bool = False
    edits: list[JSON] = field(default_factory=list)
    """The raw JSON of every edit, in order."""
    history: list[JSON] = field(default_factory=list)
    """What the message looked like before each edit (``snapshot()`` dicts)."""

    @property
    def created_at(self) -> float:
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred "thinking…" response not yet filled in."""
        return bool(self.flags & LOADING)

    @property
    def attachments(self) -> list[Attachment]:
        return self.files

    def file_named(self, filename: str) -> Attachment:
        for f in self.files:
            if f.filename == filename:
                return f
        raise KeyError(
            f"no file {filename!r} on message {self.id}: {[f.filename for f in self.files]}"
        )

    def buttons(self) -> list[JSON]:
        """Every interactive component (buttons, selects), flattened out of the rows."""
        found: list[JSON] = []

        def walk(items: list[JSON]) -> None:
            for item in items:
                if "custom_id" in item or item.get("type") == 2:
                    found.append(item)
                walk(item.get("components", []))
                if "accessory" in item:
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def custom_ids(self) -> list[str]:
        return [b["custom_id"] for b in self.buttons() if "custom_id" in b]

    def component(self, custom_id: str) -> JSON:
        for item in self.buttons():
            if item.get("custom_id") == custom_id:
                return item
        raise KeyError(f"no component {custom_id!r} on message {self.id}: {self.custom_ids()}")

    def component_by_label(self, label: str) -> JSON:
        for item in self.buttons():
            if item.get("label") == label:
                return item
        labels = [b.get("label") for b in self.buttons()]
        raise KeyError(f"no component labelled {label!r} on message {self.id}: {labels}")

    def embed_text(self) -> str:
        """All the words in the embeds, for loose assertions."""
        parts: list[str] = []
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            for f in embed.get("fields", []):
                parts += [f.get("name", ""), f.get("value", "")]
            parts.append((embed.get("footer") or {}).get("text", ""))
            parts.append((embed.get("author") or {}).get("name", ""))
        return "\n".join(p for p in parts if p)

    def snapshot(self) -> JSON:
        return {
            "content": self.content,
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "files": list(self.files),
            "flags": self.flags,
            "edited_at": self.edited_at,
        }

    def payload(self, application_id: int) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": None if self.edited_at is None else iso(self.edited_at),
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [f.payload() for f in self.files],
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(application_id)
        if self.interaction_meta is not None:
            data["interaction_metadata"] = copy.deepcopy(self.interaction_meta)
        if self.message_reference is not None:
            data["message_reference"] = copy.deepcopy(self.message_reference)
        return data

    def __repr__(self) -> str:
        bits = [f"id={self.id}", f"channel={self.channel_id}", f"kind={self.kind}"]
        if self.content:
            bits.append(f"content={self.content[:60]!r}")
        if self.embeds:
            bits.append(f"embeds={len(self.embeds)}")
        if self.files:
            bits.append(f"files={[f.filename for f in self.files]}")
        if self.components:
            bits.append(f"custom_ids={self.custom_ids()}")
        if self.ephemeral:
            bits.append("ephemeral")
        if self.deleted:
            bits.append("deleted")
        return f"<Message {' '.join(bits)}>"


@dataclass
class Callback:
    """The first answer to an interaction (``POST /interactions/{id}/{token}/callback``)."""

    type: int
    data: JSON | None
    files: list[Attachment]
    at: float
    """``time.time()`` when the request reached the local Discord, before it read and
    checked the body (its own work is not the bot's latency)."""

    @property
    def choices(self) -> list[JSON]:
        """Autocomplete choices (type 8)."""
        return list((self.data or {}).get("choices", []))

    @property
    def deferred(self) -> bool:
        return self.type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return bool((self.data or {}).get("flags", 0) & EPHEMERAL)


@dataclass
class RequestRecord:
    """One HTTP request as the server saw and answered it."""

    method: str
    path: str
    route: str
    status: int
    code: int | None
    json: Any
    at: float = field(default_factory=time.time)
    fault: bool = False

    def __repr__(self) -> str:
        code = f" code={self.code}" if self.code else ""
        return (
            f"<{self.method} {self.path} -> {self.status}{code}{' (fault)' if self.fault else ''}>"
        )
