"""What the several-process bench shares: a database (SQLite or a throwaway PostgreSQL)
read from beside the bots, bot processes started through the bench's launcher, and CPU
time of every process taking part."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import cluster_launcher as launcher
from bench.procstats import cpu_seconds
from bench.sim_process import SIM_KEY
from bot.store import Store
from tests.crash.supervisor import BotRun, process_env
from tests.discord_world import Channel, Guild, Member, World
from tests.helpers.jobs import UNLIMITED


@dataclass
class Database:
    """One bench database: a SQLite file or a PostgreSQL URL, and a connection beside the
    bots' for reading what they did (``?`` placeholders for both)."""

    label: str
    target: str
    _conn: Any = field(default=None, repr=False)

    @property
    def postgres(self) -> bool:
        return self.target.startswith("postgresql://")

    def env(self, workdir: Path) -> dict[str, str]:
        """The bot's settings for this database (the heartbeat file goes in ``workdir``)."""
        if self.postgres:
            return {"DATABASE_URL": self.target, "DATABASE_PATH": str(workdir / "atelier.db")}
        return {"DATABASE_PATH": self.target}

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read on this process's own connection (blocking)."""
        if self._conn is None:
            if self.postgres:
                self._conn = psycopg.connect(self.target, autocommit=True)
            else:
                self._conn = sqlite3.connect(
                    self.target, timeout=30, isolation_level=None, check_same_thread=False
                )
        if self.postgres:
            return list(self._conn.execute(sql.replace("?", "%s"), list(params)).fetchall())
        return list(self._conn.execute(sql, list(params)).fetchall())

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self.rows, sql, params)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def lift_limits(db: Database, guilds: Sequence[Guild]) -> None:
    """No limit or budget refuses a bench job (quota checks still run for each)."""
    store = await Store.open(db.target)
    try:
        for guild in guilds:
            await store.set_limits(guild.id, "guild", 0, UNLIMITED)
            await store.update_guild_config(
                guild.id, daily_budget_usd=None, monthly_budget_usd=None
            )
    finally:
        await store.close()


@dataclass
class Place:
    """A guild the bench sends commands in: its channels and members."""

    guild: Guild
    channels: list[Channel]
    members: list[Member]


def places(world: World, shards: int, *, channels: int, members: int) -> list[Place]:
    """One guild per shard (the world's own guild first), each with ``channels`` text
    channels and ``members`` members."""
    guilds = [world.guild]
    for shard in range(shards):
        if world.shard_of(world.guild, shards) != shard:
            guilds.append(world.add_guild(f"Bench {shard}", shard=(shard, shards)))
    out = []
    for guild in guilds:
        rooms = [guild.channel_named("general")]
        rooms += [world.add_channel(f"bench-{i}", guild=guild) for i in range(1, channels)]
        people = [world.add_member(f"b{guild.id % 997}-{i}", guild=guild) for i in range(members)]
        out.append(Place(guild, rooms, people))
    return out


def bot_env(
    world: World,
    sim_url: str,
    db: Database,
    workdir: Path,
    *,
    poll_scale: float,
    shard: tuple[int, int] | None = None,
    lease: float | None = None,
    global_limit: int | None = None,
    store_times: bool = False,
    maxapi_latency: float | None = None,
) -> dict[str, str]:
    env = {
        "DISCORD_TOKEN": world.token,
        "MAXAPI_KEY": SIM_KEY,
        "MAXAPI_BASE_URL": sim_url,
        "POLL_SCALE": repr(poll_scale),
        "LOG_LEVEL": "WARNING",
        "ATELIER_TEST_DISCORD": world.http_base,
        **db.env(workdir),
    }
    if shard is not None:
        env["SHARD_IDS"], env["SHARD_COUNT"] = str(shard[0]), str(shard[1])
    if lease is not None:
        env[launcher.LEASE] = repr(lease)
    if global_limit is not None:
        env[launcher.GLOBAL_LIMIT] = str(global_limit)
    if store_times:
        env[launcher.STORE_TIMES] = "1"
    if maxapi_latency:
        env[launcher.MAXAPI_LATENCY] = repr(maxapi_latency)
    return env


