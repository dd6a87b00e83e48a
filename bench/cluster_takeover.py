"""Takeover after ``kill -9`` of one of two bot processes on PostgreSQL: from the kill
until the survivor has done what the dead one held (its unsent jobs submitted, the polls
and deliveries it had claimed done), over several kills, against the lease."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster_flow import MODEL, SPREAD, TYPICAL_SECONDS
from bench.cluster_launcher import CLAIM_SHARE
from bench.cluster_support import Database, Place, bot_env, lift_limits, places, start_bot
from bench.sim_process import SimProcess
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job_states import UPSTREAM
from bot.services.jobs import JobService, Requester
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from tests.crash.supervisor import BotRun
from tests.discord_world import World, discord_world

UPSTREAM_MARKS = ", ".join("?" * len(UPSTREAM))
UPSTREAM_VALUES = [s.value for s in UPSTREAM]


@dataclass(frozen=True)
class TakeoverPlan:
    kills: int
    lease: float  # the cluster's lease; heartbeat and claims scaled with it
    scale: float  # simulator speed = POLL_SCALE of the load that keeps both busy
    rate: float  # /imagine a second while the processes run
    unsent: int  # jobs the victim accepted and had not sent when it died
    latency: float  # seconds each Max API query and result download takes


@dataclass
class Kill:
    """What one killed process held, and seconds from the kill until each was done."""

    victim: int  # its shard
    unsent: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    deliveries: list[float] = field(default_factory=list)  # claimed again by the survivor
    delivered: list[float] = field(default_factory=list)  # … and posted
    missing: int = 0  # held work not taken over within the wait

    @property
    def takeover(self) -> float:
        """Until the survivor had taken over the last of its work (held deliveries claimed
        again; posting them is delivery's own time)."""
        return max([*self.unsent, *self.polls, *self.deliveries], default=float("nan"))


@dataclass
class TakeoverResult:
    plan: TakeoverPlan
    kills: list[Kill]
    double_posts: int  # jobs with a result message posted twice
    states: Counter[str]

    @property
    def claim(self) -> float:
        return self.plan.lease * CLAIM_SHARE

    def describe(self) -> str:
        def spread(values: list[float]) -> str:
            if not values:
                return "none held"
            return f"{len(values)} held, {min(values):.1f}–{max(values):.1f} s"

        kinds = {
            "unsent jobs submitted": [v for k in self.kills for v in k.unsent],
            "claimed polls done": [v for k in self.kills for v in k.polls],
            "claimed deliveries claimed again": [v for k in self.kills for v in k.deliveries],
            "claimed deliveries posted": [v for k in self.kills for v in k.delivered],
        }
        lines = [
            f"takeover: {len(self.kills)} kills, lease {self.plan.lease:g} s (heartbeat "
            f"{self.plan.lease / 6:.2g} s, poll and delivery claims {self.claim:g} s; the "
            "product's are 30 s / 5 s / 30 s); /imagine at "
            f"{self.plan.rate:g}/s, Max API queries and downloads {self.plan.latency:g} s",
            *(f"  {kind}: {spread(values)} after the kill" for kind, values in kinds.items()),
            "  per kill: "
            + ", ".join(f"{k.takeover:.1f} s" + (" (!)" if k.missing else "") for k in self.kills),
            f"  {self.double_posts} results posted twice; jobs: "
            + ", ".join(f"{n} {s}" for s, n in self.states.most_common()),
        ]
        return "\n".join(lines)


class Cluster:
    """Two bot processes, shard 0 and shard 1, restarted after each kill."""

    def __init__(self, world: World, envs: list[dict[str, str]], workdir: Path) -> None:
        self.world = world
        self.envs = envs
        self.workdir = workdir
        self.runs: dict[int, BotRun] = {}
        self.starts = 0

    async def start(self, shard: int) -> BotRun:
        self.starts += 1
        label = f"takeover-{shard}-{self.starts}"
        run = await start_bot(self.envs[shard], cwd=self.workdir / label, label=label)
        self.runs[shard] = run
        await run.wait_signal("ready", "delivery", timeout=120)
        return run

    async def close(self) -> None:
        for run in self.runs.values():
            with contextlib.suppress(AssertionError):
                await run.stop()
            await run.close()


async def run_takeover(db: Database, plan: TakeoverPlan, workdir: Path) -> TakeoverResult:
    log_path = workdir / "sim-takeover.log"
    async with (
        SimProcess(speed=plan.scale, callbacks=False, log_path=log_path) as sim,
        discord_world() as world,
    ):
        where = places(world, 2, channels=4, members=20)
        by_shard = {world.shard_of(p.guild, 2): p for p in where}
        await lift_limits(db, [p.guild for p in where])
        envs = [
            bot_env(
                world,
                sim.base_url,
                db,
                workdir / f"takeover-{shard}",
                poll_scale=plan.scale,
                shard=(shard, 2),
                lease=plan.lease,
                maxapi_latency=plan.latency,
            )
            for shard in range(2)
        ]
        cluster = Cluster(world, envs, workdir)
        store = await Store.open(db.target)
        kills: list[Kill] = []
        load: asyncio.Task[None] | None = None
        try:
            for shard in range(2):
                await cluster.start(shard)
            await world.wait_for(lambda: "imagine" in world.command_names(), timeout=60)
            load = asyncio.create_task(keep_busy(world, cluster, by_shard, plan))
            for k in range(plan.kills):
                victim = k % 2
                await asyncio.sleep(1.5)  # the load reaches the victim's claims
                kills.append(await kill_one(db, store, cluster, by_shard[victim], victim, plan))
                await cluster.start(victim)
        finally:
            if load is not None:
                load.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await load
            await store.close()
            await cluster.close()
        rows = await db.read("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        posted = Counter(
            marker[:2]
            for m in world.messages()
            if m.content and (marker := parse_marker(m.content)) is not None
        )
    return TakeoverResult(
        plan,
        kills,
        double_posts=sum(1 for n in posted.values() if n > 1),
        states=Counter({str(state): int(n) for state, n in rows}),
    )


async def keep_busy(
    world: World, cluster: Cluster, by_shard: dict[int, Place], plan: TakeoverPlan
) -> None:
    """``/imagine`` at ``plan.rate`` a second in the guilds of live processes."""
    rng = random.Random(11)
    i = 0
    while True:
        for shard, place in by_shard.items():
            run = cluster.runs.get(shard)
            if run is None or run.returncode is not None or not run.signals("ready"):
                continue
            seconds = TYPICAL_SECONDS * rng.uniform(1 - SPREAD, 1 + SPREAD)
            prompt = f"bench takeover {i} [sim:seconds={seconds:.3f}]"
            with contextlib.suppress(Exception):
                await world.slash(
                    "imagine",
                    {"prompt": prompt, "model": MODEL},
                    user=place.members[i % len(place.members)],
                    channel=place.channels[i % len(place.channels)],
                    timeout=1.0,
                )
            i += 1
            await asyncio.sleep(1 / plan.rate)


async def kill_one(
    db: Database, store: Store, cluster: Cluster, place: Place, victim: int, plan: TakeoverPlan
) -> Kill:
    """Give the victim unsent jobs, kill it, and time what the survivor takes over."""
    run = cluster.runs[victim]
    ((owner,),) = await db.read(
        "SELECT id FROM processes WHERE id LIKE ? ORDER BY started_at DESC LIMIT 1",
        [f"%-{run.proc.pid}-%"],
    )
    jobs = JobService(store, Catalog.load(), api=None, process_id=owner)  # type: ignore[arg-type]
    for n in range(plan.unsent):
        seconds = TYPICAL_SECONDS
        request = GenerationRequest(MODEL, f"bench unsent {victim}-{n} [sim:seconds={seconds}]")
        requester = Requester(
            guild_id=place.guild.id, channel_id=place.channels[0].id, user_id=place.members[0].id
        )
        await jobs.accept(request, requester)
    killed_at = time.time()
    await run.kill()
    cluster.runs.pop(victim)
    # Poll claims name no process: wait until the survivor's polls in flight at the kill
    # have ended; the claims left from before the kill are the victim's.
    await asyncio.sleep(plan.latency + 0.4)
    claim = plan.lease * CLAIM_SHARE
    unsent = await db.read(
        "SELECT id, state FROM jobs WHERE owner = ? AND state IN ('accepted', 'submitting')",
        [owner],
    )
    # A claim's lease runs into the future; a delivery merely due does not.
    deliveries = await db.read(
        "SELECT id, fence FROM jobs WHERE owner = ? AND state IN ('succeeded', 'delivering') "
        "AND next_delivery_at > ?",
        [owner, time.time()],
    )
    polls = await db.read(
        f"SELECT id, polls FROM jobs WHERE state IN ({UPSTREAM_MARKS}) "
        "AND poll_claimed_until > ? AND poll_claimed_until <= ?",
        [*UPSTREAM_VALUES, time.time(), killed_at + claim],
    )
    kill = Kill(victim)
    waiting: dict[tuple[str, int], Any] = {}
    waiting.update({("unsent", int(r[0])): r[1] for r in unsent})
    waiting.update({("delivery", int(r[0])): int(r[1]) for r in deliveries})
    waiting.update({("delivered", int(r[0])): None for r in deliveries})
    waiting.update({("poll", int(r[0])): int(r[1]) for r in polls})
    deadline = killed_at + plan.lease + claim + 15
    done = {
        "unsent": kill.unsent,
        "delivery": kill.deliveries,
        "delivered": kill.delivered,
        "poll": kill.polls,
    }
    while waiting and time.time() < deadline:
        for key, seconds in (await progressed(db, waiting, killed_at)).items():
            waiting.pop(key)
            done[key[0]].append(seconds)
        await asyncio.sleep(0.1)
    kill.missing = len(waiting)
    return kill


async def progressed(
    db: Database, waiting: dict[tuple[str, int], Any], killed_at: float
) -> dict[tuple[str, int], float]:
    """Of the held work, what is done now, and when (seconds after the kill): an unsent
    job past ``submitting``, a claimed poll done (or its job moved on), a claimed delivery
    claimed again (its fence raised) and ended."""
    ids = sorted({job_id for _, job_id in waiting})
    marks = ", ".join("?" * len(ids))
    now_rows = await db.read(f"SELECT id, polls, fence FROM jobs WHERE id IN ({marks})", ids)
    counts = {int(r[0]): (int(r[1]), int(r[2])) for r in now_rows}
    events: dict[int, list[tuple[float, str]]] = {}
    for job_id, at, to_state in await db.read(
        f"SELECT job_id, at, to_state FROM job_events WHERE job_id IN ({marks}) AND at > ? "
        "ORDER BY at",
        [*ids, killed_at],
    ):
        events.setdefault(int(job_id), []).append((float(at), str(to_state)))
    now = time.time()
    done: dict[tuple[str, int], float] = {}
    for key, before in waiting.items():
        kind, job_id = key
        moves = events.get(job_id, [])
        polls, fence = counts[job_id]
        ended = next((t for t, s in moves if s not in ("succeeded", "delivering")), None)
        if kind == "unsent":
            at = next((t for t, s in moves if s not in ("accepted", "submitting")), None)
        elif kind == "delivered":
            at = ended
        elif kind == "delivery":
            at = ended if ended is not None else (now if fence > before else None)
        else:
            at = moves[0][0] if moves else (now if polls > before else None)
        if at is not None:
            done[key] = at - killed_at
    return done
