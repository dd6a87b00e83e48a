"""The bot's job half as ``Runtime`` wires it, minus Discord, and the means to load it:
jobs go in through ``JobService.accept`` and ``submit``, as from the cogs."""

from __future__ import annotations

import asyncio
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.delivery_standin import DeliveryStandIn
from bench.procstats import cpu_seconds, thread_cpu_seconds, thread_ids
from bench.sim_process import SIM_KEY
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import UPSTREAM
from bot.runtime import Runtime
from bot.services.jobs import JobService, Requester
from bot.services.poller import Poller
from bot.settings import Secret, Settings
from bot.store import Store

GUILD_ID = 1
BENCH_ROLE = 42  # exempted from the per-member limits, as a moderator would
USERS = 500  # the jobs come from this many members of one guild


@dataclass(frozen=True)
class Load:
    """What to put through the pipeline and how hard."""

    jobs: int
    scale: float  # simulator speed and POLL_SCALE
    rate: float | None  # the poller's polls per second (wall clock); None: no limit
    concurrency: int  # the poller's polls at once
    submit_concurrency: int
    submit_rate: float | None  # submits per second (wall clock); None: as fast as possible
    spread: float  # generation time = typical × (1 ± spread), uniform
    video_share: float
    image_model: str
    video_model: str
    seed: int


@dataclass
class Pipeline:
    runtime: Runtime
    standin: DeliveryStandIn
    lateness: list[float] = field(default_factory=list)
    """Seconds between a job's poll appointment and the poll that kept it."""

    @property
    def jobs(self) -> JobService:
        assert self.runtime.jobs is not None
        return self.runtime.jobs

    @classmethod
    async def open(cls, settings: Settings, catalog: Catalog, load: Load) -> Pipeline:
        runtime = Runtime(
            settings,
            catalog,
            poller_options={"rate": load.rate, "concurrency": load.concurrency},
        )
        await runtime.open()
        try:
            return await cls._start(runtime)
        except BaseException:
            await runtime.close()
            raise

    @classmethod
    async def _start(cls, runtime: Runtime) -> Pipeline:
        """Recover, then start the poller, the callback receiver and delivery, in
        ``Runtime.start``'s order."""
        assert runtime.jobs is not None and runtime.store is not None
        await lift_limits(runtime.store)
        standin = DeliveryStandIn(runtime.store)
        runtime.jobs.wake_delivery = standin.wake
        pipeline = cls(runtime, standin)
        pipeline._time_polls(runtime.jobs)
        await runtime.jobs.recover()
        assert runtime.poller is not None
        runtime.poller.start()
        if runtime.receiver is not None:
            await runtime.receiver.start()
        standin.start()
        return pipeline

    def _time_polls(self, jobs: JobService) -> None:
        """Record how late each due poll starts (the poller's and the callbacks' alike)."""
        refresh = jobs.refresh

        async def timed(job: Job) -> Job | None:
            due = job.next_poll_at
            if due is not None and time.time() >= due:
                self.lateness.append(time.time() - due)
            return await refresh(job)

        jobs.refresh = timed  # type: ignore[method-assign]

    async def close(self) -> None:
        await self.standin.stop()
        await self.runtime.close()


async def lift_limits(store: Store) -> None:
    """Exempt the bench role and lift the budgets: quota checks run, never refuse a job."""
    await store.update_guild_config(
        GUILD_ID,
        exempt_role_ids=frozenset({BENCH_ROLE}),
        daily_budget_usd=None,
        monthly_budget_usd=None,
    )


def settings_for(load: Load, base_url: str, db: Path, *, callbacks: bool) -> Settings:
    public_url, port = None, 8080
    if callbacks:
        port = _free_port()
        public_url = f"http://127.0.0.1:{port}/maxapi"
    return Settings(
        discord_token=Secret("unused-by-the-benchmark"),
        maxapi_key=Secret(SIM_KEY),
        maxapi_base_url=base_url,
        database_path=db,
        webhook_public_url=public_url,
        webhook_host="127.0.0.1",
        webhook_port=port,
        poll_scale=load.scale,
    )


