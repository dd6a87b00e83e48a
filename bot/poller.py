"""The background poller: looks at every job with a task id when its next look is due.

One loop in the shape of RoboDanny's timer dispatcher: sleep until the earliest
``next_poll_at``, or until :meth:`Poller.wake` says an earlier one was just set
(``JobService.wake_poller`` is pointed at it); then refresh the due jobs concurrently.

The loop reads ahead: one query brings every appointment of the next ``lookahead``
seconds (up to ``batch`` rows, skipping the jobs already in hand), and the loop keeps
them in memory in time order and starts each when it is due, until that stretch of
time is used up. At thousands of jobs in flight, reading the store for each due look
cost more than the look itself, and the reads made the looks late (they wait on the
database thread, which the looks' own writes keep busy). An appointment set inside
the stretch already read (``wake(at)``) shortens it, so the next read comes by then;
one set without a wake-up is found by the next read, at most ``lookahead`` (or
``max_sleep`` when idle) later. A held row can be up to ``lookahead`` seconds stale
when its look starts: every write of a look is conditional on the job's state, so a
stale copy cannot undo a change.
When to look is :class:`~bot.poll_schedule.PollSchedule`'s business, recorded per job
by :class:`~bot.jobs.JobService`; the poller only keeps the appointments.

Two limits keep 10,000 jobs in flight from flooding Max API: at most ``concurrency``
looks run at once (the loop never starts more, so no task piles up waiting), and a
global :class:`TokenBucket` spaces the queries out (``rate`` per second). The poller
only looks at due jobs, so the rate it uses follows the jobs in flight and their
schedules; the bucket is only a ceiling, which ``POLL_RATE=auto`` halves on each 429
(``adaptive``). A look that fails never ends the job and never stops the loop: API
errors back off through ``JobService.poll_failed``, anything else is logged with the
job id and the job's next look is pushed back, so one broken job can neither spin nor
starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import maxapi
from bot.job_states import UPSTREAM
from bot.jobs import JobService
from bot.store import Job

log = logging.getLogger(__name__)

#: Appointments read per store query (a backlog of due looks is read in these steps).
BATCH = 256
#: Seconds of appointments read ahead by one query. Longer: fewer reads, staler rows.
LOOKAHEAD = 0.5
# POLL_RATE=auto (TokenBucket(adaptive=True)): each 429 halves the rate down to FLOOR
# queries a second; 429s within SETTLE seconds of a halving count as that one; every
# CLIMB_EVERY seconds without a 429 the rate climbs back by CLIMB of the ceiling.
FLOOR = 1.0
SETTLE = 1.0
CLIMB = 0.1
CLIMB_EVERY = 5.0


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, in bursts of up to ``burst``;
    waiters are served in arrival order. ``adaptive`` (``POLL_RATE=auto``): ``rate`` is a
    ceiling, halved by each 429 (:meth:`slow_down`) and climbed back while none comes."""

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
        self.ceiling = float(rate)
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
        adaptive: bool = False,
        job_timeout: float = 120.0,
        max_sleep: float = 60.0,
        error_pause: float = 5.0,
        clock: Callable[[], float] | None = None,
        batch: int = BATCH,
        lookahead: float = LOOKAHEAD,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be >= 1")
        self.jobs = jobs
        self.store = jobs.store
        self.concurrency = concurrency
        self.limiter = TokenBucket(rate, burst, adaptive=adaptive) if rate else None
        if self.limiter is not None:  # every 429, the webhook's looks' too, slows it down
            jobs.api.on_rate_limited = self.limiter.slow_down
        self.job_timeout = job_timeout
        self.max_sleep = max_sleep
        self.error_pause = error_pause
        self.clock = clock or jobs.clock
        self.batch = batch
        self.lookahead = lookahead
        self.stats = PollerStats()
        self._wake = asyncio.Event()
        self._asleep_until: float | None = None  # None while the loop is awake
        # Read from the store, not started yet, earliest appointment first.
        self._held: list[tuple[float, int, Job]] = []
        self._held_ids: set[int] = set()
        # Every appointment before this time is held or in flight (-inf: read first).
        self._covered_until = -math.inf
        self._in_flight: dict[int, asyncio.Task[float | None]] = {}
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
        self._held.clear()
        self._held_ids.clear()
        self._covered_until = -math.inf

    def wake(self, at: float | None = None) -> None:
        """An appointment at ``at`` was just set (``None``: maybe one due now).

        If the loop had read past ``at`` it reads again in time to hold the job before
        ``at``; it is woken only if it was going to sleep past that: 10,000 submits in
        a burst would otherwise cost 10,000 reads.
        """
        read_by = self._expect(-math.inf if at is None else at)
        if self._asleep_until is not None and read_by >= self._asleep_until:
            return
        self._wake.set()

    def _expect(self, at: float) -> float:
        """Make sure the store is read again in time to hold an appointment at ``at``;
        return when that read is due."""
        read_by = at - self.lookahead
        self._covered_until = min(self._covered_until, read_by)
        return read_by

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        log.info(
            "poller started: %s, %d at once", self.limiter or "no rate limit", self.concurrency
        )
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
        started = self._start_due()
        now = self.clock()
        if now >= self._covered_until and self._wants_more(now):
            await self.jobs.answers.wait()  # a read holds the database thread
            await self._read_ahead(self.clock())
            started += self._start_due()
        if len(self._in_flight) >= self.concurrency:
            return self.max_sleep  # a finishing look wakes the loop
        next_at = min(self._held[0][0], self._covered_until) if self._held else self._covered_until
        delay = min(self.max_sleep, next_at - self.clock())
        if delay <= 0 and not started:
            return 0.01  # due per the store but not startable: never spin
        return max(0.0, delay)

    def _wants_more(self, now: float) -> bool:
        """Whether a read may find a look to start soon: not while a backlog of due
        rows already in hand fills every free slot."""
        return len(self._held) < self.concurrency or self._held[0][0] > now

    async def _read_ahead(self, now: float) -> None:
        """Hold every appointment up to ``now + lookahead`` that is neither held nor
        being looked at (up to ``batch`` rows), and say how far that covers."""
        horizon = now + self.lookahead
        skip = self._held_ids | self._in_flight.keys()
        # A wake-up during the read may shorten the stretch: it lowers this mark.
        self._covered_until = math.inf
        try:
            rows = await self.store.due_for_poll(horizon, self.batch, skip=skip)
            for job in rows:
                if job.id in self._held_ids or job.id in self._in_flight:
                    continue
                at = job.next_poll_at if job.next_poll_at is not None else now
                heapq.heappush(self._held, (at, job.id, job))
                self._held_ids.add(job.id)
            if len(rows) >= self.batch:  # a backlog: covered up to the last row read
                covered = rows[-1].next_poll_at or now
            elif self._held:
                covered = horizon
            else:  # nothing soon: ask when the next appointment is, to sleep till then
                next_at = await self.store.next_poll_time(skip=tuple(self._in_flight))
                covered = (math.inf if next_at is None else next_at) - self.lookahead
        except BaseException:
            self._covered_until = -math.inf  # read again after the pause
            raise
        # Read again at least every max_sleep: an appointment set without a wake-up is
        # found then.
        self._covered_until = min(covered, now + self.max_sleep, self._covered_until)

    def _start_due(self) -> int:
        started = 0
        now = self.clock()
        while self._held and self._held[0][0] <= now and len(self._in_flight) < self.concurrency:
            _, job_id, job = heapq.heappop(self._held)
            self._held_ids.discard(job_id)
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

        def done(finished: asyncio.Task[float | None]) -> None:
            if self._in_flight.get(job.id) is finished:
                del self._in_flight[job.id]
            if finished.cancelled():
                return
            if finished.exception() is not None:
                log.error("job %s: poll task crashed", job.id, exc_info=finished.exception())
                self._expect(-math.inf)  # its appointment is unknown: read again
            elif (at := finished.result()) is not None:
                # Reads skipped the job while it was in flight, so they may have read
                # past its new appointment: only now is it readable again.
                self._expect(at)
            self._wake.set()  # a slot is free and the job has a new appointment

        task.add_done_callback(done)

    async def _look(self, job: Job) -> float | None:
        """Look at one job; return its next appointment, if it has one."""
        after = await self._refresh(job)
        if after is None or after.state not in UPSTREAM:
            return None  # it moved on, or nothing was recorded: its row says
        return after.next_poll_at

    async def _refresh(self, job: Job) -> Job | None:
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
            return await self._back_off(job, exc)
        except TimeoutError:
            self.stats.timeouts += 1
            log.warning("job %s: look took over %s s; backing off", job.id, self.job_timeout)
            error = maxapi.NetworkError(f"poll took longer than {self.job_timeout:g} s")
            return await self._back_off(job, error)
        except Exception:
            self.stats.unexpected_errors += 1
            log.exception("job %s: poll failed unexpectedly; backing off", job.id)
            return await self._back_off(job, None)
        if (
            result is not None
            and result.state in UPSTREAM
            and (result.next_poll_at is None or result.next_poll_at <= self.clock())
        ):
            # Nothing moved the appointment (e.g. a row without a task id): push it back
            # rather than look again at once, forever.
            log.warning("job %s: look left no next appointment; backing off", job.id)
            return await self._back_off(job, None)
        return result

    async def _back_off(self, job: Job, error: maxapi.MaxApiError | None) -> Job | None:
        """Push the job's next look back; the job itself keeps going."""
        try:
            if error is not None:
                return await self.jobs.poll_failed(job, error)
            delay = self.jobs.schedule.error_delay(job.poll_errors + 1)
            return await self.store.increment(
                job.id, "poll_errors", next_poll_at=self.clock() + delay
            )
        except Exception:
            log.exception("job %s: could not record the failed look", job.id)
            return job  # its old, due appointment stands
