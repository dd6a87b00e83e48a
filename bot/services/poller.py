"""The poller: one loop claims the due jobs there are free slots for, polls each on Max
API, and sleeps until the next ``next_poll_at`` or a wake-up. A failed poll never ends the
job nor stops the loop: its next poll is pushed back; a :class:`TokenBucket` paces queries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import maxapi
from bot.domain.job import Job
from bot.domain.job_states import UPSTREAM
from bot.services import cluster
from bot.services.jobs import JobService
from bot.services.tasks import Tasks

log = logging.getLogger(__name__)

# POLL_RATE=auto (TokenBucket(adaptive=True)): each 429 halves the rate down to FLOOR
# queries a second; 429s within SETTLE seconds of a halving count as that one; every
# CLIMB_EVERY seconds without a 429 the rate climbs back by CLIMB of the ceiling.
FLOOR = 1.0
SETTLE = 1.0
CLIMB = 0.1
CLIMB_EVERY = 5.0


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, in bursts of up to ``burst``.
    ``adaptive`` (``POLL_RATE=auto``): ``rate`` is a ceiling, halved by each 429
    (:meth:`slow_down`) and climbed back while none comes, which aiolimiter cannot do."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        adaptive: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if burst is not None and burst < 1:
            raise ValueError("burst must be >= 1")
        self.total = float(rate)  # the whole cluster's, when processes share it
        self.ceiling = self.total
        self.rate = self.ceiling
        self.adaptive = adaptive
        self.floor = min(FLOOR, self.ceiling)
        self._burst = None if burst is None else float(burst)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._slowed_at = -math.inf  # the last halving
        self._changed_at = self._updated  # the last halving or climb step
        self._lock = asyncio.Lock()

    def __str__(self) -> str:
        if self.adaptive:
            return f"up to {self.ceiling:g} queries a second, halved on each 429"
        return f"{self.ceiling:g} queries a second"

    @property
    def capacity(self) -> float:
        """The largest burst: ``burst``, or one second's worth at the current rate."""
        return self._burst if self._burst is not None else max(1.0, self.rate)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                wait = self.take()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)

    def take(self) -> float:
        """Take a token if one is free and return 0, else return the seconds until one is."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self.rate < self.ceiling:
            self._climb(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def share(self, processes: int) -> None:
        """Take this process's fair part of the total: ``POLL_RATE`` is the cluster's."""
        self.ceiling = self.total / max(1, processes)
        self.floor = min(FLOOR, self.ceiling)
        self.rate = min(self.rate, self.ceiling) if self.adaptive else self.ceiling

    def slow_down(self) -> None:
        """Max API answered 429: halve the rate and empty the bucket (adaptive only).
        More 429s within ``SETTLE`` seconds answer queries sent before it: they count once."""
        now = self._clock()
        if not self.adaptive or now - self._slowed_at < SETTLE:
            return
        self._slowed_at = self._changed_at = now
        self._tokens = 0.0
        self._updated = now
        if self.rate > self.floor:
            self.rate = max(self.floor, self.rate / 2)
            log.warning(
                "Max API says too many requests: polling at most %.3g a second for now "
                "(POLL_RATE_MAX %.3g)",
                self.rate,
                self.ceiling,
            )

    def _climb(self, now: float) -> None:
        """Add ``CLIMB`` of the ceiling for each ``CLIMB_EVERY`` seconds without a 429."""
        steps = math.floor((now - self._changed_at) / CLIMB_EVERY)
        if steps <= 0:
            return
        self._changed_at += steps * CLIMB_EVERY
        self.rate = min(self.ceiling, self.rate + steps * CLIMB * self.ceiling)
        if self.rate >= self.ceiling:
            log.info("no 429 for a while: polling at up to %.3g a second again", self.ceiling)


@dataclass
class PollerStats:
    """Counters for the health check and metrics."""

    polls: int = 0
    api_errors: int = 0
    unexpected_errors: int = 0
    timeouts: int = 0


class Poller:
    """Polls each job when its poll is due; start with :meth:`start`, end with :meth:`stop`.

    A poll claims its job in the database for ``job_timeout`` seconds, so no read returns
    the job while it is polled; ``clock`` must agree with the :class:`JobService`'s."""

    def __init__(
        self,
        jobs: JobService,
        *,
        concurrency: int = 16,
        rate: float | None = 20.0,
        burst: float | None = None,
        adaptive: bool = False,
        job_timeout: float | None = None,
        max_sleep: float = 60.0,
        error_pause: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.jobs = jobs
        self.store = jobs.store
        self.concurrency = concurrency
        self.limiter = TokenBucket(rate, burst, adaptive=adaptive) if rate else None
        if self.limiter is not None:  # every 429, the webhook's polls' too, slows it down
            jobs.api.on_rate_limited = self.limiter.slow_down
        # A poll's time limit, and how long its claim holds the job: the cluster's lease,
        # after which a dead process's polls are taken over.
        self.job_timeout = cluster.LEASE_SECONDS if job_timeout is None else job_timeout
        self.max_sleep = max_sleep
        self.error_pause = error_pause
        self.clock = clock or jobs.clock
        self.stats = PollerStats()
        self._wake = asyncio.Event()
        #: When the sleeping loop reads the store next; ``None`` while it is awake or
        #: waits for a free slot (then any wake-up counts).
        self._asleep_until: float | None = None
        self._polls = Tasks()
        self._runner: asyncio.Task[None] | None = None
        jobs.wake_poller = self.wake

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def start(self) -> None:
        if self.running:
            return
        self._runner = asyncio.create_task(self.run(), name="poller")

    async def stop(self) -> None:
        """Cancel the loop and every poll in flight, and wait until they are gone."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._polls.close()

    def wake(self, at: float | None = None) -> None:
        """A poll time ``at`` was just set (``None``: maybe one is due now). The loop
        reads the store again, unless it will anyway by then."""
        if at is None or self._asleep_until is None or at < self._asleep_until:
            self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        log.info(
            "poller started: %s, %d at once", self.limiter or "no rate limit", self.concurrency
        )
        try:
            while True:
                self._wake.clear()  # before reading, so no wake-up is lost
                try:
                    until = await self._start_due()
                except Exception:
                    log.exception(
                        "poller: reading due jobs failed; again in %s s", self.error_pause
                    )
                    until = self.clock() + self.error_pause
                await self._sleep(until)
        finally:
            log.info("poller stopped")

    async def _start_due(self) -> float | None:
        """Claim and start a poll for each due job there is a free slot for; return when
        the next poll is due (``None``: when a slot frees)."""
        free = self.concurrency - len(self._polls)
        if free <= 0:
            return None
        now = self.clock()
        due = await self.store.claim_due_polls(now, free, now + self.job_timeout)
        for job in due:
            task = self._polls.spawn(self._poll(job), name=f"poll-{job.id}")
            task.add_done_callback(self._poll_ended)
        if len(due) == free:
            return None
        next_at = await self.store.next_poll_time()
        return math.inf if next_at is None else next_at

    async def _sleep(self, until: float | None) -> None:
        """Until ``until`` (``None``: until a poll ends) or a wake-up; ``max_sleep`` at most."""
        now = self.clock()
        delay = self.max_sleep if until is None else min(self.max_sleep, until - now)
        if delay <= 0:
            await asyncio.sleep(0)
            return
        self._asleep_until = None if until is None else now + delay
        try:
            # Not wait_for: on 3.11 it swallows a cancel that meets a wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        finally:
            self._asleep_until = None

    def _poll_ended(self, task: asyncio.Task[float | None]) -> None:
        """A slot is free, and the job's next poll may come before the loop's next read
        (which saw the claim's end)."""
        if task.cancelled():
            return
        crashed = task.exception() is not None  # its next poll is unknown: read again
        at = None if crashed else task.result()
        if crashed or self._asleep_until is None or (at is not None and at < self._asleep_until):
            self._wake.set()

    # -- one poll -----------------------------------------------------------------------

    async def _poll(self, job: Job) -> float | None:
        """Poll one claimed job; return its next poll time, if it has one."""
        try:
            after = await self._refresh(job)
        except asyncio.CancelledError:
            # Stopped mid-poll: give the claim back, so the next start polls it at once.
            with contextlib.suppress(Exception):
                await self.store.update_if(job.id, UPSTREAM, next_poll_at=self.clock())
            raise
        if after is None or after.state not in UPSTREAM:
            return None  # it moved on, or nothing was recorded: its row says
        return after.next_poll_at

    async def _refresh(self, job: Job) -> Job | None:
        try:
            if self.limiter is not None:
                await self.limiter.acquire()
            async with asyncio.timeout(self.job_timeout):
                result = await self.jobs.refresh(job)
            self.stats.polls += 1
        except maxapi.MaxApiError as exc:
            self.stats.api_errors += 1
            if exc.transient:
                log.warning("job %s: query failed (%s); backing off", job.id, exc)
            else:
                log.error("job %s: query refused (%r); backing off", job.id, exc)
            return await self._back_off(job, exc)
        except TimeoutError:
            self.stats.timeouts += 1
            log.warning("job %s: poll took over %s s; backing off", job.id, self.job_timeout)
            error = maxapi.NetworkError(f"poll took longer than {self.job_timeout:g} s")
            return await self._back_off(job, error)
        except Exception:
            self.stats.unexpected_errors += 1
            log.exception("job %s: poll failed unexpectedly; backing off", job.id)
            return await self._back_off(job, None)
        if (
            result is not None
            and result.state in UPSTREAM
            and result.next_poll_at in (None, job.next_poll_at)
        ):
            # Nothing replaced the claim (e.g. a row without a task id): back off, so the
            # job is not polled again as soon as the claim ends, forever.
            log.warning("job %s: poll set no next poll time; backing off", job.id)
            return await self._back_off(job, None)
        return result

    async def _back_off(self, job: Job, error: maxapi.MaxApiError | None) -> Job | None:
        """Push the job's next poll back; the job itself keeps going."""
        try:
            if error is not None:
                return await self.jobs.poll_failed(job, error)
            delay = self.jobs.schedule.error_delay(job.poll_errors + 1)
            return await self.store.increment(
                job.id, "poll_errors", next_poll_at=self.clock() + delay
            )
        except Exception:
            log.exception("job %s: could not record the failed poll", job.id)
            return job  # its claim stands: it is polled again when the claim ends
