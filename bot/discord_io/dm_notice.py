"""Tell a member by DM that a long job of theirs ended (``/prefer set notify:dm``).

A job listener: when a job that ran longer than two minutes ends in any way, its owner
gets one DM with the ending and a jump link to the result (or the card, or the channel).
The DM is claimed on the job (compare-and-set) before it is sent, so several processes
and restarts send it at most once; a member whose DMs refuse the bot (50007) is
remembered and not tried again. A DM that fails never changes the job."""

from __future__ import annotations

import logging

import discord

from bot.discord_io.announcer import TITLES
from bot.discord_io.ui import shown_prompt
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.services.preferences import PreferenceService
from bot.text.i18n import t
from bot.text.job_pages import channel_url, jump_url

log = logging.getLogger(__name__)

#: Discord: "Cannot send messages to this user" (DMs closed, or no shared server).
DMS_CLOSED = 50007
ENDINGS = {JobState.DELIVERED: "is ready", **TITLES}


def jump_link(job: Job) -> str:
    """The result's message, else the progress card, else the channel."""
    message_id = job.result_message_ids[0] if job.result_message_ids else job.progress_message_id
    if message_id:
        return jump_url(job.guild_id, job.channel_id, message_id)
    return channel_url(job.guild_id, job.channel_id)


def dm_text(job: Job) -> str:
    """One sentence in the owner's language: which job, how it ended, and where."""
    locale = job.locale
    return t(
        locale,
        "Your {media} job #{job_id} ({prompt}) {ending}: {link}",
        media=t(locale, job.media),
        job_id=job.id,
        prompt=shown_prompt(job.prompt),
        ending=t(locale, ENDINGS.get(job.state, "ended")),
        link=jump_link(job),
    )


class DmNotice:
    """Listens to the job service; sends the DM of a long job's end, once."""

    def __init__(self, client: discord.Client, preferences: PreferenceService) -> None:
        self.client = client
        self.preferences = preferences

    async def job_changed(self, job: Job) -> None:
        if not job.state.is_terminal:
            return
        try:
            if not await self.preferences.wants_dm(job):
                return
            if not await self.preferences.claim_dm(job):
                return  # another process or an earlier call has it
            await self._send(job)
        except Exception:  # a DM never affects the job
            log.warning("job %s: could not send its DM notice", job.id, exc_info=True)

    async def _send(self, job: Job) -> None:
        try:
            channel = await self.client.create_dm(discord.Object(job.user_id))
            await channel.send(dm_text(job)[:2000], allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            if exc.code == DMS_CLOSED:
                await self.preferences.dms_closed(job.user_id)
            log.info("job %s: DM to its owner refused: %s", job.id, exc)
