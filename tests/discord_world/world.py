"""The world: one Discord (application, guilds, channels, members, messages, synced
commands, interactions) that outlives any one bot, so a test can stop a bot, start
another, and find everything where it was.

Tests read it (``messages``, ``requests``, ``commands``), wait on it
(``wait_for_message``, ``settle``) and drive it (``slash``, ``click``, ``faults``).
"""

# Waiting helpers take a timeout on purpose: tests read better with one argument.

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from tests.discord_world import permissions as perms
from tests.discord_world.cdn import Cdn
from tests.discord_world.clock import Clock
from tests.discord_world.errors import ApiError
from tests.discord_world.faults import Faults
from tests.discord_world.gateway import Gateway
from tests.discord_world.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InjectedInteraction,
    build_command_data,
    component_type_of,
)
from tests.discord_world.modals import client_values
from tests.discord_world.models import (
    DM,
    JSON,
    MEMBER_OVERWRITE,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    ROLE_OVERWRITE,
    TEXT,
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    Overwrite,
    RequestRecord,
    Role,
    User,
)
from tests.discord_world.payloads import guild_create_payload
from tests.discord_world.ratelimits import RateLimits
from tests.discord_world.shards import Shard, shard_of
from tests.discord_world.snowflake import Snowflakes
from tests.discord_world.waiting import Notifier

MESSAGE_COMMAND = 3

T = TypeVar("T")

DEFAULT_TOKEN = "test-token"  # a fake token for the fake Discord
NONCE_WINDOW = 300.0


