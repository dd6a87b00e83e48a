"""The job service: accept, submit, follow and cancel jobs.

Each step records the job's new state through the store's compare-and-set transition
before the next starts, so a restart resumes every job and two racing paths never both act.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from bot import maxapi
from bot.domain.catalog import Catalog, GenerationRequest, Model, ValidationError
from bot.domain.errors import NOT_SERVED, NotAllowed, UserFacingError, mark_audited
from bot.domain.job import Job
from bot.domain.job_states import (
    CANCEL_CHARGED,
    UPSTREAM,
    JobState,
    can_move,
    cancel_refunds,
    state_for_upstream,
)
from bot.domain.poll_schedule import PollSchedule
from bot.domain.quota import OperatorCap
from bot.domain.units import human_duration
from bot.services import cluster
from bot.services.audit import AuditLog
from bot.services.cluster import new_process_id, take_over_orphans
from bot.services.job_admission import admit, job_row, reserve
from bot.services.job_messages import (
    ALREADY_ENDED,
    CHARGED_CANCEL_ANSWERS,
    CHARGED_CANCEL_REASONS,
    HAD_ENDED,
    TOO_OLD_MESSAGE,
    rejection,
    upstream_failure,
)
from bot.services.submit_retry import BusyRetry, is_busy
from bot.services.tasks import Tasks, notify
from bot.store import Store

log = logging.getLogger(__name__)

S = JobState
RESULT_LIFETIME = 7 * 24 * 3600  # Max API keeps result files for 7 days
#: At start-up, owners not yet notified of an ending are notified if it is this recent.
NOTIFY_ENDINGS_WITHIN = 2 * 24 * 3600


class JobListener(Protocol):
    """Notified after every state change (the Discord side edits cards, posts endings)."""

    async def job_changed(self, job: Job) -> None: ...


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, and where: plain values taken from the interaction."""

    guild_id: int | None
    channel_id: int
    user_id: int
    locale: str | None = None
    application_id: int | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    #: The interaction's id: a second session receiving the same one creates no job.
    interaction_id: int | None = None
    role_ids: tuple[int, ...] = ()
    #: Whether the channel (for a thread: its parent) is age-restricted; ``None``: unknown.
    age_restricted: bool | None = None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """The job after a cancel, whether it was cancelled, and the answer as an English
    template (fields: ``job_id``, ``state``) that ``bot.text.job_pages`` translates."""

    job: Job
    cancelled: bool
    message: str


