"""The poller against the Max API simulator: appointments kept, errors contained, limits held."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import Catalog, GenerationRequest
from bot.job_states import JobState
from bot.maxapi import RateLimited
from bot.poller import CLIMB_EVERY, FLOOR, SETTLE, Poller, TokenBucket
from bot.runtime import LOOK_ROUND_TRIP, Runtime, looks_at_once
from bot.settings import Settings
from bot.simulator import Simulator, SimulatorConfig
from bot.store import Job, Store
from tests.jobs_support import REQUESTER, SIM_KEY, VIDEO, Harness, harness, lift_limits

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
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path) as running:
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


def counting(store: Store, name: str) -> list[Any]:
    """Record what each call of the store method ``name`` returned (one entry a call)."""
    real = getattr(store, name)
    results: list[Any] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        results.append(result)
        return result

    setattr(store, name, counted)
    return results


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
    h.sim.faults.fail_next(2, status=503, endpoint="query")
    h.sim.faults.rate_limit_next(1, retry_after=1, endpoint="query")
    async with polling(h) as poller:
        job = await h.start_job("fox [sim:seconds=5]")
        done = await h.wait_state(job.id, S.SUCCEEDED, within=10)
    queries = h.sim.queries_for(done.task_id or "")
    assert [q.fault for q in queries[:3]] == ["error", "error", "rate_limit"]
    assert queries[-1].fault is None and len(queries) == 4
    assert poller.stats.api_errors == 3
    # The 429 said "Retry-After: 1": the next look waited for it.
    assert (queries[3].at - queries[2].at).total_seconds() >= 0.9
    assert done.poll_errors == 3  # counted while backing off (reset only by a running look)


async def test_a_job_that_keeps_raising_does_not_stop_the_others(h: Harness) -> None:
    broken = await h.start_job("fox [sim:seconds=5]")
    attempts: Counter[int] = Counter()

    async def explode(job: Job) -> None:
        attempts[job.id] += 1
        if job.id == broken.id:
            raise RuntimeError("boom")

    wrap_refresh(h, explode)
    async with polling(h) as poller:
        others = [await h.start_job(f"fox {i} [sim:seconds=5]") for i in range(3)]
        for job in others:
            await h.wait_state(job.id, S.SUCCEEDED)
        await asyncio.sleep(0.3)
        assert poller.running
    stuck = await h.job(broken.id)
    assert stuck.state == S.QUEUED
    assert stuck.poll_errors == attempts[broken.id] >= 2
    assert stuck.next_poll_at is not None
    # Backed off exponentially (0.05 s, 0.1 s, 0.2 s, … at this scale), never spinning.
    assert attempts[broken.id] < 10
    assert poller.stats.unexpected_errors == attempts[broken.id]


async def test_wake_brings_an_earlier_job_forward(h: Harness) -> None:
    later = await h.start_job("fox [sim:hold]")
    await h.store.update(later.id, next_poll_at=time.time() + 60)
    calls = counting(h.store, "next_poll_time")
    async with polling(h, max_sleep=30) as poller:
        await asyncio.sleep(0.3)
        assert len(calls) <= 2, "an idle poller sleeps, it does not spin"
        started = time.monotonic()
        job = await h.start_job("fox [sim:seconds=5]")  # submit calls wake_poller
        await h.wait_state(job.id, S.SUCCEEDED, within=5)
        assert time.monotonic() - started < 5
        assert poller.running
    assert h.sim.queries_for(later.task_id or "") == []


async def test_due_jobs_are_read_in_batches_not_after_every_look(h: Harness) -> None:
    started = [await h.start_job(f"fox {i} [sim:seconds=1]") for i in range(40)]
    reads = counting(h.store, "due_for_poll")
    await asyncio.sleep(1.2)  # every first look is due
    async with polling(h, concurrency=4, batch=16) as poller:
        for job in started:
            await h.wait_state(job.id, S.SUCCEEDED, within=10)
        assert poller.stats.looks == 40
    # 40 due jobs, 16 per read: three reads bring them all (no row read twice); the
    # rest found nothing left. Reading after every look would have made 40 reads.
    assert sum(len(rows) for rows in reads) == 40
    assert [len(rows) for rows in reads if rows] == [16, 16, 8]
    assert len(reads) < 20


async def test_a_wake_for_a_later_appointment_does_not_reread_the_store(h: Harness) -> None:
    calls = counting(h.store, "next_poll_time")
    async with polling(h, max_sleep=30, lookahead=0.5) as poller:
        await asyncio.sleep(0.2)
        before = len(calls)
        for _ in range(50):
            poller.wake(time.time() + 60)  # after the loop's own wake-up: nothing to do
        await asyncio.sleep(0.2)
        assert len(calls) == before
        poller.wake(time.time() + 1.5)  # earlier than that: read by 1.0 s, not at once
        await asyncio.sleep(0.4)
        assert len(calls) == before
        await asyncio.sleep(1.0)
        assert len(calls) == before + 1
        poller.wake(None)  # unknown: read again at once
        await asyncio.sleep(0.2)
        assert len(calls) == before + 2


async def test_appointments_are_read_ahead_and_kept_on_time(h: Harness) -> None:
    """One read holds the next half second of appointments; each look starts on time."""
    jobs = [await h.start_job(f"fox {i} [sim:hold]") for i in range(20)]
    base = time.time() + 0.3
    for i, job in enumerate(jobs):
        await h.store.update(job.id, next_poll_at=base + i * 0.02)  # 0.3 s to 0.68 s
    reads = counting(h.store, "due_for_poll")
    looked: dict[int, float] = {}

    async def record(job: Job) -> None:
        looked.setdefault(job.id, time.time())

    wrap_refresh(h, record)
    async with polling(h, lookahead=0.5, rate=None) as poller:
        poller.wake(None)
        await h.sim.wait_for(lambda: len(looked) == len(jobs), within=5)
    late = [looked[job.id] - (base + i * 0.02) for i, job in enumerate(jobs)]
    assert min(late) >= 0, "no look before its appointment"
    assert max(late) < 0.1
    # Two reads hold all twenty: the first (now, up to 0.5 s) and the next (0.5-1.0 s);
    # reading for each look would have taken twenty.
    first_two = [row.id for rows in reads[:2] for row in rows]
    assert {job.id for job in jobs} <= set(first_two)


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
    await asyncio.sleep(0.05)
    async with polling(h, rate=20, burst=1):
        for job in started:
            await h.wait_state(job.id, S.SUCCEEDED, within=10)
    times = sorted(q.at for q in h.sim.requests if q.endpoint == "query")
    assert len(times) >= 10
    # 10 queries at 20 per second with no burst: at least 9 gaps of 50 ms.
    assert (times[9] - times[0]).total_seconds() >= 0.4


async def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=5)
    started = time.monotonic()
    for _ in range(5):
        await bucket.acquire()
    assert time.monotonic() - started < 0.05
    for _ in range(10):
        await bucket.acquire()
    assert time.monotonic() - started >= 10 / 50 * 0.9


async def test_store_errors_do_not_kill_the_loop(h: Harness) -> None:
    real_due = h.store.due_for_poll
    failures = [2]

    async def flaky(now: float, limit: int, **kwargs: Any) -> list[Job]:
        if failures[0]:
            failures[0] -= 1
            raise OSError("disk hiccup")
        return await real_due(now, limit, **kwargs)

    h.store.due_for_poll = flaky  # type: ignore[method-assign]
    async with polling(h) as poller:
        job = await h.start_job("fox [sim:seconds=5]")
        await h.wait_state(job.id, S.SUCCEEDED)
        assert poller.running and failures[0] == 0


async def test_stop_cancels_looks_in_flight_and_leaves_no_task(h: Harness) -> None:
    h.sim.faults.stall_next(1, seconds=5, endpoint="query")
    job = await h.start_job("fox [sim:seconds=5]")
    async with polling(h) as poller:
        await h.sim.wait_for(lambda: job.id in poller.in_flight, within=5)
        await asyncio.sleep(0.05)
        started = time.monotonic()
    assert time.monotonic() - started < 1, "stop does not wait for the stalled query"
    assert not poller.running and poller.in_flight == frozenset()
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not {n for n in names if n == "poller" or n.startswith("poll-")}
    assert (await h.job(job.id)).state in {S.QUEUED, S.RUNNING}  # still owed a look


def test_the_slots_follow_the_configured_rate() -> None:
    assert looks_at_once(20) == 16  # the default rate: the default slots
    assert looks_at_once(1000) == 500  # 1,000 looks/s at a 0.5 s answer need 500 at once


# -- POLL_RATE=auto: a ceiling that halves on 429s --------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
