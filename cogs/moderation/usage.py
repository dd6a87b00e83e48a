"""``/usage show [user] [period] [export]``: everyone, for themselves; moderators for
anyone, with the top users, the server's spend against its budget and a CSV export.
``/usage grant`` and ``/usage refund``: moderators give a member more for today, or a
finished job's cost back (the member is told in the job's channel)."""

from __future__ import annotations

import io
import logging
from typing import Any

import discord
from discord import app_commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.refund_notice import tell_member
from bot.discord_io.ui import INFO_COLOUR, OK_COLOUR, is_moderator, locale_of, reply
from bot.domain.quota import Grant
from bot.services.grants import MAX_IMAGES, MAX_USD, MAX_VIDEOS, GrantService
from bot.services.moderation import UsageView
from bot.text import usage_report as report
from bot.text.i18n import t

from ._common import ModeratorCog, add_rows, role_ids_of

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
REASON_MAX = 200


def period_choices() -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=label, value=key) for key, label in report.PERIODS.items()]


class UsageCommands(ModeratorCog):
    usage = app_commands.Group(
        name="usage",
        description="What you used and what is left; moderators: grants and refunds",
        guild_only=True,
    )

    def __init__(self, bot: AtelierBot) -> None:
        super().__init__(bot)
        self.grants: GrantService = bot.services.grants

    # -- /usage show -----------------------------------------------------------------------

    @usage.command(name="show", description="What you used and what is left")
    @app_commands.describe(
        user="Another member (moderators only)",
        period="The period for totals and recent jobs (default: today)",
        export="Moderators: attach a CSV of the period's jobs",
    )
    @app_commands.choices(period=period_choices())
    async def usage_show(
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
        if export or moderator:  # the CSV and the chart take a moment
            await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.moderation.usage(
            guild_id,
            target.id,
            role_ids_of(target),
            period.value if period else "today",
            with_server=moderator,
        )
        mine = member_embed(view, target, locale)
        if moderator:
            await self.moderator_answer(interaction, view, mine, locale, user=user, export=export)
        else:
            await send(interaction, [mine], [])

    async def moderator_answer(
        self,
        interaction: discord.Interaction,
        view: UsageView,
        mine: discord.Embed,
        locale: str,
        *,
        user: discord.abc.User | None,
        export: bool,
    ) -> None:
        """The moderators' answer: the member's embed, the server's, and the files (the
        CSV when ``export``); anything else a moderator gets is attached here."""
        embeds = [mine, server_embed(view, locale)]
        files: list[discord.File] = []
        if export:
            guild = interaction.guild
            data = await self.moderation.export(
                view.config.guild_id,
                interaction.user.id,
                view.rows if user is not None else view.guild_rows,
                view.span,
                user_id=user.id if user is not None else None,
                max_bytes=guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT,
                grants=view.grants,
            )
            name = f"atelier-usage-{view.span.since_day}-to-{view.span.until_day}.csv"
            files.append(discord.File(io.BytesIO(data), filename=name))
        chart = await self.bot.services.budget.chart(view.config.guild_id, locale)
        if chart is not None:  # the last 30 days as a picture (None: not drawn, logged)
            files.append(discord.File(io.BytesIO(chart), filename="usage-30-days.png"))
            embeds[1].set_image(url="attachment://usage-30-days.png")
        await send(interaction, embeds, files)

    # -- /usage grant ----------------------------------------------------------------------

    @usage.command(name="grant", description="Moderators: give a member more for today only")
    @app_commands.describe(
        user="The member",
        images="Extra images today",
        videos="Extra videos today",
        usd="Extra spend today, in USD",
        reason="Why (kept in the audit log)",
    )
    async def usage_grant(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        images: app_commands.Range[int, 0, MAX_IMAGES] = 0,
        videos: app_commands.Range[int, 0, MAX_VIDEOS] = 0,
        usd: app_commands.Range[float, 0.0, MAX_USD] = 0.0,
        reason: app_commands.Range[str, 1, REASON_MAX] | None = None,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        added = Grant(images, videos, round(usd, 6))
        done = await self.grants.grant(
            guild_id, actor_id, user.id, added, reason=reason, is_bot=user.bot
        )
        view = await self.moderation.usage(
            guild_id, user.id, role_ids_of(user), "today", with_server=False
        )
        embed = discord.Embed(
            title=t(locale, "Allowance granted"),
            description=t(
                locale,
                "{member} gets {grant} for today only (until <t:{at}:f>). "
                "Granted today in all: {total}.",
                member=user.mention,
                grant=report.grant_text(done.added, locale),
                at=int(done.ends_at),
                total=report.grant_text(done.total, locale),
            ),
            colour=OK_COLOUR,
        )
        add_rows(embed, (t(locale, "Today"), "\n".join(today_lines(view, locale))))
        await reply(interaction, embed=embed)

    # -- /usage refund ---------------------------------------------------------------------

    @usage.command(name="refund", description="Moderators: give a finished job's cost back")
    @app_commands.describe(job="The job's number", reason="Why (the member is told)")
    async def usage_refund(
        self,
        interaction: discord.Interaction,
        job: app_commands.Range[int, 1],
        reason: app_commands.Range[str, 1, REASON_MAX] | None = None,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        # Telling the member is a post in another channel: answer first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        refund = await self.grants.refund(guild_id, actor_id, job, reason)
        told = await tell_member(self.bot, refund)
        cost = report.money(refund.usd)
        told_text = (
            t(locale, "They were told in <#{channel_id}>.", channel_id=refund.channel_id)
            if told
            else t(
                locale,
                "Discord refused the notice in <#{channel_id}>; tell them yourself.",
                channel_id=refund.channel_id,
            )
        )
        embed = discord.Embed(
            title=t(locale, "Job refunded"),
            description=t(
                locale,
                "Job #{job_id} of <@{user_id}>: {usd} given back. It no longer counts "
                "against their limits or the server's budget.",
                job_id=refund.job_id,
                user_id=refund.user_id,
                usd=cost,
            )
            + "\n"
            + told_text,
            colour=OK_COLOUR,
        )
        await reply(interaction, embed=embed)

    @usage_refund.autocomplete("job")
    async def refundable_jobs(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[int]]:
        """Moderators: the server's newest charged jobs (no prompt: it may come from a
        channel the moderator cannot see)."""
        if interaction.guild_id is None or not is_moderator(interaction):
            return []
        try:
            rows = await self.grants.refundable(interaction.guild_id, typed)
        except Exception:
            log.warning("refund autocomplete failed", exc_info=True)
            return []
        locale = locale_of(interaction)
        guild = interaction.guild
        choices = []
        for row in rows:
            member = guild.get_member(int(row["user_id"])) if guild else None
            name = (
                member.display_name
                if member is not None
                else t(locale, "member {user_id}", user_id=row["user_id"])
            )
            label = f"#{row['job_id']} · {name} · {row['model']} · {report.money(row['usd'])}"
            choices.append(app_commands.Choice(name=label[:100], value=int(row["job_id"])))
        return choices


def today_lines(view: UsageView, locale: str) -> list[str]:
    return report.today_lines(
        view.applies,
        view.today,
        now=view.now,
        policy=view.config.policy,
        exempt=view.exempt,
        locale=locale,
    )


def member_embed(view: UsageView, target: discord.abc.User, locale: str) -> discord.Embed:
    """One member's day against their limits (and today's grant), the period's totals
    and recent jobs (refunded ones say so)."""
    span = view.span
    label = t(locale, report.PERIODS[span.period])
    mine = discord.Embed(
        title=t(locale, "Usage of {name}", name=target.display_name),
        description="\n".join(today_lines(view, locale)),
        colour=INFO_COLOUR,
    )
    if span.period != "today":
        add_rows(mine, (label, report.period_line(report.totals(view.rows), locale)))
    recent = "\n".join(report.recent_lines(view.rows, locale=locale))[:1024]
    recent_title = t(locale, "Recent jobs ({period})", period=label.lower())
    add_rows(mine, (recent_title, recent or t(locale, "No jobs in this period.")))
    return mine


def server_embed(view: UsageView, locale: str) -> discord.Embed:
    """The server's spend against its budgets, its period total and top users."""
    during = t(locale, report.PERIODS[view.span.period]).lower()
    budget = "\n".join(report.budget_lines(view.today, view.config, locale))
    total = report.period_line(report.totals(view.guild_rows), locale)
    top = "\n".join(report.top_lines(report.top_users(view.guild_rows), locale))[:1024]
    return add_rows(
        discord.Embed(title=t(locale, "Server"), colour=INFO_COLOUR),
        (t(locale, "Spend against the budget"), budget),
        (t(locale, "Total ({period})", period=during), total),
        (t(locale, "Top users ({period})", period=during), top or t(locale, "Nobody yet.")),
    )


async def send(
    interaction: discord.Interaction, embeds: list[discord.Embed], files: list[discord.File]
) -> None:
    """Answer privately with the embeds (and the files), or follow up when deferred."""
    kwargs: dict[str, Any] = {
        "embeds": embeds,
        "ephemeral": True,
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if files:
        kwargs["files"] = files
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)
