"""How fast the bot answers slash commands with 1,000 jobs in flight (target p99 < 100 ms).

``python -m bench.ack_latency [--jobs 1000] [--burst 50] [--rounds 5] [--in-process]``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.figures import Figure, Row, percentile, table
from bench.sim_process import SIM_KEY, SimProcess
from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job_states import UPSTREAM
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.settings import Secret, Settings
from tests.crash.supervisor import bot_process
from tests.discord_world import (
    InjectedInteraction,
    Member,
    WaitTimeout,
    World,
    discord_world,
    running_bot,
)
from tests.helpers.jobs import UNLIMITED

log = logging.getLogger(__name__)

TARGET_P99_MS = 100.0
DISCORD_WINDOW_S = 3.0
MODEL = "nano-banana-2"
JOBS_PER_MEMBER = 3  # NEW_GUILD_LIMITS.jobs_at_once
ALONE = 10  # single commands measured after the bursts, for comparison
#: Between bursts: the last burst's submits and first card edits (3 s after the answer)
#: are done, so each burst meets the steady load of the jobs in flight, not its tail.
BURST_GAP_S = 4.0


async def fire(
    world: World, name: str, options: dict[str, Any], members: Sequence[Member]
) -> list[tuple[InjectedInteraction, float]]:
    """Inject one command per member at once; each with the moment it was queued."""

    async def one(member: Member) -> tuple[InjectedInteraction, float]:
        ix = await world.slash(name, options, user=member)
        return ix, time.time()  # no await between the dispatch and here

    return list(await asyncio.gather(*(one(m) for m in members)))


async def latencies(
    world: World, sent: list[tuple[InjectedInteraction, float]]
) -> tuple[list[float], int]:
    """Milliseconds from sent to callback for the answered ones, and the misses."""
    with contextlib.suppress(WaitTimeout):
        await world.wait_for(
            lambda: all(ix.callback is not None for ix, _ in sent),
            timeout=DISCORD_WINDOW_S + 2,
            what="every command's callback",
        )
    answered = [(ix.callback.at - at) * 1000 for ix, at in sent if ix.callback is not None]
    late = [ix for ix, _ in sent if ix.callback is None or ix.rejections]
    return answered, len(late)


async def put_in_flight(
    runtime: Runtime, world: World, members: Sequence[Member], jobs: int
) -> None:
    """Accept ``jobs`` jobs that never end upstream, spread over ``members``, and wait until
    each has a task."""
    assert runtime.jobs is not None and runtime.store is not None
    for i in range(jobs):
        member = members[i % len(members)]
        requester = Requester(
            guild_id=world.guild.id, channel_id=world.channel.id, user_id=member.id
        )
        request = GenerationRequest(MODEL, f"bench owl {i} [sim:hold]", {})
        runtime.jobs.submit_soon(await runtime.jobs.accept(request, requester))
    async with asyncio.timeout(300):
        while True:
            counts = await runtime.store.count_by_state()
            if sum(counts.get(s.value, 0) for s in UPSTREAM) >= jobs:
                return
            await asyncio.sleep(0.2)


async def poller_at_work(runtime: Runtime, world: World, polls: int = 40) -> None:
    """Wait until the jobs' first polls are due and the poller is querying them, so the
    commands meet the poller at work, not an idle bot."""
    poller = runtime.poller
    if poller is None:
        return
    start = poller.stats.polls
    await world.wait_for(
        lambda: poller.stats.polls - start >= polls, timeout=600, what="the poller at work"
    )


async def measure(args: argparse.Namespace) -> list[Figure]:
    """Start the simulator and the local Discord, measure, stop everything."""
    with tempfile.TemporaryDirectory(prefix="atelier-ack-") as tmp:
        workdir = Path(tmp)
        async with (
            SimProcess(speed=1.0, callbacks=False, log_path=workdir / "sim.log") as sim,
            discord_world() as world,
        ):
            settings = Settings(
                discord_token=Secret(world.token),
                maxapi_key=Secret(SIM_KEY),
                maxapi_base_url=sim.base_url,
                database_path=workdir / "atelier.db",
                poll_scale=args.poll_scale,
            )
            if args.in_process:
                figures = await measure_in_process(settings, world, workdir, args)
            else:
                figures = await measure_bot_process(settings, world, workdir, args)
            problems = world.server_errors + world.unhandled
            if problems:
                print("the local Discord saw problems:", *problems[:5], sep="\n  ")
    return figures


async def measure_bot_process(
    settings: Settings, world: World, workdir: Path, args: argparse.Namespace
) -> list[Figure]:
    """The bot in its own process; jobs put in flight first, on the same database."""
    members = bench_members(world, args)
    began = time.monotonic()
    async with Runtime(settings, Catalog.load()) as runtime:
        await lift_limits(runtime, world)
        await put_in_flight(runtime, world, members, args.jobs)
    print(f"{args.jobs} jobs in flight after {time.monotonic() - began:.1f} s")
    env = {
        "DISCORD_TOKEN": world.token,
        "MAXAPI_KEY": SIM_KEY,
        "MAXAPI_BASE_URL": settings.maxapi_base_url,
        "DATABASE_PATH": str(settings.database_path),
        "POLL_SCALE": str(args.poll_scale),
        "LOG_LEVEL": "WARNING",
        "ATELIER_TEST_DISCORD": world.http_base,
    }
    async with bot_process(env, cwd=workdir, label="ack-bench") as run:
        await run.wait_signal("ready", "delivery", timeout=120)
        await world.wait_for(
            lambda: "imagine" in world.command_names(), timeout=30, what="commands"
        )
        if args.jobs:
            await first_polls_due(settings.database_path)
        figures = await commands_figures(world, members, args)
        await run.stop()
    return figures


async def first_polls_due(db: Path) -> None:
    """Sleep until the jobs' first polls are due, plus a second, so the commands meet the
    poller at work (read from the database: the bot is another process)."""
    marks = ", ".join("?" * len(UPSTREAM))
    with sqlite3.connect(db) as conn:
        (first,) = conn.execute(
            f"SELECT MIN(next_poll_at) FROM jobs WHERE state IN ({marks})",
            [s.value for s in UPSTREAM],
        ).fetchone()
    if first is not None:
        await asyncio.sleep(max(0.0, float(first) - time.time()) + 1.0)


async def measure_in_process(
    settings: Settings, world: World, workdir: Path, args: argparse.Namespace
) -> list[Figure]:
    """The bot in this process, on the local Discord's event loop."""
    async with Runtime(settings, Catalog.load()) as runtime:
        await lift_limits(runtime, world)
        bot = AtelierBot(runtime.services(), sync_state_path=workdir / "commands.sha256")
        async with running_bot(world, bot):
            figures = await scenario(runtime, world, args)
            await submits_done(runtime)
    return figures


