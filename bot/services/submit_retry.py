"""Submits Max API answered busy: 429 or 503, so it created nothing.

Such a job goes back to ``accepted`` (it keeps its place in the server's queue) with the
time of its next try stored on its row, so a restart keeps the wait; it tries again after
``Retry-After``, else after 2, 4, 8 … s (at most 30), until its budget (2 minutes from the
first busy answer) runs out; then it ends refunded. An answer that leaves the outcome
unknown is never one of these: such a job is never sent twice (``AmbiguousSubmit``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot import maxapi
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.units import human_duration
from bot.services.tasks import Tasks

if TYPE_CHECKING:
    from bot.services.jobs import JobService

log = logging.getLogger(__name__)

S = JobState

#: How long a job may wait for a busy Max API, from its first busy answer.
BUSY_BUDGET = 120.0
FIRST_BACKOFF = 2.0
MAX_BACKOFF = 30.0
#: The reason of the event that sends a job back to wait (its count drives the backoff).
BUSY_EVENT = "max api busy"
BUSY_REASON = "MAX_API_BUSY"
GAVE_UP = "Max API stayed busy for {duration}; you were not charged. Try again later."


def is_busy(error: maxapi.MaxApiError) -> bool:
    """Whether a submit's error says Max API took nothing and may take it later."""
    return isinstance(error, maxapi.RateLimited | maxapi.Unavailable)


def busy_delay(retry_after: float | None, answers: int) -> float:
    """Seconds before the next try: Max API's ``Retry-After`` (at least 1 s) when it gave
    one, else 2, 4, 8 … capped at 30 (``answers``: busy answers the job had before)."""
    if retry_after is not None:
        return max(1.0, retry_after)  # "0" again and again must not become a busy loop
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(answers, 16))


def next_try(
    now: float, since: float, budget: float, retry_after: float | None, answers: int
) -> float | None:
    """When to try again, or ``None`` to give up: the budget is spent, or Max API asks
    for a wait beyond it. A backoff is cut short to make one last try at the budget's end."""
    deadline = since + budget
    delay = busy_delay(retry_after, answers)
    if now >= deadline or (retry_after is not None and now + delay > deadline):
        return None
    return min(now + delay, deadline)


class BusyRetry:
    """The waits of one job service's busy submits; the wait itself is in the store."""

    def __init__(self, jobs: JobService, budget: float = BUSY_BUDGET) -> None:
        self.jobs = jobs
        self.budget = budget
        self._waits = Tasks()

    async def later(self, job_id: int) -> Job | None:
        """The job if it must still wait for its next try (its wake-up is then set), else
        ``None``: it may be sent now (or it is not waiting at all)."""
        job = await self.jobs.store.get(job_id)
        if job is None or job.state != S.ACCEPTED or job.submit_after is None:
            return None
        delay = job.submit_after - self.jobs.clock()
        if delay <= 0:
            return None
        self._wake_after(job.id, delay)
        return job

    async def answered(self, job: Job, error: maxapi.MaxApiError) -> Job:
        """Max API answered ``job``'s submit busy: send it back to wait, or end it
        refunded when its budget is spent."""
        now = self.jobs.clock()
        since = job.busy_since or now
        events = await self.jobs.store.events(job.id)
        answers = sum(1 for event in events if event.reason == BUSY_EVENT)
        retry_after = getattr(error, "retry_after", None)
        at = next_try(now, since, self.budget, retry_after, answers)
        if at is None:
            log.info("job %s: Max API stayed busy since %.0f s ago; giving up", job.id, now - since)
            return await self.jobs.move(
                job,
                S.SUBMITTING,
                S.REJECTED,
                "max api stayed busy",
                failure_reason=BUSY_REASON,
                failure_message=GAVE_UP,
                failure_fields={"duration": human_duration(self.budget)},
                submit_after=None,
            )
        log.info("job %s: Max API busy (%s); next try in %.1f s", job.id, error, at - now)
        waiting = await self.jobs.move(
            job, S.SUBMITTING, S.ACCEPTED, BUSY_EVENT, submit_after=at, busy_since=since
        )
        if waiting.state == S.ACCEPTED:
            self._wake_after(job.id, at - now)
        return waiting

    async def close(self) -> None:
        """Stop waiting (the times are stored: the next start resumes them)."""
        await self._waits.close()

    def _wake_after(self, job_id: int, delay: float) -> None:
        self._waits.spawn(self._wake(job_id, delay), name=f"submit-wait-{job_id}")

    async def _wake(self, job_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        job = await self.jobs.store.get(job_id)
        if job is not None and job.state == S.ACCEPTED:  # not cancelled meanwhile
            self.jobs.submit_soon(job)
