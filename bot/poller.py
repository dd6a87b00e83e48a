"""The background poller: looks at every job with a task id when its next look is due.

One loop in the shape of RoboDanny's timer dispatcher: sleep until the earliest
``next_poll_at`` in the store, or until :meth:`Poller.wake` says an earlier one was
just set (``JobService.wake_poller`` is pointed at it); then refresh the due jobs
concurrently. Due jobs are read in batches (``batch`` rows per query, skipping the
ones already in hand) and kept in memory until a slot frees: at thousands of jobs in
flight, re-reading the earliest rows after every look cost more than the look itself.
When to look is :class:`~bot.poll_schedule.PollSchedule`'s business, recorded per job
by :class:`~bot.jobs.JobService`; the poller only keeps the appointments.

Two limits keep 10,000 jobs in flight from flooding Max API: at most ``concurrency``
looks run at once (the loop never starts more, so no task piles up waiting), and a
global :class:`TokenBucket` spaces the queries out (``rate`` per second). A look that
fails never ends the job and never stops the loop: API errors back off through
``JobService.poll_failed``, anything else is logged with the job id and the job's next
look is pushed back, so one broken job can neither spin nor starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot import maxapi
from bot.job_states import UPSTREAM
from bot.jobs import JobService
from bot.store import Job

log = logging.getLogger(__name__)

#: Due jobs read per store query. A job waits in memory at most as long as the looks
#: ahead of it take, so its row is only slightly stale when looked at (every write of
#: a look is conditional on the job's state, so a stale copy cannot undo a change).
BATCH = 256


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, in bursts of up to ``burst``.

    Waiters are served in arrival order (one lock), so a burst of looks is spread out
    evenly instead of retried in a thundering herd.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = float(rate)
        self.capacity = float(burst) if burst is not None else max(1.0, self.rate)
        if self.capacity < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


@dataclass
class PollerStats:
    """Counters for health checks and metrics (issue 7)."""

    looks: int = 0
    api_errors: int = 0
    unexpected_errors: int = 0
    timeouts: int = 0


class Poller:
    """Keeps every job's poll appointments; start with :meth:`start`, end with :meth:`stop`.

    ``clock`` must tell the same time as the :class:`JobService`'s (it is compared with
    the ``next_poll_at`` values that the service wrote) and move at real speed, because
    the loop sleeps with asyncio.
    """

    def __init__(
        self,
        jobs: JobService,
        *,
        concurrency: int = 16,
        rate: float | None = 20.0,
        burst: float | None = None,
        job_timeout: float = 120.0,
        max_sleep: float = 60.0,
        error_pause: float = 5.0,
        clock: Callable[[], float] | None = None,
        batch: int = BATCH,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be >= 1")
        self.jobs = jobs
        self.store = jobs.store
        self.concurrency = concurrency
        self.limiter = TokenBucket(rate, burst) if rate else None
        self.job_timeout = job_timeout
        self.max_sleep = max_sleep
        self.error_pause = error_pause
        self.clock = clock or jobs.clock
        self.batch = batch
        self.stats = PollerStats()
        self._wake = asyncio.Event()
        self._asleep_until: float | None = None  # None while the loop is awake
        self._due: deque[Job] = deque()  # read from the store, not started yet
        self._due_ids: set[int] = set()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        jobs.wake_poller = self.wake

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    @property
    def in_flight(self) -> frozenset[int]:
        """Ids of the jobs being looked at right now."""
        return frozenset(self._in_flight)

    def start(self) -> None:
        if self.running:
            return
        self._runner = asyncio.create_task(self.run(), name="poller")

    async def stop(self) -> None:
        """Cancel the loop and every look in flight, and wait until they are gone."""
        tasks = [t for t in (self._runner, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._runner = None
        self._in_flight.clear()
        self._due.clear()
        self._due_ids.clear()

    def wake(self, at: float | None = None) -> None:
        """An appointment at ``at`` was just set (``None``: maybe one due now).

        The loop re-reads the store unless it was going to wake up before ``at``
        anyway: 10,000 submits in a burst would otherwise cost 10,000 re-reads.
        """
        if at is not None and self._asleep_until is not None and at >= self._asleep_until:
            return
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        log.info("poller started (concurrency %d)", self.concurrency)
        try:
            while True:
                self._wake.clear()  # before reading, so no wake-up is lost
                try:
                    delay = await self._tick()
                except Exception:
                    log.exception(
                        "poller: reading due jobs failed; again in %s s", self.error_pause
                    )
                    delay = self.error_pause
                await self._sleep(delay)
        finally:
            log.info("poller stopped")

    async def _tick(self) -> float:
        """Start the due looks there is room for; return how long to sleep."""
        if len(self._due) < self.concurrency:
            await self.jobs.answers.wait()  # a batch read holds the database thread
            await self._refill(self.clock())
        started = self._start_due()
        if self._due or len(self._in_flight) >= self.concurrency:
            return self.max_sleep  # a finishing look wakes the loop
        next_at = await self.store.next_poll_time(skip=tuple(self._in_flight))
        if next_at is None:
            return self.max_sleep
        delay = min(self.max_sleep, next_at - self.clock())
        if delay <= 0 and not started:
            return 0.01  # due per the store but not startable: never spin
        return max(0.0, delay)

    async def _refill(self, now: float) -> None:
        """Read the next due jobs that are neither waiting here nor being looked at."""
        skip = self._due_ids | self._in_flight.keys()
        for job in await self.store.due_for_poll(now, self.batch, skip=skip):
            if job.id not in self._due_ids and job.id not in self._in_flight:
                self._due.append(job)
                self._due_ids.add(job.id)

    def _start_due(self) -> int:
        started = 0
        while self._due and len(self._in_flight) < self.concurrency:
            job = self._due.popleft()
            self._due_ids.discard(job.id)
            self._start(job)
            started += 1
        return started

    async def _sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        self._asleep_until = self.clock() + delay
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        finally:
            self._asleep_until = None

    # -- one look -----------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._look(job), name=f"poll-{job.id}")
        self._in_flight[job.id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._in_flight.get(job.id) is finished:
                del self._in_flight[job.id]
            if not finished.cancelled() and finished.exception() is not None:
                log.error("job %s: poll task crashed", job.id, exc_info=finished.exception())
            self._wake.set()  # a slot is free and the job has a new appointment

        task.add_done_callback(done)

    async def _look(self, job: Job) -> None:
        try:
            await self.jobs.answers.wait()
            if self.limiter is not None:
                await self.limiter.acquire()
            async with asyncio.timeout(self.job_timeout):
                result = await self.jobs.refresh(job)
            self.stats.looks += 1
        except maxapi.MaxApiError as exc:
            self.stats.api_errors += 1
            if exc.transient:
                log.warning("job %s: query failed (%s); backing off", job.id, exc)
            else:
                log.error("job %s: query refused (%r); backing off", job.id, exc)
            await self._back_off(job, exc)
            return
        except TimeoutError:
            self.stats.timeouts += 1
            log.warning("job %s: look took over %s s; backing off", job.id, self.job_timeout)
            error = maxapi.NetworkError(f"poll took longer than {self.job_timeout:g} s")
            await self._back_off(job, error)
            return
        except Exception:
            self.stats.unexpected_errors += 1
            log.exception("job %s: poll failed unexpectedly; backing off", job.id)
            await self._back_off(job, None)
            return
        if (
            result is not None
            and result.state in UPSTREAM
            and (result.next_poll_at is None or result.next_poll_at <= self.clock())
        ):
            # Nothing moved the appointment (e.g. a row without a task id): push it back
            # rather than look again at once, forever.
            log.warning("job %s: look left no next appointment; backing off", job.id)
            await self._back_off(job, None)

    async def _back_off(self, job: Job, error: maxapi.MaxApiError | None) -> None:
        """Push the job's next look back; the job itself keeps going."""
        try:
            if error is not None:
                await self.jobs.poll_failed(job, error)
            else:
                delay = self.jobs.schedule.error_delay(job.poll_errors + 1)
                await self.store.increment(job.id, "poll_errors", next_poll_at=self.clock() + delay)
        except Exception:
            log.exception("job %s: could not record the failed look", job.id)
