"""The poller against the Max API simulator: appointments kept, errors contained, limits held."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.maxapi import RateLimited
from bot.runtime import LOOK_ROUND_TRIP, Runtime, looks_at_once
from bot.services.poller import CLIMB_EVERY, FLOOR, SETTLE, Poller, TokenBucket
from bot.settings import Settings
from bot.store import Store
from simulator import Simulator, SimulatorConfig
from tests.helpers.jobs import REQUESTER, SIM_KEY, VIDEO, Harness, harness, lift_limits

S = JobState


@asynccontextmanager
async def polling(h: Harness, **options: Any) -> AsyncIterator[Poller]:
    options.setdefault("error_pause", 0.05)
    poller = Poller(h.jobs, **options)
    poller.start()
    try:
        yield poller
    finally:
        await poller.stop()


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        yield running


def wrap_refresh(
    h: Harness, before: Callable[[Job], Awaitable[None]]
) -> Callable[[Job], Awaitable[Job | None]]:
    """Run ``before(job)`` ahead of every real refresh (it may raise or sleep)."""
    real = h.jobs.refresh

    async def refresh(job: Job) -> Job | None:
        await before(job)
        return await real(job)

    h.jobs.refresh = refresh  # type: ignore[method-assign]
    return real


@dataclass
class Calls:
    """The calls of one store method: their arguments as made, their results as returned."""

    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    returned: list[Any] = field(default_factory=list)


def recording(store: Store, name: str) -> Calls:
    """Record every call of the store method ``name``."""
    real = getattr(store, name)
    calls = Calls()

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.made.append((args, kwargs))
        result = await real(*args, **kwargs)
        calls.returned.append(result)
        return result

    setattr(store, name, recorded)
    return calls


async def asleep(h: Harness, sleeps: Calls, count: int = 1) -> None:
    """Wait until the poller has read its next appointment ``count`` times: it is then
    asleep (the read and the sleep follow each other in one step of its task)."""
    await h.sim.wait_for(lambda: len(sleeps.returned) >= count, within=5)


async def settle() -> None:
    """Let every task that was woken run (a few turns of the event loop)."""
    for _ in range(20):
        await asyncio.sleep(0)


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def freeze(h: Harness) -> FakeClock:
    """Stop the job service's clock, and so the poller's: poll times come due only when
    the test moves it (build the poller after this)."""
    clock = FakeClock(h.jobs.clock())
    h.jobs.clock = clock
    return clock


async def until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait until ``check()`` is true (it reads the store)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (store rows announce nothing)
            await asyncio.sleep(0.01)


async def test_jobs_finish_within_a_few_queries(h: Harness) -> None:
    async with polling(h):
        images = [await h.start_job(f"fox {i}") for i in range(4)]
        videos = [await h.start_job(f"wave {i}", model=VIDEO) for i in range(2)]
        for job in images + videos:
            done = await h.wait_state(job.id, {S.SUCCEEDED}, within=15)
            assert done.result_urls
    for job in images:
        assert 1 <= len(h.sim.queries_for(job.task_id or "")) <= 3
    for job in videos:
        assert 1 <= len(h.sim.queries_for(job.task_id or "")) <= 6


async def test_transient_errors_back_off_and_the_job_still_succeeds(h: Harness) -> None:
    clock = freeze(h)
    h.sim.faults.fail_next(2, status=503, endpoint="query")
    h.sim.faults.rate_limit_next(1, retry_after=1, endpoint="query")
    job = await h.start_job("fox [sim:hold]")
    h.sim.finish(job.task_id or "")
    sleeps = recording(h.store, "next_poll_time")

    async def errors(count: int) -> bool:
        return (await h.job(job.id)).poll_errors == count

    async with polling(h, rate=None) as poller:
        for count in (1, 2, 3):  # 503, 503, then 429 with Retry-After: 1
            clock.now += 0.5  # past the first poll and each back-off (0.05 s, 0.1 s)
            poller.wake()
            await until(lambda: errors(count))  # noqa: B023
        after_429 = await h.job(job.id)
        assert after_429.next_poll_at == pytest.approx(clock.now + 1.0, abs=0.01)
        reads = len(sleeps.returned)
        clock.now += 0.9  # before the Retry-After
        poller.wake()
        await asleep(h, sleeps, reads + 1)
        assert len(h.sim.queries_for(job.task_id or "")) == 3
        clock.now += 0.2
        poller.wake()
        done = await h.wait_state(job.id, S.SUCCEEDED)
    queries = h.sim.queries_for(done.task_id or "")
    assert [q.fault for q in queries] == ["error", "error", "rate_limit", None]
    assert poller.stats.api_errors == 3
    assert done.poll_errors == 3  # counted while backing off (reset only by a running poll)


async def test_a_job_that_keeps_raising_does_not_stop_the_others(h: Harness) -> None:
    clock = freeze(h)
    broken = await h.start_job("fox [sim:hold]")
    others = [await h.start_job(f"fox {i} [sim:hold]") for i in range(3)]
    for job in others:
        h.sim.finish(job.task_id or "")
    attempts: Counter[int] = Counter()

    async def explode(job: Job) -> None:
        attempts[job.id] += 1
        if job.id == broken.id:
            raise RuntimeError("boom")

    async def errors(count: int) -> bool:
        return (await h.job(broken.id)).poll_errors == count

    wrap_refresh(h, explode)
    async with polling(h, rate=None) as poller:
        for count in range(1, 5):
            # Past the first poll and each back-off so far (0.05 s, 0.1 s, 0.2 s, 0.4 s).
            clock.now += 0.5
            poller.wake()
            await until(lambda: errors(count))  # noqa: B023
        for job in others:
            await h.wait_state(job.id, S.SUCCEEDED)
        assert poller.running
    stuck = await h.job(broken.id)
    assert stuck.state == S.QUEUED
    assert stuck.next_poll_at is not None and stuck.next_poll_at > clock.now
    # Polled once each time it came due, never spinning.
    assert attempts[broken.id] == stuck.poll_errors == 4
    assert poller.stats.unexpected_errors == 4


async def test_wake_brings_an_earlier_job_forward(h: Harness) -> None:
    later = await h.start_job("fox [sim:hold]")
    await h.store.update(later.id, next_poll_at=h.jobs.clock() + 60)
    sleeps = recording(h.store, "next_poll_time")
    async with polling(h, max_sleep=30) as poller:
        await asleep(h, sleeps)
        await settle()
        assert len(sleeps.made) == 1, "an idle poller sleeps, it does not spin"
        started = time.monotonic()
        job = await h.start_job("fox [sim:seconds=5]")  # submit calls wake_poller
        await h.wait_state(job.id, S.SUCCEEDED, within=5)
        assert time.monotonic() - started < 5
        assert poller.running
    assert h.sim.queries_for(later.task_id or "") == []


async def test_each_read_asks_only_for_the_free_slots(h: Harness) -> None:
    started = [await h.start_job(f"fox {i} [sim:seconds=1]") for i in range(40)]
    h.clock_offset[0] += 5  # the injected clock moves on: every first poll is due
    polling_now: set[int] = set()
    seen: list[tuple[int, set[int]]] = []  # each claim's limit, and the jobs then polled

    async def poll(job: Job) -> Job | None:
        polling_now.add(job.id)
        try:
            return await real(job)
        finally:
            polling_now.discard(job.id)

    real = h.jobs.refresh
    h.jobs.refresh = poll  # type: ignore[method-assign]
    claims = recording(h.store, "claim_due_polls")
    real_claim = h.store.claim_due_polls

    async def claim(now: float, limit: int, until: float) -> list[Job]:
        seen.append((limit, set(polling_now)))
        return await real_claim(now, limit, until)

    h.store.claim_due_polls = claim  # type: ignore[method-assign]
    async with polling(h, concurrency=4, rate=None) as poller:
        for job in started:
            await h.wait_state(job.id, S.SUCCEEDED, within=10)
        assert poller.stats.polls >= 40
    assert {limit for limit, _ in seen} > {4}, "the free slots, not always all four"
    for limit, busy in seen:
        assert 1 <= limit <= 4 - len(busy), "never more than 4 less those polling"
    for (limit, busy), rows in zip(seen, claims.returned, strict=True):
        assert len(rows) <= limit and not {row.id for row in rows} & busy, "none twice at once"


async def test_a_wake_reads_the_store_only_for_an_earlier_appointment(h: Harness) -> None:
    later = await h.start_job("fox [sim:hold]")
    await h.store.update(later.id, next_poll_at=h.jobs.clock() + 20)
    reads = recording(h.store, "claim_due_polls")
    sleeps = recording(h.store, "next_poll_time")
    async with polling(h, max_sleep=30) as poller:
        await asleep(h, sleeps)  # until the appointment, 20 s away
        assert sleeps.returned == [pytest.approx(h.jobs.clock() + 20, abs=1)]
        poller.wake(h.jobs.clock() + 25)  # after it: the loop reads by then anyway
        await settle()
        assert len(reads.made) == 1
        poller.wake(h.jobs.clock() + 10)  # before it: read again now
        await asleep(h, sleeps, 2)
        assert len(reads.made) == 2
        poller.wake(None)  # unknown: read again now
        await asleep(h, sleeps, 3)
        assert len(reads.made) == 3
    assert h.sim.queries_for(later.task_id or "") == []


async def test_a_poll_starts_when_its_appointment_is_due_and_not_before(h: Harness) -> None:
    jobs = [await h.start_job(f"fox {i} [sim:hold]") for i in range(3)]
    now = h.jobs.clock()
    for i, job in enumerate(jobs):
        await h.store.update(job.id, next_poll_at=now + 20 + 10 * i)  # 20, 30 and 40 s away
    polled: set[int] = set()

    async def record(job: Job) -> None:
        polled.add(job.id)

    wrap_refresh(h, record)
    sleeps = recording(h.store, "next_poll_time")
    async with polling(h, max_sleep=60, rate=None) as poller:
        await asleep(h, sleeps)
        assert not polled
        for i, job in enumerate(jobs):
            # The injected clock reaches the appointment; the wake-up stands in for the
            # loop's own timer, which would fire after the same seconds of real time.
            h.clock_offset[0] += 20.5 if i == 0 else 10
            poller.wake()
            await h.sim.wait_for(lambda: job.id in polled, within=5)  # noqa: B023
            assert polled == {j.id for j in jobs[: i + 1]}, "the due ones only"


async def test_concurrency_and_no_job_twice_at_once(h: Harness) -> None:
    active: Counter[int] = Counter()
    peak = [0]

    async def slow(job: Job) -> None:
        active[job.id] += 1
        assert active[job.id] == 1, f"job {job.id} looked at twice at once"
        peak[0] = max(peak[0], sum(active.values()))
        try:
            await asyncio.sleep(0.05)
        finally:
            active[job.id] -= 1

    wrap_refresh(h, slow)
    async with polling(h, concurrency=3, rate=200) as poller:
        started = [await h.start_job(f"fox {i} [sim:seconds=5]") for i in range(12)]
        for job in started:
            await h.wait_state(job.id, S.SUCCEEDED, within=10)
        assert poller.stats.unexpected_errors == 0
    assert 1 <= peak[0] <= 3


async def test_rate_limit_spaces_queries(h: Harness) -> None:
    started = [await h.start_job(f"fox {i} [sim:seconds=1]") for i in range(10)]
    h.clock_offset[0] += 5  # every first poll is due: only the limiter spaces them
    async with polling(h, rate=20, burst=1):
        for job in started:
            await h.wait_state(job.id, S.SUCCEEDED, within=10)
    times = sorted(q.at for q in h.sim.requests if q.endpoint == "query")
    assert len(times) >= 10
    # 10 queries at 20 per second with no burst: at least 9 gaps of 50 ms.
    assert (times[9] - times[0]).total_seconds() >= 0.4


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=50, burst=5, clock=clock)
    assert admitted_within(bucket, clock, 5) == 0
    assert admitted_within(bucket, clock, 10) == pytest.approx(10 / 50, abs=0.001)


async def test_store_errors_do_not_kill_the_loop(h: Harness) -> None:
    real_claim = h.store.claim_due_polls
    failures = [2]

    async def flaky(now: float, limit: int, until: float) -> list[Job]:
        if failures[0]:
            failures[0] -= 1
            raise OSError("disk hiccup")
        return await real_claim(now, limit, until)

    h.store.claim_due_polls = flaky  # type: ignore[method-assign]
    async with polling(h) as poller:
        job = await h.start_job("fox [sim:seconds=5]")
        await h.wait_state(job.id, S.SUCCEEDED)
        assert poller.running and failures[0] == 0


async def test_stop_cancels_polls_in_flight_and_leaves_no_task(h: Harness) -> None:
    h.sim.faults.stall_next(1, seconds=5, endpoint="query")
    job = await h.start_job("fox [sim:seconds=5]")
    async with polling(h) as poller:
        await h.sim.wait_for(lambda: bool(h.sim.queries_for(job.task_id or "")), within=5)
        claimed = await h.job(job.id)
        assert claimed.poll_claimed_until is not None
        assert claimed.poll_claimed_until > h.jobs.clock() + 20  # held for the lease (30 s)
        started = time.monotonic()
    assert time.monotonic() - started < 1, "stop does not wait for the stalled query"
    assert not poller.running
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not {n for n in names if n == "poller" or n.startswith("poll-")}
    stopped = await h.job(job.id)
    assert stopped.state in {S.QUEUED, S.RUNNING}  # still owed a poll
    assert stopped.next_poll_at is not None and stopped.next_poll_at <= h.jobs.clock()


def test_the_slots_follow_the_configured_rate() -> None:
    assert looks_at_once(20) == 16  # the default rate: the default slots
    assert looks_at_once(1000) == 500  # 1,000 looks/s at a 0.5 s answer need 500 at once


# -- POLL_RATE=auto: a ceiling that halves on 429s --------------------------------------------


def test_auto_rate_halves_on_a_429_and_climbs_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(200, adaptive=True, clock=clock)
    bucket.slow_down()
    assert bucket.rate == 100
    assert bucket.take() == pytest.approx(1 / 100), "a 429 empties the bucket too"
    bucket.slow_down()  # the same moment: answers to queries sent before the halving
    assert bucket.rate == 100
    for expected in (50, 25, 12.5, 6.25, 3.125, 1.5625, FLOOR, FLOOR):
        clock.now += SETTLE
        bucket.slow_down()
        assert bucket.rate == expected
    # A tenth of the ceiling back for every CLIMB_EVERY seconds without a 429.
    clock.now += CLIMB_EVERY - 0.01
    bucket.take()
    assert bucket.rate == FLOOR
    clock.now += 0.01
    bucket.take()
    assert bucket.rate == pytest.approx(FLOOR + 20)
    clock.now += 2 * CLIMB_EVERY
    bucket.take()
    assert bucket.rate == pytest.approx(FLOOR + 60)
    clock.now += 10 * CLIMB_EVERY
    bucket.take()
    assert bucket.rate == 200, "never above the ceiling"


def test_a_fixed_rate_stays_fixed_through_429s() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, clock=clock)
    for _ in range(5):
        bucket.slow_down()
        clock.now += SETTLE
    assert bucket.rate == bucket.ceiling == 50
    assert bucket.take() == 0, "nor is the bucket emptied"


def admitted_within(bucket: TokenBucket, clock: FakeClock, looks: int) -> float:
    """Limiter seconds until ``looks`` acquisitions were admitted, taken back to back."""
    began = clock.now
    for _ in range(looks):
        while (wait := bucket.take()) > 0:
            clock.now += max(wait, 1e-6)  # a float's last digit must not stall the clock
    return clock.now - began


def default_settings(tmp_path: Path, base_url: str = "http://127.0.0.1:9") -> Settings:
    return Settings.from_env(
        {
            "DISCORD_TOKEN": "discord-token",
            "MAXAPI_KEY": SIM_KEY,
            "MAXAPI_BASE_URL": base_url,
            "DATABASE_PATH": str(tmp_path / "atelier.db"),
        }
    )


async def test_default_settings_poll_1000_overdue_jobs_within_10_s(tmp_path: Path) -> None:
    """At the defaults the limiter admits 1,000 looks in 10 s and the slots keep up."""
    settings = default_settings(tmp_path)
    assert settings.poll_rate is None and settings.poll_rate_max == 200
    async with Runtime(settings, Catalog.load()) as runtime:
        poller = runtime.poller
        assert poller is not None and poller.limiter is not None
        assert poller.limiter.adaptive and poller.limiter.ceiling == 200
        # 100 looks at once, each up to half a second: 200 a second, the ceiling.
        assert poller.concurrency / LOOK_ROUND_TRIP >= poller.limiter.ceiling
    clock = FakeClock()
    bucket = TokenBucket(settings.poll_rate_max, adaptive=True, clock=clock)
    assert admitted_within(bucket, clock, 1000) <= 10
    # The old default, a fixed 20 a second, took 50 s.
    clock = FakeClock()
    assert admitted_within(TokenBucket(20, clock=clock), clock, 1000) >= 49


async def test_a_fixed_poll_rate_sets_the_limit_and_ignores_429s(tmp_path: Path) -> None:
    settings = dataclasses.replace(default_settings(tmp_path), poll_rate=50.0)
    async with Runtime(settings, Catalog.load()) as runtime:
        poller = runtime.poller
        assert poller is not None and poller.limiter is not None
        assert not poller.limiter.adaptive and poller.limiter.ceiling == 50
        assert poller.concurrency == looks_at_once(50)
        assert runtime.api is not None and runtime.api.on_rate_limited is not None
        runtime.api.on_rate_limited()
        assert poller.limiter.rate == 50


async def accept_and_submit(runtime: Runtime, prompts: list[str]) -> list[Job]:
    jobs = runtime.jobs
    assert jobs is not None
    accepted = [
        await jobs.accept(GenerationRequest(model="seedream-4.5", prompt=p), REQUESTER)
        for p in prompts
    ]
    slots = asyncio.Semaphore(50)

    async def submit(job: Job) -> Job:
        async with slots:
            submitted = await jobs.submit(job.id)
        assert submitted is not None and submitted.task_id is not None
        return submitted

    return list(await asyncio.gather(*(submit(job) for job in accepted)))


async def test_every_429_from_max_api_reaches_the_auto_limiter(tmp_path: Path) -> None:
    async with Simulator(SimulatorConfig(speed=0.01)) as sim:
        settings = default_settings(tmp_path, sim.base_url)
        runtime = Runtime(settings, Catalog.load(), api_options={"retries": 1})
        async with runtime:
            assert runtime.store is not None and runtime.jobs is not None
            await lift_limits(runtime.store, REQUESTER.guild_id or 0)
            [job] = await accept_and_submit(runtime, ["fox [sim:hold]"])
            limiter = runtime.poller.limiter if runtime.poller else None
            assert limiter is not None and runtime.api is not None
            seen = []

            def slow_down() -> None:
                seen.append(limiter.rate)
                limiter.slow_down()

            runtime.api.on_rate_limited = slow_down
            # The client retries the first 429 (within half a second) and gives up on
            # the second: both reach the limiter, and count as one halving.
            sim.faults.rate_limit_next(2, retry_after=0, endpoint="query")
            with pytest.raises(RateLimited):
                await runtime.jobs.refresh(job)
            assert seen == [200, 100] and limiter.rate == 100


async def test_a_restart_polls_each_of_1000_overdue_jobs_once(tmp_path: Path) -> None:
    """Every one of 1,000 overdue jobs is queried once at the defaults (counted at the
    simulator; the wall-clock limit only keeps a broken poller from hanging the run)."""
    async with Simulator(SimulatorConfig(speed=0.01)) as sim:
        settings = default_settings(tmp_path, sim.base_url)
        async with Runtime(settings, Catalog.load()) as before:
            assert before.store is not None
            await lift_limits(before.store, REQUESTER.guild_id or 0)
            jobs = await accept_and_submit(before, [f"fox {i} [sim:hold]" for i in range(1000)])
        tasks = {job.task_id for job in jobs}
        assert len(tasks) == 1000 and not [r for r in sim.requests if r.endpoint == "query"]

        # Back five minutes later: every first look (at ~18 s) is overdue, and after a
        # look the next one is 24 s away (8 % of the time since submit).
        offset = 300.0
        async with Runtime(settings, Catalog.load(), clock=lambda: time.time() + offset) as after:
            assert after.jobs is not None and after.poller is not None
            await after.jobs.recover()
            after.poller.start()

            def queried() -> Counter[str | None]:
                return Counter(r.task_id for r in sim.requests if r.endpoint == "query")

            # 30 s: three times the target, and less than the 50 s of the old fixed 20 a second.
            await sim.wait_for(lambda: len(queried()) >= 1000, within=30, interval=0.2)
            await after.poller.stop()
        counts = queried()
        assert set(counts) == tasks
        assert set(counts.values()) == {1}, "each overdue job is queried once, none twice"
