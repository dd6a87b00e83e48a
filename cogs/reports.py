"""Reports: the Report button under a result, and Keep / Remove on the review post in
the audit channel. Every ``atelier:<action>:<job id>`` click reaches ``cogs/buttons.py``,
which hands ``report``, ``keep`` and ``remove`` here; the review is read from the store on
each click, so the buttons keep working after a restart."""

from __future__ import annotations

import logging

import discord

from bot.discord_io.button_actions import ButtonActions, Handler
from bot.discord_io.client import AtelierBot
from bot.discord_io.report_review import (
    decided_embed,
    delete_results,
    review_embed,
    review_view,
    set_spoiler,
)
from bot.discord_io.ui import channel_of, is_moderator, locale_of, reply
from bot.domain.errors import NotAllowed, UserFacingError
from bot.domain.job import Job
from bot.services.reports import Decision
from bot.text.i18n import t

log = logging.getLogger(__name__)


#: What a member who reports a result already under review (or decided) is told.
ALREADY = {
    "pending": "Thanks. This result is already hidden and waiting for a moderator's decision.",
    "kept": "Thanks. Moderators already reviewed this result and kept it; your report is noted.",
    "removed": "Moderators already removed this result.",
}


def guild_locale(interaction: discord.Interaction) -> str:
    """The server's language, for what the moderators read in the audit channel."""
    return str(interaction.guild_locale or "en-US")


class ReportButtons(ButtonActions):
    """Report, Keep and Remove."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.reports = bot.services.reports
        self.guild_settings = bot.services.guild_settings

    def actions(self) -> dict[str, Handler]:
        return {"report": self.report, "keep": self.keep, "remove": self.remove}

    # -- Report ------------------------------------------------------------------------

    async def report(self, interaction: discord.Interaction, job: Job) -> None:
        """Anyone, once per result: the first report hides it and tells the moderators."""
        locale = locale_of(interaction)
        reported = await self.reports.report(job, interaction.user.id)
        if not reported.opened:
            await reply(interaction, t(locale, ALREADY[reported.review.state]))
            return
        # Uploading the files again takes a while: answer first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await set_spoiler(self.bot, job, True)
        except discord.HTTPException as exc:
            log.warning("job %s: could not hide the reported result: %s", job.id, exc)
        posted = await self.post_review(interaction, job)
        if posted is None:
            text = (
                "Thanks for the report. The result is now hidden behind a spoiler. This "
                "server has no audit channel, so no moderator was told: ask one if it should "
                "be removed."
            )
        elif not posted:
            text = (
                "Thanks for the report. The result is now hidden behind a spoiler, but I "
                "couldn't post it in the audit channel: ask a moderator to look at it."
            )
        else:
            text = (
                "Thanks for the report. The result is now hidden behind a spoiler, and the "
                "moderators will decide whether it stays."
            )
        await reply(interaction, t(locale, text))

    async def post_review(self, interaction: discord.Interaction, job: Job) -> bool | None:
        """Post the review with Keep / Remove in the audit channel; ``None``: there is none."""
        config = await self.guild_settings.guild_config(job.guild_id or 0)
        if config.audit_channel_id is None:
            return None
        locale = guild_locale(interaction)
        try:
            channel = await channel_of(self.bot, config.audit_channel_id)
            message = await channel.send(
                embed=review_embed(job, interaction.user.id, locale),
                view=review_view(job.id, locale),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("job %s: could not post the report for review: %s", job.id, exc)
            return False
        await self.reports.posted(job.id, message.channel.id, message.id)
        return True

    # -- Keep, Remove ------------------------------------------------------------------

    async def keep(self, interaction: discord.Interaction, job: Job) -> None:
        await self.decide(interaction, job, "kept")

    async def remove(self, interaction: discord.Interaction, job: Job) -> None:
        await self.decide(interaction, job, "removed")

    async def decide(self, interaction: discord.Interaction, job: Job, decision: Decision) -> None:
        """A moderator's decision, once: Keep shows the result again, Remove deletes it."""
        locale = locale_of(interaction)
        if not is_moderator(interaction):
            raise NotAllowed("Only moderators (Manage Server) can decide on a report.")
        review = await self.reports.review(job.id)
        clicked = interaction.message.id if interaction.message is not None else None
        if review is None or review.message_id not in (None, clicked):
            raise UserFacingError("Job #{job_id} has no report to decide here.", job_id=job.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not await self.reports.decide(job, interaction.user.id, decision):
            review = await self.reports.review(job.id) or review
            said = {
                "kept": "This report was already decided: the result was kept.",
                "removed": "This report was already decided: the result was removed.",
            }
            await reply(interaction, t(locale, said.get(review.state, said["kept"])))
            return
        kept = decision == "kept"
        config = await self.guild_settings.guild_config(job.guild_id or 0)
        try:
            if not kept:
                await delete_results(self.bot, job)
            elif job.channel_id not in config.spoiler_channel_ids:
                await set_spoiler(self.bot, job, False)
        except discord.HTTPException as exc:
            log.warning("job %s: could not apply the decision %s: %s", job.id, decision, exc)
        await self.close_review(interaction, job, kept)
        if kept:
            text = t(locale, "Kept: the result of job #{job_id} is shown again.", job_id=job.id)
        else:
            text = t(locale, "Removed: the result of job #{job_id} was deleted.", job_id=job.id)
        await reply(interaction, text)

    async def close_review(self, interaction: discord.Interaction, job: Job, kept: bool) -> None:
        """The review post: the decision on top, no buttons."""
        message = interaction.message
        if message is None:
            return
        if message.embeds:
            embed = discord.Embed.from_dict(message.embeds[0].to_dict())
        else:
            embed = review_embed(job, 0, guild_locale(interaction))
        at = self.reports.clock()
        embed = decided_embed(embed, kept, interaction.user.id, at, guild_locale(interaction))
        try:
            await message.edit(embed=embed, view=None)
        except discord.HTTPException as exc:
            log.warning("job %s: could not close the review post: %s", job.id, exc)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(ReportButtons(bot))
