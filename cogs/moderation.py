"""Moderator tools and ``/usage``.

- ``/limits set [user] [role] [images_per_day] [videos_per_day] [jobs_at_once]
  [spend_per_day_usd] [cooldown_seconds]`` — neither ``user`` nor ``role`` (or the
  ``@everyone`` role) sets the server default. A value of ``-1`` (any negative value)
  clears that dimension at that layer, so the layer below applies again; ``0`` allows
  none. Options left out keep their value.
- ``/limits show [user] [role]`` — the layers and what applies.
- ``/limits reset target`` — removes a member's or a role's row (``@everyone``: the
  server default's).
- ``/block user [reason] [duration]`` (``30m``, ``2h``, ``1d12h``, ``1w``; none: until
  unblocked), ``/unblock user``.
- ``/usage [user] [period] [export]`` — everyone, for themselves; moderators for
  anyone, with the top users, the server's spend against its budget and a CSV export.
- ``/settings show | models | audit | budget``, ``/settings channels allow|deny|remove|all``,
  ``/settings words add|remove|list``, ``/settings exempt add|remove``.

A moderator is a member with Manage Server. The moderator commands are hidden from
members by ``default_permissions`` — but a server's admins can override that, so every
one of them checks again when it runs, and a refusal is audited like any other. Every
change is recorded through :class:`bot.audit.AuditLog` and posted to the audit
channel when one is set.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import usage_report as report
from bot.app import AtelierBot
from bot.audit import AuditLog, target_for
from bot.audit_sink import DiscordAuditSink
from bot.catalog import Media
from bot.errors import NotAllowed, UserFacingError, mark_audited
from bot.guild_config import ChannelMode, GuildConfig
from bot.i18n import t
from bot.moderation import MAX_PATTERNS, check_pattern, compile_entry, inactive, is_pattern
from bot.quota import (
    DIMENSIONS,
    NEW_GUILD_LIMITS,
    OVER_DAILY_CAP,
    LimitLayers,
    Limits,
    OperatorCap,
    effective_limits,
    period_keys,
    with_override,
)
from bot.store import Store
from bot.ui import INFO_COLOUR, OK_COLOUR, is_moderator, reply

log = logging.getLogger(__name__)

MODERATOR = discord.Permissions(manage_guild=True)
MAX_DURATION = 366 * 24 * 3600
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"(\d+)([smhdw])")
DURATIONS = re.compile(r"(?:\d+[smhdw])+")
MAX_WORDS = 500
MAX_WORD_CHARS = 100
MAX_LISTED = 10  # roles or members listed by /limits show before "and N more"
RESET_KEYWORDS = ("default", "none", "-")
ALL_KEYWORDS = ("all", "*", "any")


# -- pure helpers ------------------------------------------------------------------------


def parse_duration(text: str | None) -> int | None:
    """``"1h30m"`` → 5400 seconds; empty or ``permanent`` → ``None`` (no end).
    Raises :class:`UserFacingError` for anything else, or past a year."""
    if text is None or not text.strip() or text.strip().lower() in ("permanent", "forever"):
        return None
    compact = re.sub(r"\s+", "", text.lower())
    if not DURATIONS.fullmatch(compact):
        raise UserFacingError(
            "I can't read the duration {duration}. Use a number and a unit, like 30m, 2h, "
            "1d or 1w (combinations like 1d12h work too).",
            duration=repr(text),
        )
    seconds = sum(int(n) * DURATION_UNITS[unit] for n, unit in DURATION.findall(compact))
    if seconds <= 0:
        raise UserFacingError("The duration must be longer than zero.")
    if seconds > MAX_DURATION:
        raise UserFacingError("The longest block is a year; leave the duration out for no end.")
    return seconds


def split_entries(text: str) -> list[str]:
    """A word-list option: comma-separated entries; a single ``/regex/`` may hold commas."""
    text = text.strip()
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


def split_ids(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def role_ids_of(user: discord.abc.User) -> tuple[int, ...]:
    """The member's roles, without ``@everyone`` (that one is the server default)."""
    if not isinstance(user, discord.Member):
        return ()
    return tuple(r.id for r in user.roles if not r.is_default())


def locale_of(interaction: discord.Interaction) -> str:
    return str(interaction.locale)


def changes_summary(before: Limits, after: Limits, locale: str | None = None) -> str:
    """What changed, in English for the audit log (``locale=None``) or for the reader."""
    parts = []
    for name in DIMENSIONS:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        label = t(locale, report.DIMENSION_LABELS[name])
        if new is None:
            parts.append(t(locale, "{label} cleared", label=label))
        else:
            old_text = "—" if old is None else report.limit_value(name, old, locale)
            parts.append(f"{label} {old_text} → {report.limit_value(name, new, locale)}")
    return "; ".join(parts) or t(locale, "no change")


def period_choices() -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=label, value=key) for key, label in report.PERIODS.items()]


def listed(lines: Sequence[str], locale: str, limit: int = MAX_LISTED) -> str:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(t(locale, "… and {n} more", n=len(lines) - limit))
    return "\n".join(shown)[:1024]


