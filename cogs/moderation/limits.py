"""``/limits set | show | reset``: limits per server, role or member. No ``user`` or ``role``
(or ``@everyone``) means the server default; a negative value clears a dimension at that
layer, ``0`` allows none, and options left out keep their value."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord_io.ui import INFO_COLOUR, OK_COLOUR, reply
from bot.domain.quota import NEW_GUILD_LIMITS, Limits
from bot.text import usage_report as report
from bot.text.i18n import t

from ._common import MODERATOR, ModeratorCog, add_rows, listed, role_ids_of


class LimitsCommands(ModeratorCog):
    limits = app_commands.Group(
        name="limits",
        description="Moderators: limits per server, role or member",
        guild_only=True,
        default_permissions=MODERATOR,
    )

    @limits.command(name="set", description="Set limits for the server, a role or a member")
    @app_commands.describe(
        user="A member (leave out user and role for the server default)",
        role="A role (members get the most generous of their roles)",
        images_per_day="Images a day (a job with count 4 uses 4); 0 none, -1 clears",
        videos_per_day="Videos a day; 0 none, -1 clears",
        jobs_at_once="Jobs running at the same time; -1 clears",
        spend_per_day_usd="Estimated spend a day in USD; -1 clears",
        cooldown_seconds="Seconds between two jobs; -1 clears",
    )
    async def limits_set(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        role: discord.Role | None = None,
        images_per_day: app_commands.Range[int, -1, 1_000_000] | None = None,
        videos_per_day: app_commands.Range[int, -1, 1_000_000] | None = None,
        jobs_at_once: app_commands.Range[int, -1, 1000] | None = None,
        spend_per_day_usd: app_commands.Range[float, -1.0, 1_000_000.0] | None = None,
        cooldown_seconds: app_commands.Range[int, -1, 86_400] | None = None,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        scope, target_id, name = self.scope(locale, user, role)
        given = {
            "images_per_day": images_per_day,
            "videos_per_day": videos_per_day,
            "jobs_at_once": jobs_at_once,
            "spend_per_day_usd": spend_per_day_usd,
            "cooldown_seconds": cooldown_seconds,
        }
        change = await self.moderation.set_limits(
            guild_id, actor_id, scope, target_id, given, role_ids_of(user)
        )
        summary = report.changes_summary(change.before, change.after, locale)
        embed = discord.Embed(
            title=t(locale, "Limits set"),
            description=t(locale, "For {target}: {summary}", target=name, summary=summary),
            colour=OK_COLOUR,
        )
        add_rows(
            embed,
            (t(locale, "This layer now"), report.limits_line(change.after, locale)),
            (t(locale, "What applies"), report.limits_line(change.applies, locale)),
        )
        await reply(interaction, embed=embed)

    @limits.command(name="show", description="The limits that apply, layer by layer")
    @app_commands.describe(user="A member: what applies to them", role="A role: its own limits")
    async def limits_show(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        role: discord.Role | None = None,
    ) -> None:
        guild_id, _, locale = await self.as_moderator(interaction)

        def entry(mention: str, limits: Limits) -> str:
            return f"{mention}: {report.limits_line(limits, locale)}"

        scope, target_id, name = self.scope(locale, user, role)
        view = await self.moderation.show_limits(guild_id, scope, target_id, role_ids_of(user))
        embed = discord.Embed(
            title=t(locale, "Limits for {target}", target=name)
            if scope != "guild"
            else t(locale, "Limits"),
            description=t(
                locale,
                "A member's own limits win; otherwise the most generous of their roles; "
                "otherwise the server default; otherwise the built-in default. "
                "“—”: not set at that layer.",
            ),
            colour=INFO_COLOUR,
        )
        add_rows(
            embed,
            (t(locale, "Built-in (new servers)"), report.limits_line(NEW_GUILD_LIMITS, locale)),
            (t(locale, "Server default"), report.limits_line(view.layers.guild, locale)),
        )
        if view.role_rows:
            roles = [entry(f"<@&{rid}>", lim) for rid, lim in view.role_rows]
            add_rows(embed, (t(locale, "Roles"), listed(roles, locale)))
        elif scope == "role":
            add_rows(embed, (t(locale, "Role"), t(locale, "nothing set")))
        if scope == "user":
            own = view.layers.user
            shown = t(locale, "nothing set") if own == Limits() else report.limits_line(own, locale)
            add_rows(embed, (t(locale, "Member's own"), shown))
        applies = t(locale, "What applies") + (
            "" if scope != "guild" else t(locale, " (a member without limited roles)")
        )
        add_rows(embed, (applies, report.limits_line(view.applies, locale)))
        if view.exempt:
            exempt = t(locale, "Holds an exempt role: member limits do not apply.")
            add_rows(embed, (t(locale, "Exempt"), exempt))
        if view.block is not None:
            embed.add_field(
                name=t(locale, "Blocked"),
                value=report.block_text(view.block.get("reason"), view.block.get("until"), locale),
            )
        roles = [entry(f"<@&{tid}>", lim) for s, tid, lim in view.rows if s == "role"]
        users = [entry(f"<@{tid}>", lim) for s, tid, lim in view.rows if s == "user"]
        if roles:
            add_rows(embed, (t(locale, "Roles with limits"), listed(roles, locale)))
        if users:
            add_rows(embed, (t(locale, "Members with their own limits"), listed(users, locale)))
        await reply(interaction, embed=embed)

    @limits.command(name="reset", description="Remove a member's or a role's limits")
    @app_commands.describe(target="A member or a role (@everyone: the server default)")
    async def limits_reset(
        self,
        interaction: discord.Interaction,
        target: discord.Member | discord.User | discord.Role,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        if isinstance(target, discord.Role):
            scope, target_id, name = self.scope(locale, None, target)
        else:
            scope, target_id, name = self.scope(locale, target, None)
        change = await self.moderation.reset_limits(
            guild_id, actor_id, scope, target_id, role_ids_of(target)
        )
        if change is None:
            await reply(
                interaction,
                t(locale, "{target} had no limits of its own; nothing changed.", target=name),
            )
            return
        embed = discord.Embed(
            title=t(locale, "Limits reset"),
            description=t(
                locale, "Removed the limits of {target}; the layers below apply.", target=name
            ),
            colour=OK_COLOUR,
        )
        add_rows(embed, (t(locale, "What applies"), report.limits_line(change.applies, locale)))
        await reply(interaction, embed=embed)
