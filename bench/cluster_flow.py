"""Jobs per second through the whole pipeline with real bot processes: ``/imagine`` on the
local Discord (accept), submit, poll and delivery into the channel, on one database."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cluster_support import (
    CpuMeter,
    Database,
    PgActivity,
    Place,
    StoreTimes,
    bot_env,
    bots,
    lift_limits,
    places,
    postgres_pids,
    store_times,
)
from bench.figures import percentile
from bench.procstats import cpu_seconds
from bench.sim_process import SimProcess
from bot.discord_io.pacing import UNCOUNTED
from bot.domain.job_states import TERMINAL, JobState
from tests.discord_world import InjectedInteraction, WaitTimeout, World, discord_world

MODEL = "seedream-4.5"
TYPICAL_SECONDS = 20.0  # the model's typical time; generation times spread ± SPREAD
SPREAD = 0.2
MEMBERS = 40  # per guild; limits are lifted, so any number would do
ANSWER_WITHIN = 3.0  # Discord's window for the first answer


@dataclass(frozen=True)
class FlowPlan:
    """One pipeline run: jobs, commands waiting for their answer at once, the time scale
    (simulator speed = ``POLL_SCALE``), text channels per guild, and the pacer's limit
    (``None``: the product's, Discord's global limit)."""

    jobs: int
    window: int
    scale: float
    warmup: int  # jobs before the measured ones, when there are no paced ones
    channels: int
    global_limit: int | None = None
    paced_jobs: int = 0  # first, at ``pace`` a second: a load every setup keeps up with
    pace: float = 15.0


@dataclass
class FlowResult:
    label: str
    processes: int
    jobs: int
    states: Counter[str]
    accepted_per_s: float
    delivered_per_s: float  # steady: between the 10th and 90th percentile of delivery times
    overall_per_s: float  # first command → last delivery
    queries: list[int]  # Max API queries of each delivered job (the simulator's count)
    paced_queries: list[int]  # the same for the jobs sent at the plan's pace
    end_to_end_p50: float  # command → delivered, seconds
    rest_per_job: float  # REST requests counted against Discord's global limit
    rest_routes: Counter[str]
    unanswered: int
    cpu: dict[str, float]  # CPU seconds by group of processes, first command → last end
    wall: float
    store: StoreTimes  # every bot's store calls, summed
    pace: float
    activity: str  # what the PostgreSQL connections did ("" on SQLite)

    @property
    def queries_mean(self) -> float:
        return mean(self.queries)

    @property
    def paced_queries_mean(self) -> float:
        return mean(self.paced_queries)

    def cpu_ms_per_job(self, group: str) -> float:
        return self.cpu.get(group, 0.0) / self.jobs * 1000

    def _paced(self) -> str:
        if not self.paced_queries:
            return ""
        top = max(self.paced_queries)
        return f" (at {self.pace:g} jobs/s: mean {self.paced_queries_mean:.2f}, max {top})"

    def describe(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in self.states.most_common())
        routes = ", ".join(f"{n} {r}" for r, n in self.rest_routes.most_common(3))
        cpu = ", ".join(
            f"{name} {used / self.wall:.0%} ({self.cpu_ms_per_job(name):.1f} ms a job)"
            for name, used in self.cpu.items()
        )
        return "\n".join(
            [
                f"[{self.label}] {self.jobs} jobs: {states}; {self.unanswered} commands not "
                f"answered within {ANSWER_WITHIN:g} s",
                f"  accepted {self.accepted_per_s:.1f}/s, delivered {self.delivered_per_s:.1f}/s "
                f"(steady), {self.overall_per_s:.1f}/s first command → last delivery; "
                f"command → delivered p50 {self.end_to_end_p50:.2f} s",
                f"  Max API queries a job: mean {self.queries_mean:.2f}, "
                f"max {max(self.queries, default=0)}{self._paced()}; REST requests under the "
                f"global limit {self.rest_per_job:.2f} a job ({routes})",
                f"  CPU, share of one core over {self.wall:.1f} s: {cpu}",
                f"  store: {self.store.calls / self.jobs:.1f} calls a job, "
                f"{self.store.busy / self.store.calls * 1000:.2f} ms each on the database "
                f"thread, busy {self.store.busy / self.wall / self.processes:.0%} of the time "
                f"(each process); queued {self.store.waited / self.store.calls * 1000:.1f} ms "
                "a call on average",
                *([f"  {self.activity}"] if self.activity else []),
            ]
        )


async def run_flow(
    label: str, db: Database, processes: int, plan: FlowPlan, workdir: Path
) -> FlowResult:
    """Start the simulator, the local Discord and the bot processes; warm up; measure."""
    log_path = workdir / f"sim-{label}.log"
    async with (
        SimProcess(speed=plan.scale, callbacks=False, log_path=log_path) as sim,
        discord_world() as world,
    ):
        where = places(world, 2, channels=plan.channels, members=MEMBERS)
        await lift_limits(db, [p.guild for p in where])
        envs = [
            bot_env(
                world,
                sim.base_url,
                db,
                workdir / f"{label}-{i}",
                poll_scale=plan.scale,
                shard=(i, processes) if processes > 1 else None,
                global_limit=plan.global_limit,
                store_times=True,
            )
            for i in range(processes)
        ]
        async with bots(world, envs, workdir, label) as runs:
            rng = random.Random(7)
            # The paced jobs warm the bots up; without them, a few jobs do.
            warmup = 0 if plan.paced_jobs else plan.warmup
            await feed(world, where, warmup, plan.window, "warm-up", rng)
            await feed(world, where, plan.paced_jobs, 8, "paced", rng, pace=plan.pace)
            await until_ended(db, 0, warmup + plan.paced_jobs, 120)
            ((last_id,),) = await db.read("SELECT COALESCE(MAX(id), 0) FROM jobs")
            meter = CpuMeter(
                {
                    "bots": [r.proc.pid for r in runs],
                    "simulator": [sim.pid],
                    **({"PostgreSQL": postgres_pids(db)} if db.postgres else {}),
                }
            )
            activity = PgActivity(db)
            for run in runs:
                await store_times(run)  # count from here
            bench_cpu = cpu_seconds()
            meter.start()
            if db.postgres:
                activity.start()
            requests_before = len(world.requests)
            began = time.time()
            unanswered = await feed(world, where, plan.jobs, plan.window, label, rng)
            accepted_at = time.time()
            await until_ended(db, last_id, plan.jobs, 120 + plan.jobs / 5)
            ended = time.time()
            cpu = meter.stop()
            cpu["local Discord + bench"] = cpu_seconds() - bench_cpu
            await activity.stop()
            store = StoreTimes.total([await store_times(run) for run in runs])
            rows = await db.read(
                "SELECT state, task_id, created_at, finished_at FROM jobs WHERE id > ? ORDER BY id",
                [last_id],
            )
            paced = await db.read(
                "SELECT task_id FROM jobs WHERE id > ? AND id <= ? AND state = ?",
                [warmup, last_id, JobState.DELIVERED.value],
            )
            counted = [
                r
                for r in world.requests[requests_before:]
                if not any(part in r.path for part in UNCOUNTED)
            ]
        report = await sim.report()
    delivered = [r for r in rows if r[0] == JobState.DELIVERED.value and r[3] is not None]
    done_at = sorted(float(r[3]) for r in delivered)
    return FlowResult(
        label=label,
        processes=processes,
        jobs=plan.jobs,
        states=Counter(str(r[0]) for r in rows),
        accepted_per_s=plan.jobs / (accepted_at - began),
        delivered_per_s=steady_rate(done_at),
        overall_per_s=len(done_at) / ((done_at[-1] if done_at else ended) - began),
        queries=[report.tasks[r[1]].queries for r in delivered if r[1] in report.tasks],
        paced_queries=[report.tasks[r[0]].queries for r in paced if r[0] in report.tasks],
        end_to_end_p50=percentile([float(r[3]) - float(r[2]) for r in delivered], 50),
        rest_per_job=len(counted) / plan.jobs,
        rest_routes=Counter(f"{r.method} {r.route}" for r in counted),
        unanswered=unanswered,
        cpu=cpu,
        wall=ended - began,
        store=store,
        activity=activity.describe() if db.postgres else "",
        pace=plan.pace,
    )


def steady_rate(times: list[float]) -> float:
    """Events a second between the 10th and the 90th percentile of their (sorted) times:
    the pipeline full, without its filling and emptying."""
    if len(times) < 10:
        return float("nan")
    low, high = len(times) // 10, len(times) * 9 // 10
    return (high - low) / max(1e-9, times[high] - times[low])


def mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


async def feed(
    world: World,
    where: list[Place],
    count: int,
    window: int,
    tag: str,
    rng: random.Random,
    *,
    pace: float | None = None,
) -> int:
    """``/imagine`` ``count`` times over the guilds and their channels in turn, ``window``
    commands waiting for their answer at once (the next goes when one is answered), at
    most ``pace`` a second; returns how many were not answered within Discord's window."""
    next_index = 0
    unanswered = 0
    began = time.monotonic()

    async def worker() -> None:
        nonlocal next_index, unanswered
        while next_index < count:
            i = next_index
            next_index += 1
            place = where[i % len(where)]
            turn = i // len(where)
            if pace:
                await asyncio.sleep(max(0.0, began + i / pace - time.monotonic()))
            seconds = TYPICAL_SECONDS * rng.uniform(1 - SPREAD, 1 + SPREAD)
            ix = await world.slash(
                "imagine",
                {"prompt": f"bench {tag} {i} [sim:seconds={seconds:.3f}]", "model": MODEL},
                user=place.members[turn % len(place.members)],
                channel=place.channels[turn % len(place.channels)],
            )
            try:
                await world.wait_for(answered(ix), timeout=ANSWER_WITHIN, what="an answer")
            except WaitTimeout:
                unanswered += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return unanswered


def answered(ix: InjectedInteraction) -> Callable[[], object]:
    return lambda: ix.callback


async def until_ended(db: Database, after_id: int, count: int, within: float) -> None:
    """Wait until ``count`` jobs with ids above ``after_id`` have ended."""
    marks = ", ".join("?" * len(TERMINAL))
    sql = f"SELECT COUNT(*) FROM jobs WHERE id > ? AND state IN ({marks})"
    params = [after_id, *[s.value for s in TERMINAL]]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ((done,),) = await db.read(sql, params)
        if done >= count:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{count} jobs did not end within {within:.0f} s")