async def lift_limits(runtime: Runtime, world: World) -> None:
    assert runtime.store is not None
    await runtime.store.set_limits(world.guild.id, "guild", 0, UNLIMITED)
    await runtime.store.update_guild_config(
        world.guild.id, daily_budget_usd=None, monthly_budget_usd=None
    )


def bench_members(world: World, args: argparse.Namespace) -> list[Member]:
    """A new guild's members may run 3 jobs at once: 1,000 jobs in flight take 334
    members; the commands come from the first ``--burst`` of them."""
    count = max(args.burst, math.ceil(args.jobs / JOBS_PER_MEMBER))
    return [world.add_member(f"bench-{i}") for i in range(count)]


async def scenario(runtime: Runtime, world: World, args: argparse.Namespace) -> list[Figure]:
    members = bench_members(world, args)
    began = time.monotonic()
    await put_in_flight(runtime, world, members, args.jobs)
    print(f"{args.jobs} jobs in flight after {time.monotonic() - began:.1f} s")
    if args.jobs:
        await poller_at_work(runtime, world)
    return await commands_figures(world, members, args)


async def commands_figures(
    world: World, members: Sequence[Member], args: argparse.Namespace
) -> list[Figure]:
    commands: list[tuple[str, dict[str, Any]]] = [("jobs", {})]
    if "imagine" in world.command_names():
        commands.append(("imagine", {"prompt": "a bench heron [sim:hold]"}))
    figures: list[Figure] = []
    for name, options in commands:
        figures += await command_figures(world, name, options, members[: args.burst], args)
    return figures


async def command_figures(
    world: World,
    name: str,
    options: dict[str, Any],
    members: Sequence[Member],
    args: argparse.Namespace,
) -> list[Figure]:
    """Bursts of one command (after a warm-up burst), then the same command alone."""
    await latencies(world, await fire(world, name, options, members))  # warm-up
    samples: list[float] = []
    misses = 0
    for _ in range(args.rounds):
        await world.settle(timeout=60)
        await asyncio.sleep(args.gap)
        got, late = await latencies(world, await fire(world, name, options, members))
        samples += got
        misses += late
    alone: list[float] = []
    for member in members[:ALONE]:
        await world.settle(timeout=60)
        got, late = await latencies(world, await fire(world, name, options, [member]))
        alone += got
        misses += late
    where = f"/{name}, {len(members)} at once, {args.jobs} jobs in flight"
    return [
        Figure(f"ack p50 ({where})", percentile(samples, 50), unit="ms", digits=1),
        Figure(
            f"ack p99 ({where})",
            percentile(samples, 99),
            unit="ms",
            target=TARGET_P99_MS,
            digits=1,
            strict=True,
        ),
        Figure(f"ack max ({where})", percentile(samples, 100), unit="ms", digits=1),
        Figure(f"ack p50 (/{name} alone, same load)", percentile(alone, 50), unit="ms", digits=1),
        Figure(f"not answered within 3 s (/{name})", misses, target=0.0, digits=0),
    ]


async def submits_done(runtime: Runtime) -> None:
    """Let the last commands' jobs reach Max API before the bot stops (a job stopped
    mid-submit would end ``lost`` and log a warning)."""
    assert runtime.store is not None
    async with asyncio.timeout(60):
        while True:
            counts = await runtime.store.count_by_state()
            if not counts.get("accepted") and not counts.get("submitting"):
                return
            await asyncio.sleep(0.1)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in flight")
    parser.add_argument("--burst", type=int, default=50, help="commands injected at once")
    parser.add_argument("--rounds", type=int, default=5, help="bursts measured per command")
    parser.add_argument(
        "--gap",
        type=float,
        default=BURST_GAP_S,
        help="seconds between bursts (0: back to back, a sustained flood)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the bot in this process, on the local Discord's event loop",
    )
    parser.add_argument(
        "--poll-scale",
        type=float,
        default=1.0,
        help="POLL_SCALE for the bot (1.0: production's schedule)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord").setLevel(logging.ERROR)  # "PyNaCl is not installed", …
    figures = asyncio.run(measure(args))
    print(table(figures))
    return [f.row() for f in figures]


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
