"""``/jobs``, ``/cancel job`` and ``/show job``: a member's own jobs, and moderators'.
Rights are checked when a command runs: autocomplete values and ``default_permissions``
are only hints. A job's moderator has Manage Server, or Manage Messages in its channel.

``/jobs`` pages through all of the member's jobs here, newest first; Previous and Next
are ``atelier:history:<prev|next>:<page>[:<search>]``, answered by :class:`HistoryButton`
(a ``DynamicItem``, so they work after a restart). A click always shows the clicker's
own jobs, so a button can never show anyone else's."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.delivery_show import Reposter
from bot.discord_io.launch import is_nsfw
from bot.discord_io.ui import (
    INFO_COLOUR,
    can_manage_jobs,
    cancel_buttons,
    guarded,
    locale_of,
    permissions_in,
    reply,
    running_cog,
)
from bot.domain.errors import MissingBotPermissions, NotAllowed, UserFacingError
from bot.domain.job import Job
from bot.text.i18n import t
from bot.text.job_pages import (
    CANCELLABLE,
    HISTORY_PER_PAGE,
    SEARCH_MAX,
    HistoryText,
    can_manage,
    cancel_text,
    choice_label,
    history_text,
    jump_url,
    matches,
    not_yours,
    page_count,
    show_label,
    show_refusal,
)

log = logging.getLogger(__name__)

#: Autocomplete cannot be deferred: give up (no choices) well inside its 3 seconds.
AUTOCOMPLETE_BUDGET = 2.0
CANDIDATES = 100  # jobs read for one autocomplete answer, before filtering
MAX_CHOICES = 25
POSTABLE = discord.Permissions(view_channel=True, send_messages=True, attach_files=True)


HISTORY_BUTTON = re.compile(
    r"atelier:history:(?P<direction>prev|next):(?P<page>[0-9]{1,6})(?::(?P<search>.*))?"
)


def history_button_id(direction: str, page: int, search: str) -> str:
    """The custom id of the button that opens ``page`` (≤ 100 characters)."""
    base = f"atelier:history:{direction}:{page}"
    return f"{base}:{search[:SEARCH_MAX]}" if search else base


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=HISTORY_BUTTON.pattern
):
    """Previous or Next under a ``/jobs`` page, before or after a restart."""

    def __init__(self, direction: str, page: int, search: str) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=direction, custom_id=history_button_id(direction, page, search)
        )
        super().__init__(button)
        self.page = page
        self.search = search

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> HistoryButton:
        return cls(match["direction"], int(match["page"]), match["search"] or "")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        cog = running_cog(interaction, Jobs)
        await interaction.response.defer()
        embed, view = await cog.history(interaction, self.page, self.search)
        await interaction.edit_original_response(embed=embed, view=view)


def history_view(shown: HistoryText, page: int, pages: int, search: str, locale: str) -> Any:
    """Cancel for each stoppable job on the page, then Previous and Next (when there
    is more than one page). Stopped: the persistent handlers answer every click."""
    view = cancel_buttons(shown.cancel_ids, locale) or discord.ui.View(timeout=None)
    if pages > 1:
        row = -(-len(shown.cancel_ids) // 5)
        for direction, target, label, disabled in (
            ("prev", max(page - 1, 1), t(locale, "Previous"), page <= 1),
            ("next", min(page + 1, pages), t(locale, "Next"), page >= pages),
        ):
            view.add_item(
                discord.ui.Button(
                    label=label,
                    style=discord.ButtonStyle.secondary,
                    custom_id=history_button_id(direction, target, search),
                    disabled=disabled,
                    row=row,
                )
            )
    view.stop()
    return view if view.children else None


class Jobs(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.service = bot.services.jobs
        self.queries = bot.services.queries
        self.reposter = Reposter.for_api(bot.services.settings.maxapi_base_url)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(HistoryButton)
        await self.reposter.close()

    # -- /jobs -----------------------------------------------------------------------

    @app_commands.command(name="jobs", description="Your active and recent jobs, with Cancel")
    @app_commands.describe(search="Only jobs whose prompt contains this text")
    @app_commands.guild_only()
    async def jobs(
        self,
        interaction: discord.Interaction,
        search: app_commands.Range[str, 1, SEARCH_MAX] | None = None,
    ) -> None:
        # Acknowledge before reading: the database thread is shared with the poller and
        # delivery, so a read can wait behind their writes; the deferral does not.
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed, view = await self.history(interaction, 1, " ".join((search or "").split()))
        await reply(interaction, embed=embed, view=view)

    async def history(
        self, interaction: discord.Interaction, page: int, search: str
    ) -> tuple[discord.Embed, Any]:
        """Page ``page`` of the caller's jobs here (read afresh), as an embed and buttons."""
        locale = locale_of(interaction)
        if interaction.guild_id is None:
            raise UserFacingError(t(locale, "Use this command in a server."))
        jobs, total, page = await self.queries.history(
            interaction.guild_id,
            interaction.user.id,
            page=max(page, 1),
            search=search,
            per_page=HISTORY_PER_PAGE,
        )
        shown = history_text(
            jobs, total=total, page=page, search=search, now=self.queries.clock(), locale=locale
        )
        embed = discord.Embed(title=shown.title, description=shown.description, colour=INFO_COLOUR)
        embed.set_footer(text=shown.footer)
        return embed, history_view(shown, page, page_count(total), search, locale)

    # -- /cancel job -------------------------------------------------------------------

    @app_commands.command(name="cancel", description="Cancel one of your jobs")
    @app_commands.describe(job="The job to cancel (moderators: anyone's)")
    @app_commands.guild_only()
    async def cancel(
        self, interaction: discord.Interaction, job: app_commands.Range[int, 1]
    ) -> None:
        # Max API's cancel is a network call: answer first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        locale = locale_of(interaction)
        found = await self.job_for(interaction, job, action="cancel")
        owner = found.user_id == interaction.user.id
        reason = "cancelled by member" if owner else f"cancelled by moderator {interaction.user.id}"
        outcome = await self.service.cancel(found.id, reason=reason)
        if outcome.cancelled and not owner:
            log.info("job %s cancelled by moderator %s", found.id, interaction.user.id)
        text = cancel_text(
            outcome.message,
            outcome.job,
            cancelled=outcome.cancelled,
            caller_id=interaction.user.id,
            locale=locale,
        )
        await reply(interaction, text)
        if outcome.cancelled:
            await self.bot.services.audit.cancelled(found, interaction.user.id)

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """The caller's stoppable jobs (a moderator's: the whole server's)."""
        return await self.choices(interaction, str(current), active=True)

    # -- /show job ---------------------------------------------------------------------

    @app_commands.command(name="show", description="Post a past result again while its links work")
    @app_commands.describe(job="The job whose result to post again")
    @app_commands.guild_only()
    @app_commands.checks.cooldown(3, 60.0, key=lambda i: (i.guild_id, i.user.id))
    async def show(self, interaction: discord.Interaction, job: app_commands.Range[int, 1]) -> None:
        # Downloads take time: answer first (privately, so refusals stay private).
        await interaction.response.defer(ephemeral=True, thinking=True)
        locale = locale_of(interaction)
        found = await self.job_for(interaction, job, action="show")
        refusal = show_refusal(found, now=self.queries.clock(), locale=locale)
        if refusal is not None:
            raise UserFacingError(refusal)
        await self.bot.services.reports.check_showable(found.id)
        channel = interaction.channel
        if not isinstance(channel, discord.abc.Messageable) or interaction.guild is None:
            raise UserFacingError(t(locale, "Results can only be shown in a server channel."))
        if not POSTABLE.is_subset(interaction.app_permissions):
            raise MissingBotPermissions(
                t(
                    locale,
                    "I can't post files here (I need View Channel, Send Messages and Attach "
                    "Files). Try another channel or ask a moderator.",
                )
            )
        if found.age_restricted is not False and not is_nsfw(channel):
            raise NotAllowed(age_refusal(found, locale))
        config = await self.bot.services.guild_settings.guild_config(interaction.guild.id)
        message_ids = await self.reposter.repost(
            found,
            channel,
            by=interaction.user.id,
            locale=locale,
            spoiler=interaction.channel_id in config.spoiler_channel_ids,
            catalog=self.bot.services.catalog,
        )
        url = jump_url(interaction.guild_id, interaction.channel_id or 0, message_ids[0])
        await reply(
            interaction, t(locale, "Posted job #{job_id} again: {url}", job_id=found.id, url=url)
        )

    @show.autocomplete("job")
    async def show_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Finished jobs whose result links still work: the caller's, and others' they
        moderate in a channel they can see."""
        return await self.choices(interaction, str(current), active=False)

    # -- shared --------------------------------------------------------------------------

    async def job_for(self, interaction: discord.Interaction, job_id: int, *, action: str) -> Job:
        """The job, if it is in this server and the caller may act on it; else a refusal.
        Another server's job reads as unknown, so ids leak nothing across servers."""
        locale = locale_of(interaction)
        job = await self.queries.in_guild(job_id, interaction.guild_id)
        if job is None:
            raise UserFacingError(
                t(locale, "There is no job #{job_id} in this server.", job_id=job_id)
            )
        allowed = can_manage(
            job,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            moderator=can_manage_jobs(interaction, job.channel_id),
        )
        if not allowed:
            raise NotAllowed(not_yours(job_id, action, locale))
        return job

    async def choices(
        self, interaction: discord.Interaction, typed: str, *, active: bool
    ) -> list[app_commands.Choice[int]]:
        """Autocomplete for ``job``: must answer within 3 s and must never raise (a
        failure would leave the member with an empty, spinning list)."""
        try:
            async with asyncio.timeout(AUTOCOMPLETE_BUDGET):
                return await self._choices(interaction, typed, active=active)
        except Exception:
            log.warning("job autocomplete failed", exc_info=True)
            return []

    async def _choices(
        self, interaction: discord.Interaction, typed: str, *, active: bool
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        user_id = interaction.user.id
        found = await self.queries.candidates(
            interaction.guild_id,
            user_id,
            typed,
            active=active,
            others=may_moderate(interaction),
            limit=CANDIDATES,
        )
        now = self.queries.clock()
        locale = locale_of(interaction)
        picked: list[app_commands.Choice[int]] = []
        for job in found:
            if not self.offered(interaction, job):
                continue
            usable = (
                job.state in CANCELLABLE
                if active
                else show_refusal(job, now=now, locale=locale) is None
            )
            if not usable or not matches(job, typed):
                continue
            owner_name = None if job.user_id == user_id else self.member_name(interaction, job)
            if active:
                label = choice_label(job, locale=locale, owner_name=owner_name)
            else:
                label = show_label(job, owner_name=owner_name)
            picked.append(app_commands.Choice(name=label, value=job.id))
            if len(picked) == MAX_CHOICES:
                break
        return picked

    def member_name(self, interaction: discord.Interaction, job: Job) -> str:
        member = interaction.guild.get_member(job.user_id) if interaction.guild else None
        if member is not None:
            return member.display_name
        return t(locale_of(interaction), "member {user_id}", user_id=job.user_id)

    def offered(self, interaction: discord.Interaction, job: Job) -> bool:
        """Whether autocomplete may list ``job``: the caller's own, or one they moderate
        in a channel they can see (no prompt from a channel hidden from them)."""
        if job.guild_id != interaction.guild_id:
            return False
        if job.user_id == interaction.user.id:
            return True
        return (
            can_manage_jobs(interaction, job.channel_id)
            and permissions_in(interaction, job.channel_id).view_channel
        )


def may_moderate(interaction: discord.Interaction) -> bool:
    """Whether the caller might moderate some job here (Manage Server, or Manage Messages
    in any cached channel), so autocomplete reads other members' jobs at all."""
    perms = interaction.permissions
    if perms.manage_guild or perms.manage_messages:
        return True
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):
        return False
    return any(channel.permissions_for(member).manage_messages for channel in guild.channels)


def age_refusal(job: Job, locale: str) -> str:
    """Why ``job`` cannot be shown outside an age-restricted channel."""
    if job.age_restricted is None:
        return t(
            locale,
            "Job #{job_id} may have been made in an age-restricted channel; it can only "
            "be shown in one.",
            job_id=job.id,
        )
    return t(
        locale,
        "Job #{job_id} was made in an age-restricted channel; it can only be shown in one.",
        job_id=job.id,
    )


async def setup(bot: AtelierBot) -> None:
    bot.add_dynamic_items(HistoryButton)
    await bot.add_cog(Jobs(bot))
