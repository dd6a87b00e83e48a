"""Notify a member, in the job's channel, when their job ends without a result, and why.

Only for jobs without a progress card (a card shows its own ending). The message
mentions only the owner and is posted at most once per job.
"""

from __future__ import annotations

import logging

import discord

from bot.discord_io.ui import channel_of, shown_prompt
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.i18n import t
from bot.text.progress_card import failure_text

log = logging.getLogger(__name__)

S = JobState

TITLES: dict[JobState, str] = {
    S.REJECTED: "was refused by Max API",
    S.FAILED: "failed",
    S.CANCELLED: "was cancelled",
    S.EXPIRED: "expired",
    S.UNDELIVERABLE: "could not be posted",
    S.LOST: "was lost",
}


def ending_text(job: Job) -> str | None:
    """The notice for a job that ended without a result, in its owner's language (``None``
    for other states). The prompt is escaped so no link or mention of theirs renders."""
    title = TITLES.get(job.state)
    if title is None:
        return None
    locale = job.locale
    reason, charge = failure_text(job, locale)
    return t(
        locale,
        "<@{user_id}> your {media} job #{job_id} ({prompt}) {title}. {reason}{charge}",
        user_id=job.user_id,
        media=t(locale, job.media),
        job_id=job.id,
        prompt=shown_prompt(job.prompt),
        title=t(locale, title),
        reason=reason,
        charge=charge,
    )


class Announcer:
    """A job listener that posts :func:`ending_text` in the job's channel and records it.

    A fixed nonce per job lets Discord drop a second post after a crash; a channel that
    is gone or refuses the bot for good counts as notified, since a retry cannot succeed."""

    def __init__(self, client: discord.Client, store: Store) -> None:
        self.client = client
        self.store = store

    async def job_changed(self, job: Job) -> None:
        text = ending_text(job)
        if text is None or job.ending_told_at is not None or job.progress_message_id is not None:
            return  # nothing to say, already posted, or its card shows the ending
        if job.confirm_by is not None:
            return  # ended while held for Confirm: its private question says so
        # An undeliverable job's channel refused the bot, so a post there would fail too.
        if job.state != S.UNDELIVERABLE:
            try:
                channel = await channel_of(self.client, job.channel_id)
                if isinstance(channel, discord.abc.Messageable):
                    await channel.send(
                        text[:2000], allowed_mentions=owner_only(job), nonce=notice_nonce(job)
                    )
            except (discord.Forbidden, discord.NotFound) as exc:
                log.warning("job %s: cannot report its end here, for good: %s", job.id, exc)
            except discord.HTTPException as exc:
                # Transient: left unrecorded, so the next start-up posts it again.
                log.warning("job %s: could not report its end: %s", job.id, exc)
                return
        await self.store.update(job.id, ending_told_at=self.store.clock())


def owner_only(job: Job) -> discord.AllowedMentions:
    """Mentions for an ending notice: its owner and, explicitly, nobody else (an explicit
    object must not rely on being merged with the bot-wide default)."""
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(job.user_id)], roles=False, replied_user=False
    )


def notice_nonce(job: Job) -> str:
    """The same nonce for every attempt at one job's notice (≤ 25 characters)."""
    return f"atl-end-{job.id}"[:25]
