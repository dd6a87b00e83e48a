"""``/status``: the bot's health at a glance, for moderators (checked at run time).

This server's jobs by state and its oldest unfinished job (``GET /metrics`` counts every
server's), whether Max API answers, the gateway latency, and today's spend against the
daily budget (:meth:`bot.services.job_queries.JobQueries.status`).
"""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import INFO_COLOUR, is_moderator, locale_of, reply
from bot.domain.errors import NotAllowed
from bot.domain.job_states import JobState
from bot.services.job_queries import ApiProbe
from bot.services.metrics import JobGauges
from bot.text.i18n import t

log = logging.getLogger(__name__)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def format_ms(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "—"
    return f"{seconds * 1000:.0f} ms"


def status_embed(
    locale: str | None,
    gauges: JobGauges,
    api: ApiProbe,
    gateway_latency: float,
    spent_today: float,
    daily_budget: float | None,
) -> discord.Embed:
    embed = discord.Embed(title=t(locale, "Atelier status"), colour=INFO_COLOUR)
    states = [
        f"{state.value}: {gauges.by_state.get(state.value, 0)}"
        for state in JobState
        if gauges.by_state.get(state.value, 0)
    ]
    embed.add_field(name=t(locale, "Jobs by state"), value="\n".join(states) or "—", inline=True)
    embed.add_field(
        name=t(locale, "Oldest unfinished job"),
        value=format_age(gauges.oldest_unfinished_age),
        inline=True,
    )
    api_line = f"{api.detail} · {format_ms(api.latency)}"
    embed.add_field(name="Max API", value=api_line, inline=False)
    embed.add_field(name=t(locale, "Gateway latency"), value=format_ms(gateway_latency))
    budget = "—" if daily_budget is None else f"${daily_budget:.2f}"
    embed.add_field(
        name=t(locale, "Budget used today"), value=f"${spent_today:.2f} / {budget}", inline=True
    )
    return embed


class Status(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.queries = bot.services.queries

    @app_commands.command(name="status", description="Atelier's health (moderators)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        if not is_moderator(interaction):
            raise NotAllowed(
                "Only moderators (Manage Server) can use /{command}.", command="status"
            )
        assert interaction.guild_id is not None  # guild_only
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await self.queries.status(interaction.guild_id, interaction.user.id)
        log.info(
            "status for guild %s: api %s in %.0f ms, %d unfinished",
            interaction.guild_id,
            status.api.detail,
            status.api.latency * 1000,
            status.gauges.unfinished,
        )
        embed = status_embed(
            locale_of(interaction),
            status.gauges,
            status.api,
            self.bot.latency,
            status.spent_today_usd,
            status.daily_budget_usd,
        )
        await reply(interaction, embed=embed)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Status(bot))
