"""Task state machine: pure functions of the task and "now", no timers.

A task's state is derived from the time elapsed since submit, so any query at any
clock position sees the right state: PENDING → PROCESSING → SUBMITTED (10 %, 10 %,
80 % of the model's time) → its planned end. Cancel and ``finish`` record a forced
end at the moment they happen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .catalog import typical_seconds
from .clock import iso
from .config import CancelRule, SimulatorConfig
from .directives import FAILURE_REASONS, NON_TERMINAL
from .validation import Submission

TERMINAL = ("SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED")
PHASE_SHARES = (0.1, 0.1, 0.8)


class TaskStateError(Exception):
    """The task cannot make the requested move (e.g. it has already ended)."""


@dataclass(frozen=True)
class TaskState:
    status: str
    failure_reason: str | None
    updated_at: datetime

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class Task:
    """One submitted task and everything needed to answer about it."""

    task_id: str
    model: str
    media: str
    input: dict[str, Any]
    created_at: datetime
    phases: tuple[float, float, float]
    end_status: str = "SUCCESS"
    failure_reason: str | None = None
    hold: str | None = None
    callback_url: str | None = None
    user_id: str | None = None
    result_count: int = 1
    result_bytes: int | None = None
    forced: tuple[str, str | None, datetime] | None = None
    callback_fired: bool = field(default=False, repr=False)

    def state(self, now: datetime) -> TaskState:
        if self.forced is not None and now >= self.forced[2]:
            return TaskState(*self.forced)
        elapsed = (now - self.created_at).total_seconds()
        start = 0.0
        for name, duration in zip(NON_TERMINAL, self.phases, strict=True):
            if self.hold == name or elapsed < start + duration:
                return TaskState(name, None, self.created_at + timedelta(seconds=start))
            start += duration
        end = self.created_at + timedelta(seconds=start)
        return TaskState(self.end_status, self.failure_reason, end)

    def ended_at(self) -> datetime | None:
        """When the task reaches (or reached) its terminal state; None while held."""
        if self.forced is not None:
            return self.forced[2]
        if self.hold is not None:
            return None
        return self.created_at + timedelta(seconds=sum(self.phases))

    def end(self, status: str, failure_reason: str | None, now: datetime) -> None:
        """Force a terminal state now (cancel, or ``Simulator.finish``)."""
        if status not in TERMINAL:
            raise TaskStateError(f"{status!r} is not a terminal status ({', '.join(TERMINAL)})")
        if failure_reason is not None and (
            status != "FAILURE" or failure_reason not in FAILURE_REASONS
        ):
            raise TaskStateError(
                f"failure_reason must be null or, with FAILURE, one of {', '.join(FAILURE_REASONS)}"
            )
        current = self.state(now)
        if current.terminal:
            raise TaskStateError(f"task {self.task_id} has already ended ({current.status})")
        self.forced = (status, failure_reason, now)

    def result_urls(self, file_base: str) -> list[str]:
        ext = "mp4" if self.media == "video" else "png"
        return [f"{file_base}/files/{self.task_id}/{i}.{ext}" for i in range(self.result_count)]


def new_task(sub: Submission, now: datetime, config: SimulatorConfig) -> Task:
    """Plan a task's life from its submission, the catalogue and the config."""
    directives = sub.directives
    seconds = directives.seconds
    if seconds is None:
        seconds = typical_seconds(sub.model, sub.entry, config)
    total = seconds * config.speed
    phases = (total * PHASE_SHARES[0], total * PHASE_SHARES[1], total * PHASE_SHARES[2])
    media = "video" if sub.entry.get("media") == "video" else "image"
    if media == "video":
        count = 1
    else:
        count = directives.count or sub.input.get("n") or config.default_image_count
    return Task(
        task_id=str(uuid.uuid4()),
        model=sub.model,
        media=media,
        input=sub.input,
        created_at=now,
        phases=phases,
        end_status=directives.end_status,
        failure_reason=directives.failure_reason,
        hold=directives.hold,
        callback_url=sub.callback_url,
        user_id=sub.user_id,
        result_count=int(count),
        result_bytes=directives.size,
    )


def cancel_refusal(task: Task, now: datetime, rule: CancelRule) -> str | None:
    """Why this task cannot be cancelled under ``rule``, or None if it can."""
    status = task.state(now).status
    if status in TERMINAL:
        return f"task {task.task_id} has already ended ({status}) and cannot be cancelled"
    if rule == "pending-only" and status != "PENDING":
        return f"task {task.task_id} is {status}; only PENDING tasks can be cancelled"
    return None


def task_data(task: Task, now: datetime, file_base: str, *, minimal_echo: bool) -> dict[str, Any]:
    """The ``data`` object of a query answer (and of the webhook body)."""
    state = task.state(now)
    if minimal_echo:
        echo: dict[str, Any] = {"model": task.model, "prompt": task.input.get("prompt")}
    else:
        echo = {"model": task.model, **task.input}
    result = None
    if state.status == "SUCCESS":
        result = {"type": task.media, "urls": task.result_urls(file_base)}
    return {
        "taskId": task.task_id,
        "status": state.status,
        "input": echo,
        "result": result,
        "failure_reason": state.failure_reason,
        "created_at": iso(task.created_at),
        "updated_at": iso(state.updated_at),
    }