class JobService:
    """The one way jobs start, move and end: for the cogs, the poller, callbacks and buttons."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        api: maxapi.MaxApiClient,
        *,
        audit: AuditLog | None = None,
        schedule: PollSchedule | None = None,
        callback_base_url: str | None = None,
        clock: Callable[[], float] = time.time,
        allowed_guild_ids: frozenset[int] | None = None,
        operator_cap: OperatorCap | None = None,
        cancel_refunds: str = "pending",
        process_id: str | None = None,
    ) -> None:
        self.store = store
        #: This process among those sharing the store: it owns the jobs it accepts.
        self.process_id = process_id or new_process_id()
        self.catalog = catalog
        self.api = api
        self.audit = audit or AuditLog(store)
        self.schedule = schedule or PollSchedule()
        self.callback_base_url = callback_base_url
        self.clock = clock
        self.allowed_guild_ids = allowed_guild_ids  # servers that may spend; None: all
        self.operator_cap = operator_cap or OperatorCap()
        self.cancel_refunds = cancel_refunds  # CANCEL_REFUNDS: which cancels refund
        self.listeners: list[JobListener] = []
        # Set by the runtime: a poll time was just set (None: one may be due now).
        self.wake_poller: Callable[[float | None], None] = lambda at: None
        self.wake_delivery: Callable[[], None] = lambda: None
        self.accepted: Callable[[Job], Job] = lambda job: job  # after each accept (budget alerts)
        self._tasks = Tasks()
        self.busy = BusyRetry(self)  # submits Max API answered busy (429, 503) wait here

    # -- accept & submit ------------------------------------------------------------

    async def accept(
        self,
        request: GenerationRequest,
        requester: Requester,
        *,
        parent_job_id: int | None = None,
        action: str | None = None,
    ) -> Job:
        """Check the server's rules, validate, reserve quota and record the job as accepted.

        No network call, so the caller can answer the interaction right after. A refusal
        raises UserFacingError or ValidationError, is audited, and costs nothing."""
        config = await self.store.guild_config(requester.guild_id or 0)
        now = self.clock()
        try:
            allowed = self.allowed_guild_ids
            if allowed is not None and requester.guild_id not in allowed:
                raise NotAllowed(NOT_SERVED)
            prepared = await admit(self.store, self.catalog, request, requester, config, now)
            row = job_row(request, requester, prepared, parent_job_id, action)
            row["owner"] = self.process_id
            job = await reserve(
                self.store, requester, config, prepared, row, now=now, operator=self.operator_cap
            )
            return self.accepted(job)
        except (UserFacingError, ValidationError) as exc:
            await self.audit.refused(
                requester.guild_id, requester.user_id, request.model, str(exc), type(exc).__name__
            )
            mark_audited(exc)
            raise

    def submit_soon(self, job: Job) -> None:
        """Submit in the background, after the interaction was answered."""
        self._tasks.spawn(self.submit(job.id), name=f"submit-{job.id}")

    async def submit(self, job_id: int) -> Job | None:
        """Send an accepted job to Max API, at most once; the task id is stored on return."""
        if (waiting := await self.busy.later(job_id)) is not None:
            return waiting  # Max API was busy: it tries again when its stored time comes
        token = maxapi.new_callback_token() if self.callback_base_url else None
        # A job leaves ``accepted`` for good unless Max API said busy and created nothing.
        job = await self.store.transition(
            job_id,
            S.ACCEPTED,
            S.SUBMITTING,
            "submit",
            callback_token=token,
            submit_attempts=1,
            owner=self.process_id,
        )
        if job is None:
            return await self.store.get(job_id)  # cancelled meanwhile, or already sent
        callback = f"{self.callback_base_url}/{token}" if token else None
        try:
            task_id = await self.api.submit(
                job.model, job.input, callback_url=callback, user_id=str(job.user_id)
            )
        except maxapi.AmbiguousSubmit as exc:
            log.warning("job %s: submit answer unclear (%s); marking lost", job.id, exc)
            return await self.move(
                job,
                S.SUBMITTING,
                S.LOST,
                "ambiguous submit",
                failure_reason="AMBIGUOUS_SUBMIT",
                failure_message=(
                    "Max API did not answer clearly whether it started this job, so Atelier "
                    "will not send it again (that could charge twice). You were not charged "
                    "for it here; start it again if no result appears."
                ),
            )
        except maxapi.MaxApiError as exc:
            if is_busy(exc):  # 429/503: nothing was created, so it may wait and try again
                return await self.busy.answered(job, exc)
            reason, message, fields = rejection(exc)
            level = logging.WARNING if isinstance(exc, maxapi.Unauthorized) else logging.INFO
            log.log(level, "job %s: submit refused: %s", job.id, reason)
            return await self.move(
                job,
                S.SUBMITTING,
                S.REJECTED,
                reason,
                failure_reason=reason,
                failure_message=message,
                failure_fields=fields or None,
            )
        now = self.clock()
        queued = await self.move(
            job,
            S.SUBMITTING,
            S.QUEUED,
            "submitted",
            task_id=task_id,
            upstream_status=maxapi.TaskStatus.PENDING.value,
            submitted_at=now,
            next_poll_at=now + self.schedule.first_delay(self._model(job)),
        )
        log.info("job %s: submitted as task %s", job.id, task_id)
        if queued.state == S.QUEUED:
            self.wake_poller(queued.next_poll_at)
        return queued

    # -- following a task -------------------------------------------------------------

    async def refresh(self, job: Job) -> Job | None:
        """Query the job's task and apply what Max API says; transient errors propagate."""
        if job.task_id is None or job.state not in UPSTREAM:
            return job
        try:
            task = await self.api.get(job.task_id)
        except maxapi.TaskNotFound:
            return await self.move(
                job,
                UPSTREAM,
                S.FAILED,
                "unknown to Max API",
                failure_reason="TASK_NOT_FOUND",
                failure_message="Max API no longer knows this job. Start it again.",
            )
        return await self.apply_task(job, task, polled=True)

    async def apply_task(self, job: Job, task: maxapi.Task, *, polled: bool = False) -> Job | None:
        """Move a job to match its task's status, from a poll or a callback.

        ``polled``: the answer came from our own query, so it counts in ``polls``."""
        status = task.status.value
        target = state_for_upstream(status)
        seen: dict[str, Any] = {"polls": job.polls + int(polled), "upstream_status": status}
        now = self.clock()
        if target == S.SUCCEEDED:
            urls = maxapi.result_urls(task, job.outputs)
            if not urls:
                return await self.move(
                    job,
                    UPSTREAM,
                    S.FAILED,
                    "success without results",
                    failure_reason="NO_RESULT",
                    failure_message="Max API reported success but sent no files. Try again.",
                )
            done = task.updated_at.timestamp() if task.updated_at else now
            moved = await self.store.transition(
                job.id,
                UPSTREAM,
                S.SUCCEEDED,
                "upstream success",
                **seen,
                result_kind=task.result.kind if task.result else job.media,
                result_urls=urls,
                result_expires_at=min(done, now) + RESULT_LIFETIME,
                upstream_done_at=now,
                next_poll_at=None,
                next_delivery_at=now,
                owner=self.process_id,  # the process that saw it finish delivers it
            )
            if moved is not None:  # only the path that moved it wakes delivery
                self.wake_delivery()
                await self.notify_listeners(moved)
            return moved
        if target == S.FAILED:
            reason, message = upstream_failure(task)
            return await self.move(
                job,
                UPSTREAM,
                S.FAILED,
                f"upstream {status}",
                **seen,
                failure_reason=reason,
                failure_message=message,
            )
        if target == S.CANCELLED:
            return await self.move(
                job,
                UPSTREAM,
                S.CANCELLED,
                "upstream cancelled",
                **seen,
                failure_message="The job was cancelled.",
            )
        # Still running: set the next poll, or give up when the job is too old.
        model = self._model(job)
        age = now - (job.submitted_at or job.created_at)
        if age > self.schedule.max_age(model):
            return await self.move(
                job,
                UPSTREAM,
                S.EXPIRED,
                "too old",
                failure_reason="MAX_AGE",
                failure_message=TOO_OLD_MESSAGE,
                failure_fields={"duration": human_duration(age)},
            )
        next_at = now + self.schedule.next_delay(model, age)
        poll = {**seen, "next_poll_at": next_at, "poll_errors": 0}
        # A stale answer (PENDING after PROCESSING) must not move the job backwards.
        if target != job.state and can_move(job.state, target):
            return await self.move(job, job.state, target, f"upstream {status}", **poll)
        if await self.store.update_if(job.id, UPSTREAM, **poll):
            return dataclasses.replace(job, **poll)  # no re-read: the poller's common case
        return await self.store.get(job.id)  # moved on meanwhile (a callback, a cancel)

    async def poll_failed(self, job: Job, error: maxapi.MaxApiError) -> Job:
        """A query failed for a transient reason: poll again later, keep the job."""
        retry_after = error.retry_after if isinstance(error, maxapi.RateLimited) else None
        delay = self.schedule.error_delay(job.poll_errors + 1, retry_after)
        return await self.store.increment(job.id, "poll_errors", next_poll_at=self.clock() + delay)

    # -- cancel -----------------------------------------------------------------------

    async def cancel(self, job_id: int, reason: str = "cancelled by member") -> CancelOutcome:
        """Stop a job; ``CANCEL_REFUNDS`` decides whether its quota comes back, and the
        answer says which."""
        job = await self.store.get(job_id)
        if job is None:
            raise ValidationError("There is no job {job_id}.", job_id=job_id)
        if job.state == S.ACCEPTED:  # never sent, so always refunded
            job = await self.move(
                job, S.ACCEPTED, S.CANCELLED, reason, failure_message="Cancelled before it started."
            )
            if job.state == S.CANCELLED:
                return CancelOutcome(job, True, "Cancelled. You were not charged.")
        if job.state == S.SUBMITTING:
            return CancelOutcome(
                job, False, "It is being sent to Max API right now; try again in a few seconds."
            )
        if job.state == S.QUEUED and job.task_id is not None and self.cancel_refunds == "pending":
            # The last poll may be minutes old: ask whether Max API has started it since.
            try:
                job = await self.refresh(job) or job
            except maxapi.MaxApiError as exc:
                log.info("job %s: no poll before cancelling: %s", job.id, exc)
                return CancelOutcome(
                    job,
                    False,
                    "Max API could not be reached, so nothing was cancelled. "
                    "Try again in a minute.",
                )
        if job.state not in UPSTREAM or job.task_id is None:
            return CancelOutcome(job, False, ALREADY_ENDED)
        refund = cancel_refunds(self.cancel_refunds, job.state)
        try:
            await self.api.cancel(job.task_id)
        except maxapi.MaxApiError as exc:
            log.info("job %s: cancel refused: %s", job.id, exc)
            return CancelOutcome(
                job,
                False,
                "Max API would not cancel it now (it may be too "
                "far along). It will finish normally.",
            )
        kept = "never" if self.cancel_refunds == "never" else "pending"
        job = await self.move(
            job,
            UPSTREAM,
            S.CANCELLED,
            reason,
            keep_charge=not refund,
            upstream_status="CANCELLED",
            failure_reason=None if refund else CANCEL_CHARGED,
            failure_message="Cancelled." if refund else CHARGED_CANCEL_REASONS[kept],
        )
        if job.state != S.CANCELLED:
            return CancelOutcome(job, False, HAD_ENDED)
        answer = "Cancelled. You were not charged." if refund else CHARGED_CANCEL_ANSWERS[kept]
        return CancelOutcome(job, True, answer)

    # -- start-up ----------------------------------------------------------------------

    async def recover(self) -> dict[str, int]:
        """Resume unfinished jobs after a start. A job whose owner died mid-submit becomes
        lost and is never sent again (that could charge twice); with several processes,
        claims held by live ones are left to them (they run out if their holder died)."""
        now = self.clock()
        await self.store.heartbeat(self.process_id, None, cluster.LEASE_SECONDS)
        if not self.store.shared:  # one process: whoever ran before is dead
            await self.store.forget_processes(except_id=self.process_id)
            await self.store.release_poll_claims()  # no poll runs yet: the claims are stale
        lost, adopted = await take_over_orphans(self, cluster.LEASE_SECONDS)
        upstream = await self.store.in_states(list(UPSTREAM))
        for job in upstream:
            if job.next_poll_at is None:
                await self.store.update(job.id, next_poll_at=now)
        finished = await self.store.in_states([S.SUCCEEDED, S.DELIVERING])
        if not self.store.shared:
            for job in finished:
                # Nothing is in flight at start-up, so an attempt's claim can be dropped.
                await self.store.update(job.id, next_delivery_at=now)
        told = {job.id for job in lost}  # their owners were notified just now
        untold = await self.store.untold_endings(now - NOTIFY_ENDINGS_WITHIN)
        untold = [job for job in untold if job.id not in told]
        for job in untold:
            await self.notify_listeners(job)  # the listeners post it and stamp ending_told_at
        self.wake_poller(None)
        self.wake_delivery()
        counts = {
            "lost": len(lost),
            "resubmitted": len(adopted),
            "polling": len(upstream),
            "delivering": len(finished),
            "notified": len(untold),
        }
        log.info("recovered jobs: %s", counts)
        return counts

    async def lose(self, job: Job, reason: str, message: str) -> Job | None:
        """Mark a job caught mid-submit lost (``None``: it had moved on) and notify."""
        moved = await self.store.transition(
            job.id, S.SUBMITTING, S.LOST, reason, failure_reason="LOST", failure_message=message
        )
        if moved is not None:
            await self.notify_listeners(moved)
        return moved

    async def close(self, grace: float = 10.0) -> None:
        """Let in-flight submits finish (a cancelled one would become lost), then cancel
        whatever still runs after ``grace`` seconds."""
        await self.busy.close()
        await self._tasks.close(grace)

    # -- for the Discord side (which never reaches the store itself) ----------------

    async def get(self, job_id: int) -> Job | None:
        return await self.store.get(job_id)

    async def unfinished(self) -> list[Job]:
        """Every job not yet ended (their progress cards are brought up to date at start-up)."""
        return await self.store.in_states([state for state in S if state.is_active])

    async def results_ahead(self, job: Job) -> int:
        """Results waiting to be posted before this one in its channel."""
        return await self.store.results_ahead(job)

    async def queue_position(self, job: Job) -> int:
        """How many of its server's waiting jobs were accepted before ``job``."""
        return await self.store.queue_position(job)

    async def record(self, job_id: int, **values: Any) -> Job:
        """Save bookkeeping on a job (its card's message, when its ending was posted); never
        its state, which only moves through the service's transitions."""
        return await self.store.update(job_id, **values)

    async def notify_listeners(self, job: Job) -> None:
        """Pass ``job`` to every listener (delivery's changes come through here too)."""
        await notify([listener.job_changed for listener in self.listeners], job)

    # -- helpers --------------------------------------------------------------------------

    def _model(self, job: Job) -> Model:
        try:
            return self.catalog.get(job.model)
        except ValidationError:
            # A model disabled after the job started still has to be followed to the end.
            fallback = self.catalog.enabled(job.media)  # type: ignore[arg-type]
            return fallback[0] if fallback else self.catalog.all()[0]

    async def move(
        self,
        job: Job,
        expected: JobState | Collection[JobState],
        target: JobState,
        reason: str,
        **values: Any,
    ) -> Job:
        """Move the job if it is still in ``expected`` and notify the listeners; return
        the job as it now stands (as it was if the row is gone)."""
        moved = await self.store.transition(job.id, expected, target, reason, **values)
        if moved is None:
            return await self.store.get(job.id) or job
        await self.notify_listeners(moved)
        return moved
