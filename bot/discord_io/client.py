"""The Discord client: wiring only.

``setup_hook`` loads the cogs and syncs the command tree; the services are built by
:class:`bot.runtime.Runtime` and handed in, so nothing here opens a connection of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from bot.discord_io.pacing import GlobalPacer
from bot.discord_io.translator import Translator
from bot.discord_io.ui import AtelierTree
from bot.domain.catalog import Catalog
from bot.settings import Settings
from bot.text.i18n import translations

if TYPE_CHECKING:
    from bot.discord_io.progress_updater import ProgressUpdater
    from bot.services.audit import AuditLog
    from bot.services.budget_alerts import BudgetService
    from bot.services.grants import GrantService
    from bot.services.guild_settings import GuildSettingsService
    from bot.services.job_queries import JobQueries
    from bot.services.jobs import JobService
    from bot.services.moderation import ModerationService
    from bot.services.preferences import PreferenceService
    from bot.services.reports import ReportService

log = logging.getLogger(__name__)

# Atelier has no voice: without this, building the client warns that PyNaCl and davey
# (voice libraries) are missing.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

EXTENSIONS: tuple[str, ...] = (
    "cogs.info",
    "cogs.jobs",
    "cogs.generate",
    "cogs.buttons",
    "cogs.reports",  # after cogs.buttons: it answers Report, Keep and Remove
    "cogs.confirm",  # after cogs.buttons: it answers Confirm
    "cogs.upscale",  # after cogs.buttons: it answers Upscale
    "cogs.remix",  # after cogs.buttons: it answers Remix
    "cogs.moderation",
    "cogs.status",
    "cogs.queue",
    "cogs.prefer",
    "cogs.message_commands",
)


class DigestStore(Protocol):
    """Where the digest of the last globally synced command set is kept."""

    async def get(self) -> str | None: ...

    async def set(self, digest: str) -> None: ...


@dataclass(frozen=True)
class FileDigestStore:
    """The digest in a file (by default ``commands.sha256`` beside the SQLite file)."""

    path: Path

    async def get(self) -> str | None:
        return self.path.read_text().strip() if self.path.is_file() else None

    async def set(self, digest: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(digest)


@dataclass
class Services:
    """Everything the cogs use, built once at start-up by :class:`bot.runtime.Runtime`."""

    settings: Settings
    catalog: Catalog
    jobs: JobService
    queries: JobQueries
    progress: ProgressUpdater
    moderation: ModerationService
    guild_settings: GuildSettingsService
    audit: AuditLog
    budget: BudgetService
    reports: ReportService
    grants: GrantService
    preferences: PreferenceService
    on_setup: list[Callable[[AtelierBot], Awaitable[None]]] = field(default_factory=list)
    """Run at the end of ``setup_hook`` (the runtime starts its loops here)."""
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run first in ``close`` (the runtime stops its loops before the gateway goes)."""
    command_digest_store: DigestStore | None = None
    """Where the synced command set's digest is kept; ``None``: a file beside the database."""
    link_clock: Callable[[], float] = time.time
    """Unix time against which Discord attachment links' ``ex=`` is read."""


