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

Every request that fits the size cap gets the same immediate ``200 ok``, before any
lookup, whatever its token or task id: the sender learns nothing about which jobs or
tokens exist (and Max API does not care about the answer; it never retries). An
oversized body gets 413. Polling stays on as the fallback for lost callbacks.

The token is part of the URL, so the receiver keeps no access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot import maxapi
from bot.job_states import UPSTREAM
from bot.jobs import JobService
from bot.metrics import CONTENT_TYPE, Metrics, Sample, render
from bot.poller import TokenBucket
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a task object is a few hundred bytes
MAX_TOKEN_CHARS = 128
MAX_PENDING = 20_000  # callbacks waiting to be looked at (a burst of every job in flight);
# beyond this the fallback poll catches up


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


class CallbackReceiver:
    """An aiohttp app for Max API callbacks (and ``GET /healthz``); ``start``/``stop``."""

    def __init__(
        self,
        jobs: JobService,
        public_url: str,
        *,
        host: str = "0.0.0.0",
        port: int = 8080,
        max_body: int = MAX_BODY_BYTES,
        concurrency: int = 8,
        limiter: TokenBucket | None = None,
    ) -> None:
        self.jobs = jobs
        self.public_url = public_url.rstrip("/")
        self.host = host
        self.port = port
        self.max_body = max_body
        self.limiter = limiter
        self.path = f"{route_prefix(public_url)}/{{token}}"
        self._slots = asyncio.Semaphore(concurrency)
        self._pending: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self.metrics = Metrics()
        self.metrics.describe(
            "atelier_callbacks_total", "counter", "Callback requests received, by outcome."
        )
        self.metrics_source: Callable[[], Awaitable[list[Sample]]] | None = None
        """Extra samples for ``GET /metrics`` (the runtime's job gauges)."""
        self.app = self._build_app()

    @classmethod
    def from_settings(
        cls, settings: Settings, jobs: JobService, *, limiter: TokenBucket | None = None
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
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._bound_port = None

    async def wait_idle(self) -> None:
        """Wait until every accepted callback has been handled (for tests and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- handlers -----------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Prometheus text format: the runtime's gauges, then the listener's counters."""
        samples = list(await self.metrics_source()) if self.metrics_source is not None else []
        samples += self.metrics.samples()
        return web.Response(body=render(samples).encode(), headers={"Content-Type": CONTENT_TYPE})

    async def callback(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.max_body:
            self.metrics.inc("atelier_callbacks_total", outcome="too_large")
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.metrics.inc("atelier_callbacks_total", outcome="too_large")
            return web.Response(status=413, text="too large")
        token = request.match_info["token"]
        if len(self._pending) >= MAX_PENDING:
            self.metrics.inc("atelier_callbacks_total", outcome="dropped")
            log.warning("callback dropped: %d already pending", len(self._pending))
        else:
            self.metrics.inc("atelier_callbacks_total", outcome="accepted")
            self._spawn(self._handle(token, body))
        return web.Response(text="ok")

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name="callback")
        self._pending.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._pending.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("callback handling crashed", exc_info=finished.exception())

        task.add_done_callback(done)

    async def _handle(self, token: str, body: bytes) -> None:
        """Find the job, check the token, and look at the task ourselves."""
        task_id = task_id_from(body)
        if task_id is None or len(token) > MAX_TOKEN_CHARS:
            log.info("callback ignored: no task id in the body, or an overlong token")
            return
        shown = task_id[:80]  # the sender chose it: keep log lines short, %r-escaped
        job = await self.jobs.store.by_task_id(task_id)
        if job is None or job.callback_token is None:
            log.info("callback ignored: no job for task %r with a callback token", shown)
            return
        if not hmac.compare_digest(job.callback_token.encode(), token.encode()):
            log.warning("callback ignored: wrong token for task %r (job %s)", shown, job.id)
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
