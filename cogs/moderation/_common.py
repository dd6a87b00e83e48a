"""What the moderator commands share: the run-time moderator check and their targets.
``default_permissions`` hides these commands from members, but admins can override it, so
every command checks Manage Server again when it runs, and audits a refusal."""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import is_moderator, locale_of
from bot.domain.errors import NotAllowed, UserFacingError
from bot.services.moderation import ModerationService, Scope
from bot.text.i18n import t

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