def intents() -> discord.Intents:
    """A slash-command bot needs no privileged intent; ``guilds`` keeps the caches
    for permissions, upload limits and NSFW flags."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


def use_discord_api_base(settings: Settings) -> None:
    """Send discord.py's REST requests (interactions and webhooks too) to
    ``DISCORD_API_BASE_URL``, a rate-limit proxy, when it is set."""
    if settings.discord_api_base_url is not None:
        Route.BASE = settings.discord_api_base_url


def shard_options(settings: Settings) -> dict[str, Any]:
    """``shard_count``/``shard_ids`` for an AutoShardedBot; empty when not sharded."""
    if settings.shard_count is None:
        return {}
    ids = None if settings.shard_ids is None else list(settings.shard_ids)
    return {"shard_count": settings.shard_count, "shard_ids": ids}


class AtelierBot(commands.Bot):
    """The bot: a :class:`ShardedAtelierBot` instead when ``SHARD_COUNT`` is set."""

    def __new__(cls, services: Services, **_: Any) -> AtelierBot:
        sharded = cls is AtelierBot and services.settings.shard_count is not None
        return object.__new__(ShardedAtelierBot if sharded else cls)

    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        sync_state_path: Path | None = None,
    ) -> None:
        use_discord_api_base(services.settings)
        self.pacer = GlobalPacer()  # under the global limit, whatever sends
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            # User text never pings anyone; delivery opts the requester back in.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=AtelierTree,
            http_trace=self.pacer.trace_config(),
            **shard_options(services.settings),
        )
        self.services = services
        self._extensions = tuple(extensions)
        store = services.command_digest_store
        if sync_state_path is not None or store is None:
            default = services.settings.database_path.parent / "commands.sha256"
            store = FileDigestStore(sync_state_path or default)
        self.command_digest_store: DigestStore = store

    async def setup_hook(self) -> None:
        if self.services.settings.allowed_guild_ids is None:
            log.warning(
                "ALLOWED_GUILD_IDS is not set: every server that adds this bot can spend "
                "your Max API credits; set it to your server ids, and turn off Public Bot "
                "in the Discord Developer Portal unless you mean it"
            )
        await self.tree.set_translator(Translator())
        for name in self._extensions:
            await self.load_extension(name)
        await self.sync_commands()
        for hook in self.services.on_setup:
            await hook(self)

    def serves(self, guild_id: int | None) -> bool:
        """Whether the operator lets this server use the bot (``ALLOWED_GUILD_IDS``)."""
        allowed = self.services.settings.allowed_guild_ids
        return allowed is None or guild_id in allowed

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Leave a server the operator did not allow, as soon as it adds the bot."""
        if self.serves(guild.id):
            return
        log.warning(
            "left server %s (%s): it added the bot but is not in ALLOWED_GUILD_IDS",
            guild.name,
            guild.id,
        )
        try:
            await guild.leave()
        except discord.HTTPException as exc:
            log.warning("could not leave server %s: %s", guild.id, exc)

    async def on_ready(self) -> None:
        """Name the servers the bot is in but does not serve (their commands are refused;
        it does not leave them on its own, so a typo in the list cannot drop a server)."""
        refused = [guild for guild in self.guilds if not self.serves(guild.id)]
        for guild in refused:
            log.warning(
                "server %s (%s) is not in ALLOWED_GUILD_IDS: its commands are refused; "
                "add its id or remove the bot from it",
                guild.name,
                guild.id,
            )

    async def close(self) -> None:
        for hook in self.services.on_close:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        await super().close()

    async def sync_commands(self) -> None:
        """Sync to the dev guild when one is set (instant), else globally — but only when
        the command set changed, because Discord allows 200 command creates a day."""
        guild_id = self.services.settings.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %s", len(synced), guild_id)
            return
        digest = self.command_digest()
        if await self.command_digest_store.get() == digest:
            log.info("command set unchanged; skipping global sync")
            return
        synced = await self.tree.sync()
        await self.command_digest_store.set(digest)
        log.info("synced %d commands globally", len(synced))

    def command_digest(self) -> str:
        """The synced set: the commands, and the translations discord.py adds to them at
        sync time (``to_dict`` leaves those out, so a new translation must count too)."""
        payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()]
        blob = json.dumps([payload, translations()], sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


class ShardedAtelierBot(AtelierBot, commands.AutoShardedBot):
    """The bot running the shards of ``SHARD_COUNT``/``SHARD_IDS`` in this process."""


def command_names(tree: app_commands.CommandTree[Any]) -> list[str]:
    """Top-level command names, for tests that check uniqueness and the contract."""
    return sorted(cmd.name for cmd in tree.get_commands())
