"""The callback receiver: a Max API callback makes us query that job's task now.

Off unless ``WEBHOOK_PUBLIC_URL`` is set; it serves ``POST <its path>/{token}`` on
``WEBHOOK_LISTEN``, plus ``/healthz`` and ``/metrics`` (only with ``METRICS_TOKEN``)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
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
MAX_PENDING = 1_000  # callbacks waiting; beyond that they are dropped and the poller catches up
WARN_EVERY = 60.0  # seconds between two warnings about the same kind of forged traffic
#: How long a callback's own query holds the job from the pollers (it ends when answered).
CALLBACK_CLAIM = 30.0


def route_prefix(public_url: str) -> str:
    """The path part of ``WEBHOOK_PUBLIC_URL`` without a trailing slash ("" for none)."""
    return urlsplit(public_url).path.rstrip("/")


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
    """An aiohttp app for Max API callbacks, ``/healthz`` and ``/metrics``. Max API signs
    nothing, so a callback body only names a task: we check the URL token, then query."""

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
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics_page)
        self.app.router.add_post(self.path, self.callback)

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
        # No access log: the token is part of the URL.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        log.info(
            "callback receiver listening on %s:%s, path %s", self.host, self._bound_port, self.path
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

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Only with ``METRICS_TOKEN`` set and sent; to anyone else the page does not exist."""
        if self.metrics_token is None or not bearer_matches(request, self.metrics_token):
            raise web.HTTPNotFound()
        return await self.metrics.response()

    async def callback(self, request: web.Request) -> web.Response:
        """Queue the (token, task id) pair and answer ``ok`` at once, the same for every
        request, so the sender learns nothing about which jobs or tokens exist."""
        token = request.match_info["token"]
        if not maxapi.is_callback_token(token):
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
        task_id = maxapi.callback_task_id(body)
        if task_id is None or len(task_id) > MAX_TASK_ID_CHARS:
            self._count("ignored")
        elif len(self._pending) >= self.max_pending:
            self._count("dropped")
            self._dropped.note(len(self._pending))
        else:
            self._count("accepted")
            self._pending.spawn(self._handle(token, task_id), name="callback")
        return web.Response(text="ok")

    def _count(self, outcome: str) -> None:
        self.metrics.callbacks.labels(outcome=outcome).inc()

    async def _handle(self, token: str, task_id: str) -> None:
        """Find the job, check its token in constant time, and query Max API ourselves: the
        status in the body is never trusted. The store's compare-and-set settles a race."""
        job = await self.jobs.store.by_task_id(task_id)
        if job is None or job.callback_token is None:
            log.debug("callback ignored: no job for task %r with a callback token", task_id)
            return
        if not hmac.compare_digest(job.callback_token.encode(), token.encode()):
            self._wrong_token.note(task_id)
            return
        if job.state not in UPSTREAM:
            log.debug("job %s: callback when the job is already %s", job.id, job.state)
            return
        async with self._slots:
            if self.limiter is not None:
                await self.limiter.acquire()
            # Claimed like a poll, so no poller (in any process) queries it meanwhile; None:
            # a poll is running now, or the job moved on while this waited.
            now = self.jobs.clock()
            claimed = await self.jobs.store.claim_poll(job.id, now, now + CALLBACK_CLAIM)
            if claimed is None:
                return
            job = claimed
            try:
                after = await self.jobs.refresh(job)
            except maxapi.MaxApiError as exc:
                await self.jobs.store.update(job.id, next_poll_at=job.next_poll_at)  # unclaim
                log.warning(
                    "job %s: query after callback failed (%s); the poller will try again",
                    job.id,
                    exc,
                )
                return
        if after is not None and after.state in UPSTREAM:
            # Its next poll may be due earlier than the poller thinks.
            self.jobs.wake_poller(after.next_poll_at)
        log.info(
            "job %s: callback for task %s; now %s",
            job.id,
            job.task_id,
            after.state if after is not None else "?",
        )
