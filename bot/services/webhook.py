"""The callback receiver: Max API's webhook, taken as a hint to look at a task now.

Off unless ``WEBHOOK_PUBLIC_URL`` is set. ``JobService.submit`` then sends
``<WEBHOOK_PUBLIC_URL>/<per-job token>`` as the task's ``callBackUrl``, and this
receiver serves ``POST <path of WEBHOOK_PUBLIC_URL>/{token}`` on ``WEBHOOK_LISTEN``.

Max API signs nothing and never retries (SPEC §4), so a callback body proves nothing:
anyone who can reach the port can post anything. The receiver therefore only uses the
body to find the job (by task id), checks the URL token against the job's own in
constant time, and then asks Max API itself (``JobService.refresh``): the body's
status is never trusted. A callback for a job no longer waiting on Max API (the poller
got there first, or a duplicate) does nothing, and the compare-and-set in the store
makes sure a callback racing the poller moves the job once.

Every request gets the same immediate ``200 ok`` (413 for an oversized body), before
any lookup, whatever its token or task id: the sender learns nothing about which jobs or
tokens exist (and Max API does not care about the answer; it never retries). Forged
callbacks cost little: a token not shaped like ours is dropped before the body is read,
a queued callback keeps only its (token, task id) pair, at most :data:`MAX_PENDING`
wait (beyond that they are dropped and counted, and polling, which stays on, catches
up), and a burst of drops or wrong tokens logs one warning a minute, not one a request.

``GET /healthz`` answers ``ok`` to anyone (it reveals nothing). ``GET /metrics`` is
served here only when ``METRICS_TOKEN`` is set and the request carries it; otherwise
the path does not exist (404). The token is part of the URL, so there is no access log.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot import maxapi
from bot.domain.job_states import UPSTREAM
from bot.services.jobs import JobService
from bot.services.metrics import Metrics, bearer_matches
from bot.services.poller import TokenBucket
from bot.services.tasks import Tasks
from bot.settings import Secret, Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a task object is a few hundred bytes
MAX_TASK_ID_CHARS = 128
MAX_PENDING = 1_000  # callbacks waiting to be looked at; beyond, the fallback poll catches up
WARN_EVERY = 60.0  # seconds between two warnings about the same kind of forged traffic
#: The per-job tokens ``JobService.submit`` makes: ``secrets.token_urlsafe(24)``.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


def route_prefix(public_url: str) -> str:
    """The path part of ``WEBHOOK_PUBLIC_URL`` without a trailing slash ("" for none)."""
    return urlsplit(public_url).path.rstrip("/")


def task_id_from(body: bytes) -> str | None:
    """The task id in a callback body, read leniently (``data.taskId``, ``taskId``, …)."""
    try:
        payload: Any = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # incl. UnicodeDecodeError
        return None
    if not isinstance(payload, dict):
        return None
    for holder in (payload.get("data"), payload):
        if not isinstance(holder, dict):
            continue
        for key in ("taskId", "task_id"):
            value = holder.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


class BurstWarning:
    """Log a warning at most once per ``every`` seconds, with how many times it happened
    since the last one: a flood of forged requests makes one line a minute."""

    def __init__(
        self, message: str, every: float = WARN_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.message = message  # its first %d is the count
        self.every = every
        self.clock = clock
        self.count = 0
        self._last: float | None = None

    def note(self, *args: object) -> None:
        self.count += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return
        log.warning(self.message, self.count, *args)
        self.count = 0
        self._last = now


class CallbackReceiver:
    """An aiohttp app for Max API callbacks (and ``/healthz``, ``/metrics``); ``start``/``stop``."""

    def __init__(
        self,
        jobs: JobService,
        public_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body: int = MAX_BODY_BYTES,
        max_pending: int = MAX_PENDING,
        concurrency: int = 8,
        limiter: TokenBucket | None = None,
        metrics: Metrics | None = None,
        metrics_token: Secret | None = None,
    ) -> None:
        self.jobs = jobs
        self.public_url = public_url.rstrip("/")
        self.host = host
        self.port = port
        self.max_body = max_body
        self.max_pending = max_pending
        self.limiter = limiter
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics_token = metrics_token
        self.path = f"{route_prefix(public_url)}/{{token}}"
        self._slots = asyncio.Semaphore(concurrency)
        self._pending = Tasks()
        self._dropped = BurstWarning(
            "dropped %d callback(s) since the last warning: %d already waiting; "
            "the poller catches up"
        )
        self._wrong_token = BurstWarning(
            "%d callback(s) with a wrong token since the last warning (latest: task %r)"
        )
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self.app = self._build_app()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        jobs: JobService,
        *,
        limiter: TokenBucket | None = None,
        metrics: Metrics | None = None,
    ) -> CallbackReceiver | None:
        """The receiver the settings ask for, or None when callbacks are off."""
        if settings.webhook_public_url is None:
            return None
        return cls(
            jobs,
            settings.webhook_public_url,
            host=settings.webhook_host,
            port=settings.webhook_port,
            limiter=limiter,
            metrics=metrics,
            metrics_token=settings.metrics_token,
        )

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        app.router.add_post(self.path, self.callback)
        return app

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._bound_port is None:
            raise RuntimeError("the callback receiver is not started")
        return self._bound_port

    @property
    def pending(self) -> int:
        """Callbacks accepted and not yet handled."""
        return len(self._pending)

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._bound_port = int(address[1])
        log.info(
            "callback receiver listening on %s:%s, path %s/<token>",
            self.host,
            self._bound_port,
            route_prefix(self.public_url) or "",
        )

    async def stop(self) -> None:
        """Stop listening, then cancel callback work still pending (the poller covers it)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._pending.close()
        self._bound_port = None

    async def wait_idle(self) -> None:
        """Wait until every accepted callback has been handled (for tests and shutdown)."""
        await self._pending.idle()

    # -- handlers -----------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Only with ``METRICS_TOKEN`` set and presented; to anyone else it does not exist."""
        if self.metrics_token is None or not bearer_matches(request, self.metrics_token):
            raise web.HTTPNotFound()
        return await self.metrics.response()

    async def callback(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN_SHAPE.fullmatch(token):
            self._count("malformed")  # not one of ours: not even the body is read
            return web.Response(text="ok")
        if request.content_length is not None and request.content_length > self.max_body:
            self._count("too_large")
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._count("too_large")
            return web.Response(status=413, text="too large")
        task_id = task_id_from(body)
        if task_id is None or len(task_id) > MAX_TASK_ID_CHARS:
            self._count("ignored")
        elif len(self._pending) >= self.max_pending:
            self._count("dropped")
            self._dropped.note(len(self._pending))
        else:
            self._count("accepted")
            # The pair only, not the body.
            self._pending.spawn(self._handle(token, task_id), name="callback")
        return web.Response(text="ok")

    def _count(self, outcome: str) -> None:
        self.metrics.callbacks.labels(outcome=outcome).inc()

    async def _handle(self, token: str, task_id: str) -> None:
        """Find the job, check the token, and look at the task ourselves."""
        job = await self.jobs.store.by_task_id(task_id)
        if job is None or job.callback_token is None:
            log.debug("callback ignored: no job for task %r with a callback token", task_id)
            return
        if not hmac.compare_digest(job.callback_token.encode(), token.encode()):
            self._wrong_token.note(task_id)
            return
        if job.state not in UPSTREAM:
            log.debug("job %s: callback after the job left %s; nothing to do", job.id, job.state)
            return
        async with self._slots:
            if self.limiter is not None:
                await self.limiter.acquire()
            job = await self.jobs.store.get(job.id)  # may have moved while we waited
            if job is None or job.state not in UPSTREAM:
                return
            try:
                after = await self.jobs.refresh(job)
            except maxapi.MaxApiError as exc:
                log.warning(
                    "job %s: query after callback failed (%s); the poller will look again",
                    job.id,
                    exc,
                )
                return
        if after is not None and after.state in UPSTREAM:
            # Its next look may be earlier than the poller thinks.
            self.jobs.wake_poller(after.next_poll_at)
        log.info(
            "job %s: callback for task %s; now %s",
            job.id,
            job.task_id,
            after.state if after is not None else "?",
        )
