"""``/block user [reason] [duration]`` and ``/unblock user``.

A duration is ``30m``, ``2h``, ``1d12h``, ``1w`` …; none blocks until unblocked.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord_io.ui import OK_COLOUR, locale_of, reply
from bot.text import usage_report as report
from bot.text.i18n import t

from ._common import ModeratorCog


class BlockCommands(ModeratorCog):
    @app_commands.command(name="block", description="Moderators: stop a member from using Atelier")
    @app_commands.describe(
        user="The member to block",
        reason="Why (the member sees it when refused)",
        duration="How long: 30m, 2h, 1d, 1w, 1d12h (leave out: until unblocked)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def block(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        reason: app_commands.Range[str, 1, 200] | None = None,
        duration: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        until = await self.moderation.block(
            self.guild_id(interaction),
            interaction.user.id,
            user.id,
            reason=reason,
            duration=duration,
            is_bot=user.bot,
        )
        when = report.block_text(reason, until, locale)
        await reply(
            interaction,
            embed=discord.Embed(
                title=t(locale, "Blocked"),
                description=t(
                    locale, "{user} can't start jobs here {when}.", user=user.mention, when=when
                ),
                colour=OK_COLOUR,
            ),
        )

    @app_commands.command(name="unblock", description="Moderators: let a member use Atelier again")
    @app_commands.describe(user="The member to unblock")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def unblock(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        if not await self.moderation.unblock(
            self.guild_id(interaction), interaction.user.id, user.id
        ):
            await reply(interaction, t(locale, "{user} was not blocked.", user=user.mention))
            return
        await reply(interaction, t(locale, "{user} can use Atelier again.", user=user.mention))
