"""The job service: accept, submit, follow and cancel jobs.

The one place the cogs, the poller, the callback receiver and the buttons go through.
Every step records the job's new state (through :meth:`Store.transition`, a
compare-and-set) before the next one starts, so a restart resumes each job where it
stood and two paths racing on one job (poller and callback, cancel and success) can
never both act.

Money rules enforced here:
- ``submitting`` is recorded *before* the request goes out. A job found in that state
  at start-up may have reached Max API, so it becomes ``lost`` (owner told, quota
  refunded) and is never resubmitted. An :class:`AmbiguousSubmit` answer ends the same
  way for the same reason.
- The task id is stored in the same transaction that leaves ``submitting``, the moment
  submit returns.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot import maxapi
from bot.domain.catalog import Catalog, GenerationRequest, Model, PreparedJob, ValidationError
from bot.domain.errors import NOT_SERVED, NotAllowed, UserFacingError, mark_audited
from bot.domain.guild_config import GuildConfig
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
from bot.domain.quota import (
    Charge,
    OperatorCap,
    Usage,
    check,
    effective_limits,
    operator_periods,
    period_keys,
)
from bot.domain.units import human_duration
from bot.domain.word_filter import find_banned
from bot.services.audit import AuditLog
from bot.services.tasks import Tasks, notify
from bot.store import Store

log = logging.getLogger(__name__)

S = JobState
RESULT_LIFETIME = 7 * 24 * 3600  # Max API keeps result files for 7 days
#: After a restart, endings owed to their owners are told if they are this recent.
TELL_ENDINGS_WITHIN = 2 * 24 * 3600

# What a job's end says is stored as an English template (``failure_message``) and its
# fields (``failure_fields``), and translated for whoever reads it (``bot.text.i18n``).
#: What the member is told for each Max API ``failure_reason``.
FAILURE_MESSAGES: dict[str | None, str] = {
    "CONTENT_MODERATION": (
        "Max API's moderation refused the prompt or image (real faces, public figures, "
        "copyrighted characters or adult content). Change it and try again."
    ),
    "INVALID_PARAMETERS": (
        "Max API refused the parameters. Check the options and attachments and try again."
    ),
    "INSUFFICIENT_POINTS": (
        "The server's Max API account is out of credits. Ask a moderator to top it up."
    ),
    None: "Max API could not finish this job. Trying again may work.",
}
TIMEOUT_MESSAGE = "Max API timed out on this job. Trying again may work."
TOO_OLD_MESSAGE = (
    "Max API did not finish this job within {duration}. Atelier stopped waiting for it."
)
REJECTED_MESSAGES: dict[str, str] = {
    "CONTENT_REJECTED": (
        "Max API's moderation refused the prompt ({categories}). Change it and try again. "
        "You were not charged."
    ),
    "INVALID_PARAMETERS": "Max API refused the request: {message}. You were not charged.",
    "RATE_LIMITED": "Max API is busy. Try again in {seconds} s. You were not charged.",
    "RATE_LIMITED_LATER": "Max API is busy. Try again in a minute. You were not charged.",
    "INSUFFICIENT_CREDITS": (
        "The server's Max API account is out of credits. Ask a moderator to top it up. "
        "You were not charged."
    ),
    "UNAUTHORIZED": (
        "Max API refused the bot's API key. Ask the bot's operator to check MAXAPI_KEY."
    ),
    "UNAVAILABLE": (
        "Max API could not be reached. Try again in a few minutes. You were not charged."
    ),
}
#: A cancel that keeps its charge (``CANCEL_REFUNDS``), by why: the reason kept on the job
#: (its card and ending notice show it) and the answer to whoever cancelled it.
CHARGED_CANCEL_REASONS: dict[str, str] = {
    "pending": "Max API had already started it, so you were charged for it.",
    "never": "It had already reached Max API, so you were charged for it.",
}
CHARGED_CANCEL_ANSWERS: dict[str, str] = {
    "pending": "Cancelled. Max API had already started it, so you were charged for it.",
    "never": "Cancelled. It had already reached Max API, so you were charged for it.",
}
ALREADY_ENDED = "Job {job_id} has already {state}."
HAD_ENDED = "Job {job_id} had already {state}."
#: The refusal for a blocked member, by (has an end, has a reason).
BLOCKED: dict[tuple[bool, bool], str] = {
    (False, False): "A moderator blocked you from using Atelier here.",
    (False, True): "A moderator blocked you from using Atelier here ({reason}).",
    (True, False): "A moderator blocked you from using Atelier here until <t:{until}:f>.",
    (True, True): "A moderator blocked you from using Atelier here until <t:{until}:f> ({reason}).",
}


class JobListener(Protocol):
    """Told after every state change (the Discord side edits progress, posts endings)."""

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
    role_ids: tuple[int, ...] = ()
    #: Whether the channel was age-restricted (a thread: its parent); ``None``: unknown,
    #: which ``/show`` treats as restricted.
    age_restricted: bool | None = None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """``message``: an English template whose fields, if any, are the job's ``job_id``
    and ``state`` (``bot.text.job_pages.cancel_text`` translates it for the caller)."""

    job: Job
    cancelled: bool
    message: str


class JobService:
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
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.api = api
        self.schedule = schedule or PollSchedule()
        self.callback_base_url = callback_base_url
        self.clock = clock
        #: The servers the operator lets spend (``None``: every server).
        self.allowed_guild_ids = allowed_guild_ids
        self.operator_cap = operator_cap or OperatorCap()
        #: ``CANCEL_REFUNDS``: which cancels give the member their reservation back.
        self.cancel_refunds = cancel_refunds
        self.listeners: list[JobListener] = []
        #: Where refusals are recorded (and posted to the audit channel).
        self.audit = audit or AuditLog(store)
        #: Told the time of a poll appointment just set (``None``: maybe one due now).
        self.wake_poller: Callable[[float | None], None] = lambda at: None
        self.wake_delivery: Callable[[], None] = lambda: None
        self._tasks = Tasks()

    # -- accept & submit ------------------------------------------------------------

    def prepare(self, request: GenerationRequest) -> PreparedJob:
        """Validate without recording anything (raises :class:`ValidationError`)."""
        return self.catalog.prepare(request)

    async def accept(
        self,
        request: GenerationRequest,
        requester: Requester,
        *,
        parent_job_id: int | None = None,
        action: str | None = None,
    ) -> Job:
        """Check the guild's rules, validate, reserve quota and record the job in
        ``accepted`` — all before any network call, so the caller can answer the
        interaction right after. Refusals raise :class:`UserFacingError` (or
        :class:`ValidationError`), are audited, and cost nothing."""
        guild_id = requester.guild_id or 0
        config = await self.store.guild_config(guild_id)
        try:
            if not self.guild_allowed(requester.guild_id):
                raise NotAllowed(NOT_SERVED)
            prepared = await self._admit(request, requester, config)
            limits = effective_limits(
                await self.store.limit_layers(guild_id, requester.user_id, requester.role_ids)
            )
            exempt = bool(config.exempt_role_ids & set(requester.role_ids))
            video = prepared.media == "video"
            charge = Charge(
                images=0 if video else prepared.outputs,
                videos=1 if video else 0,
                usd=prepared.price_usd,
            )
            now = self.clock()
            policy = config.policy

            operator = self.operator_cap

            def gate(usage: Usage) -> None:
                check(limits, usage, charge, policy, now, exempt=exempt, operator=operator)

            job, _ = await self.store.create_job_with_charge(
                self._job_values(request, requester, prepared, parent_job_id, action),
                charge,
                period_keys(now, policy.rollover_hour_utc),
                gate,
                operator_periods(now) if operator.active else None,
            )
            return job
        except (UserFacingError, ValidationError) as exc:
            await self.audit.refused(
                requester.guild_id, requester.user_id, request.model, str(exc), type(exc).__name__
            )
            mark_audited(exc)
            raise

    def guild_allowed(self, guild_id: int | None) -> bool:
        """Whether the operator lets this server (``None``: a DM) spend their credits."""
        return self.allowed_guild_ids is None or guild_id in self.allowed_guild_ids

    async def _admit(
        self, request: GenerationRequest, requester: Requester, config: GuildConfig
    ) -> PreparedJob:
        """The guild's rules, then the catalogue: who, where, which model, what words."""
        block = await self.store.active_block(
            requester.guild_id or 0, requester.user_id, self.clock()
        )
        if block is not None:
            raise NotAllowed(
                BLOCKED[bool(block.get("until")), bool(block.get("reason"))],
                until=int(block.get("until") or 0),
                reason=block.get("reason"),
            )
        if not config.channel_allowed(requester.channel_id):
            raise NotAllowed("Atelier is not enabled in this channel. Ask a moderator where.")
        banned = find_banned(request.prompt, config.banned_words)
        if banned is not None:
            raise UserFacingError(
                "Your prompt contains a word or phrase this server does not allow. "
                "Rephrase it and try again."
            )
        prepared = self.catalog.prepare(
            dataclasses.replace(
                request, guild_defaults={**config.defaults, **request.guild_defaults}
            )
        )
        if not (config.model_allowed(prepared.model.id) or config.model_allowed(request.model)):
            allowed = ", ".join(sorted(config.allowed_models))
            raise NotAllowed("This server allows only these models: {models}.", models=allowed)
        return prepared

    def _job_values(
        self,
        request: GenerationRequest,
        requester: Requester,
        prepared: PreparedJob,
        parent_job_id: int | None,
        action: str | None,
    ) -> dict[str, Any]:
        return {
            "guild_id": requester.guild_id,
            "channel_id": requester.channel_id,
            "user_id": requester.user_id,
            "locale": requester.locale,
            "application_id": requester.application_id,
            "interaction_token": requester.interaction_token,
            "interaction_expires_at": requester.interaction_expires_at,
            "media": prepared.media,
            "model": prepared.model.id,
            "prompt": request.prompt.strip(),
            "options": {k: v for k, v in request.options.items() if v not in (None, "")},
            "input": prepared.input,
            "image_urls": list(request.image_urls),
            "price_usd": prepared.price_usd,
            "price_documented": prepared.price_documented,
            "outputs": prepared.outputs,
            "parent_job_id": parent_job_id,
            "action": action,
            "age_restricted": requester.age_restricted,
        }

    def submit_soon(self, job: Job) -> None:
        """Submit in the background (after the interaction was answered)."""
        self._tasks.spawn(self.submit(job.id), name=f"submit-{job.id}")

    async def submit(self, job_id: int) -> Job | None:
        """Send an ``accepted`` job to Max API, at most once."""
        token = secrets.token_urlsafe(24) if self.callback_base_url else None
        job = await self.store.transition(
            # A job leaves ``accepted`` once, so this is always its first and only attempt.
            job_id,
            S.ACCEPTED,
            S.SUBMITTING,
            "submit",
            callback_token=token,
            submit_attempts=1,
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
            return await self._end(
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
            reason, message, fields = _rejection(exc)
            level = logging.WARNING if isinstance(exc, maxapi.Unauthorized) else logging.INFO
            log.log(level, "job %s: submit refused: %s", job.id, reason)
            return await self._end(
                job,
                S.SUBMITTING,
                S.REJECTED,
                reason,
                failure_reason=reason,
                failure_message=message,
                failure_fields=fields or None,
            )
        model = self._model(job)
        now = self.clock()
        moved = await self.store.transition(
            job.id,
            S.SUBMITTING,
            S.QUEUED,
            "submitted",
            task_id=task_id,
            upstream_status=maxapi.TaskStatus.PENDING.value,
            submitted_at=now,
            next_poll_at=now + self.schedule.first_delay(model),
        )
        log.info("job %s: submitted as task %s", job.id, task_id)
        if moved is not None:
            self.wake_poller(moved.next_poll_at)
            await self.notify_listeners(moved)
        return moved

    # -- following a task -------------------------------------------------------------

    async def refresh(self, job: Job) -> Job | None:
        """Query the task and apply what Max API says. Transient errors propagate."""
        if job.task_id is None or job.state not in UPSTREAM:
            return job
        try:
            task = await self.api.get(job.task_id)
        except maxapi.TaskNotFound:
            return await self._end(
                job,
                UPSTREAM,
                S.FAILED,
                "unknown to Max API",
                failure_reason="TASK_NOT_FOUND",
                failure_message="Max API no longer knows this job. Start it again.",
            )
        return await self.apply_task(job, task, looked=True)

    async def apply_task(self, job: Job, task: maxapi.Task, *, looked: bool = False) -> Job | None:
        """Move a job to match its task's status (from a poll or a callback).

        ``looked``: this answer came from a query of ours, so it counts in ``polls``. A
        task still running costs one conditional write and no re-read of the row (the
        poller's hot path at thousands of jobs in flight).
        """
        polls = job.polls + (1 if looked else 0)
        target = state_for_upstream(task.status.value)
        now = self.clock()
        if target == S.SUCCEEDED:
            urls = maxapi.result_urls(task, job.outputs)
            if not urls:
                return await self._end(
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
                polls=polls,
                upstream_status=task.status.value,
                result_kind=task.result.kind if task.result else job.media,
                result_urls=urls,
                result_expires_at=min(done, now) + RESULT_LIFETIME,
                upstream_done_at=now,
                next_poll_at=None,
                next_delivery_at=now,
            )
            if moved is not None:
                self.wake_delivery()
                await self.notify_listeners(moved)
            return moved
        if target == S.FAILED:
            timed_out = task.status == maxapi.TaskStatus.TIMEOUT
            return await self._end(
                job,
                UPSTREAM,
                S.FAILED,
                f"upstream {task.status.value}",
                polls=polls,
                upstream_status=task.status.value,
                failure_reason="TIMEOUT" if timed_out else task.failure_reason,
                failure_message=TIMEOUT_MESSAGE
                if timed_out
                else FAILURE_MESSAGES.get(task.failure_reason, FAILURE_MESSAGES[None]),
            )
        if target == S.CANCELLED:
            return await self._end(
                job,
                UPSTREAM,
                S.CANCELLED,
                "upstream cancelled",
                polls=polls,
                upstream_status=task.status.value,
                failure_message="The job was cancelled.",
            )
        # Still running: schedule the next look (or give up when it is too old).
        model = self._model(job)
        started = job.submitted_at or job.created_at
        if now - started > self.schedule.max_age(model):
            return await self._end(
                job,
                UPSTREAM,
                S.EXPIRED,
                "too old",
                failure_reason="MAX_AGE",
                failure_message=TOO_OLD_MESSAGE,
                failure_fields={"duration": human_duration(now - started)},
            )
        next_at = now + self.schedule.next_delay(model, now - started)
        look: dict[str, Any] = {
            "upstream_status": task.status.value,
            "next_poll_at": next_at,
            "poll_errors": 0,
            "polls": polls,
        }
        # A stale answer (PENDING after PROCESSING) must not move the job backwards.
        if target != job.state and can_move(job.state, target):
            moved = await self.store.transition(
                job.id, job.state, target, f"upstream {task.status.value}", **look
            )
            if moved is not None:
                await self.notify_listeners(moved)
                return moved
        elif await self.store.update_if(job.id, UPSTREAM, **look):
            return dataclasses.replace(job, **look)
        return await self.store.get(job.id)  # moved on meanwhile (a callback, a cancel)

    async def poll_failed(self, job: Job, error: maxapi.MaxApiError) -> Job:
        """A query failed for a transient reason: back off, keep the job."""
        retry_after = error.retry_after if isinstance(error, maxapi.RateLimited) else None
        delay = self.schedule.error_delay(job.poll_errors + 1, retry_after)
        return await self.store.increment(job.id, "poll_errors", next_poll_at=self.clock() + delay)

    # -- cancel -----------------------------------------------------------------------

    async def cancel(self, job_id: int, reason: str = "cancelled by member") -> CancelOutcome:
        """Stop a job; the reservation comes back as ``CANCEL_REFUNDS`` says
        (:func:`~bot.domain.job_states.cancel_refunds`), and the answer tells which."""
        job = await self.store.get(job_id)
        if job is None:
            raise ValidationError("There is no job {job_id}.", job_id=job_id)
        if job.state == S.ACCEPTED:
            done = await self._end(
                job, S.ACCEPTED, S.CANCELLED, reason, failure_message="Cancelled before it started."
            )
            if done is not None and done.state == S.CANCELLED:
                return CancelOutcome(done, True, "Cancelled. You were not charged.")
            job = await self.store.get(job_id) or job
        if job.state == S.SUBMITTING:
            return CancelOutcome(
                job, False, "It is being sent to Max API right now; try again in a few seconds."
            )
        if job.state == S.QUEUED and job.task_id is not None and self.cancel_refunds == "pending":
            # The last look may be minutes old: ask whether Max API has started it since.
            try:
                job = await self.refresh(job) or job
            except maxapi.MaxApiError as exc:
                log.info("job %s: no look before cancelling: %s", job.id, exc)
                return CancelOutcome(
                    job,
                    False,
                    "Max API could not be reached, so nothing was cancelled. "
                    "Try again in a minute.",
                )
        if job.state.is_terminal or job.state not in UPSTREAM or job.task_id is None:
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
        done = await self._end(
            job,
            UPSTREAM,
            S.CANCELLED,
            reason,
            keep_charge=not refund,
            upstream_status="CANCELLED",
            failure_reason=None if refund else CANCEL_CHARGED,
            failure_message="Cancelled." if refund else CHARGED_CANCEL_REASONS[kept],
        )
        if done is None or done.state != S.CANCELLED:
            current = await self.store.get(job_id) or job
            return CancelOutcome(current, False, HAD_ENDED)
        if not refund:
            return CancelOutcome(done, True, CHARGED_CANCEL_ANSWERS[kept])
        return CancelOutcome(done, True, "Cancelled. You were not charged.")

    # -- start-up ----------------------------------------------------------------------

    async def recover(self) -> dict[str, int]:
        """Resume every unfinished job after a (re)start; see the module docstring."""
        counts = {"lost": 0, "resubmitted": 0, "polling": 0, "delivering": 0, "told": 0}
        now = self.clock()
        lost: set[int] = set()
        for job in await self.store.in_states([S.SUBMITTING]):
            lost.add(job.id)
            await self._end(
                job,
                S.SUBMITTING,
                S.LOST,
                "restart during submit",
                failure_reason="LOST",
                failure_message=(
                    "Atelier restarted while sending this job to Max API, so nobody can know "
                    "whether it started. It will not be sent again automatically (that could "
                    "charge twice). You were not charged; start it again if no result appears."
                ),
            )
            counts["lost"] += 1
        for job in await self.store.in_states([S.ACCEPTED]):
            self.submit_soon(job)  # never sent: safe to send now
            counts["resubmitted"] += 1
        for job in await self.store.in_states(list(UPSTREAM)):
            if job.next_poll_at is None:
                await self.store.update(job.id, next_poll_at=now)
            counts["polling"] += 1
        for job in await self.store.in_states([S.SUCCEEDED, S.DELIVERING]):
            # Nothing is in flight at start-up, so an attempt's claim can be dropped.
            await self.store.update(job.id, next_delivery_at=now)
            counts["delivering"] += 1
        for job in await self.store.untold_endings(now - TELL_ENDINGS_WITHIN):
            if job.id in lost:
                continue  # told just above
            await self.notify_listeners(job)  # the listeners tell it and stamp ending_told_at
            counts["told"] += 1
        self.wake_poller(None)
        self.wake_delivery()
        log.info("recovered jobs: %s", counts)
        return counts

    async def close(self, grace: float = 10.0) -> None:
        """Let in-flight submits finish (cancelling one mid-request would turn its job
        into ``lost``), then cancel what is still running after ``grace`` seconds."""
        await self._tasks.close(grace)

    # -- helpers --------------------------------------------------------------------------

    def _model(self, job: Job) -> Model:
        try:
            return self.catalog.get(job.model)
        except ValidationError:
            # A model disabled after the job started still has to be followed to the end.
            fallback = self.catalog.enabled(job.media)  # type: ignore[arg-type]
            return fallback[0] if fallback else self.catalog.all()[0]

    async def _end(
        self,
        job: Job,
        expected: JobState | Iterable[JobState],
        target: JobState,
        reason: str,
        *,
        keep_charge: bool = False,
        **values: object,
    ) -> Job | None:
        states = [expected] if isinstance(expected, JobState) else list(expected)
        moved = await self.store.transition(
            job.id, states, target, reason, keep_charge=keep_charge, **values
        )
        if moved is not None:
            await self.notify_listeners(moved)
            return moved
        return await self.store.get(job.id)

    async def notify_listeners(self, job: Job) -> None:
        """Tell every listener about ``job`` (delivery does too, through this)."""
        await notify([listener.job_changed for listener in self.listeners], job)


def _rejection(exc: maxapi.MaxApiError) -> tuple[str, str, dict[str, Any]]:
    """A reason code, the member-facing template and its fields, for a refused submit."""
    if isinstance(exc, maxapi.ContentRejected):
        cats = ", ".join(c.replace("/", " / ") for c in exc.categories) or "unspecified"
        return "CONTENT_REJECTED", REJECTED_MESSAGES["CONTENT_REJECTED"], {"categories": cats}
    if isinstance(exc, maxapi.InvalidParameters):
        message = REJECTED_MESSAGES["INVALID_PARAMETERS"]
        return "INVALID_PARAMETERS", message, {"message": exc.message}
    if isinstance(exc, maxapi.RateLimited):
        if exc.retry_after:
            wait = int(exc.retry_after) + 1
            return "RATE_LIMITED", REJECTED_MESSAGES["RATE_LIMITED"], {"seconds": wait}
        return "RATE_LIMITED", REJECTED_MESSAGES["RATE_LIMITED_LATER"], {}
    if isinstance(exc, maxapi.InsufficientCredits):
        code = "INSUFFICIENT_CREDITS"
    elif isinstance(exc, maxapi.Unauthorized):
        code = "UNAUTHORIZED"
    else:
        code = "UNAVAILABLE"
    return code, REJECTED_MESSAGES[code], {}
