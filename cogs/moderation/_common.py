"""What the moderator commands share: the run-time moderator check and their targets.
``default_permissions`` hides these commands from members, but admins can override it, so
every command checks Manage Server again when it runs, and audits a refusal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import is_moderator, locale_of
from bot.domain.catalog import Catalog, Media
from bot.domain.errors import NotAllowed, UserFacingError
from bot.services.moderation import ModerationService, Scope
from bot.text.i18n import t

if TYPE_CHECKING:
    # A Cog to the type checker (command decorators take a Cog's methods); at run time a
    # plain mixin, so the commands are collected once, by SettingsCommands.
    from discord.ext.commands import Cog as _Base

    from bot.services.guild_settings import Change, GuildSettingsService
else:
    _Base = object

MODERATOR = discord.Permissions(manage_guild=True)
MAX_LISTED = 10  # roles or members listed by /limits show before "and N more"


def role_ids_of(user: discord.abc.User | discord.Role | None) -> tuple[int, ...]:
    """A member's roles, without ``@everyone`` (that one is the server default)."""
    if not isinstance(user, discord.Member):
        return ()
    return tuple(r.id for r in user.roles if not r.is_default())


def listed(lines: Sequence[str], locale: str, limit: int = MAX_LISTED) -> str:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(t(locale, "… and {n} more", n=len(lines) - limit))
    return "\n".join(shown)[:1024]


def add_rows(embed: discord.Embed, *rows: tuple[str, str]) -> discord.Embed:
    """Add each ``(name, value)`` as a full-width field."""
    for name, value in rows:
        embed.add_field(name=name, value=value, inline=False)
    return embed


def model_choices(
    catalog: Catalog,
    media: Media,
    current: str,
    *,
    default: str,
    offered: Callable[[str], bool] | None = None,
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a model option: the enabled ``media`` models (those ``offered``,
    when given) matching what was typed, with "default" first, named ``default``."""
    typed = current.strip().lower()
    found = [
        app_commands.Choice(name=f"{m.label} ({m.id})"[:100], value=m.id)
        for m in catalog.enabled(media)
        if (offered is None or offered(m.id))
        and (typed in m.id.lower() or typed in m.label.lower())
    ]
    if "default".startswith(typed):
        found.insert(0, app_commands.Choice(name=default, value="default"))
    return found[:25]


class SettingsMixin(_Base):
    """A part of :class:`.settings.SettingsCommands`: what the settings modules use of it."""

    if TYPE_CHECKING:
        bot: AtelierBot
        guild_settings: GuildSettingsService

        async def as_moderator(self, interaction: discord.Interaction) -> tuple[int, int, str]: ...

        async def changed(self, interaction: discord.Interaction, change: Change) -> None: ...


class ModeratorCog(commands.Cog):
    """A cog of moderator commands: the moderation service and the shared checks."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.moderation: ModerationService = bot.services.moderation

    @staticmethod
    def guild_id(interaction: discord.Interaction) -> int:
        if interaction.guild_id is None:
            raise UserFacingError("Use this command in a server.")
        return interaction.guild_id

    async def require_moderator(self, interaction: discord.Interaction) -> None:
        """The run-time check behind ``default_permissions`` (which admins can override)."""
        if is_moderator(interaction):
            return
        command = interaction.command.qualified_name if interaction.command else "this command"
        await self.moderation.refuse(
            interaction.guild_id,
            interaction.user.id,
            command,
            "not a moderator (Manage Server)",
            NotAllowed("Only moderators (Manage Server) can use /{command}.", command=command),
        )

    async def as_moderator(self, interaction: discord.Interaction) -> tuple[int, int, str]:
        """Check the caller is a moderator; the server's id, the caller's id and language."""
        await self.require_moderator(interaction)
        return self.guild_id(interaction), interaction.user.id, locale_of(interaction)

    @staticmethod
    def scope(
        locale: str, user: discord.abc.User | None, role: discord.Role | None
    ) -> tuple[Scope, int, str]:
        """(scope, target id, how to name it) for a user/role option pair."""
        if user is not None and role is not None:
            raise UserFacingError(
                "Choose a member or a role, not both (neither: the server default)."
            )
        if user is not None:
            return "user", user.id, user.mention
        if role is not None and not role.is_default():
            return "role", role.id, role.mention
        return "guild", 0, t(locale, "the server default")
