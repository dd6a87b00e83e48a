"""Async client for Max API: submit a task, query it, cancel it.

One class (:class:`MaxApiClient`) over the bot's shared aiohttp session. It returns typed
objects (:class:`Task`) and raises typed errors (subclasses of :class:`MaxApiError`) so
that the job service can decide what to do without looking at HTTP details.

**Which answers are accepted.** The docs only show the JSON envelope
``{"code": 0, "msg": "ok", "data": {...}}`` and never say which HTTP status comes with
an error, so both styles are read: a non-2xx status carrying the envelope, and HTTP 200
with a non-zero ``code``. Unknown extra fields are ignored; optional ones may be missing
(``failure_reason`` falls back to ``failReason``, ``result`` may be null, timestamps may
have microseconds or not, ``Z`` or an offset, or be absent).

**Precedence when the HTTP status and the JSON ``code`` disagree.**

1. HTTP 429 is always :class:`RateLimited` and HTTP 5xx always :class:`ServerError`,
   whatever the body says: they describe the server's state, and a body written by a
   failing server (or the proxy in front of it) is not trusted to prove anything.
2. Otherwise a body with a non-zero ``code`` decides, because ``code`` and ``msg`` are
   more specific than the status: moderation (``data.flagged`` or a moderation ``msg``)
   → :class:`ContentRejected`; 401/403 or "unauthorized" → :class:`Unauthorized`; 402 or
   a message about credits/balance/余额/积分 → :class:`InsufficientCredits`; 404 or
   "not found"/"不存在" on get/cancel → :class:`TaskNotFound`; 429 → RateLimited;
   5xx → ServerError; 400/422 → :class:`InvalidParameters` (``msg`` kept verbatim);
   anything else → plain :class:`MaxApiError`. The HTTP status counts too (a 401 status
   with ``code:400`` is Unauthorized).
3. A non-2xx status whose body carries no error code (not an envelope, or ``code`` 0)
   is classified by the status alone, except that a 404 without an envelope is never
   taken as "task not found": that is what a wrong ``MAXAPI_BASE_URL`` looks like, and
   it must not make the bot give up on real tasks.
4. A 2xx status with ``code`` 0 (or no ``code``) is success; a 2xx body that is not a
   JSON envelope is :class:`MalformedResponse`.

**Retries.** ``get`` and ``cancel`` retry transient errors (5xx, 429, network errors,
timeouts) up to ``retries`` extra times with capped exponential backoff and full
jitter, waiting at least ``Retry-After`` when the server sends one. A ``Retry-After``
longer than ``backoff_cap`` is not slept through inside the call: the error is raised at
once with ``retry_after`` set, so the poller can schedule the next try. 4xx answers
other than 429 are never retried.

**The ambiguity rule: ``submit`` never retries.** A submitted task costs the server
owner money, and Max API has no idempotency key, so sending the same submit twice may
charge twice. Once the request may have reached Max API, any answer that is not a clear
yes or a clear no raises :class:`AmbiguousSubmit` (non-transient, with the underlying
error as ``cause``): a timeout or a dropped connection after the request was written, a
5xx (HTTP or in-band ``code``), a 2xx whose body is not JSON or has no ``taskId``. The
job service must then treat the job as possibly accepted (never resubmit it blindly).
Only failures that provably happened before anything was sent (connection refused, DNS
failure, a connect timeout: aiohttp's ``ClientConnectorError`` and
``ConnectionTimeoutError``) raise :class:`NetworkError`, which a caller may retry. A
clean 4xx envelope raises its typed error, and a 429 is a clean refusal
(:class:`RateLimited`): the task was not accepted.

The API key goes into the ``Authorization`` header only. It is never put in a log line,
an error message or a repr, and it is masked if Max API echoes it back in a message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot import USER_AGENT
from bot.settings import Secret

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_Op = Literal["submit", "get", "cancel"]

MAX_BODY_BYTES: Final = 1024 * 1024
"""Answers are small JSON envelopes; anything bigger (after decompression) is not one."""
MAX_RESULT_URLS: Final = 100
"""Result URLs read from one task; no model makes more than 15 files."""
DEFAULT_RESULT_URLS: Final = 10
"""Result URLs kept for a job whose number of outputs is unknown."""

_VIDEO_SUFFIXES: Final = (".mp4", ".mov", ".m4v", ".webm")
_CREDIT_MARKERS: Final = (
    "insufficient",
    "balance",
    "not enough credit",
    "out of credit",
    "余额",
    "积分",
    "欠费",
)
_NOT_FOUND_MARKERS: Final = ("not found", "not exist", "no such task", "不存在", "未找到")
_MODERATION_MARKERS: Final = ("moderation", "审核")
_AUTH_MARKERS: Final = ("unauthorized", "unauthenticated", "未授权")
_RATE_MARKERS: Final = ("rate limit", "too many requests")

# Patched by tests to observe backoff delays without waiting for them.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class TaskStatus(StrEnum):
    """Max API task states (SPEC §3)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUBMITTED = "SUBMITTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """True once the task can no longer change (the webhook fires on these)."""
        return self in _TERMINAL


_TERMINAL: Final = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.TIMEOUT, TaskStatus.CANCELLED}
)
# Spellings seen in other APIs; cheap to accept, and an unknown status is an error.
_STATUS_ALIASES: Final = {"CANCELED": TaskStatus.CANCELLED, "FAILED": TaskStatus.FAILURE}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a successful task produced. URLs expire 7 days after generation."""

    kind: str  # "image" | "video"; an unknown string is kept as Max API sent it
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One task as ``GET /api/v1/task/{id}`` (or a webhook body's ``data``) describes it."""

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


# --------------------------------------------------------------------------- errors


class MaxApiError(Exception):
    """Max API said no, or could not be reached. ``message`` is the API's ``msg`` verbatim
    when there is one (it may be Chinese); ``transient`` says whether trying again later
    can help."""

    transient: ClassVar[bool] = False

    def __init__(
        self, message: str, *, http_status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code

    def __str__(self) -> str:
        where = []
        if self.http_status is not None:
            where.append(f"HTTP {self.http_status}")
        if self.code is not None:
            where.append(f"code {self.code}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, "
            f"http_status={self.http_status!r}, code={self.code!r})"
        )


class Unauthorized(MaxApiError):
    """The API key was refused: the operator must fix ``MAXAPI_KEY``."""


class InsufficientCredits(MaxApiError):
    """The Max API account is out of credits: the operator must top up."""


class InvalidParameters(MaxApiError):
    """The request was refused as invalid; ``message`` says why, in Max API's words."""


class ContentRejected(MaxApiError):
    """Pre-submission moderation blocked the prompt or image; no task, no charge."""

    def __init__(
        self,
        message: str,
        *,
        categories: tuple[str, ...] = (),
        http_status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code)
        self.categories = categories


class RateLimited(MaxApiError):
    """Too many requests; ``retry_after`` is the server's wait in seconds, if it gave one."""

    transient = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code)
        self.retry_after = retry_after


class ServerError(MaxApiError):
    """Max API (or its proxy) failed; worth trying again later."""

    transient = True


class NetworkError(MaxApiError):
    """No answer: connection failed or timed out. ``may_have_been_sent`` is False only
    when the failure provably happened before the request was written."""

    transient = True

    def __init__(self, message: str, *, may_have_been_sent: bool = True) -> None:
        super().__init__(message)
        self.may_have_been_sent = may_have_been_sent


class TaskNotFound(MaxApiError):
    """Max API does not know this task id."""


class MalformedResponse(MaxApiError):
    """The answer was not the JSON shape the docs describe."""


class AmbiguousSubmit(MaxApiError):
    """A submit may have reached Max API, but no usable answer came back.

    The task may exist and may be charged; never resubmit automatically. ``cause`` is
    the underlying error (a :class:`NetworkError`, :class:`ServerError` or
    :class:`MalformedResponse`).
    """

    def __init__(
        self,
        message: str,
        *,
        cause: BaseException | None = None,
        http_status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code)
        self.cause = cause


# --------------------------------------------------------------------------- parsing


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
    """Turn a task object (query ``data`` or webhook ``data``) into a :class:`Task`.

    Lenient about optional fields, strict about the two that matter: the task id and a
    known status (raises :class:`MalformedResponse` otherwise).
    """
    if not isinstance(data, Mapping):
        raise MalformedResponse("task is not a JSON object")
    task_id = _task_id(data)
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


def parse_callback(body: bytes | str | Mapping[str, Any]) -> Task:
    """Parse a webhook body (the query envelope; its outer ``code`` is always 0)."""
    payload: Any = body
    if isinstance(body, bytes | str):
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise MalformedResponse("callback body is not JSON") from exc
    data = parse_envelope(payload).data
    if not isinstance(data, Mapping):
        raise MalformedResponse("callback body has no data object")
    return parse_task(data)


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 (with or without microseconds, ``Z`` or an offset; naive means UTC) or
    epoch seconds/milliseconds → aware UTC datetime; anything else → None."""
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


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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


def _task_id(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        return None
    value = _first(data, "taskId", "task_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
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


def result_urls(task: Task, wanted: int) -> list[str]:
    """The task's result URLs, at most ``wanted`` (the job's outputs; 10 when unknown):
    a task must not turn one job into thousands of downloads and posts."""
    urls = list(task.result.urls) if task.result else []
    keep = wanted if wanted > 0 else DEFAULT_RESULT_URLS
    if len(urls) > keep:
        log.warning("task %s sent %d result URLs; keeping %d", task.task_id, len(urls), keep)
    return urls[:keep]


def _parse_reason(data: Mapping[str, Any]) -> str | None:
    value = _first(data, "failure_reason", "failReason")
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


def _mentions(text: str, markers: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in markers)


def _data_words(data: Any) -> str:
    """Top-level keys and string values of an error's ``data``, for keyword checks."""
    if not isinstance(data, Mapping):
        return data if isinstance(data, str) else ""
    words = [str(k) for k in data]
    words += [v for v in data.values() if isinstance(v, str)]
    return " ".join(words)


