"""A job as the rest of the bot sees it: one row of ``jobs``, JSON cells decoded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bot.domain.job_states import JobState

#: A queue position is counted up to this many jobs ahead ("100 or more").
QUEUE_COUNT_CAP = 100

#: The columns of ``jobs`` that hold JSON.
JSON_COLUMNS = frozenset(
    {"options", "input", "image_urls", "result_urls", "result_message_ids", "failure_fields"}
)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``, JSON columns decoded."""

    id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    media: str
    model: str
    prompt: str
    input: dict[str, Any]
    price_usd: float
    state: JobState
    created_at: float
    updated_at: float
    locale: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    image_urls: list[str] = field(default_factory=list)
    price_documented: bool = False
    outputs: int = 1
    upstream_status: str | None = None
    task_id: str | None = None
    callback_token: str | None = None
    result_kind: str | None = None
    result_urls: list[str] = field(default_factory=list)
    result_expires_at: float | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    #: The fields of the ``failure_message`` template (``None``: it has none).
    failure_fields: dict[str, Any] | None = None
    application_id: int | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    progress_message_id: int | None = None
    progress_edited_at: float | None = None
    result_message_ids: list[int] = field(default_factory=list)
    delivery_nonce: str | None = None
    submit_attempts: int = 0
    polls: int = 0
    poll_errors: int = 0
    delivery_attempts: int = 0
    next_poll_at: float | None = None
    #: While a poll runs: until when it holds the job (no other read returns it).
    poll_claimed_until: float | None = None
    next_delivery_at: float | None = None
    parent_job_id: int | None = None
    action: str | None = None
    submitted_at: float | None = None
    upstream_done_at: float | None = None
    finished_at: float | None = None
    ending_told_at: float | None = None
    age_restricted: bool | None = None
    #: The Discord interaction that created the job (one interaction, one job).
    interaction_id: int | None = None
    #: The process that submits or delivers the job now (its heartbeat keeps it alive).
    owner: str | None = None
    #: Raised by each delivery claim; a write with an older value is a lost lease's.
    fence: int = 0
    #: Max API answered busy (429/503, nothing created): the next try, and the first busy answer.
    submit_after: float | None = None
    busy_since: float | None = None
    #: The house style given to the prompt (its text is part of ``prompt``).
    style: str | None = None
    #: Held for the member's Confirm until then (its cost is above the server's
    #: threshold): never submitted while set; ``EXPIRING`` (0): being cancelled.
    confirm_by: float | None = None
    #: When the owner's DM about this job's end was claimed (``notify: dm``; once).
    dm_notified_at: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """A job from a row of ``jobs``: JSON cells decoded, columns that are not fields
        ignored, fields with no column left at their default."""
        values = {name: row[name] for name in JOB_FIELDS if name in row}
        for name in JSON_COLUMNS.intersection(values):
            if isinstance(values[name], str):
                values[name] = json.loads(values[name])
        values["state"] = JobState(values["state"])
        if "price_documented" in values:
            values["price_documented"] = bool(values["price_documented"])
        if values.get("age_restricted") is not None:
            values["age_restricted"] = bool(values["age_restricted"])
        return cls(**values)


JOB_FIELDS = tuple(f.name for f in fields(Job))


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One row of ``job_events``: a job's move from one state to another, and why."""

    job_id: int
    at: float
    from_state: str | None
    to_state: str
    reason: str | None