def _free_port() -> int:
    """A free loopback port: the callback URL must be known before the receiver binds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Planned:
    model: str
    media: str
    seconds: float  # generation time at real speed (0 with hold)


def plan(load: Load, catalog: Catalog, *, hold: bool = False) -> list[Planned]:
    """Each job's model and generation time: the model's typical time ± ``spread``."""
    rng = random.Random(load.seed)
    out = []
    for _ in range(load.jobs):
        video = rng.random() < load.video_share
        model = catalog.get(load.video_model if video else load.image_model)
        seconds = model.typical_seconds * rng.uniform(1 - load.spread, 1 + load.spread)
        out.append(Planned(model.id, model.media, 0.0 if hold else seconds))
    return out


async def accept_all(
    jobs: JobService, planned: Sequence[Planned], *, hold: bool
) -> tuple[list[int], list[float]]:
    """Accept every planned job in turn; return the ids and the seconds each accept took.
    ``[sim:seconds=…]`` in the prompt makes the simulator take exactly the planned time;
    ``[sim:hold]`` keeps the task running until it is cancelled."""
    ids, took = [], []
    for i, job in enumerate(planned):
        directive = "[sim:hold]" if hold else f"[sim:seconds={job.seconds:.3f}]"
        request = GenerationRequest(model=job.model, prompt=f"bench job {i} {directive}")
        requester = Requester(
            guild_id=GUILD_ID, channel_id=2, user_id=1000 + i % USERS, role_ids=(BENCH_ROLE,)
        )
        began = time.perf_counter()
        ids.append((await jobs.accept(request, requester)).id)
        took.append(time.perf_counter() - began)
    return ids, took


async def submit_all(
    jobs: JobService, ids: Sequence[int], concurrency: int, pace: float | None = None
) -> None:
    """Submit every accepted job, at most ``concurrency`` at once (and ``pace`` a second)."""
    began = time.monotonic()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(ids):
            index, next_index = next_index, next_index + 1
            if pace:
                await asyncio.sleep(max(0.0, began + index / pace - time.monotonic()))
            await jobs.submit(ids[index])

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class CpuClock:
    """CPU seconds of the process, its event-loop thread and the store's thread."""

    def __init__(self) -> None:
        self._main = threading.main_thread().native_id or 0
        self._db = thread_ids("atelier-db")
        self.start = self._read()

    def _read(self) -> tuple[float, float, float]:
        db = sum(thread_cpu_seconds(tid) for tid in self._db)
        return cpu_seconds(), thread_cpu_seconds(self._main), db

    def since(self) -> tuple[float, float, float]:
        """(process, event loop, store thread) seconds since this clock was made."""
        now = self._read()
        return now[0] - self.start[0], now[1] - self.start[1], now[2] - self.start[2]


def poll_counts(db: Path) -> dict[int, int]:
    """Recorded polls of each job queued or running at Max API (read beside the store)."""
    marks = ", ".join("?" * len(UPSTREAM))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"SELECT id, polls FROM jobs WHERE state IN ({marks})", [s.value for s in UPSTREAM]
        )
        return {int(job_id): int(polls) for job_id, polls in rows}


async def until_each_polled(
    poller: Poller, db: Path, before: dict[int, int], within: float
) -> float | None:
    """The ``perf_counter`` moment each job in ``before`` has one more poll (None: not
    within ``within`` seconds)."""

    def waiting() -> bool:
        with sqlite3.connect(db) as conn:
            now = dict(conn.execute("SELECT id, polls FROM jobs").fetchall())
        return any(now.get(job_id, 0) <= polls for job_id, polls in before.items())

    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        # One poll per job is the least it takes; then check that none was skipped.
        if poller.stats.polls >= len(before) and not await asyncio.to_thread(waiting):
            return time.perf_counter()
        await asyncio.sleep(0.01)
    return None
