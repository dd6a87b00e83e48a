"""What the moderator commands share: the run-time moderator check and their targets.

A moderator is a member with Manage Server. ``default_permissions`` hides these commands
from members, but a server's admins can override it, so every command checks again when
it runs, and a refusal is audited like any other.
"""

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


def role_ids_of(user: discord.abc.User | None) -> tuple[int, ...]:
    """The member's roles, without ``@everyone`` (that one is the server default)."""
    if not isinstance(user, discord.Member):
        return ()
    return tuple(r.id for r in user.roles if not r.is_default())


def listed(lines: Sequence[str], locale: str, limit: int = MAX_LISTED) -> str:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(t(locale, "… and {n} more", n=len(lines) - limit))
    return "\n".join(shown)[:1024]


def command_name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "this command"


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
        command = command_name(interaction)
        await self.moderation.refuse(
            interaction.guild_id,
            interaction.user.id,
            command,
            "not a moderator (Manage Server)",
            NotAllowed("Only moderators (Manage Server) can use /{command}.", command=command),
        )

    @staticmethod
    def scope(
        interaction: discord.Interaction,
        user: discord.abc.User | None,
        role: discord.Role | None,
    ) -> tuple[Scope, int, str]:
        """(scope, target id, how to name it) for a user/role option pair."""
        locale = locale_of(interaction)
        if user is not None and role is not None:
            raise UserFacingError(
                "Choose a member or a role, not both (neither: the server default)."
            )
        if user is not None:
            return "user", user.id, user.mention
        if role is not None and not role.is_default():
            return "role", role.id, role.mention
        return "guild", 0, t(locale, "the server default")
