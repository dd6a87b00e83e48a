"""The Max API client: submit, query and cancel tasks over the bot's aiohttp session."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot import USER_AGENT
from bot.maxapi.errors import (
    AmbiguousSubmit,
    MalformedResponse,
    MaxApiError,
    NetworkError,
    Op,
    RateLimited,
    ServerError,
    Unavailable,
    error_for,
)
from bot.maxapi.task import Envelope, Task, parse_envelope, parse_task, task_id_of
from bot.settings import Secret

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 1024 * 1024
"""Answers are small JSON envelopes; anything bigger (after decompression) is not one."""

# Patched by tests to see backoff delays without waiting for them.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    reason: str
    retry_after: str | None
    body: bytes


class MaxApiClient:
    """Submit, query and cancel Max API tasks, returning :class:`Task` values and raising
    :class:`MaxApiError` subclasses. The key goes in the ``Authorization`` header only and
    is masked wherever an answer echoes it."""

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
        self._headers = {  # built once: every poll sends them
            "Authorization": f"Bearer {api_key.get()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # A separate connect budget turns a slow connect into ConnectionTimeoutError,
        # which surely happened before the request was sent.
        self._request_timeout = aiohttp.ClientTimeout(
            total=self._timeout, sock_connect=min(10.0, self._timeout / 2)
        )

    def __repr__(self) -> str:
        return (
            f"MaxApiClient(base_url={str(self._root)!r}, timeout={self._timeout:g}, "
            f"retries={self._retries})"
        )

    async def submit(
        self,
        model: str,
        input: Mapping[str, Any],  # Max API's own field name
        callback_url: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Create a task and return its id. Never retried: Max API has no idempotency key,
        so a second submit may charge twice."""
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty string")
        body: dict[str, Any] = {"model": model, "input": dict(input)}
        if callback_url is not None:
            body["callBackUrl"] = callback_url
        if user_id is not None:
            body["user_id"] = user_id
        payload = json.dumps(body, ensure_ascii=False).encode()  # fails before any I/O
        # Once the request may have been sent, anything but a clear yes or a clear no
        # (a 4xx, a 429, a 503) is AmbiguousSubmit: the task may exist.
        try:
            envelope = await self._call("POST", self._path("submit"), "submit", payload)
            task_id = task_id_of(envelope.data)
            if task_id is None:
                raise MalformedResponse(
                    "submit was answered with success but no taskId", code=envelope.code
                )
        except NetworkError as exc:
            if not exc.may_have_been_sent:
                raise
            raise self._ambiguous(exc) from exc
        except Unavailable:
            raise  # a 503 created nothing: the caller may try again later
        except (ServerError, MalformedResponse) as exc:
            raise self._ambiguous(exc) from exc
        log.info("Max API accepted a %s task: %s", model, task_id)
        return task_id

    async def get(self, task_id: str) -> Task:
        """Query a task; transient failures are retried."""
        path = self._path(_quote_id(task_id))
        envelope = await self._with_retries(f"get {task_id}", "GET", path, "get")
        if not isinstance(envelope.data, Mapping):
            raise MalformedResponse("query answer has no task data", code=envelope.code)
        task = parse_task(envelope.data)
        if task.task_id != task_id:
            log.warning("Max API answered a query for %s with task %s", task_id, task.task_id)
        return task

    async def cancel(self, task_id: str) -> None:
        """Ask Max API to cancel a task; transient failures are retried. After a retry a
        refusal may mean an earlier try worked, so callers check with :meth:`get`."""
        path = self._path(_quote_id(task_id), "cancel")
        await self._with_retries(f"cancel {task_id}", "POST", path, "cancel")
        log.info("Max API cancelled task %s", task_id)

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
            http_status=cause.http_status,
            code=cause.code,
        )

    async def _with_retries(self, what: str, method: str, url: URL, op: Op) -> Envelope:
        """Retry transient errors with capped exponential backoff and full jitter, waiting at
        least ``Retry-After``; a longer wait than ``backoff_cap`` is left to the caller."""
        attempt = 0
        while True:
            try:
                return await self._call(method, url, op)
            except MaxApiError as exc:
                if not exc.transient or attempt >= self._retries:
                    raise
                delay = random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    if exc.retry_after > self._backoff_cap:
                        raise
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

    async def _call(self, method: str, url: URL, op: Op, body: bytes | None = None) -> Envelope:
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

    def _interpret(self, op: Op, raw: _Raw) -> Envelope:
        """The envelope of a successful answer, or raise the error the answer means. Errors
        come as a non-2xx status or as HTTP 200 with a non-zero ``code``; both are read."""
        status = raw.status
        envelope = _try_envelope(raw.body)
        if envelope is None:
            msg, code, data = "", None, None
            fallback = self._describe(raw, with_body=True)
        else:
            msg, code, data = self._redact(envelope.msg), envelope.code, envelope.data
            fallback = self._describe(raw, with_body=False)
        retry_after = parse_retry_after(raw.retry_after)
        # 429 and 5xx describe the server's state, whatever a failing server's body says.
        if status == 429:
            raise RateLimited(
                msg or fallback, retry_after=retry_after, http_status=status, code=code
            )
        if status == 503:  # Service Unavailable: the request was not taken
            raise Unavailable(
                msg or fallback, retry_after=retry_after, http_status=status, code=code
            )
        if status >= 500:
            raise ServerError(msg or fallback, http_status=status, code=code)
        # Otherwise a non-zero code decides: code and msg say more than the status.
        if envelope is not None and code not in (None, 0):
            msg = msg or f"Max API error code {code}"
            raise error_for(op, status, code, msg, data, from_api=True, retry_after=retry_after)
        if 200 <= status < 300:
            if envelope is None:
                raise MalformedResponse(
                    f"expected a JSON envelope but got {fallback}", http_status=status
                )
            return envelope
        if msg.lower() in ("", "ok", "success"):
            msg = fallback
        from_api = envelope is not None
        raise error_for(op, status, code, msg, data, from_api=from_api, retry_after=retry_after)

    def _describe(self, raw: _Raw, *, with_body: bool) -> str:
        text = f"HTTP {raw.status} {raw.reason}".strip()
        if with_body:  # mask before cutting, so a cut can never leave part of the key
            body = self._redact(raw.body.decode("utf-8", "replace"))
            snippet = " ".join(body.split())[:200]
            text = f"{text}: {snippet}" if snippet else f"{text} with an empty body"
        return self._redact(text)


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
    """The body, at most :data:`MAX_BODY_BYTES` of it after decompression: a small gzip
    answer can inflate far beyond its ``Content-Length``."""
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