async def start_bot(settings: Mapping[str, str], *, cwd: Path, label: str) -> BotRun:
    """``python -m bench.cluster_launcher`` (the crash tests' bot process, timings from
    the environment) with ``settings`` as its environment."""
    await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.cluster_launcher",
        env=process_env(settings),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    return BotRun(proc, label)


@contextlib.asynccontextmanager
async def bots(
    world: World, envs: Sequence[dict[str, str]], workdir: Path, label: str
) -> AsyncIterator[list[BotRun]]:
    """Start one bot process per environment, wait until each delivers and the commands
    are synced; stop them (SIGTERM) at the end, killed if they do not go."""
    runs: list[BotRun] = []
    try:
        for i, env in enumerate(envs):
            runs.append(await start_bot(env, cwd=workdir / f"{label}-{i}", label=f"{label}-{i}"))
        for run in runs:
            await run.wait_signal("ready", "delivery", timeout=120)
        await world.wait_for(
            lambda: "imagine" in world.command_names(), timeout=60, what="synced commands"
        )
        yield runs
        for run in runs:
            with contextlib.suppress(AssertionError):
                await run.stop()
    finally:
        for run in runs:
            await run.close()


@dataclass(frozen=True)
class StoreTimes:
    """A bot's store calls between two SIGUSR1 (see :mod:`bench.cluster_launcher`)."""

    calls: int
    busy: float  # seconds on the database thread
    waited: float  # seconds queued for it

    @classmethod
    def total(cls, times: Sequence[StoreTimes]) -> StoreTimes:
        return cls(
            sum(t.calls for t in times),
            sum(t.busy for t in times),
            sum(t.waited for t in times),
        )


async def store_times(run: BotRun) -> StoreTimes:
    """Mark, and return the store times since the previous mark."""
    seen = sum(1 for line in run.lines if line.startswith(launcher.STORE_LINE))
    run.proc.send_signal(signal.SIGUSR1)  # the bot answers with one stderr line
    lines = await run.wait_for(
        lambda: [line for line in run.lines if line.startswith(launcher.STORE_LINE)][seen:],
        what="the store's times",
    )
    calls, busy, waited = lines[0].removeprefix(launcher.STORE_LINE).split()
    return StoreTimes(int(calls), float(busy), float(waited))


class PgActivity:
    """What the bots' PostgreSQL connections do, sampled from ``pg_stat_activity``:
    running a statement, waiting for a lock, inside a transaction waiting for the bot's
    next statement, or idle."""

    SQL = (
        "SELECT state, wait_event_type, COUNT(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' GROUP BY 1, 2"
    )

    def __init__(self, db: Database, every: float = 0.05) -> None:
        self.db = db
        self.every = every
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            for state, wait, count in await self.db.read(self.SQL):
                if state == "active":
                    kind = "waiting for a lock" if wait == "Lock" else "running a statement"
                elif state and state.startswith("idle in transaction"):
                    kind = "in a transaction, waiting for the bot"
                else:
                    kind = "idle"
                self.counts[kind] += count
            self.samples += 1
            await asyncio.sleep(self.every)

    def describe(self) -> str:
        """Connections in each state, on average over the samples."""
        parts = [f"{n / max(1, self.samples):.2f} {kind}" for kind, n in self.counts.most_common()]
        return "bots' PostgreSQL connections on average: " + ", ".join(parts)


# -- CPU of the processes taking part ----------------------------------------------------


def _parent(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[1])


def postgres_pids(db: Database) -> list[int]:
    """The server processes of ``db``'s PostgreSQL (its postmaster and every child), not
    those of other clusters on this machine."""
    ((backend,),) = db.rows("SELECT pg_backend_pid()")
    postmaster = _parent(int(backend))
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if _parent(int(entry.name)) == postmaster:
                    pids.append(int(entry.name))
    return pids


def _cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds of each process still running."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            used[pid] = cpu_seconds(pid)
    return used


class CpuMeter:
    """CPU seconds of named groups of processes, from :meth:`start` to :meth:`stop` (a
    process that ended meanwhile is left out: its time can no longer be read)."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self.groups = dict(groups)
        self.began: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self.began = {name: _cpu(pids) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        used = {}
        for name, pids in self.groups.items():
            now, then = _cpu(pids), self.began[name]
            used[name] = sum(now[pid] - then[pid] for pid in now.keys() & then.keys())
        return used
