"""Answering an interaction with a job's public progress card, then submitting the job:
the same steps for a command (``launch``) and a Confirm click (``confirm_prompt``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.job import Job
from bot.services.jobs import JobService

if TYPE_CHECKING:
    from bot.discord_io.client import Services

log = logging.getLogger(__name__)


async def drop_unseen(jobs: JobService, job: Job, why: str) -> None:
    """Nobody saw this job's answer: cancel it before it reaches Max API (no charge)."""
    try:
        await jobs.cancel(job.id, why)
    except Exception:
        log.exception("job %s: could not drop it after a failed answer", job.id)


async def send_card(
    services: Services, interaction: discord.Interaction, job: Job, *, why: str
) -> Any:
    """Answer ``interaction`` with the job's card; if that fails the job is dropped
    (``why``) and the error raised again. Returns discord.py's callback response."""
    embed, view = await services.progress.render(job)
    kwargs: dict[str, Any] = {"embed": embed, "allowed_mentions": discord.AllowedMentions.none()}
    if view is not None:
        kwargs["view"] = view
    try:
        return await interaction.response.send_message(**kwargs)
    except Exception:
        await drop_unseen(services.jobs, job, why)
        raise


async def follow_and_submit(
    services: Services, interaction: discord.Interaction, job: Job, answer: Any
) -> Job:
    """Note the card's message (so progress edits it) and submit the job."""
    message_id = answer.message_id if answer is not None else None
    if message_id is None:
        try:
            message_id = (await interaction.original_response()).id
        except discord.HTTPException as exc:
            # The member saw the card: run the job anyway; only its card stays still.
            log.warning("job %s: no id for its card (%s); it will not be edited", job.id, exc)
    if message_id is not None:
        job = await services.progress.posted(job, message_id)
    services.jobs.submit_soon(job)
    return job
