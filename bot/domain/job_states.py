"""The local job states and the transitions allowed between them.

A job's state is recorded in SQLite before the next step starts, so a restart at
any point resumes the job where it stood. The rules that protect money live here,
and only here: which states may have reached Max API (never resubmitted
automatically), which endings give the member their quota back, which settle it.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    ACCEPTED = "accepted"  # validated and reserved; nothing sent yet
    SUBMITTING = "submitting"  # the submit request may be on the wire
    QUEUED = "queued"  # Max API has it: PENDING
    RUNNING = "running"  # PROCESSING or SUBMITTED upstream
    SUCCEEDED = "succeeded"  # upstream SUCCESS; results not yet posted
    DELIVERING = "delivering"  # a post to Discord may be on the wire
    DELIVERED = "delivered"
    REJECTED = "rejected"  # Max API refused the submit (parameters, credits, moderation)
    FAILED = "failed"  # upstream FAILURE or TIMEOUT, or unknown to the API
    CANCELLED = "cancelled"
    UNDELIVERABLE = "undeliverable"  # Discord refuses for good
    EXPIRED = "expired"  # result links older than 7 days, or the job outlived its model
    LOST = "lost"  # the bot died mid-submit: nobody can know if Max API took it

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_active(self) -> bool:
        return self not in TERMINAL


S = JobState

TERMINAL = frozenset(
    {S.DELIVERED, S.REJECTED, S.FAILED, S.CANCELLED, S.UNDELIVERABLE, S.EXPIRED, S.LOST}
)

#: States in which the job has a task id that must be polled until it ends.
UPSTREAM = frozenset({S.QUEUED, S.RUNNING})

#: Endings without a result Max API charges for: the member's quota comes back.
#: ``lost`` is refunded too: the bot's crash is our fault, not the member's.
REFUNDED = frozenset({S.REJECTED, S.FAILED, S.CANCELLED, S.LOST})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.ACCEPTED: frozenset({S.SUBMITTING, S.CANCELLED, S.REJECTED}),
    # Back to ``accepted`` only when Max API answered busy and created nothing (429, 503).
    S.SUBMITTING: frozenset(
        {S.ACCEPTED, S.QUEUED, S.RUNNING, S.SUCCEEDED, S.REJECTED, S.FAILED, S.LOST}
    ),
    S.QUEUED: frozenset({S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.RUNNING: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.SUCCEEDED: frozenset({S.DELIVERING, S.UNDELIVERABLE, S.EXPIRED}),
    S.DELIVERING: frozenset({S.DELIVERING, S.DELIVERED, S.SUCCEEDED, S.UNDELIVERABLE, S.EXPIRED}),
    # Terminal states are final; re-posting a past result (/show) is not a transition.
}


def refund_applies(before: JobState, after: JobState) -> bool:
    """Whether moving ``before`` → ``after`` gives the member's reservation back.

    The refunded endings, plus ``expired`` while still upstream (Max API never finished,
    so it produced nothing to charge for). An expiry after success (links gone) and
    ``undeliverable`` keep the charge: Max API made and billed the result.
    """
    return after in REFUNDED or (after == S.EXPIRED and before in UPSTREAM)


#: The ``failure_reason`` of a cancel that kept its charge (see :func:`cancel_refunds`).
CANCEL_CHARGED = "CANCEL_CHARGED"


def cancel_refunds(mode: str, state: JobState) -> bool:
    """Whether cancelling a job in ``state`` gives the member's reservation back, under
    ``CANCEL_REFUNDS``. ``accepted`` never reached Max API, so every mode refunds it;
    ``pending`` also refunds ``queued`` (Max API had not started it); ``always`` refunds
    any cancel. Anything else may already be billed to the operator, so it is kept."""
    if state == S.ACCEPTED or mode == "always":
        return True
    return state == S.QUEUED and mode == "pending"


def ending_refunded(state: JobState, failure_reason: str | None) -> bool:
    """Whether a job that ended in ``state`` without a result gave the charge back,
    as its ending tells the member (a cancel may keep it: :data:`CANCEL_CHARGED`)."""
    return state in REFUNDED and not (state == S.CANCELLED and failure_reason == CANCEL_CHARGED)


def settle_applies(after: JobState) -> bool:
    """A reservation becomes a charge once Max API has produced the result."""
    return after == S.SUCCEEDED


def charge_after(before: JobState, after: JobState, *, keep_charge: bool = False) -> str | None:
    """What moving ``before`` → ``after`` does to the job's reserved charge: "settled",
    "refunded", or ``None`` (it stays reserved). ``keep_charge``: a cancel that may
    already be billed (:func:`cancel_refunds` said no) settles instead of refunding."""
    if keep_charge or settle_applies(after):
        return "settled"
    if refund_applies(before, after):
        return "refunded"
    return None


def can_move(current: JobState, target: JobState) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def state_for_upstream(status: str) -> JobState:
    """Map a Max API task status onto the local state it puts a job in."""
    return {
        "PENDING": S.QUEUED,
        "PROCESSING": S.RUNNING,
        "SUBMITTED": S.RUNNING,
        "SUCCESS": S.SUCCEEDED,
        "FAILURE": S.FAILED,
        "TIMEOUT": S.FAILED,
        "CANCELLED": S.CANCELLED,
    }.get(status, S.RUNNING)
