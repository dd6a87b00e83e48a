"""``/usage [user] [period] [export]``: everyone, for themselves; moderators for anyone,
with the top users, the server's spend against its budget and a CSV export."""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands

from bot.discord_io.ui import INFO_COLOUR, is_moderator, locale_of
from bot.text import usage_report as report
from bot.text.i18n import t

from ._common import ModeratorCog, add_rows, role_ids_of

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def period_choices() -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=label, value=key) for key, label in report.PERIODS.items()]


class UsageCommands(ModeratorCog):
    @app_commands.command(name="usage", description="What you used and what is left")
    @app_commands.describe(
        user="Another member (moderators only)",
        period="The period for totals and recent jobs (default: today)",
        export="Moderators: attach a CSV of the period's jobs",
    )
    @app_commands.choices(period=period_choices())
    @app_commands.guild_only()
    async def usage(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        period: app_commands.Choice[str] | None = None,
        export: bool = False,
    ) -> None:
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        moderator = is_moderator(interaction)
        target = user or interaction.user
        await self.moderation.check_usage_access(
            guild_id, interaction.user.id, target.id, moderator=moderator, export=export
        )
        if export:
            await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.moderation.usage(
            guild_id,
            target.id,
            role_ids_of(target),
            period.value if period else "today",
            with_server=moderator,
        )
        span = view.span
        label = t(locale, report.PERIODS[span.period])
        during = label.lower()
        lines = report.today_lines(
            view.applies,
            view.today,
            now=view.now,
            policy=view.config.policy,
            exempt=view.exempt,
            locale=locale,
        )
        mine = discord.Embed(
            title=t(locale, "Usage of {name}", name=target.display_name),
            description="\n".join(lines),
            colour=INFO_COLOUR,
        )
        if span.period != "today":
            add_rows(mine, (label, report.period_line(report.totals(view.rows), locale)))
        recent = "\n".join(report.recent_lines(view.rows, locale=locale))[:1024]
        recent_title = t(locale, "Recent jobs ({period})", period=during)
        add_rows(mine, (recent_title, recent or t(locale, "No jobs in this period.")))
        embeds = [mine]
        if moderator:
            budget = "\n".join(report.budget_lines(view.today, view.config, locale))
            total = report.period_line(report.totals(view.guild_rows), locale)
            top = "\n".join(report.top_lines(report.top_users(view.guild_rows), locale))[:1024]
            server = add_rows(
                discord.Embed(title=t(locale, "Server"), colour=INFO_COLOUR),
                (t(locale, "Spend against the budget"), budget),
                (t(locale, "Total ({period})", period=during), total),
                (t(locale, "Top users ({period})", period=during), top or t(locale, "Nobody yet.")),
            )
            embeds.append(server)
        file = None
        if export:
            data = await self.moderation.export(
                guild_id,
                interaction.user.id,
                view.rows if user is not None else view.guild_rows,
                span,
                user_id=target.id if user is not None else None,
                max_bytes=(
                    interaction.guild.filesize_limit if interaction.guild else DEFAULT_UPLOAD_LIMIT
                ),
            )
            name = f"atelier-usage-{span.since_day}-to-{span.until_day}.csv"
            file = discord.File(io.BytesIO(data), filename=name)
        await send(interaction, embeds, file)


async def send(
    interaction: discord.Interaction, embeds: list[discord.Embed], file: discord.File | None
) -> None:
    """Answer privately with the embeds (and the file), or follow up when deferred."""
    kwargs: dict[str, Any] = {
        "embeds": embeds,
        "ephemeral": True,
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)
