"""The Discord client: wiring only.

``setup_hook`` loads the cogs and syncs the command tree; the services are built by
:class:`bot.runtime.Runtime` and handed in, so nothing here opens a connection of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.translator import Translator
from bot.discord_io.ui import AtelierTree
from bot.domain.catalog import Catalog
from bot.settings import Settings
from bot.text.i18n import translations

if TYPE_CHECKING:
    from bot.discord_io.progress_updater import ProgressUpdater
    from bot.services.audit import AuditLog
    from bot.services.guild_settings import GuildSettingsService
    from bot.services.job_queries import JobQueries
    from bot.services.jobs import JobService
    from bot.services.moderation import ModerationService

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
    "cogs.moderation",
    "cogs.status",
)


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
    on_setup: list[Callable[[AtelierBot], Awaitable[None]]] = field(default_factory=list)
    """Run at the end of ``setup_hook`` (the runtime starts its loops here)."""
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run first in ``close`` (the runtime stops its loops before the gateway goes)."""


def intents() -> discord.Intents:
    """A slash-command bot needs no privileged intent; ``guilds`` keeps the caches
    for permissions, upload limits and NSFW flags."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


class AtelierBot(commands.Bot):
    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        sync_state_path: Path | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            # User text never pings anyone; delivery opts the requester back in.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=AtelierTree,
        )
        self.services = services
        self._extensions = tuple(extensions)
        self._sync_state_path = sync_state_path or (
            services.settings.database_path.parent / "commands.sha256"
        )

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
        path = self._sync_state_path
        if path.is_file() and path.read_text().strip() == digest:
            log.info("command set unchanged; skipping global sync")
            return
        synced = await self.tree.sync()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest)
        log.info("synced %d commands globally", len(synced))

    def command_digest(self) -> str:
        """The synced set: the commands, and the translations discord.py adds to them at
        sync time (``to_dict`` leaves those out, so a new translation must count too)."""
        payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()]
        blob = json.dumps([payload, translations()], sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


def command_names(tree: app_commands.CommandTree[Any]) -> list[str]:
    """Top-level command names, for tests that check uniqueness and the contract."""
    return sorted(cmd.name for cmd in tree.get_commands())