class World:
    """State and test-facing API of the fake Discord. Start serving it with
    :func:`tests.discord_world.harness.discord_world`."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.recommended_shards = 1
        """``shards`` in GET /gateway/bot: what an AutoShardedClient without a count runs."""
        self.ids = Snowflakes()
        self.clock = Clock()
        self.cdn = Cdn(self.clock.wall)
        """Signs attachment links (``ex``/``is``/``hm``) and checks them."""
        self.faults = Faults()
        self.rate_limits = RateLimits(clock=self.clock.now)
        self.gateway = Gateway(self)
        self._notifier = Notifier()
        self.http_base = "http://127.0.0.1:0"
        self.ws_base = "ws://127.0.0.1:0"

        self.token_lifetime = 15 * 60.0
        """Seconds an interaction token lives (webhook calls after it: 10015)."""
        self.callback_window: float | None = 3.0
        """Seconds the bot has for its first answer (after it: 10062); None: forever."""
        self.expired_token_error = 10015
        """What a webhook call on an expired token gets: 10015 (404) or 50027 (401)."""
        self.nonce_window = NONCE_WINDOW

        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.left_guild_ids: list[int] = []
        """Guilds the bot left or was removed from, in order."""
        self.dm_channels: dict[int, Channel] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.files_by_id: dict[int, Attachment] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.command_syncs: list[tuple[int | None, list[str]]] = []
        """``(guild id or None, names)`` for each bulk overwrite, in order."""
        self.interactions: dict[int, InjectedInteraction] = {}
        self.interactions_by_token: dict[str, InjectedInteraction] = {}
        self.requests: list[RequestRecord] = []
        self.server_errors: list[str] = []
        """The server's own bugs (answered as 400s); a healthy test leaves this empty."""
        self.unhandled: list[str] = []
        """Requests for routes the server does not implement."""
        self.in_flight = 0
        self._last_activity = time.monotonic()
        self._nonces: dict[tuple[int, str], tuple[float, Message]] = {}

        self._seed()

    # -- the default world --------------------------------------------------------

    def _seed(self) -> None:
        self.bot_user = self.add_user("Atelier", bot=True)
        self.application_id = self.bot_user.id
        self.owner_user = self.add_user("owner")
        guild = self.add_guild("Atelier Test Guild", owner=self.owner_user)
        self.guild = guild
        self.moderator_role = self.add_role("Moderator", perms.MODERATOR_DEFAULT, guild=guild)
        self.channel = guild.channel_named("general")
        self.art_channel = self.add_channel("art", guild=guild)
        self.nsfw_channel = self.add_channel("nsfw-art", guild=guild, nsfw=True)
        self.owner = guild.members[self.owner_user.id]
        self.moderator = self.add_member("moderator", roles=[self.moderator_role], guild=guild)
        self.member = self.add_member("member", guild=guild)

    @property
    def bot_member(self) -> Member:
        return self.guild.members[self.bot_user.id]

    # -- building the world ------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(id=self.ids.next(), username=username, global_name=username.title(), bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        premium_tier: int = 0,
        shard: Shard | None = None,
    ) -> Guild:
        """A guild with @everyone, the bot's managed role, the bot, its owner and a
        #general channel; announced to a connected bot. ``shard=(k, n)`` picks an id
        that puts it on shard k when the bot runs n shards."""
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        guild_id = self.ids.next() if shard is None else self.ids.next_on_shard(shard)
        guild = Guild(id=guild_id, name=name, owner_id=owner.id, premium_tier=premium_tier)
        guild.roles[guild.id] = Role(
            id=guild.id, name="@everyone", permissions=perms.EVERYONE_DEFAULT
        )
        bot_role = Role(
            id=self.ids.next(),
            name=self.bot_user.username,
            permissions=perms.BOT_DEFAULT,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = Member(
            user=self.bot_user, guild_id=guild.id, role_ids=[bot_role.id]
        )
        guild.members[owner.id] = Member(user=owner, guild_id=guild.id)
        self.guilds[guild.id] = guild
        general = Channel(id=self.ids.next(), guild_id=guild.id, name="general")
        guild.channels[general.id] = general
        # A join carries no ``unavailable`` (discord.py then fires on_guild_join); the
        # guilds listed in READY come with ``unavailable: false`` at identify.
        joined = guild_create_payload(self, guild)
        joined.pop("unavailable")
        self.gateway.dispatch("GUILD_CREATE", joined, guild_id=guild.id)
        return guild

    def remove_guild(self, guild: Guild) -> None:
        """The bot left (or was removed from) ``guild``; a connected bot hears GUILD_DELETE."""
        self.guilds.pop(guild.id, None)
        self.left_guild_ids.append(guild.id)
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id)

    def add_channel(
        self,
        name: str,
        *,
        guild: Guild | None = None,
        nsfw: bool = False,
        type: int = TEXT,
        topic: str | None = None,
    ) -> Channel:
        guild = guild or self.guild
        channel = Channel(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            type=type,
            nsfw=nsfw,
            position=len(guild.channels),
            topic=topic,
        )
        guild.channels[channel.id] = channel
        self._channel_dispatch("CHANNEL_CREATE", channel)
        return channel

    def delete_channel(self, channel: Channel) -> None:
        """Gone for good: every later request on it gets 10003."""
        channel.deleted = True
        self._channel_dispatch("CHANNEL_DELETE", channel)
        self.notify()

    def add_role(self, name: str, permissions: int, *, guild: Guild | None = None) -> Role:
        guild = guild or self.guild
        role = Role(
            id=self.ids.next(), name=name, permissions=permissions, position=len(guild.roles)
        )
        guild.roles[role.id] = role
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild.id), "role": role.payload()},
            guild_id=guild.id,
        )
        return role

    def add_member(
        self, username: str, *, roles: Iterable[Role] = (), guild: Guild | None = None
    ) -> Member:
        """A new user in the guild (no gateway event: the bot has no members intent)."""
        guild = guild or self.guild
        user = self.add_user(username)
        member = Member(user=user, guild_id=guild.id, role_ids=[r.id for r in roles])
        guild.members[user.id] = member
        return member

    def set_bot_deny(self, channel: Channel, deny: int) -> None:
        """Take permissions (e.g. ``discord.Permissions(attach_files=True).value``) from
        the bot in one channel; the bot's cache hears of it (CHANNEL_UPDATE)."""
        channel.bot_deny = deny
        self._channel_dispatch("CHANNEL_UPDATE", channel)

    def set_overwrite(
        self, channel: Channel, target: Role | Member, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Allow or deny permissions to a role (or @everyone: ``guild.everyone``) or a
        member in one channel, replacing its earlier overwrite; the bot hears of it."""
        kind = ROLE_OVERWRITE if isinstance(target, Role) else MEMBER_OVERWRITE
        channel.overwrites[target.id] = Overwrite(target.id, kind, allow, deny)
        self._channel_dispatch("CHANNEL_UPDATE", channel)

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        private: bool = False,
        members: Iterable[Member] = (),
    ) -> Channel:
        """A thread in ``parent`` (its permissions and age restriction are the parent's),
        joined by the bot and ``members``; announced with THREAD_CREATE."""
        guild = self.guilds[parent.guild_id or 0]
        thread = Channel(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
            thread_members={self.bot_user.id, *(m.id for m in members)},
        )
        guild.channels[thread.id] = thread
        self.gateway.dispatch(
            "THREAD_CREATE",
            self._channel_event(thread) | {"newly_created": True},
            guild_id=guild.id,
        )
        return thread

    def set_archived(self, thread: Channel, archived: bool = True) -> None:
        """Archive (or reopen) a thread: discord.py drops an archived one from its cache."""
        thread.archived = archived
        self._channel_dispatch("THREAD_UPDATE", thread)

    def set_upload_limit(self, limit: int | None, *, guild: Guild | None = None) -> None:
        """Per-file limit for uploads (40005 over it); None restores the tier's."""
        (guild or self.guild).upload_limit = limit

    def attachment(
        self,
        filename: str,
        data: bytes = b"",
        *,
        content_type: str | None = None,
        size: int | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> Attachment:
        """A member's upload, for an attachment option; its URL is served by the world.
        ``size`` may claim more bytes than ``data`` holds (to test size checks cheaply)."""
        att_id = self.ids.next()
        att = Attachment(
            id=att_id,
            filename=filename,
            data=data,
            url=self._file_url(0, att_id, filename),
            content_type=content_type,
            width=width,
            height=height,
            declared_size=size,
        )
        att.resign = self.cdn.fresh
        self.files_by_id[att.id] = att
        return att

    def _file_url(self, channel_id: int, att_id: int, filename: str) -> str:
        """A signed CDN link, as Discord hands out: it works for 24 h by ``self.clock``."""
        return self.cdn.sign(f"{self.http_base}/attachments/{channel_id}/{att_id}/{filename}")

    # -- payloads -------------------------------------------------------------------

    def bot_permissions(self, channel: Channel) -> int:
        if channel.type == DM:
            return perms.VIEW_CHANNEL | perms.SEND_MESSAGES | perms.ATTACH_FILES | perms.EMBED_LINKS
        guild = self.guilds[channel.guild_id or 0]
        return guild.permissions_for(guild.members[self.bot_user.id], channel)

    def _channel_event(self, channel: Channel) -> JSON:
        return channel.payload(bot_id=self.bot_user.id)

    def _channel_dispatch(self, event: str, channel: Channel) -> None:
        self.gateway.dispatch(event, self._channel_event(channel), guild_id=channel.guild_id)

    # -- queries --------------------------------------------------------------------

    def channel_by_id(self, channel_id: int) -> Channel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return self.dm_channels.get(channel_id)

    def messages(
        self,
        channel: Channel | int | None = None,
        *,
        kind: str | None = None,
        include_deleted: bool = False,
        include_ephemeral: bool = True,
    ) -> list[Message]:
        """Messages in creation order, optionally of one channel or kind
        (``channel``, ``response``, ``followup``)."""
        channel_id = channel.id if isinstance(channel, Channel) else channel
        return [
            m
            for m in self.messages_by_id.values()
            if (channel_id is None or m.channel_id == channel_id)
            and (kind is None or m.kind == kind)
            and (include_deleted or not m.deleted)
            and (include_ephemeral or not m.ephemeral)
        ]

    def message(self, message_id: int) -> Message:
        return self.messages_by_id[message_id]

    def shard_of(self, guild: Guild | int, count: int) -> int:
        """The shard that gets ``guild``'s events when the bot runs ``count`` shards."""
        return shard_of(guild.id if isinstance(guild, Guild) else guild, count)

    def guilds_on(self, shard_ids: Iterable[int], count: int) -> list[Guild]:
        """The guilds that sessions identified with these shards (of ``count``) receive."""
        wanted = set(shard_ids)
        return [g for g in self.guilds.values() if shard_of(g.id, count) in wanted]

    def requests_to(self, route: str) -> list[RequestRecord]:
        """Requests answered on a route template such as
        ``"POST /channels/{channel_id}/messages"`` (see ``RequestRecord.route``)."""
        method, _, path = route.partition(" ")
        return [r for r in self.requests if r.method == method.upper() and r.route == path]

    def commands(self, guild: Guild | int | None = None) -> list[JSON]:
        """The synced commands: global, or of one guild."""
        if guild is None:
            return list(self.global_commands)
        guild_id = guild.id if isinstance(guild, Guild) else guild
        return list(self.guild_commands.get(guild_id, []))

    def command_names(self, guild: Guild | int | None = None) -> list[str]:
        return sorted(c["name"] for c in self.commands(guild))

    def command(self, name: str, guild: Guild | int | None = None, *, type: int = 1) -> JSON:
        guild_id = guild.id if isinstance(guild, Guild) else guild
        scopes = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [
            self.global_commands
        ]
        for scope in scopes:
            for cmd in scope:
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        raise LookupError(
            f"/{name} is not synced; global: {self.command_names()}, guild: "
            f"{self.command_names(guild_id) if guild_id else []}"
        )

    def assert_healthy(self) -> None:
        """No server bug and no unimplemented route was hit during the test."""
        problems = [f"server error: {e}" for e in self.server_errors]
        problems += [f"unhandled route: {r}" for r in self.unhandled]
        if problems:
            raise AssertionError("the Discord test server saw problems:\n" + "\n".join(problems))

    # -- waiting ---------------------------------------------------------------------

    def notify(self) -> None:
        self._last_activity = time.monotonic()
        self._notifier.changed()

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float = 10.0,
        what: str | Callable[[], str] = "a condition",
    ) -> T:
        """Wait until ``predicate()`` is truthy and return it (re-checked on every change)."""
        return await self._notifier.wait_until(predicate, timeout=timeout, what=what)

    async def wait_for_message(
        self,
        channel: Channel | int | None = None,
        predicate: Callable[[Message], bool] | None = None,
        *,
        timeout: float = 10.0,
        kind: str | None = None,
    ) -> Message:
        """The earliest message (already posted or still to come) that matches."""

        def find() -> Message | None:
            for msg in self.messages(channel, kind=kind):
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.wait_for(
            find,
            timeout=timeout,
            what=lambda: f"a message in {channel!r} matching; have {self.messages(channel)}",
        )

    async def wait_for_messages(
        self,
        count: int,
        channel: Channel | int | None = None,
        predicate: Callable[[Message], bool] | None = None,
        *,
        timeout: float = 10.0,
        kind: str | None = None,
    ) -> list[Message]:
        def find() -> list[Message] | None:
            found = [
                m for m in self.messages(channel, kind=kind) if predicate is None or predicate(m)
            ]
            return found if len(found) >= count else None

        return await self.wait_for(
            find,
            timeout=timeout,
            what=lambda: f"{count} messages in {channel!r}; have {self.messages(channel)}",
        )

    async def wait_connected(self, timeout: float = 15.0) -> None:
        """Wait for a bot connected to the gateway."""
        await self.wait_for(
            lambda: self.gateway.connected, timeout=timeout, what="a bot connected to the gateway"
        )

    async def wait_session(self, timeout: float = 15.0) -> None:
        """Wait for a bot session; between a drop and its RESUME events are kept for it.
        An interaction then goes to the sessions of its guild's shard, if any."""
        await self.wait_for(
            lambda: self.gateway.has_session,
            timeout=timeout,
            what="a bot with a gateway session (is one running?)",
        )

    async def settle(self, quiet: float = 0.05, timeout: float = 10.0) -> None:
        """Wait until no request is in flight, no gateway frame is queued, and nothing
        happened for ``quiet`` seconds: then the bot has parsed what it last received
        (e.g. registered the view of the message it just sent)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = self.in_flight or not self.gateway.idle()
            idle_for = time.monotonic() - self._last_activity
            if not busy and idle_for >= quiet:
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"the world did not settle within {timeout:g}s "
                    f"({self.in_flight} requests in flight)"
                )
            await asyncio.sleep(max(0.005, quiet - idle_for) if not busy else 0.01)

    # -- injecting interactions -----------------------------------------------------------

    def _interaction_base(
        self,
        type: int,
        *,
        member: Member,
        channel: Channel,
        locale: str,
        app_permissions: int | None,
    ) -> tuple[int, str, JSON]:
        if channel.guild_id is None:
            raise ValueError("interactions are injected in guild channels")
        guild = self.guilds[channel.guild_id]
        if member.id not in guild.members:
            raise ValueError(f"{member.user.username} is not a member of {guild.name}")
        ix_id = self.ids.next()
        token = "itok-" + secrets.token_urlsafe(24)
        bot_perms = self.bot_permissions(channel) if app_permissions is None else app_permissions
        payload: JSON = {
            "id": str(ix_id),
            "application_id": str(self.application_id),
            "type": type,
            "token": token,
            "version": 1,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
            "channel_id": str(channel.id),
            "channel": channel.payload(
                bot_id=self.bot_user.id, permissions=guild.permissions_for(member, channel)
            ),
            "member": member.payload(permissions=guild.permissions_for(member, channel)),
            "app_permissions": str(bot_perms),
            "locale": locale,
            "guild_locale": guild.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": guild.upload_limit,
        }
        return ix_id, token, payload

    async def _inject(
        self,
        type: int,
        data: JSON,
        *,
        member: Member,
        channel: Channel,
        locale: str,
        app_permissions: int | None,
        message: Message | None = None,
        timeout: float,
    ) -> InjectedInteraction:
        await self.wait_session(timeout)
        ix_id, token, payload = self._interaction_base(
            type, member=member, channel=channel, locale=locale, app_permissions=app_permissions
        )
        payload["data"] = data
        if message is not None:
            payload["message"] = message.payload(self.application_id)
        guild = self.guilds[channel.guild_id or 0]
        ix = InjectedInteraction(
            self,
            id=ix_id,
            token=token,
            type=type,
            payload=payload,
            guild=guild,
            channel=channel,
            member=member,
            message=message,
        )
        self.interactions[ix_id] = ix
        self.interactions_by_token[token] = ix
        sessions = self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=guild.id)
        ix.delivered_to = [s.shard for s in sessions]
        self.notify()
        return ix

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        channel: Channel,
        focused: str | None,
        strict: bool,
    ) -> JSON:
        root, *path = name.strip().lstrip("/").split()
        guild = self.guilds[channel.guild_id or 0]
        command = self.command(root, guild)
        return build_command_data(
            self, command, path, options or {}, guild=guild, focused=focused, strict=strict
        )

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: Member | None = None,
        channel: Channel | None = None,
        locale: str = "en-US",
        app_permissions: int | None = None,
        strict: bool = True,
        timeout: float = 15.0,
    ) -> InjectedInteraction:
        """Run ``/name`` (``"limits set"`` for a subcommand) as ``user`` in ``channel``.

        Options are typed from the synced command: str/int/float/bool values, a
        ``Member``/``Role``/``Channel`` for those types, ``world.attachment(...)`` for
        attachments. ``strict`` refuses what a real client could not send (unknown
        option, missing required, a value outside the choices)."""
        channel = channel or self.channel
        data = self._command_data(name, options, channel=channel, focused=None, strict=strict)
        return await self._inject(
            APPLICATION_COMMAND,
            data,
            member=user or self.member,
            channel=channel,
            locale=locale,
            app_permissions=app_permissions,
            timeout=timeout,
        )

    async def message_command(
        self,
        name: str,
        message: Message,
        *,
        user: Member | None = None,
        locale: str = "en-US",
        app_permissions: int | None = None,
        timeout: float = 15.0,
    ) -> InjectedInteraction:
        """Run the message command ``name`` (Apps menu of ``message``) as ``user``:
        data carries ``target_id`` and the whole message in ``resolved.messages``."""
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        channel = self.channel_by_id(message.channel_id)
        if channel is None or channel.guild_id is None:
            raise ValueError(f"message {message.id} is in no guild channel")
        command = self.command(name, self.guilds[channel.guild_id], type=MESSAGE_COMMAND)
        data: JSON = {
            "id": command["id"],
            "name": command["name"],
            "type": MESSAGE_COMMAND,
            "target_id": str(message.id),
            "resolved": {"messages": {str(message.id): message.payload(self.application_id)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self._inject(
            APPLICATION_COMMAND,
            data,
            member=user or self.member,
            channel=channel,
            locale=locale,
            app_permissions=app_permissions,
            timeout=timeout,
        )

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        user: Member | None = None,
        channel: Channel | None = None,
        locale: str = "en-US",
        timeout: float = 15.0,
    ) -> InjectedInteraction:
        """Ask for choices while ``focused`` holds the text typed so far
        (``await ix.choices()`` gives what the bot offered)."""
        channel = channel or self.channel
        data = self._command_data(name, options, channel=channel, focused=focused, strict=True)
        return await self._inject(
            AUTOCOMPLETE,
            data,
            member=user or self.member,
            channel=channel,
            locale=locale,
            app_permissions=None,
            timeout=timeout,
        )

    async def click(
        self,
        message: Message,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        user: Member | None = None,
        values: list[str] | None = None,
        settle: bool = True,
        timeout: float = 15.0,
    ) -> InjectedInteraction:
        """Click a button (by ``custom_id`` or ``label``) or choose ``values`` in a select
        on a recorded message. Waits for the world to settle first, because discord.py
        drops clicks on a view it has not registered yet."""
        if custom_id is None:
            if label is None:
                raise ValueError("give a custom_id or a label")
            custom_id = message.component_by_label(label)["custom_id"]
        component = message.component(custom_id)
        if component.get("disabled"):
            raise ValueError(f"{custom_id!r} is disabled; a member cannot click it")
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        if settle:
            await self.settle()
        data: JSON = {
            "custom_id": custom_id,
            "component_type": component_type_of(message, custom_id),
        }
        if values is not None:
            data["values"] = values
        channel = self.channel_by_id(message.channel_id)
        if channel is None:
            raise ValueError(f"message {message.id} is in no known channel")
        return await self._inject(
            MESSAGE_COMPONENT,
            data,
            member=user or self.member,
            channel=channel,
            locale="en-US",
            app_permissions=None,
            message=message,
            timeout=timeout,
        )

    async def submit_modal(
        self,
        opened_by: InjectedInteraction,
        values: Mapping[str, str],
        *,
        user: Member | None = None,
        timeout: float = 15.0,
    ) -> InjectedInteraction:
        """Submit the modal the bot opened (callback type 9) with text-input values by
        custom_id; an input not given keeps its prefilled text. Refuses what a client
        cannot send (an empty required input, a text too short or too long)."""
        callback = opened_by.response
        if callback.type != 9 or callback.data is None:
            raise ValueError(f"{opened_by.describe()} did not open a modal")
        modal = callback.data
        filled = client_values(modal, values)
        rows = [_submitted(c, filled) for c in modal.get("components", [])]
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self._inject(
            MODAL_SUBMIT,
            data,
            member=user or opened_by.member,
            channel=opened_by.channel,
            locale="en-US",
            app_permissions=None,
            message=opened_by.message,
            timeout=timeout,
        )

    # -- what the REST routes do -------------------------------------------------------

    def require_channel(self, channel_id: int) -> Channel:
        channel = self.channel_by_id(channel_id)
        if channel is None or channel.deleted:
            raise ApiError(10003)
        if channel.type != DM and not self.bot_permissions(channel) & perms.VIEW_CHANNEL:
            raise ApiError(50001)
        return channel

    def check_upload(self, channel: Channel, files: list[Attachment]) -> None:
        limit = self.upload_limit(channel)
        for f in files:
            if f.size > limit:
                raise ApiError(40005)

    def upload_limit(self, channel: Channel) -> int:
        if channel.guild_id is None:
            return 10 * 1024 * 1024
        return self.guilds[channel.guild_id].upload_limit

    def check_nonce(self, channel: Channel, payload: JSON) -> Message | None:
        nonce = payload.get("nonce")
        if nonce is None or not payload.get("enforce_nonce"):
            return None
        key = (channel.id, str(nonce))
        seen = self._nonces.get(key)
        if seen is not None and self.clock.now() - seen[0] < self.nonce_window:
            return seen[1]
        return None

    def remember_nonce(self, message: Message) -> None:
        if message.nonce is not None and message.enforce_nonce:
            self._nonces[(message.channel_id, message.nonce)] = (self.clock.now(), message)

    def new_message(
        self,
        channel: Channel,
        *,
        author: User,
        kind: str,
        payload: JSON,
        files: list[Attachment],
        flags: int = 0,
        **extra: Any,
    ) -> Message:
        msg = Message(
            id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=str(payload.get("content") or ""),
            embeds=list(payload.get("embeds") or []),
            components=list(payload.get("components") or []),
            files=files,
            allowed_mentions=payload.get("allowed_mentions"),
            nonce=None if payload.get("nonce") is None else str(payload["nonce"]),
            enforce_nonce=bool(payload.get("enforce_nonce")),
            flags=flags,
            tts=bool(payload.get("tts")),
            kind=kind,
            message_reference=payload.get("message_reference"),
            **extra,
        )
        self.messages_by_id[msg.id] = msg
        for f in files:
            f.url = self._file_url(channel.id, f.id, f.filename)
            f.resign = self.cdn.fresh
            self.files_by_id[f.id] = f
        self.notify()
        return msg

    def apply_edit(self, msg: Message, payload: JSON, new_files: list[Attachment]) -> None:
        """PATCH semantics: keys present replace; ``attachments`` lists what stays."""
        msg.history.append(msg.snapshot())
        msg.edits.append(payload)
        if "content" in payload:
            msg.content = str(payload["content"] or "")
        if "embeds" in payload:
            msg.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            msg.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None:
            keep = msg.flags & (1 << 6)
            msg.flags = (int(payload["flags"]) & ~(1 << 7)) | keep
        if "attachments" in payload:
            keep_ids = {
                int(a["id"])
                for a in payload["attachments"] or []
                if "id" in a and int(a["id"]) in {f.id for f in msg.files}
            }
            msg.files = [f for f in msg.files if f.id in keep_ids] + new_files
        else:
            msg.files = msg.files + new_files
        for f in new_files:
            f.url = self._file_url(msg.channel_id, f.id, f.filename)
            f.resign = self.cdn.fresh
            self.files_by_id[f.id] = f
        msg.flags &= ~(1 << 7)
        msg.edited_at = time.time()
        self.notify()

    def delete_message(self, msg: Message) -> None:
        msg.deleted = True
        self.notify()

    def say(
        self,
        author: Member | User,
        content: str,
        *,
        channel: Channel | None = None,
        files: list[Attachment] | None = None,
        embeds: list[JSON] | None = None,
    ) -> Message:
        """A member's message in ``channel`` (default #general), or, for a ``User``, a DM
        to the bot; the sessions of its shard (DMs: shard 0) get MESSAGE_CREATE.
        ``files``: ``world.attachment(...)`` uploads; ``embeds``: raw embed dicts."""
        if isinstance(author, Member):
            channel = channel or self.channel
            guild = self.guilds.get(channel.guild_id or 0)
            if guild is None or author.id not in guild.members:
                raise ValueError(f"{author.user.username} is not a member of {channel!r}'s guild")
            user = author.user
        else:
            if channel is not None:
                raise ValueError("a User writes in its DM; pass a Member for a guild channel")
            channel, user = self.open_dm(author), author
        msg = self.new_message(
            channel,
            author=user,
            kind="member",
            payload={"content": content, "embeds": embeds or []},
            files=list(files or []),
        )
        data = msg.payload(self.application_id)
        if isinstance(author, Member):
            data["member"] = author.payload(with_user=False)
        self.gateway.dispatch("MESSAGE_CREATE", data, guild_id=channel.guild_id)
        return msg

    def open_dm(self, user: User) -> Channel:
        for channel in self.dm_channels.values():
            if channel.recipient is user:
                return channel
        channel = Channel(id=self.ids.next(), guild_id=None, name="", type=DM, recipient=user)
        self.dm_channels[channel.id] = channel
        return channel

    def sync_commands(self, guild_id: int | None, commands: list[JSON]) -> list[JSON]:
        """Bulk overwrite: ids survive for commands that keep their name and type."""
        old = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        stored: list[JSON] = []
        for cmd in commands:
            key = (cmd["name"], cmd.get("type", 1))
            entry = dict(cmd)
            entry.setdefault("type", 1)
            entry.setdefault("description", "")
            entry.setdefault("options", [])
            entry["id"] = old_ids.get(key) or str(self.ids.next())
            entry["application_id"] = str(self.application_id)
            entry["version"] = str(self.ids.next())
            entry.setdefault("default_member_permissions", None)
            entry.setdefault("nsfw", False)
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.command_syncs.append((guild_id, sorted(c["name"] for c in stored)))
        self.notify()
        return stored


def _submitted(component: JSON, values: Mapping[str, str]) -> JSON:
    """A modal component as the client sends it back, with the member's text."""
    if component.get("type") == 1:
        return {
            "type": 1,
            "components": [_submitted(c, values) for c in component.get("components", [])],
        }
    if component.get("type") == 18:
        return {"type": 18, "component": _submitted(component["component"], values)}
    custom_id = component.get("custom_id", "")
    return {
        "type": component.get("type", 4),
        "custom_id": custom_id,
        "value": values.get(custom_id, ""),
    }
