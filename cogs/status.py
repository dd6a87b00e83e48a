"""``/status``: the bot's health at a glance, for moderators.

This server's jobs by state and its oldest unfinished job's age come from the store
(``GET /metrics`` counts every server's; a moderator sees only their own); Max API is
probed with a query for a task id that cannot exist — free, and a "task not found"
answer proves both reachability and that the key is accepted; the gateway latency is
discord.py's heartbeat round trip; the budget is this server's spend today against its
daily budget. Moderator-only at run time
(``default_permissions`` is only a default that server admins can override).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from bot import maxapi
from bot.app import AtelierBot
from bot.errors import NotAllowed, UserFacingError
from bot.i18n import t
from bot.job_states import JobState
from bot.metrics import JobGauges, read_job_gauges
from bot.quota import period_keys
from bot.ui import INFO_COLOUR, is_moderator, reply

log = logging.getLogger(__name__)

PROBE_TASK_ID = "atelier-status-probe"
PROBE_TIMEOUT = 8.0


@dataclass(frozen=True, slots=True)
class ApiProbe:
    """How a query to Max API went: reachable at all, how fast, what it said."""

    reachable: bool
    latency: float  # seconds
    detail: str


async def probe_api(api: maxapi.MaxApiClient, within: float = PROBE_TIMEOUT) -> ApiProbe:
    """Query a task id that cannot exist; "not found" is the healthy answer."""
    began = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            await api.get(PROBE_TASK_ID)
        detail, reachable = "ok", True
    except maxapi.TaskNotFound:
        detail, reachable = "ok", True
    except maxapi.Unauthorized:
        detail, reachable = "API key refused", True
    except (maxapi.NetworkError, TimeoutError) as exc:
        detail, reachable = f"unreachable ({type(exc).__name__})", False
    except maxapi.MaxApiError as exc:
        status = exc.http_status if exc.http_status is not None else "?"
        detail, reachable = f"answered with an error (HTTP {status})", exc.http_status is not None
    return ApiProbe(reachable, time.perf_counter() - began, detail)


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

    @app_commands.command(name="status", description="Atelier's health (moderators)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        if not is_moderator(interaction):
            raise NotAllowed(
                "Only moderators (Manage Server) can use /{command}.", command="status"
            )
        jobs = self.bot.services.jobs
        if jobs is None or interaction.guild_id is None:
            raise UserFacingError("Atelier is not ready right now. Try again later.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = jobs.clock()
        config = await jobs.store.guild_config(interaction.guild_id)
        day, month = period_keys(now, config.rollover_hour_utc)
        gauges, api, usage = await asyncio.gather(
            read_job_gauges(jobs.store, now, interaction.guild_id),
            probe_api(jobs.api),
            jobs.store.usage(interaction.guild_id, interaction.user.id, day, month),
        )
        log.info(
            "status for guild %s: api %s in %.0f ms, %d unfinished",
            interaction.guild_id,
            api.detail,
            api.latency * 1000,
            gauges.unfinished,
        )
        embed = status_embed(
            str(interaction.locale),
            gauges,
            api,
            self.bot.latency,
            usage.guild_spend_today_usd,
            config.daily_budget_usd,
        )
        await reply(interaction, embed=embed)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Status(bot))