# -- the cog -----------------------------------------------------------------------------


class Moderation(commands.Cog):
    limits = app_commands.Group(
        name="limits",
        description="Moderators: limits per server, role or member",
        guild_only=True,
        default_permissions=MODERATOR,
    )
    settings = app_commands.Group(
        name="settings",
        description="Moderators: Atelier's settings for this server",
        guild_only=True,
        default_permissions=MODERATOR,
    )
    channels = app_commands.Group(
        name="channels", description="Where Atelier may be used", parent=settings
    )
    words = app_commands.Group(
        name="words", description="Words and patterns refused in prompts", parent=settings
    )
    exempt = app_commands.Group(
        name="exempt", description="Roles that skip the member limits", parent=settings
    )

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.audit: AuditLog | None = None
        self.sink: DiscordAuditSink | None = None

    async def cog_load(self) -> None:
        jobs = self.bot.services.jobs
        if jobs is None:
            log.warning("no job service: moderator commands will refuse")
            return
        self.audit = AuditLog(jobs.store)
        self.sink = DiscordAuditSink(self.bot, jobs.store.guild_config)
        self.audit.sinks.append(self.sink.deliver)
        jobs.on_audit.append(self.sink.deliver)  # refusals recorded by JobService.accept
        self.bot.services.extra["audit"] = self.audit

    async def cog_unload(self) -> None:
        jobs = self.bot.services.jobs
        if self.sink is not None:
            if jobs is not None and self.sink.deliver in jobs.on_audit:
                jobs.on_audit.remove(self.sink.deliver)
            await self.sink.close()
        self.bot.services.extra.pop("audit", None)

    # -- shared ---------------------------------------------------------------------------

    def store(self) -> Store:
        jobs = self.bot.services.jobs
        if jobs is None:
            raise UserFacingError("Atelier is not ready right now. Try again later.")
        return jobs.store

    def audit_log(self) -> AuditLog:
        if self.audit is None:
            raise UserFacingError("Atelier is not ready right now. Try again later.")
        return self.audit

    def now(self) -> float:
        return self.store().clock()

    @staticmethod
    def guild_id(interaction: discord.Interaction) -> int:
        if interaction.guild_id is None:
            raise UserFacingError("Use this command in a server.")
        return interaction.guild_id

    async def refuse(self, interaction: discord.Interaction, why: str, message: str) -> None:
        """Record a refusal and raise it (the member sees ``message``)."""
        command = interaction.command.qualified_name if interaction.command else "?"
        if self.audit is not None:
            await self.audit.record(
                interaction.guild_id,
                interaction.user.id,
                "refused",
                target=f"/{command}",
                detail={"reason": why, "kind": "NotAllowed"},
            )
        raise mark_audited(NotAllowed(message))

    async def require_moderator(self, interaction: discord.Interaction) -> None:
        """The run-time check behind ``default_permissions`` (which admins can override)."""
        if is_moderator(interaction):
            return
        command = interaction.command.qualified_name if interaction.command else "this command"
        await self.refuse(
            interaction,
            "not a moderator (Manage Server)",
            t(
                locale_of(interaction),
                "Only moderators (Manage Server) can use /{command}.",
                command=command,
            ),
        )

    async def record(
        self,
        interaction: discord.Interaction,
        action: str,
        target: str | None,
        summary: str,
        **detail: Any,
    ) -> None:
        await self.audit_log().record(
            interaction.guild_id,
            interaction.user.id,
            action,
            target=target,
            detail={"summary": summary, **detail},
        )

    @staticmethod
    def scope(
        interaction: discord.Interaction,
        user: discord.abc.User | None,
        role: discord.Role | None,
    ) -> tuple[str, int, str]:
        """(scope, target id, how to name it) for a user/role option pair."""
        if user is not None and role is not None:
            raise UserFacingError(
                t(
                    locale_of(interaction),
                    "Choose a member or a role, not both (neither: the server default).",
                )
            )
        if user is not None:
            return "user", user.id, user.mention
        if role is not None and not role.is_default():
            return "role", role.id, role.mention
        return "guild", 0, t(locale_of(interaction), "the server default")

    @staticmethod
    def stored_target(scope: str, target_id: int) -> str:
        return "guild" if scope == "guild" else target_for(scope, target_id)

    async def layers_for(
        self, guild_id: int, user_id: int | None, role_ids: Sequence[int]
    ) -> tuple[LimitLayers, list[tuple[int, Limits]]]:
        """The layers for a member with these roles, and the role rows that apply."""
        rows = await self.store().all_limits(guild_id)
        guild = next((limits for scope, _, limits in rows if scope == "guild"), Limits())
        wanted = set(role_ids)
        roles = [(tid, lim) for scope, tid, lim in rows if scope == "role" and tid in wanted]
        user = next(
            (lim for scope, tid, lim in rows if scope == "user" and tid == user_id), Limits()
        )
        return LimitLayers(guild=guild, roles=tuple(lim for _, lim in roles), user=user), roles

    # -- /limits --------------------------------------------------------------------------

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
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        scope, target_id, name = self.scope(interaction, user, role)
        given: dict[str, Any] = {
            "images_per_day": images_per_day,
            "videos_per_day": videos_per_day,
            "jobs_at_once": jobs_at_once,
            "spend_per_day_usd": spend_per_day_usd,
            "cooldown_seconds": cooldown_seconds,
        }
        changes = {k: (None if v < 0 else v) for k, v in given.items() if v is not None}
        if not changes:
            raise UserFacingError(
                t(
                    locale,
                    "Give at least one limit to set (images_per_day, videos_per_day, "
                    "jobs_at_once, spend_per_day_usd, cooldown_seconds).",
                )
            )
        store = self.store()
        before = await store.limits_row(guild_id, scope, target_id)
        after = with_override(before, **changes)
        if report.is_empty(after):
            await store.reset_limits(guild_id, scope, target_id)
        else:
            await store.set_limits(guild_id, scope, target_id, after)
        summary = changes_summary(before, after)
        await self.record(
            interaction,
            "limits.set",
            self.stored_target(scope, target_id),
            summary,
            before=before.as_dict(),
            after=after.as_dict(),
        )
        embed = discord.Embed(
            title=t(locale, "Limits set"),
            description=t(
                locale,
                "For {target}: {summary}",
                target=name,
                summary=changes_summary(before, after, locale),
            ),
            colour=OK_COLOUR,
        )
        embed.add_field(
            name=t(locale, "This layer now"), value=report.limits_line(after, locale), inline=False
        )
        await self.add_applies(embed, guild_id, scope, target_id, user, locale)
        await reply(interaction, embed=embed)

    async def add_applies(
        self,
        embed: discord.Embed,
        guild_id: int,
        scope: str,
        target_id: int,
        user: discord.abc.User | None,
        locale: str,
    ) -> None:
        """What applies now to the target (a member with only that role, for a role)."""
        if scope == "user":
            layers, _ = await self.layers_for(
                guild_id, target_id, role_ids_of(user) if user else ()
            )
        elif scope == "role":
            layers, _ = await self.layers_for(guild_id, None, [target_id])
        else:
            layers, _ = await self.layers_for(guild_id, None, [])
        embed.add_field(
            name=t(locale, "What applies"),
            value=report.limits_line(effective_limits(layers), locale),
            inline=False,
        )

    @limits.command(name="show", description="The limits that apply, layer by layer")
    @app_commands.describe(user="A member: what applies to them", role="A role: its own limits")
    async def limits_show(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        role: discord.Role | None = None,
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        scope, target_id, name = self.scope(interaction, user, role)
        role_ids = role_ids_of(user) if user is not None else ([target_id] if role else [])
        layers, role_rows = await self.layers_for(
            guild_id, target_id if scope == "user" else None, role_ids
        )
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
        embed.add_field(
            name=t(locale, "Built-in (new servers)"),
            value=report.limits_line(NEW_GUILD_LIMITS, locale),
            inline=False,
        )
        embed.add_field(
            name=t(locale, "Server default"),
            value=report.limits_line(layers.guild, locale),
            inline=False,
        )
        if role_rows:
            embed.add_field(
                name=t(locale, "Roles"),
                value=listed(
                    [f"<@&{rid}>: {report.limits_line(lim, locale)}" for rid, lim in role_rows],
                    locale,
                ),
                inline=False,
            )
        elif scope == "role":
            embed.add_field(name=t(locale, "Role"), value=t(locale, "nothing set"), inline=False)
        if scope == "user":
            embed.add_field(
                name=t(locale, "Member's own"),
                value=report.limits_line(layers.user, locale)
                if not report.is_empty(layers.user)
                else t(locale, "nothing set"),
                inline=False,
            )
        embed.add_field(
            name=t(locale, "What applies")
            + ("" if scope != "guild" else t(locale, " (a member without limited roles)")),
            value=report.limits_line(effective_limits(layers), locale),
            inline=False,
        )
        store = self.store()
        if scope == "user":
            config = await store.guild_config(guild_id)
            if config.exempt_role_ids & set(role_ids):
                embed.add_field(
                    name=t(locale, "Exempt"),
                    value=t(locale, "Holds an exempt role: member limits do not apply."),
                    inline=False,
                )
            block = await store.active_block(guild_id, target_id, self.now())
            if block is not None:
                embed.add_field(name=t(locale, "Blocked"), value=self.block_text(block, locale))
        if scope == "guild":
            rows = await store.all_limits(guild_id)
            roles = [
                f"<@&{tid}>: {report.limits_line(lim, locale)}"
                for s, tid, lim in rows
                if s == "role"
            ]
            users = [
                f"<@{tid}>: {report.limits_line(lim, locale)}"
                for s, tid, lim in rows
                if s == "user"
            ]
            if roles:
                embed.add_field(
                    name=t(locale, "Roles with limits"), value=listed(roles, locale), inline=False
                )
            if users:
                embed.add_field(
                    name=t(locale, "Members with their own limits"),
                    value=listed(users, locale),
                    inline=False,
                )
        await reply(interaction, embed=embed)

    @limits.command(name="reset", description="Remove a member's or a role's limits")
    @app_commands.describe(target="A member or a role (@everyone: the server default)")
    async def limits_reset(
        self,
        interaction: discord.Interaction,
        target: discord.Member | discord.User | discord.Role,
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        if isinstance(target, discord.Role):
            scope, target_id, name = self.scope(interaction, None, target)
        else:
            scope, target_id, name = self.scope(interaction, target, None)
        store = self.store()
        before = await store.limits_row(guild_id, scope, target_id)
        removed = await store.reset_limits(guild_id, scope, target_id)
        if not removed:
            await reply(
                interaction,
                t(locale, "{target} had no limits of its own; nothing changed.", target=name),
            )
            return
        await self.record(
            interaction,
            "limits.reset",
            self.stored_target(scope, target_id),
            f"was {report.limits_line(before)}",
            before=before.as_dict(),
        )
        embed = discord.Embed(
            title=t(locale, "Limits reset"),
            description=t(
                locale, "Removed the limits of {target}; the layers below apply.", target=name
            ),
            colour=OK_COLOUR,
        )
        user = target if not isinstance(target, discord.Role) else None
        await self.add_applies(embed, guild_id, scope, target_id, user, locale)
        await reply(interaction, embed=embed)

    # -- /block, /unblock -------------------------------------------------------------------

    @staticmethod
    def block_text(block: dict[str, Any], locale: str) -> str:
        until = block.get("until")
        text = (
            t(locale, "until <t:{at}:f> (<t:{at}:R>)", at=int(until))
            if until
            else t(locale, "until unblocked")
        )
        if block.get("reason"):
            text += " — " + t(locale, "reason: {reason}", reason=block["reason"])
        return text

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
        guild_id = self.guild_id(interaction)
        if user.id == interaction.user.id:
            raise UserFacingError(t(locale, "You can't block yourself."))
        if user.bot:
            raise UserFacingError(t(locale, "Bots don't use Atelier; there is nothing to block."))
        seconds = parse_duration(duration)
        until = None if seconds is None else self.now() + seconds
        await self.store().block(guild_id, user.id, reason, until, interaction.user.id)
        block = {"reason": reason, "until": until}
        text = self.block_text(block, locale)
        await self.record(
            interaction, "block", target_for("user", user.id), text, reason=reason, until=until
        )
        await reply(
            interaction,
            embed=discord.Embed(
                title=t(locale, "Blocked"),
                description=t(
                    locale,
                    "{user} can't start jobs here {when}.",
                    user=user.mention,
                    when=text,
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
        removed = await self.store().unblock(self.guild_id(interaction), user.id)
        if not removed:
            await reply(interaction, t(locale, "{user} was not blocked.", user=user.mention))
            return
        await self.record(interaction, "unblock", target_for("user", user.id), "")
        await reply(interaction, t(locale, "{user} can use Atelier again.", user=user.mention))

    # -- /usage ------------------------------------------------------------------------------

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
        if target.id != interaction.user.id and not moderator:
            await self.refuse(
                interaction,
                "another member's usage",
                t(locale, "Only moderators can see another member's usage."),
            )
        if export and not moderator:
            await self.refuse(
                interaction, "usage export", t(locale, "Only moderators can export usage.")
            )
        if export:
            await interaction.response.defer(ephemeral=True, thinking=True)
        store = self.store()
        config = await store.guild_config(guild_id)
        now = self.now()
        day, month = period_keys(now, config.rollover_hour_utc)
        today = await store.usage(guild_id, target.id, day, month)
        role_ids = role_ids_of(target)
        layers, _ = await self.layers_for(guild_id, target.id, role_ids)
        span = report.period_span(
            period.value if period else "today", now, config.rollover_hour_utc
        )
        label = t(locale, report.PERIODS[span.period])
        rows = await store.charges_in(guild_id, span.since_day, span.until_day, user_id=target.id)

        mine = discord.Embed(
            title=t(locale, "Usage of {name}", name=target.display_name),
            description="\n".join(
                report.today_lines(
                    effective_limits(layers),
                    today,
                    now=now,
                    policy=config.policy,
                    exempt=bool(config.exempt_role_ids & set(role_ids)),
                    locale=locale,
                )
            ),
            colour=INFO_COLOUR,
        )
        if span.period != "today":
            mine.add_field(
                name=label, value=report.period_line(report.totals(rows), locale), inline=False
            )
        recent = report.recent_lines(rows, locale=locale)
        mine.add_field(
            name=t(locale, "Recent jobs ({period})", period=label.lower()),
            value="\n".join(recent)[:1024] if recent else t(locale, "No jobs in this period."),
            inline=False,
        )
        embeds = [mine]
        guild_rows: list[dict[str, Any]] = []
        if moderator:
            guild_rows = await store.charges_in(guild_id, span.since_day, span.until_day)
            server = discord.Embed(title=t(locale, "Server"), colour=INFO_COLOUR)
            server.add_field(
                name=t(locale, "Spend against the budget"),
                value="\n".join(report.budget_lines(today, config, locale)),
                inline=False,
            )
            server.add_field(
                name=t(locale, "Total ({period})", period=label.lower()),
                value=report.period_line(report.totals(guild_rows), locale),
                inline=False,
            )
            top = report.top_lines(report.top_users(guild_rows), locale)
            server.add_field(
                name=t(locale, "Top users ({period})", period=label.lower()),
                value="\n".join(top)[:1024] if top else t(locale, "Nobody yet."),
                inline=False,
            )
            embeds.append(server)
        file = None
        if export:
            exported = rows if user is not None else guild_rows
            data = report.csv_bytes(exported)
            limit = interaction.guild.filesize_limit if interaction.guild else 10 * 1024 * 1024
            if len(data) > limit:
                raise UserFacingError(
                    t(locale, "The export is too large to attach; choose a shorter period.")
                )
            name = f"atelier-usage-{span.since_day}-to-{span.until_day}.csv"
            file = discord.File(io.BytesIO(data), filename=name)
            await self.record(
                interaction,
                "usage.export",
                target_for("user", target.id) if user is not None else "guild",
                f"{len(exported)} job(s), {span.since_day} to {span.until_day}",
            )
        await self.send(interaction, embeds, file)

    @staticmethod
    async def send(
        interaction: discord.Interaction,
        embeds: list[discord.Embed],
        file: discord.File | None = None,
    ) -> None:
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

    # -- /settings ---------------------------------------------------------------------------

    @settings.command(name="show", description="Everything Atelier is set to in this server")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        await self.require_moderator(interaction)
        config = await self.store().guild_config(self.guild_id(interaction))
        await reply(interaction, embed=self.settings_embed(config, locale_of(interaction)))

    def settings_embed(self, config: GuildConfig, locale: str) -> discord.Embed:
        catalog = self.bot.services.catalog
        embed = discord.Embed(title=t(locale, "Atelier settings"), colour=INFO_COLOUR)

        def model_text(chosen: str | None, media: Media) -> str:
            if chosen:
                return f"`{chosen}`"
            try:
                fallback = catalog.default_model(media)
            except ValueError:
                fallback = "—"
            return t(locale, "built-in (`{model}`)", model=fallback)

        embed.add_field(
            name=t(locale, "Default image model"),
            value=model_text(config.default_image_model, "image"),
        )
        embed.add_field(
            name=t(locale, "Default video model"),
            value=model_text(config.default_video_model, "video"),
        )
        embed.add_field(
            name=t(locale, "Allowed models"),
            value=", ".join(f"`{m}`" for m in sorted(config.allowed_models))[:1024]
            if config.allowed_models
            else t(locale, "every model"),
            inline=False,
        )
        embed.add_field(name=t(locale, "Channels"), value=self.channels_text(config, locale))
        embed.add_field(
            name=t(locale, "Banned words"),
            value=t(locale, "{n} entries (/settings words list)", n=len(config.banned_words)),
        )
        embed.add_field(
            name=t(locale, "Audit channel"),
            value=f"<#{config.audit_channel_id}>" if config.audit_channel_id else t(locale, "off"),
        )
        embed.add_field(
            name=t(locale, "Budget"),
            value=t(
                locale,
                "daily {daily}, monthly {monthly}; days start at {hour:02d}:00 UTC",
                daily=report.money(config.daily_budget_usd)
                if config.daily_budget_usd is not None
                else t(locale, "none"),
                monthly=report.money(config.monthly_budget_usd)
                if config.monthly_budget_usd is not None
                else t(locale, "none"),
                hour=config.rollover_hour_utc,
            ),
            inline=False,
        )
        embed.add_field(
            name=t(locale, "Exempt roles"),
            value=" ".join(f"<@&{r}>" for r in sorted(config.exempt_role_ids))[:1024]
            if config.exempt_role_ids
            else t(locale, "none"),
            inline=False,
        )
        return embed

    @staticmethod
    def channels_text(config: GuildConfig, locale: str) -> str:
        mentions = " ".join(f"<#{c}>" for c in sorted(config.channel_ids))[:900]
        if config.channel_mode == "allow":
            return t(locale, "only in {channels}", channels=mentions or "—")
        if config.channel_mode == "deny":
            return t(locale, "everywhere except {channels}", channels=mentions or "—")
        return t(locale, "every channel")

    async def changed(
        self,
        interaction: discord.Interaction,
        action: str,
        summary: str,
        config: GuildConfig,
        *,
        target: str | None = None,
        **detail: Any,
    ) -> None:
        """Audit a settings change and answer with the new settings."""
        await self.record(interaction, action, target, summary, **detail)
        locale = locale_of(interaction)
        embed = self.settings_embed(config, locale)
        embed.description = summary
        embed.colour = OK_COLOUR
        await reply(interaction, embed=embed)

    # models

    def check_model(self, model_id: str, media: Media | None, locale: str) -> str:
        catalog = self.bot.services.catalog
        model_id = model_id.strip()
        if not self.enabled(model_id):
            raise UserFacingError(
                t(locale, "Unknown model `{model}`: see /models for the list.", model=model_id)
            )
        if media is not None and catalog.get(model_id).media != media:
            raise UserFacingError(
                t(locale, "`{model}` is not an {media} model.", model=model_id, media=media)
            )
        return model_id

    def enabled(self, model_id: str) -> bool:
        return any(m.id == model_id for m in self.bot.services.catalog.enabled())

    @settings.command(name="models", description="Default models and which models are allowed")
    @app_commands.describe(
        image_default='Default image model ("default": the built-in one)',
        video_default='Default video model ("default": the built-in one)',
        allowed='Allowed model ids, comma-separated ("all": every model)',
    )
    async def settings_models(
        self,
        interaction: discord.Interaction,
        image_default: app_commands.Range[str, 1, 100] | None = None,
        video_default: app_commands.Range[str, 1, 100] | None = None,
        allowed: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        if image_default is None and video_default is None and allowed is None:
            raise UserFacingError(
                t(locale, "Give image_default, video_default or allowed (see /settings show).")
            )
        store = self.store()
        config = await store.guild_config(guild_id)
        values: dict[str, Any] = {}
        if image_default is not None:
            values["default_image_model"] = (
                None
                if image_default.strip().lower() in RESET_KEYWORDS
                else self.check_model(image_default, "image", locale)
            )
        if video_default is not None:
            values["default_video_model"] = (
                None
                if video_default.strip().lower() in RESET_KEYWORDS
                else self.check_model(video_default, "video", locale)
            )
        if allowed is not None:
            ids = split_ids(allowed)
            if not ids or (len(ids) == 1 and ids[0].lower() in ALL_KEYWORDS):
                values["allowed_models"] = frozenset()
            else:
                unknown = [i for i in ids if not self.enabled(i)]
                if unknown:
                    raise UserFacingError(
                        t(
                            locale,
                            "Unknown model(s): {models}. See /models for the ids.",
                            models=", ".join(f"`{u}`" for u in unknown),
                        )
                    )
                values["allowed_models"] = frozenset(ids)
        allowed_now: frozenset[str] = values.get("allowed_models", config.allowed_models)
        for key in ("default_image_model", "default_video_model"):
            chosen = values.get(key, getattr(config, key))
            if allowed_now and chosen and chosen not in allowed_now:
                raise UserFacingError(
                    t(
                        locale,
                        "The default model `{model}` is not in the allowed list; allow it or "
                        "choose another default.",
                        model=chosen,
                    )
                )
        updated = await store.update_guild_config(guild_id, **values)
        summary = "; ".join(
            f"{key.replace('_', ' ')}: "
            + (", ".join(sorted(v)) or "all" if isinstance(v, frozenset) else (v or "built-in"))
            for key, v in values.items()
        )
        await self.changed(interaction, "settings.models", summary, updated)

    async def model_choices(self, media: Media, current: str) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        found = [
            app_commands.Choice(name=f"{m.label} ({m.id})"[:100], value=m.id)
            for m in self.bot.services.catalog.enabled(media)
            if typed in m.id.lower() or typed in m.label.lower()
        ]
        if "default".startswith(typed):
            found.insert(0, app_commands.Choice(name="default (built-in)", value="default"))
        return found[:25]

    @settings_models.autocomplete("image_default")
    async def image_default_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.model_choices("image", str(current))

    @settings_models.autocomplete("video_default")
    async def video_default_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.model_choices("video", str(current))

    @settings_models.autocomplete("allowed")
    async def allowed_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Complete the last id of the comma-separated list."""
        text = str(current)
        head, _, last = text.rpartition(",")
        prefix = f"{head}, " if head else ""
        chosen = set(split_ids(head))
        typed = last.strip().lower()
        out = []
        for m in self.bot.services.catalog.enabled():
            if m.id in chosen or typed not in m.id.lower():
                continue
            value = f"{prefix}{m.id}"
            if len(value) <= 100:
                out.append(app_commands.Choice(name=value, value=value))
        return out[:25]

    # channels

    async def set_channels(
        self,
        interaction: discord.Interaction,
        action: Literal["allow", "deny", "remove", "all"],
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        """``allow``/``deny`` add the channel to that list (switching lists starts a new
        one: they mean opposite things); ``remove`` takes it off (an emptied list means
        every channel again); ``all`` drops the list."""
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        store = self.store()
        config = await store.guild_config(guild_id)
        ids = set(config.channel_ids)
        note = ""
        new_mode: ChannelMode
        if action == "all" or channel is None:
            new_mode, ids = "all", set()
        elif action == "remove":
            if channel.id not in ids:
                raise UserFacingError(
                    t(locale, "{channel} is not on the list.", channel=channel.mention)
                )
            ids.discard(channel.id)
            new_mode = config.channel_mode
            if not ids and new_mode == "allow":
                new_mode = "all"
                note = t(locale, " The allow list is empty, so every channel is allowed again.")
            elif not ids:
                new_mode = "all"
        else:
            if config.channel_mode != action:
                ids = set()
            ids.add(channel.id)
            new_mode = action
        updated = await store.update_guild_config(
            guild_id, channel_mode=new_mode, channel_ids=frozenset(ids)
        )
        summary = self.channels_text(updated, locale) + note
        await self.changed(
            interaction,
            "settings.channels",
            summary,
            updated,
            target=target_for("channel", channel.id) if channel is not None else None,
            mode=new_mode,
            channel_ids=sorted(ids),
        )

    @channels.command(name="allow", description="Allow Atelier in this channel only (add more)")
    @app_commands.describe(channel="A channel where Atelier may be used")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "allow", channel)

    @channels.command(name="deny", description="Refuse Atelier in this channel (add more)")
    @app_commands.describe(channel="A channel where Atelier may not be used")
    async def channels_deny(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "deny", channel)

    @channels.command(name="remove", description="Take a channel off the allow or deny list")
    @app_commands.describe(channel="The channel to take off the list")
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "remove", channel)

    @channels.command(name="all", description="Allow Atelier in every channel")
    async def channels_all(self, interaction: discord.Interaction) -> None:
        await self.set_channels(interaction, "all")

    # words

    @words.command(name="add", description="Refuse prompts with these words (comma-separated)")
    @app_commands.describe(words="Words or phrases, comma-separated; /regex/ for a pattern")
    async def words_add(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 1000]
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        entries = split_entries(words)
        broken = [
            e
            for e in entries
            if len(e) > MAX_WORD_CHARS or (not is_pattern(e) and compile_entry(e) is None)
        ]
        if broken or not entries:
            raise UserFacingError(
                t(
                    locale,
                    "I can't use: {entries}. Entries are words or phrases up to {n} "
                    "characters, or a valid /regex/.",
                    entries=", ".join(f"`{e[:50]}`" for e in broken) or "—",
                    n=MAX_WORD_CHARS,
                )
            )
        for entry in entries:
            check_pattern(entry)  # a pattern that can't be checked quickly is refused here
        added: list[str] = []
        too_many = too_many_patterns = False

        def add(config: GuildConfig) -> dict[str, Any]:
            nonlocal too_many, too_many_patterns
            added.clear()
            known = {w.casefold() for w in config.banned_words}
            for entry in entries:
                if entry.casefold() not in known:
                    known.add(entry.casefold())
                    added.append(entry)
            new_list = (*config.banned_words, *added)
            too_many = len(new_list) > MAX_WORDS
            too_many_patterns = any(map(is_pattern, added)) and (
                sum(map(is_pattern, new_list)) > MAX_PATTERNS
            )
            if too_many or too_many_patterns or not added:
                return {}
            return {"banned_words": new_list}

        updated = await self.store().edit_guild_config(guild_id, add)
        if too_many:
            raise UserFacingError(t(locale, "The list holds at most {n} entries.", n=MAX_WORDS))
        if too_many_patterns:
            raise UserFacingError(
                t(
                    locale,
                    "The list holds at most {n} patterns (/regex/ entries): remove one "
                    "before adding another.",
                    n=MAX_PATTERNS,
                )
            )
        if not added:
            await reply(interaction, t(locale, "All of these are on the list already."))
            return
        summary = t(
            locale,
            "added {entries} ({n} on the list)",
            entries=", ".join(f"`{e}`" for e in added),
            n=len(updated.banned_words),
        )
        await self.changed(interaction, "settings.words", summary, updated, added=added)

    @words.command(name="remove", description="Take words off the list (comma-separated)")
    @app_commands.describe(words="The entries to remove, comma-separated")
    async def words_remove(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 1000]
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        wanted = {e.casefold() for e in split_entries(words)}
        removed: list[str] = []

        def remove(config: GuildConfig) -> dict[str, Any]:
            removed[:] = [w for w in config.banned_words if w.casefold() in wanted]
            if not removed:
                return {}
            kept = tuple(w for w in config.banned_words if w.casefold() not in wanted)
            return {"banned_words": kept}

        updated = await self.store().edit_guild_config(guild_id, remove)
        if not removed:
            raise UserFacingError(t(locale, "None of these is on the list."))
        kept = updated.banned_words
        summary = t(
            locale,
            "removed {entries} ({n} on the list)",
            entries=", ".join(f"`{e}`" for e in removed),
            n=len(kept),
        )
        await self.changed(interaction, "settings.words", summary, updated, removed=removed)

    @words.command(name="list", description="The words and patterns refused in prompts")
    async def words_list(self, interaction: discord.Interaction) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        config = await self.store().guild_config(self.guild_id(interaction))
        if not config.banned_words:
            await reply(
                interaction, t(locale, "The list is empty. Add entries with /settings words add.")
            )
            return
        unused = set(inactive(config.banned_words))
        marker = " " + t(locale, "(not active)")
        text = ", ".join(f"`{w}`" + (marker if w in unused else "") for w in config.banned_words)
        if len(text) > 4000:
            text = text[:3990].rsplit(",", 1)[0] + ", …"
        embed = discord.Embed(
            title=t(locale, "Banned words ({n})", n=len(config.banned_words)),
            description=text,
            colour=INFO_COLOUR,
        )
        if unused:
            embed.set_footer(
                text=t(
                    locale,
                    "Entries marked (not active) are not checked: patterns Atelier can't "
                    "check quickly, or past the first {n} patterns. Remove them, and add "
                    "them back rewritten.",
                    n=MAX_PATTERNS,
                )
            )
        await reply(interaction, embed=embed)

    # audit, budget, exempt roles

    @settings.command(name="audit", description="Where moderator actions and refusals are posted")
    @app_commands.describe(channel="The audit channel (leave out to turn posting off)")
    async def settings_audit(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        if channel is not None:
            me = channel.guild.me
            perms = channel.permissions_for(me) if me is not None else None
            if perms is not None and not (perms.view_channel and perms.send_messages):
                raise UserFacingError(
                    t(
                        locale,
                        "I can't post in {channel} (I need View Channel and Send Messages).",
                        channel=channel.mention,
                    )
                )
        updated = await self.store().update_guild_config(
            guild_id, audit_channel_id=channel.id if channel else None
        )
        summary = (
            t(locale, "audit posts go to {channel}", channel=channel.mention)
            if channel
            else t(locale, "audit posts are off (entries are still stored)")
        )
        await self.changed(
            interaction,
            "settings.audit",
            summary,
            updated,
            target=target_for("channel", channel.id) if channel else None,
        )

    @settings.command(name="budget", description="The server's spending budgets and day start")
    @app_commands.describe(
        daily_usd="Budget a day in USD for the whole server (-1: none)",
        monthly_usd="Budget a month in USD (-1: none)",
        rollover_hour="The UTC hour a new day starts for limits and budgets",
    )
    async def settings_budget(
        self,
        interaction: discord.Interaction,
        daily_usd: app_commands.Range[float, -1.0, 1_000_000.0] | None = None,
        monthly_usd: app_commands.Range[float, -1.0, 10_000_000.0] | None = None,
        rollover_hour: app_commands.Range[int, 0, 23] | None = None,
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        values: dict[str, Any] = {}
        if daily_usd is not None:
            values["daily_budget_usd"] = None if daily_usd < 0 else float(daily_usd)
        if monthly_usd is not None:
            values["monthly_budget_usd"] = None if monthly_usd < 0 else float(monthly_usd)
        if rollover_hour is not None:
            values["rollover_hour_utc"] = int(rollover_hour)
        if not values:
            raise UserFacingError(t(locale, "Give daily_usd, monthly_usd or rollover_hour."))
        jobs = self.bot.services.jobs
        cap = jobs.operator_cap if jobs is not None else OperatorCap()
        refusal = cap.refusal(values.get("daily_budget_usd"), values.get("monthly_budget_usd"))
        if refusal is not None:
            amount = cap.daily_usd if refusal == OVER_DAILY_CAP else cap.monthly_usd
            raise UserFacingError(refusal, cap=f"${amount:.2f}")
        updated = await self.store().update_guild_config(guild_id, **values)
        summary = "; ".join(
            f"{key.replace('_', ' ')}: {'none' if v is None else v}" for key, v in values.items()
        )
        await self.changed(interaction, "settings.budget", summary, updated, **values)

    async def set_exempt(
        self, interaction: discord.Interaction, role: discord.Role, *, add: bool
    ) -> None:
        await self.require_moderator(interaction)
        locale = locale_of(interaction)
        guild_id = self.guild_id(interaction)
        if role.is_default():
            raise UserFacingError(
                t(
                    locale,
                    "Exempting @everyone would lift every member's limits; raise the server "
                    "default with /limits set instead.",
                )
            )
        store = self.store()
        config = await store.guild_config(guild_id)
        roles = set(config.exempt_role_ids)
        if add == (role.id in roles):
            raise UserFacingError(
                t(locale, "{role} is already exempt.", role=role.mention)
                if add
                else t(locale, "{role} is not exempt.", role=role.mention)
            )
        if add:
            roles.add(role.id)
        else:
            roles.discard(role.id)
        updated = await store.update_guild_config(guild_id, exempt_role_ids=frozenset(roles))
        summary = (
            t(
                locale,
                "{role} now skips the member limits (the budget still holds)",
                role=role.mention,
            )
            if add
            else t(locale, "{role} follows the member limits again", role=role.mention)
        )
        await self.changed(
            interaction, "settings.exempt", summary, updated, target=target_for("role", role.id)
        )

    @exempt.command(name="add", description="Members with this role skip the member limits")
    @app_commands.describe(role="The role to exempt")
    async def exempt_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self.set_exempt(interaction, role, add=True)

    @exempt.command(name="remove", description="This role follows the member limits again")
    @app_commands.describe(role="The role to stop exempting")
    async def exempt_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self.set_exempt(interaction, role, add=False)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Moderation(bot))
