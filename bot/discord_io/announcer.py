"""Tell a member when their job ends without a result, and why.

A :class:`~bot.services.jobs.JobListener`: on ``rejected``, ``failed``, ``cancelled`` (by Max
API), ``expired``, ``undeliverable`` and ``lost`` it posts one short message in the
job's channel that mentions only the requester. It posts through the channel, never
the interaction token (which dies after 15 minutes), and at most once per job: the
compare-and-set in the store guarantees each ending is reported by one transition.
A job started from a slash command has a progress card instead, which is edited to show
its ending; this module speaks only for jobs without one (or whose card was deleted).

The text is built by :func:`ending_text` from the job alone, so it can be tested and
reused by the progress message. The prompt in it is escaped: it is the member's text
posted in the bot's voice, so no masked link or mention of theirs may render.
"""

from __future__ import annotations

import logging

import discord

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.i18n import t
from bot.text.markdown import escape_markdown
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
    """One message for a job that ended without a result, or ``None`` for other states.
    It speaks to the requester, so it is in their locale (as their progress card is)."""
    title = TITLES.get(job.state)
    if title is None:
        return None
    locale = job.locale
    reason, charge = failure_text(job, locale)
    prompt = job.prompt if len(job.prompt) <= 80 else job.prompt[:79] + "…"
    prompt = discord.utils.escape_mentions(escape_markdown(prompt))
    return t(
        locale,
        "<@{user_id}> your {media} job #{job_id} ({prompt}) {title}. {reason}{charge}",
        user_id=job.user_id,
        media=t(locale, job.media),
        job_id=job.id,
        prompt=prompt,
        title=t(locale, title),
        reason=reason,
        charge=charge,
    )


class Announcer:
    """Posts :func:`ending_text` into the job's channel and records that it did.

    The post carries a fixed nonce per job, so if a crash lands between the post and
    the record, the re-told notice at start-up is dropped by Discord as a duplicate
    (within its dedupe window). A channel that is gone or refuses us for good counts as
    told: nobody can be told there, and retrying would only collect 403s.
    """

    def __init__(self, client: discord.Client, store: Store) -> None:
        self.client = client
        self.store = store

    async def job_changed(self, job: Job) -> None:
        text = ending_text(job)
        if text is None or job.ending_told_at is not None:
            return
        if job.progress_message_id is not None:
            return  # its card shows the ending (progress_updater.py): no second message
        if job.state == S.UNDELIVERABLE:
            # The channel refused us, so posting there would fail too.
            await self.store.update(job.id, ending_told_at=self.store.clock())
            return
        try:
            channel = self.client.get_channel(job.channel_id) or await self.client.fetch_channel(
                job.channel_id
            )
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(
                    text[:2000], allowed_mentions=owner_only(job), nonce=notice_nonce(job)
                )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("job %s: cannot report its end here, for good: %s", job.id, exc)
        except discord.HTTPException as exc:
            # Transient: left untold, so the next start-up tells it.
            log.warning("job %s: could not report its end: %s", job.id, exc)
            return
        await self.store.update(job.id, ending_told_at=self.store.clock())


def owner_only(job: Job) -> discord.AllowedMentions:
    """Mentions for an ending notice: its owner, and explicitly nobody else (the bot-wide
    default is none, but an explicit object must not lean on a merge with it)."""
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(job.user_id)], roles=False, replied_user=False
    )


def notice_nonce(job: Job) -> str:
    """The same nonce for every attempt at one job's notice (≤ 25 characters)."""
    return f"atl-end-{job.id}"[:25]
