"""``/jobs``, ``/cancel job`` and ``/show job``: a member's own jobs, and moderators'.

Thin on purpose: the text comes from :mod:`bot.text.job_pages`, cancelling from
:meth:`bot.services.jobs.JobService.cancel`, and ``/show`` reuses delivery's download and
message planning. Rights are checked when a command runs, never trusted from the
client: an autocomplete value is only a suggestion, and ``default_permissions`` can be
overridden by a server's admins. Moderator of a job = Manage Server, or Manage Messages
in the job's own channel; autocomplete offers other members' jobs only from channels
the caller can see.

The Cancel buttons on ``/jobs`` carry ``atelier:cancel:<job id>``; the persistent
handler for that id (registered in ``setup_hook``) answers the clicks, so the view sent
here is only their layout and is not kept in discord.py's view store.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from pathlib import Path

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.delivery import DeliveryConfig, build_result_message, fetch_result, is_too_large
from bot.discord_io.delivery_plan import (
    MAX_CONTENT,
    MessagePlan,
    Outcome,
    ResultFile,
    plan_messages,
)
from bot.discord_io.launch import is_nsfw
from bot.discord_io.ui import (
    INFO_COLOUR,
    can_manage_jobs,
    custom_id,
    locale_of,
    permissions_in,
    reply,
)
from bot.domain.errors import MissingBotPermissions, NotAllowed, UserFacingError
from bot.domain.job import Job
from bot.maxapi import download as dl
from bot.text.i18n import t
from bot.text.job_pages import (
    CANCELLABLE,
    MAX_BUTTONS,
    RECENT_LIMIT,
    can_manage,
    cancel_label,
    cancel_text,
    choice_label,
    jump_url,
    matches,
    not_yours,
    overview,
    show_refusal,
    shown_by,
)

log = logging.getLogger(__name__)

#: Autocomplete cannot be deferred: give up (no choices) well inside its 3 seconds.
AUTOCOMPLETE_BUDGET = 2.0
ACTIVE_LIMIT = MAX_BUTTONS + 5  # a few more than the buttons, so the overflow is seen
CANDIDATES = 100  # jobs read for one autocomplete answer, before filtering
MAX_CHOICES = 25
SHOW_CONCURRENCY = 2  # re-posts downloading at once (disk and bandwidth)
POSTABLE = discord.Permissions(view_channel=True, send_messages=True, attach_files=True)


def cancel_buttons(job_ids: tuple[int, ...], locale: str | None) -> discord.ui.View | None:
    """Up to 25 Cancel buttons, five to a row. The view is stopped before it is sent:
    the persistent ``atelier:cancel:<id>`` handler answers the clicks, after a restart
    too, so discord.py must not route them to this short-lived view as well."""
    if not job_ids:
        return None
    view = discord.ui.View(timeout=None)
    for index, job_id in enumerate(job_ids[:MAX_BUTTONS]):
        view.add_item(
            discord.ui.Button(
                label=cancel_label(job_id, locale),
                style=discord.ButtonStyle.danger,
                custom_id=custom_id("cancel", job_id),
                row=index // 5,
            )
        )
    view.stop()
    return view


class Jobs(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.service = bot.services.jobs
        self.queries = bot.services.queries
        self.config = DeliveryConfig.for_api(bot.services.settings.maxapi_base_url)
        self._downloads: aiohttp.ClientSession | None = None
        self._show_slots = asyncio.Semaphore(SHOW_CONCURRENCY)

    async def cog_unload(self) -> None:
        if self._downloads is not None:
            await self._downloads.close()
            self._downloads = None

    # -- /jobs -----------------------------------------------------------------------

    @app_commands.command(name="jobs", description="Your active and recent jobs, with Cancel")
    @app_commands.guild_only()
    async def jobs(self, interaction: discord.Interaction) -> None:
        # Acknowledge before reading: the database thread is shared with the poller and
        # delivery, so a read can wait behind their writes; the deferral does not.
        await interaction.response.defer(ephemeral=True, thinking=True)
        active, recent = await self.queries.mine(
            interaction.guild_id,
            interaction.user.id,
            active_limit=ACTIVE_LIMIT,
            recent_limit=RECENT_LIMIT,
        )
        locale = locale_of(interaction)
        shown = overview(active, recent, now=self.queries.clock(), locale=locale)
        embed = discord.Embed(
            title=t(locale, "Your jobs"), description=shown.description, colour=INFO_COLOUR
        )
        await reply(interaction, embed=embed, view=cancel_buttons(shown.cancel_ids, locale))

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
        message_ids = await self.repost(found, channel, interaction, locale)
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
            label = choice_label(job, locale=locale, owner_name=owner_name)
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

    # -- re-posting a result -----------------------------------------------------------

    def downloads(self) -> aiohttp.ClientSession:
        """A session that refuses private addresses, like delivery's (opened on first use)."""
        if self._downloads is None or self._downloads.closed:
            self._downloads = dl.download_session(self.config.allowed_hosts)
        return self._downloads

    async def repost(
        self,
        job: Job,
        channel: discord.abc.Messageable,
        interaction: discord.Interaction,
        locale: str,
    ) -> list[int]:
        """Download the job's files again and post them as new messages in ``channel``.
        The job itself is not touched: this is not a delivery."""
        assert interaction.guild is not None
        limit = interaction.guild.filesize_limit
        cap = min(limit, self.config.max_download_bytes)
        async with self._show_slots:
            workdir = Path(
                await asyncio.to_thread(tempfile.mkdtemp, prefix=f"atelier-show{job.id}-")
            )
            try:
                results = await asyncio.gather(
                    *(
                        self.fetch(job.id, i, url, workdir, cap)
                        for i, url in enumerate(job.result_urls)
                    )
                )
                if all(r.outcome == Outcome.GONE for r in results):
                    raise UserFacingError(
                        t(
                            locale,
                            "Max API no longer has the files of job #{job_id}.",
                            job_id=job.id,
                        )
                    )
                plans = plan_messages(results, url_count=len(job.result_urls), upload_limit=limit)
                nonce = f"show{job.id}-{secrets.token_hex(3)}"
                return [
                    await self.post(channel, job, plan, f"{nonce}-{plan.part}"[:25], interaction)
                    for plan in plans
                ]
            finally:
                await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def fetch(self, job_id: int, index: int, url: str, workdir: Path, cap: int) -> ResultFile:
        """One result file, or what became of it (the same outcomes as delivery's)."""
        try:
            return await fetch_result(
                self.downloads(), self.config, job_id, index, url, workdir, cap
            )
        except dl.NetworkError as exc:
            log.info("job %s: /show could not fetch result %d: %s", job_id, index + 1, exc)
            return ResultFile(index, url, Outcome.UNREACHABLE)

    async def post(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        plan: MessagePlan,
        nonce: str,
        interaction: discord.Interaction,
    ) -> int:
        """One message of the re-post, mentioning nobody; a file Discord refuses as too
        large becomes a link, as in delivery. No Delete button: it deletes only the job's
        own messages, and a re-post is not recorded as one."""
        locale = locale_of(interaction)
        while True:
            message = build_result_message(job, plan, nonce=nonce)
            message.allowed_mentions = discord.AllowedMentions.none()
            if message.view is not None:
                for item in list(message.view.children):
                    if getattr(item, "custom_id", None) == custom_id("delete", job.id):
                        message.view.remove_item(item)
            head = shown_by(interaction.user.id, locale)
            if len(head) + 1 + len(message.content) <= MAX_CONTENT:
                message.content = f"{head}\n{message.content}"
            try:
                sent = await channel.send(**message.send_kwargs())
            except discord.HTTPException as exc:
                if is_too_large(exc) and plan.attachments:
                    plan = plan.without_largest_attachment()
                    continue
                if isinstance(exc, discord.Forbidden | discord.NotFound):
                    raise MissingBotPermissions(
                        t(locale, "Discord refused the post here (code {code}).", code=exc.code)
                    ) from exc
                raise
            finally:
                message.close()
            return sent.id


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
    await bot.add_cog(Jobs(bot))
