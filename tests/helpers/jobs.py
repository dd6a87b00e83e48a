"""Shared by the job-service, poller and webhook tests: a simulator, a store, a real
client and a :class:`JobService` wired together (see :func:`harness`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import UPSTREAM, JobState
from bot.domain.poll_schedule import PollSchedule
from bot.domain.quota import Limits, period_keys
from bot.maxapi import MaxApiClient
from bot.services.cluster import new_process_id
from bot.services.jobs import JobService, Requester
from bot.settings import Secret
from bot.store import Store
from simulator import Simulator, SimulatorConfig

S = JobState
SIM_KEY = "sim-key"
SCALE = 0.01
REQUESTER = Requester(guild_id=1, channel_id=2, user_id=3)
IMAGE = "seedream-4.5"
VIDEO = "veo3"


@dataclass
class Harness:
    sim: Simulator
    store: Store
    catalog: Catalog
    api: MaxApiClient
    jobs: JobService
    http: aiohttp.ClientSession
    clock_offset: list[float]
    wakes: dict[str, int]

    async def start_job(self, prompt: str, model: str = IMAGE, **options: Any) -> Job:
        """Accept and submit one job; return it as submit left it."""
        job = await self.jobs.accept(
            GenerationRequest(model=model, prompt=prompt, options=options), REQUESTER
        )
        submitted = await self.jobs.submit(job.id)
        assert submitted is not None
        return submitted

    async def restart(self) -> dict[str, int]:
        """What a new process does at start-up (a new process id, then recover)."""
        self.jobs.process_id = new_process_id()
        return await self.jobs.recover()

    async def job(self, job_id: int) -> Job:
        job = await self.store.get(job_id)
        assert job is not None
        return job

    async def wait_state(
        self, job_id: int, states: set[JobState] | JobState, within: float = 10.0
    ) -> Job:
        wanted = {states} if isinstance(states, JobState) else states
        async with asyncio.timeout(within):
            while True:
                job = await self.job(job_id)
                if job.state in wanted:
                    return job
                await asyncio.sleep(0.01)

    async def transitions(self, job_id: int) -> list[tuple[str | None, str]]:
        return [(e.from_state, e.to_state) for e in await self.store.events(job_id)]


UNLIMITED = Limits(
    images_per_day=10**9,
    videos_per_day=10**9,
    jobs_at_once=10**9,
    spend_per_day_usd=1e12,
    cooldown_seconds=0,
)


async def lift_limits(store: Store, guild_id: int) -> None:
    """No per-member limits, no budgets and no cost confirmation in ``guild_id``, for
    tests that are not about them (the built-in defaults would stop a test's tenth job,
    and hold a $3 video for its member's Confirm)."""
    await store.set_limits(guild_id, "guild", 0, UNLIMITED)
    await store.update_guild_config(
        guild_id, daily_budget_usd=None, monthly_budget_usd=None, confirm_above_usd=0.0
    )


@asynccontextmanager
async def harness(
    where: Path | str,
    *,
    sim_config: SimulatorConfig | None = None,
    api_key: str = SIM_KEY,
    client_timeout: float = 5.0,
    retries: int = 0,
    callback_base_url: str | None = None,
    unlimited: bool = True,
) -> AsyncIterator[Harness]:
    """A simulator, a store, a client and a JobService wired together; torn down after.
    ``where``: a folder (a SQLite file in it) or a store target (a path or a URL)."""
    catalog = Catalog.load()
    config = sim_config or SimulatorConfig(speed=SCALE)
    # The models take exactly their catalogued typical time, as the schedule expects.
    for model in (IMAGE, VIDEO):
        config.model_seconds.setdefault(model, float(catalog.get(model).typical_seconds))
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    sim = Simulator(config)
    await sim.start()
    store = await Store.open(where / "a.db" if isinstance(where, Path) else where)
    if unlimited:
        await lift_limits(store, REQUESTER.guild_id or 0)
    http = aiohttp.ClientSession()
    api = MaxApiClient(
        http,
        sim.base_url,
        Secret(api_key),
        timeout=client_timeout,
        retries=retries,
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    jobs = JobService(
        store,
        catalog,
        api,
        schedule=PollSchedule(scale=SCALE, rng=random.Random(7)),
        callback_base_url=callback_base_url,
        clock=clock,
    )
    wakes = {"poller": 0, "delivery": 0}

    def woke_poller(at: float | None) -> None:
        wakes["poller"] += 1

    def woke_delivery() -> None:
        wakes["delivery"] += 1

    jobs.wake_poller = woke_poller
    jobs.wake_delivery = woke_delivery
    h = Harness(sim, store, catalog, api, jobs, http, offset, wakes)
    try:
        yield h
    finally:
        await jobs.close()
        await http.close()
        await sim.stop()
        await store.close()


async def charge_of(h: Harness, job_id: int) -> str:
    """The state of the job's charge: reserved, settled or refunded."""
    day, _ = period_keys(h.jobs.clock())
    rows = await h.store.charges_in(REQUESTER.guild_id or 0, day, day)
    return next(str(r["state"]) for r in rows if r["job_id"] == job_id)


async def follow(h: Harness, job_id: int, within: float = 10.0) -> Job:
    """Keep each poll appointment of one job until it leaves the upstream states."""
    async with asyncio.timeout(within):
        while True:
            job = await h.job(job_id)
            if job.state not in UPSTREAM:
                return job
            assert job.next_poll_at is not None, "an upstream job must have an appointment"
            await asyncio.sleep(max(0.0, job.next_poll_at - h.jobs.clock()))
            await h.jobs.refresh(job)
