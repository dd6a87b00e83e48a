"""Jobs held for their member's Confirm: confirming one, and cancelling (with a refund)
those not confirmed in time. The hold itself is set when the job is accepted
(``bot.services.job_admission``) and the store never submits a held job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.catalog import ValidationError
from bot.domain.confirmation import EXPIRING
from bot.domain.errors import NotAllowed
from bot.domain.job import Job
from bot.domain.job_states import JobState as S
from bot.services.jobs import JobService

log = logging.getLogger(__name__)

#: How often each process looks for holds whose time ran out.
SWEEP_EVERY = 5.0

NOT_YOURS = "Only the member who started job #{job_id} can confirm it."
ALREADY_CONFIRMED = "Job #{job_id} is already confirmed."
WAS_CANCELLED = "Job #{job_id} was cancelled: nothing was charged."
WAS_EXPIRED = "Job #{job_id} was not confirmed within 2 minutes: nothing was charged."
NOT_CONFIRMED = "Not confirmed within 2 minutes: nothing was charged."


@dataclass(frozen=True, slots=True)
class ConfirmOutcome:
    """The job after a Confirm click; when it was not confirmed now, why (an English
    template with the field ``job_id``)."""

    job: Job
    confirmed: bool
    message: str = ""


class ConfirmationService:
    """Confirm and expire held jobs; every change is a compare-and-set in the store."""

    def __init__(
        self,
        jobs: JobService,
        *,
        clock: Callable[[], float] | None = None,
        every: float | None = None,
    ) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.clock = clock or jobs.clock
        self.every = SWEEP_EVERY if every is None else every

    async def confirm(self, job_id: int, user_id: int) -> ConfirmOutcome:
        """The owner's Confirm: release the hold (the caller then shows the card and
        submits). A second click, or one after Cancel or the deadline, changes nothing."""
        job = await self.store.get(job_id)
        if job is None:
            raise ValidationError("There is no job {job_id}.", job_id=job_id)
        if job.user_id != user_id:
            raise NotAllowed(NOT_YOURS, job_id=job_id)
        now = self.clock()
        released = await self.store.release_hold(job_id, now)
        if released is not None:
            log.info("job %s: confirmed by its member", job_id)
            return ConfirmOutcome(released, True)
        job = await self.store.get(job_id) or job
        if job.state == S.ACCEPTED and job.confirm_by is not None:  # late: the sweep has not run
            job = await self.expire(job) or job
        if job.confirm_by is None:
            return ConfirmOutcome(job, False, ALREADY_CONFIRMED)
        expired = job.confirm_by == EXPIRING
        return ConfirmOutcome(job, False, WAS_EXPIRED if expired else WAS_CANCELLED)

    async def expire(self, job: Job) -> Job | None:
        """Cancel and refund a held job whose time passed; ``None`` when another process
        or a click got there first."""
        now = self.clock()
        if job.confirm_by != EXPIRING:
            taken = await self.store.expire_hold(job.id, now, EXPIRING)
            if taken is None:
                return None
        moved = await self.store.transition(
            job.id,
            S.ACCEPTED,
            S.CANCELLED,
            "not confirmed in time",
            failure_message=NOT_CONFIRMED,
        )
        if moved is None:
            return None
        log.info("job %s: not confirmed in time; cancelled and refunded", job.id)
        await self.jobs.notify_listeners(moved)
        return moved

    async def expire_due(self) -> list[Job]:
        """Cancel every held job whose time passed; returns those this process cancelled."""
        done = []
        for job in await self.store.holds_past(self.clock()):
            moved = await self.expire(job)
            if moved is not None:
                done.append(moved)
        return done

    async def run(self) -> None:
        """Sweep every ``every`` seconds until cancelled (each process runs one)."""
        while True:
            try:
                await self.expire_due()
            except Exception:
                log.exception("could not cancel jobs left unconfirmed")
            await asyncio.sleep(self.every)
