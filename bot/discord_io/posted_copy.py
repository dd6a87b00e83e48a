"""The bot's own posted copy of a job's result: once Max API's links have expired, the
result messages still hold the files, with fresh links each time they are fetched."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.domain.errors import UserFacingError
from bot.domain.job import Job
from bot.text.i18n import t
from bot.text.job_pages import copy_gone_text

log = logging.getLogger(__name__)


def links_expired(job: Job, now: float) -> bool:
    """Whether Max API's links to the job's result have expired."""
    return job.result_expires_at is not None and job.result_expires_at <= now


async def posted_files(guild: discord.Guild | None, job: Job) -> list[discord.Attachment]:
    """The files of the job's result messages, in order; empty when they are gone (or
    the bot can no longer read them)."""
    if guild is None or not job.result_message_ids:
        return []
    channel: Any = guild.get_channel_or_thread(job.channel_id)
    if channel is None:
        try:
            channel = await guild.fetch_channel(job.channel_id)
        except (discord.NotFound, discord.Forbidden):
            return []
    if not isinstance(channel, discord.abc.Messageable):
        return []
    files: list[discord.Attachment] = []
    for message_id in job.result_message_ids:
        try:
            message = await channel.fetch_message(message_id)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("job %s: result message %s unreadable: %s", job.id, message_id, exc)
            continue
        files += message.attachments
    return files


async def posted_copy_urls(guild: discord.Guild | None, job: Job, locale: str | None) -> list[str]:
    """Fresh links to the posted copy's files; refuses when the copy is gone too."""
    files = await posted_files(guild, job)
    if not files:
        raise UserFacingError(copy_gone_text(job.id, locale))
    log.info("job %s: using its posted copy (%d files)", job.id, len(files))
    return [f.url for f in files]


async def result_image_urls(
    guild: discord.Guild | None, job: Job, *, now: float, locale: str
) -> list[str]:
    """The result's image links for a follow-up (Variations, Animate, Upscale): Max API's,
    or once they expired (7 days), fresh links to the bot's own posted copy."""
    if (job.result_kind or job.media) != "image":
        raise UserFacingError(t(locale, "Only images can be varied or animated."))
    if not job.result_urls:
        raise UserFacingError(t(locale, "Job #{job_id} has no result yet.", job_id=job.id))
    if links_expired(job, now):
        return await posted_copy_urls(guild, job, locale)
    return list(job.result_urls)
