"""Reports of results (once per member and result, then a moderator's Keep or Remove),
spoiler channels and the adult switch: the rules, without Discord."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.job import Job
from bot.services.audit import AuditLog, target_for
from bot.services.guild_settings import Change, audited
from bot.store import Store
from bot.text.i18n import t

ReviewState = Literal["pending", "kept", "removed"]
Decision = Literal["kept", "removed"]


@dataclass(frozen=True, slots=True)
class Review:
    """The moderators' review of a reported job, and where it was posted."""

    job_id: int
    state: ReviewState
    channel_id: int | None = None
    message_id: int | None = None
    decided_by: int | None = None


@dataclass(frozen=True, slots=True)
class Reported:
    """A member's report: ``opened`` when it started the review (hide the result, tell
    the moderators); ``review`` as it stands after the report."""

    opened: bool
    review: Review


class ReportService:
    """Members' reports, the moderators' decisions, and the content settings."""

    def __init__(self, store: Store, audit: AuditLog, clock: Callable[[], float] = time.time):
        self.store = store
        self.audit = audit
        self.clock = clock

    async def report(self, job: Job, user_id: int) -> Reported:
        """Record ``user_id``'s report of ``job``'s result; a second one is refused."""
        first, opened = await self.store.add_report(job.id, user_id, job.guild_id, self.clock())
        if not first:
            raise UserFacingError("You already reported this result.")
        review = await self.review(job.id)
        assert review is not None  # opened now or earlier, and never deleted
        return Reported(opened, review)

    async def review(self, job_id: int) -> Review | None:
        row = await self.store.review(job_id)
        if row is None:
            return None
        return Review(
            job_id=job_id,
            state=row["state"],
            channel_id=row["channel_id"],
            message_id=row["message_id"],
            decided_by=row["decided_by"],
        )

    async def check_showable(self, job_id: int) -> None:
        """Refuse ``/show`` of a result under review (it is hidden) or removed."""
        review = await self.review(job_id)
        if review is not None and review.state == "pending":
            raise UserFacingError(
                "Job #{job_id} was reported and waits for a moderator's decision, so it "
                "can't be shown now.",
                job_id=job_id,
            )
        if review is not None and review.state == "removed":
            raise UserFacingError(
                "Moderators removed the result of job #{job_id}, so it can't be shown again.",
                job_id=job_id,
            )

    async def posted(self, job_id: int, channel_id: int, message_id: int) -> None:
        """The review's post in the audit channel (its buttons decide it)."""
        await self.store.set_review_post(job_id, channel_id, message_id)

    async def decide(self, job: Job, moderator_id: int, decision: Decision) -> bool:
        """Keep or remove a reported result, once; ``False``: already decided."""
        if not await self.store.decide_review(job.id, decision, moderator_id, self.clock()):
            return False
        verb = "kept" if decision == "kept" else "removed"
        await self.audit.change(
            job.guild_id or 0,
            moderator_id,
            f"report.{'keep' if decision == 'kept' else 'remove'}",
            target_for("user", job.user_id),
            f"job #{job.id}: the reported result was {verb}",
            job_id=job.id,
        )
        return True

    # -- content settings ------------------------------------------------------------------

    async def set_spoiler_channel(
        self, guild_id: int, actor_id: int, channel_id: int, on: bool, locale: str | None
    ) -> Change:
        """Make every result posted in ``channel_id`` a spoiler (``on``), or stop."""
        channel = f"<#{channel_id}>"

        def edit(config: GuildConfig) -> dict[str, frozenset[int]]:
            ids = config.spoiler_channel_ids
            return {"spoiler_channel_ids": ids | {channel_id} if on else ids - {channel_id}}

        updated = await self.store.edit_guild_config(guild_id, edit)

        def summary(loc: str | None) -> str:
            if on:
                return t(loc, "results posted in {channel} are now spoilers", channel=channel)
            return t(loc, "results posted in {channel} are no longer spoilers", channel=channel)

        return await audited(
            self.audit,
            guild_id,
            actor_id,
            "settings.spoiler",
            updated,
            summary,
            locale,
            target=target_for("channel", channel_id),
            spoiler=on,
        )

    async def set_adult(
        self, guild_id: int, actor_id: int, allowed: bool, locale: str | None
    ) -> Change:
        """Allow adult option values (in age-restricted channels), or refuse them everywhere."""
        updated = await self.store.update_guild_config(guild_id, adult_allowed=allowed)

        def summary(loc: str | None) -> str:
            if allowed:
                return t(
                    loc,
                    "adult values (such as Grok's spicy mode) are allowed again "
                    "in age-restricted channels",
                )
            return t(loc, "adult values (such as Grok's spicy mode) are refused everywhere")

        return await audited(
            self.audit,
            guild_id,
            actor_id,
            "settings.adult",
            updated,
            summary,
            locale,
            adult_allowed=allowed,
        )
