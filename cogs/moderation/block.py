"""``/block user [reason] [duration]`` and ``/unblock user``.

A duration is ``30m``, ``2h``, ``1d12h``, ``1w`` …; none blocks until unblocked.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord_io.ui import OK_COLOUR, reply
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
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        until = await self.moderation.block(
            guild_id, actor_id, user.id, reason=reason, duration=duration, is_bot=user.bot
        )
        when = report.block_text(reason, until, locale)
        embed = discord.Embed(
            title=t(locale, "Blocked"),
            description=t(
                locale, "{user} can't start jobs here {when}.", user=user.mention, when=when
            ),
            colour=OK_COLOUR,
        )
        await reply(interaction, embed=embed)

    @app_commands.command(name="unblock", description="Moderators: let a member use Atelier again")
    @app_commands.describe(user="The member to unblock")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def unblock(self, interaction: discord.Interaction, user: discord.User) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        if await self.moderation.unblock(guild_id, actor_id, user.id):
            await reply(interaction, t(locale, "{user} can use Atelier again.", user=user.mention))
        else:
            await reply(interaction, t(locale, "{user} was not blocked.", user=user.mention))
