"""Max API answers as typed values: the envelope, a task, its status and its result."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from yarl import URL

from bot.maxapi.errors import MalformedResponse

log = logging.getLogger(__name__)

MAX_RESULT_URLS: Final = 100
"""Result URLs read from one task, far more than any model makes."""
DEFAULT_RESULT_URLS: Final = 10
"""Result URLs kept for a job whose number of outputs is unknown."""

_VIDEO_SUFFIXES: Final = (".mp4", ".mov", ".m4v", ".webm")


class TaskStatus(StrEnum):
    """Max API task states (SPEC §3)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUBMITTED = "SUBMITTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


# Spellings seen in other APIs; cheap to accept, and an unknown status is an error.
_STATUS_ALIASES: Final = {"CANCELED": TaskStatus.CANCELLED, "FAILED": TaskStatus.FAILURE}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a successful task produced. URLs expire 7 days after generation."""

    kind: str  # "image" | "video"; an unknown string is kept as Max API sent it
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One task as ``GET /api/v1/task/{id}`` describes it."""

    task_id: str
    status: TaskStatus
    input: dict[str, Any]
    result: TaskResult | None
    failure_reason: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The ``{code, msg, data}`` wrapper around every answer; ``code`` None if absent."""

    code: int | None
    msg: str
    data: Any


def parse_envelope(payload: Any) -> Envelope:
    """Read the ``{code, msg, data}`` wrapper; raise :class:`MalformedResponse` if it isn't one."""
    if not isinstance(payload, Mapping):
        raise MalformedResponse("answer is not a JSON object")
    code = _as_int(payload.get("code"))
    if payload.get("code") is not None and code is None:
        raise MalformedResponse(f"answer has a non-numeric code {payload.get('code')!r}")
    msg = payload.get("msg")
    return Envelope(code=code, msg="" if msg is None else str(msg), data=payload.get("data"))


def parse_task(data: Mapping[str, Any]) -> Task:
    """Turn a query's ``data`` into a :class:`Task`: lenient about optional fields, but a
    task id and a known status are required (else :class:`MalformedResponse`)."""
    if not isinstance(data, Mapping):
        raise MalformedResponse("task is not a JSON object")
    task_id = task_id_of(data)
    if task_id is None:
        raise MalformedResponse("task has no taskId")
    raw_input = data.get("input")
    return Task(
        task_id=task_id,
        status=_parse_status(data.get("status")),
        input=dict(raw_input) if isinstance(raw_input, Mapping) else {},
        result=_parse_result(data.get("result")),
        failure_reason=_parse_reason(data),
        created_at=parse_timestamp(_first(data, "created_at", "createdAt")),
        updated_at=parse_timestamp(_first(data, "updated_at", "updatedAt")),
    )


def task_id_of(data: Any) -> str | None:
    """The ``taskId`` (or ``task_id``) of a JSON object, as a non-empty string, or None."""
    if not isinstance(data, Mapping):
        return None
    value = _first(data, "taskId", "task_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 (naive means UTC) or epoch seconds or milliseconds, as an aware UTC
    datetime; anything else gives None."""
    try:
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) > 1e11 else value
            parsed = datetime.fromtimestamp(seconds, UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        log.debug("ignoring unreadable timestamp %r", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def result_urls(task: Task, wanted: int) -> list[str]:
    """The task's result URLs, at most ``wanted`` (the job's outputs, or a default when
    unknown), so one task cannot turn into thousands of downloads and posts."""
    urls = list(task.result.urls) if task.result else []
    keep = wanted if wanted > 0 else DEFAULT_RESULT_URLS
    if len(urls) > keep:
        log.warning("task %s sent %d result URLs; keeping %d", task.task_id, len(urls), keep)
    return urls[:keep]


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def _parse_status(value: Any) -> TaskStatus:
    if not isinstance(value, str):
        raise MalformedResponse(f"task has no status (got {value!r})")
    name = value.strip().upper()
    if name in _STATUS_ALIASES:
        return _STATUS_ALIASES[name]
    try:
        return TaskStatus(name)
    except ValueError:
        raise MalformedResponse(f"unknown task status {value!r}") from None


def _parse_result(value: Any) -> TaskResult | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedResponse("task result is not a JSON object")
    raw_urls = value.get("urls", value.get("url"))
    if isinstance(raw_urls, str):
        raw_urls = [raw_urls]
    if raw_urls is not None and not isinstance(raw_urls, list | tuple):
        raise MalformedResponse("task result urls is not a list")
    found = (u.strip() for u in raw_urls or () if isinstance(u, str) and u.strip())
    urls = tuple(itertools.islice(found, MAX_RESULT_URLS))
    kind = value.get("type")
    if not urls and kind is None:
        return None
    if isinstance(kind, str) and kind.strip():
        kind = kind.strip()
        kind = kind.lower() if kind.lower() in ("image", "video") else kind
    else:  # not documented as optional; guess from the file names
        is_video = any(URL(u).path.lower().endswith(_VIDEO_SUFFIXES) for u in urls)
        kind = "video" if is_video else "image"
    return TaskResult(kind=kind, urls=urls)


def _parse_reason(data: Mapping[str, Any]) -> str | None:
    value = _first(data, "failure_reason", "failReason")
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None
