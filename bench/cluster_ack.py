"""``/imagine`` answered under load, the bot in its own process on SQLite or on PostgreSQL:
the load of :mod:`bench.ack_latency` (jobs in flight whose polls are due, bursts of
commands from different members), one database after the other in the same run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ack_latency as ack
from bench.cluster_support import Database, bot_env, bots
from bench.figures import percentile
from bench.sim_process import SIM_KEY, SimProcess
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job_states import UPSTREAM
from bot.runtime import Runtime
from bot.services.jobs import JobService, Requester
from bot.settings import Secret, Settings
from bot.store import Store
from tests.discord_world import World, discord_world
from tests.helpers.jobs import UNLIMITED


@dataclass(frozen=True)
class AckPlan:
    jobs: int  # in flight (kept running upstream) while the commands come
    burst: int  # commands injected at once, each from another member
    rounds: int  # bursts measured (after one warm-up burst)
    gap: float  # seconds between bursts
    poll_scale: float  # the bot's POLL_SCALE (1.0: the product's schedule)


@dataclass
class AckResult:
    label: str
    samples: list[float]  # milliseconds, queued on the gateway → the callback arrived
    misses: int  # not answered within Discord's 3 s
    put_in_flight: float  # seconds to accept and submit the jobs from the bench

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)

    def describe(self) -> str:
        s = self.samples
        return (
            f"[{self.label}] /imagine ack over {len(s)} commands: p50 "
            f"{percentile(s, 50):.1f} ms, p99 {self.p99:.1f} ms, max {percentile(s, 100):.1f} ms; "
            f"{self.misses} not answered within 3 s (jobs put in flight in "
            f"{self.put_in_flight:.1f} s)"
        )


async def run_ack(label: str, db: Database, plan: AckPlan, workdir: Path) -> AckResult:
    """Jobs in flight from the bench process, then the bot in its own process on the same
    database; bursts of ``/imagine`` once the jobs' first polls are due."""
    args = ack.parse(["--jobs", str(plan.jobs), "--burst", str(plan.burst)])
    async with (
        SimProcess(speed=1.0, callbacks=False, log_path=workdir / f"sim-{label}.log") as sim,
        discord_world() as world,
    ):
        settings = Settings(
            discord_token=Secret(world.token),
            maxapi_key=Secret(SIM_KEY),
            maxapi_base_url=sim.base_url,
            database_path=workdir / label / "atelier.db" if db.postgres else Path(db.target),
            database_url=Secret(db.target) if db.postgres else None,
            poll_scale=plan.poll_scale,
        )
        members = ack.bench_members(world, args)
        began = time.monotonic()
        async with Runtime(settings, Catalog.load()) as runtime:
            await ack.lift_limits(runtime, world)
            await ack.put_in_flight(runtime, world, members, plan.jobs)
        took = time.monotonic() - began
        env = bot_env(world, sim.base_url, db, workdir / label, poll_scale=plan.poll_scale)
        async with bots(world, [env], workdir, label):
            await first_polls_due(db)
            samples, misses = await bursts(world, members[: plan.burst], plan)
    return AckResult(label, samples, misses, took)


async def first_polls_due(db: Database) -> None:
    """Sleep until the jobs' first polls are due, plus a second (the poller at work)."""
    marks = ", ".join("?" * len(UPSTREAM))
    ((first,),) = await db.read(
        f"SELECT MIN(next_poll_at) FROM jobs WHERE state IN ({marks})", [s.value for s in UPSTREAM]
    )
    if first is not None:
        await asyncio.sleep(max(0.0, float(first) - time.time()) + 1.0)


async def bursts(world: World, members: list[Any], plan: AckPlan) -> tuple[list[float], int]:
    """A warm-up burst, then ``plan.rounds`` measured ones, ``plan.gap`` seconds apart."""
    options = {"prompt": "a bench heron [sim:hold]"}
    await ack.latencies(world, await ack.fire(world, "imagine", options, members))
    samples: list[float] = []
    misses = 0
    for _ in range(plan.rounds):
        await world.settle(timeout=60)
        await asyncio.sleep(plan.gap)
        got, late = await ack.latencies(world, await ack.fire(world, "imagine", options, members))
        samples += got
        misses += late
    return samples, misses


# -- why: what one accept costs on each database ----------------------------------------


@dataclass(frozen=True)
class AcceptCost:
    label: str
    statements: float  # per accept
    milliseconds: float  # one accept alone, wall time


async def accept_cost(label: str, db: Database, accepts: int = 50) -> AcceptCost:
    """Statements an accept sends and its time with nothing else running: the same
    ``JobService.accept`` as ``/imagine``, in this process, on a database of its own."""
    store = await Store.open(db.target)
    sent = [0]
    conn = store.db
    execute = conn.execute

    def counted(sql: str, params: Any = ()) -> Any:
        sent[0] += 1
        return execute(sql, params)

    conn.execute = counted  # type: ignore[method-assign]
    try:
        jobs = JobService(store, Catalog.load(), api=None)  # type: ignore[arg-type]
        guild = 1
        await store.set_limits(guild, "guild", 0, UNLIMITED)
        await store.update_guild_config(guild, daily_budget_usd=None, monthly_budget_usd=None)
        request = GenerationRequest(ack.MODEL, "a cost heron", {})
        await jobs.accept(request, Requester(guild_id=guild, channel_id=2, user_id=3))
        sent[0] = 0
        began = time.perf_counter()
        for i in range(accepts):
            await jobs.accept(request, Requester(guild_id=guild, channel_id=2, user_id=10 + i))
        took = time.perf_counter() - began
    finally:
        await store.close()
    return AcceptCost(label, sent[0] / accepts, took / accepts * 1000)