def _categories(data: Any) -> tuple[str, ...]:
    raw = data.get("categories") if isinstance(data, Mapping) else None
    if isinstance(raw, Mapping):
        return tuple(str(name) for name, flagged in raw.items() if flagged is True)
    if isinstance(raw, list):
        return tuple(str(name) for name in raw if isinstance(name, str))
    return ()


# --------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    reason: str
    retry_after: str | None
    body: bytes


class MaxApiClient:
    """Submit, query and cancel Max API tasks (see the module docstring for the rules)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
    ) -> None:
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a bot.settings.Secret")
        if timeout <= 0 or retries < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError("timeout must be > 0; retries and backoff values must be >= 0")
        root = URL(base_url.strip())
        if root.scheme not in ("http", "https") or not root.host:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self._session = session
        self._root = root.with_query(None).with_fragment(None)
        self._key = api_key
        self._timeout = float(timeout)
        self._retries = int(retries)
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self.on_rate_limited: Callable[[], None] | None = None
        """Called on every 429 answer, retried or not (the poller's limiter slows down)."""
        # Built once: a query is the poller's hot path, thousands a minute at scale.
        self._headers = {
            "Authorization": f"Bearer {api_key.get()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # A separate connect budget turns a slow connect into ConnectionTimeoutError,
        # which provably happened before the request was sent.
        self._request_timeout = aiohttp.ClientTimeout(
            total=self._timeout, sock_connect=min(10.0, self._timeout / 2)
        )

    def __repr__(self) -> str:
        return (
            f"MaxApiClient(base_url={str(self._root)!r}, timeout={self._timeout:g}, "
            f"retries={self._retries})"
        )

    # ---------------------------------------------------------------- public calls

    async def submit(
        self,
        model: str,
        input: Mapping[str, Any],  # Max API's own field name
        callback_url: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Create a task and return its id. Never retried (see the ambiguity rule)."""
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty string")
        body: dict[str, Any] = {"model": model, "input": dict(input)}
        if callback_url is not None:
            body["callBackUrl"] = callback_url
        if user_id is not None:
            body["user_id"] = user_id
        payload = json.dumps(body, ensure_ascii=False).encode()  # fails before any I/O
        try:
            envelope = await self._call("POST", self._path("submit"), "submit", payload)
            task_id = _task_id(envelope.data)
            if task_id is None:
                raise MalformedResponse(
                    "submit was answered with success but no taskId", code=envelope.code
                )
        except NetworkError as exc:
            if not exc.may_have_been_sent:
                raise
            raise self._ambiguous(exc) from exc
        except (ServerError, MalformedResponse) as exc:
            raise self._ambiguous(exc) from exc
        log.info("Max API accepted a %s task: %s", model, task_id)
        return task_id

    async def get(self, task_id: str) -> Task:
        """Query a task; transient failures are retried."""
        path = self._path(_quote_id(task_id))

        async def once() -> Envelope:
            return await self._call("GET", path, "get")

        envelope = await self._with_retries(f"get {task_id}", once)
        if not isinstance(envelope.data, Mapping):
            raise MalformedResponse("query answer has no task data", code=envelope.code)
        task = parse_task(envelope.data)
        if task.task_id != task_id:
            log.warning("Max API answered a query for %s with task %s", task_id, task.task_id)
        return task

    async def cancel(self, task_id: str) -> None:
        """Ask Max API to cancel a task; transient failures are retried.

        After a retry, a refusal (e.g. "not cancellable") may mean an earlier attempt
        already worked: callers should check with :meth:`get` before telling anyone.
        """
        path = self._path(_quote_id(task_id), "cancel")

        async def once() -> Envelope:
            return await self._call("POST", path, "cancel")

        await self._with_retries(f"cancel {task_id}", once)
        log.info("Max API cancelled task %s", task_id)

    # ---------------------------------------------------------------- internals

    def _path(self, *segments: str) -> URL:
        """``{base}/api/v1/task/<segments>``; segments must already be quoted."""
        prefix = self._root.raw_path.rstrip("/")
        return self._root.with_path(f"{prefix}/api/v1/task/{'/'.join(segments)}", encoded=True)

    def _redact(self, text: str) -> str:
        key = self._key.get()
        return text.replace(key, "***") if key else text

    def _ambiguous(self, cause: MaxApiError) -> AmbiguousSubmit:
        log.warning("submit may have reached Max API, outcome unknown: %s", cause)
        return AmbiguousSubmit(
            f"the submit may have reached Max API but no usable answer came back: {cause}",
            cause=cause,
            http_status=cause.http_status,
            code=cause.code,
        )

    async def _with_retries(self, what: str, once: Callable[[], Awaitable[_T]]) -> _T:
        attempt = 0
        while True:
            try:
                return await once()
            except MaxApiError as exc:
                if not exc.transient or attempt >= self._retries:
                    raise
                delay = random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    if exc.retry_after > self._backoff_cap:
                        raise  # too long to wait inside a call: the caller schedules
                    delay = max(delay, exc.retry_after)
                attempt += 1
                log.warning(
                    "Max API %s failed (%s); retry %d/%d in %.2f s",
                    what,
                    exc,
                    attempt,
                    self._retries,
                    delay,
                )
                await _sleep(delay)

    async def _call(self, method: str, url: URL, op: _Op, body: bytes | None = None) -> Envelope:
        raw = await self._send(method, url, body)
        try:
            return self._interpret(op, raw)
        except RateLimited:
            if self.on_rate_limited is not None:
                self.on_rate_limited()
            raise

    async def _send(self, method: str, url: URL, body: bytes | None) -> _Raw:
        headers = self._headers if body is None else self._json_headers
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._request_timeout,
                allow_redirects=False,
                raise_for_status=False,
            ) as resp:
                content = await _read_capped(resp)
                raw = _Raw(resp.status, resp.reason or "", resp.headers.get("Retry-After"), content)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise NetworkError(
                self._redact(f"could not connect to Max API: {exc}"), may_have_been_sent=False
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise MaxApiError(f"invalid Max API URL: {exc}") from exc
        except TimeoutError as exc:
            raise NetworkError(f"no answer from Max API within {self._timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(
                self._redact(f"connection to Max API failed: {type(exc).__name__}: {exc}")
            ) from exc
        log.debug(
            "Max API %s %s -> HTTP %d in %.0f ms",
            method,
            url.path,
            raw.status,
            (time.monotonic() - started) * 1000,
        )
        return raw

    def _interpret(self, op: _Op, raw: _Raw) -> Envelope:
        """Apply the precedence rules of the module docstring to one answer."""
        status = raw.status
        envelope = _try_envelope(raw.body)
        if envelope is None:
            msg, code, data = "", None, None
            fallback = self._describe(raw, with_body=True)
        else:
            msg, code, data = self._redact(envelope.msg), envelope.code, envelope.data
            fallback = self._describe(raw, with_body=False)
        if status == 429:
            retry_after = parse_retry_after(raw.retry_after)
            raise RateLimited(
                msg or fallback, retry_after=retry_after, http_status=status, code=code
            )
        if status >= 500:
            raise ServerError(msg or fallback, http_status=status, code=code)
        if envelope is not None and code not in (None, 0):
            raise self._classify(op, raw, code, msg or f"Max API error code {code}", data, True)
        if 200 <= status < 300:
            if envelope is None:
                raise MalformedResponse(
                    f"expected a JSON envelope but got {fallback}", http_status=status
                )
            return envelope
        if msg.lower() in ("", "ok", "success"):
            msg = fallback
        raise self._classify(op, raw, code, msg, data, envelope is not None)

    def _classify(
        self, op: _Op, raw: _Raw, code: int | None, msg: str, data: Any, has_envelope: bool
    ) -> MaxApiError:
        status = raw.status
        numbers = {n for n in (code, status) if n}
        where: dict[str, Any] = {"http_status": status, "code": code}
        # Keywords count only in Max API's own words, never in a proxy's error page.
        said = f"{msg} {_data_words(data)}" if has_envelope else ""
        flagged = isinstance(data, Mapping) and data.get("flagged") is True
        if flagged or _mentions(said, _MODERATION_MARKERS):
            return ContentRejected(msg, categories=_categories(data), **where)
        if numbers & {401, 403} or _mentions(said, _AUTH_MARKERS):
            return Unauthorized(msg, **where)
        if 402 in numbers or _mentions(said, _CREDIT_MARKERS):
            return InsufficientCredits(msg, **where)
        if (
            op != "submit"
            and has_envelope
            and (404 in numbers or _mentions(said, _NOT_FOUND_MARKERS))
        ):
            return TaskNotFound(msg, **where)
        if 429 in numbers or _mentions(said, _RATE_MARKERS):
            return RateLimited(msg, retry_after=parse_retry_after(raw.retry_after), **where)
        if any(500 <= n < 600 for n in numbers):
            return ServerError(msg, **where)
        if numbers & {400, 422}:
            return InvalidParameters(msg, **where)
        if 404 in numbers:
            msg = f"{msg}; is MAXAPI_BASE_URL right?"
        return MaxApiError(msg, **where)

    def _describe(self, raw: _Raw, *, with_body: bool) -> str:
        text = f"HTTP {raw.status} {raw.reason}".strip()
        if with_body:  # mask before cutting, so a cut can never leave part of the key
            body = self._redact(raw.body.decode("utf-8", "replace"))
            snippet = " ".join(body.split())[:200]
            text = f"{text}: {snippet}" if snippet else f"{text} with an empty body"
        return self._redact(text)


def _quote_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not task_id.strip() or set(task_id) <= {"."}:
        raise ValueError(f"not a task id: {task_id!r}")
    return quote(task_id, safe="")


def _try_envelope(body: bytes) -> Envelope | None:
    try:
        return parse_envelope(json.loads(body.decode("utf-8-sig")))
    except (ValueError, RecursionError, MalformedResponse):  # incl. UnicodeDecodeError
        return None


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """The body, at most :data:`MAX_BODY_BYTES` of it *after* decompression.

    Never ``resp.read()``: ``Content-Length`` counts compressed bytes, so a small gzip
    answer can inflate to gigabytes. Counting the decompressed chunks stops a bomb early.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedResponse(
                f"answer is larger than {MAX_BODY_BYTES} bytes", http_status=resp.status
            )
        chunks.append(chunk)
    return b"".join(chunks)
