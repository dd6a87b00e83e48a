"""The bot's Prometheus metrics and where ``GET /metrics`` is served, with no Discord.

Each :class:`Metrics` has its own ``prometheus_client`` registry (never the global one,
so two bots or two tests in one process do not collide). Values that live in the
database (jobs by state, the oldest unfinished job) are read from the store when asked,
at most once per :data:`GAUGE_CACHE_SECONDS`: a burst of scrapes costs one query set.

``/metrics`` is served by :class:`MetricsServer` on ``METRICS_LISTEN``, and on the
callback listener only with ``METRICS_TOKEN`` (see :mod:`bot.services.webhook`). When
``METRICS_TOKEN`` is set, both require ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from bot.domain.job_states import TERMINAL, JobState
from bot.settings import Secret, Settings

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

GAUGE_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class JobGauges:
    """What the store says about jobs right now."""

    by_state: Mapping[str, int]
    oldest_unfinished_age: float | None  # seconds; None when nothing is unfinished

    @property
    def unfinished(self) -> int:
        finished = {state.value for state in TERMINAL}
        return sum(n for state, n in self.by_state.items() if state not in finished)


async def read_job_gauges(store: Store, now: float, guild_id: int | None = None) -> JobGauges:
    """Jobs by state and the oldest unfinished job's age, as the store has them now:
    every server's (``/metrics``), or one server's (``/status``)."""
    if guild_id is not None:
        counts, oldest = await store.guild_job_counts(guild_id)
    else:
        counts = await store.count_by_state()
        oldest = await store.oldest_unfinished_created_at()
    return JobGauges(counts, None if oldest is None else max(0.0, now - oldest))


class CachedGauges:
    """Job gauges read at most once per ``ttl`` seconds; callers arriving while a read
    is under way wait for it instead of starting their own."""

    def __init__(
        self,
        read: Callable[[], Awaitable[JobGauges]],
        ttl: float = GAUGE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._value: JobGauges | None = None
        self._read_at = 0.0

    async def get(self) -> JobGauges:
        async with self._lock:
            if self._value is None or self._clock() - self._read_at >= self.ttl:
                self._value = await self._read()
                self._read_at = self._clock()
            return self._value


class Metrics:
    """The bot's counters and gauges in a registry of its own."""

    def __init__(
        self,
        job_gauges: Callable[[], Awaitable[JobGauges]] | None = None,
        *,
        cache_for: float = GAUGE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry()
        self.callbacks = Counter(
            "atelier_callbacks",
            "Callback requests received, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        Gauge("atelier_up", "1 while the bot runs.", registry=self.registry).set(1)
        started = clock()
        Gauge(
            "atelier_uptime_seconds",
            "Seconds since this process opened its runtime.",
            registry=self.registry,
        ).set_function(lambda: max(0.0, clock() - started))
        self._gauges = CachedGauges(job_gauges, cache_for, clock) if job_gauges else None
        self._jobs = Gauge(
            "atelier_jobs", "Jobs in the database, by state.", ["state"], registry=self.registry
        )
        self._oldest = Gauge(
            "atelier_oldest_unfinished_job_age_seconds",
            "Age of the oldest job not yet in a final state (0 when none).",
            registry=self.registry,
        )

    async def exposition(self) -> bytes:
        """The Prometheus text format, with the job gauges refreshed (or cached)."""
        if self._gauges is not None:
            gauges = await self._gauges.get()
            for state in JobState:
                self._jobs.labels(state=state.value).set(gauges.by_state.get(state.value, 0))
            self._oldest.set(gauges.oldest_unfinished_age or 0.0)
        return generate_latest(self.registry)

    async def response(self) -> web.Response:
        body = await self.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def bearer_matches(request: web.Request, token: Secret) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogatepass"), token.get().encode()
    )


class MetricsServer:
    """``GET /metrics`` on a port of its own (``METRICS_LISTEN``); ``start``/``stop``."""

    def __init__(
        self, metrics: Metrics, *, host: str, port: int, token: Secret | None = None
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.token = token
        self.app = web.Application()
        self.app.router.add_get("/metrics", self.metrics_page)
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> MetricsServer | None:
        """The server ``METRICS_LISTEN`` asks for, or None when it is unset."""
        if settings.metrics_host is None:
            return None
        return cls(
            metrics,
            host=settings.metrics_host,
            port=settings.metrics_port,
            token=settings.metrics_token,
        )

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._bound_port is None:
            raise RuntimeError("the metrics server is not started")
        return self._bound_port

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        log.info("metrics at http://%s:%s/metrics", self.host, self._bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._bound_port = None

    async def metrics_page(self, request: web.Request) -> web.Response:
        if self.token is not None and not bearer_matches(request, self.token):
            return web.Response(
                status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"}
            )
        return await self.metrics.response()
