"""How long a restarted bot takes to poll each of 1,000 overdue jobs once (target 10 s).

``python -m bench.resume_overdue [--jobs 1000] [--poll-rate auto]``"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.figures import Figure, Row, table
from bench.pipeline import (
    Planned,
    accept_all,
    lift_limits,
    poll_counts,
    submit_all,
    until_each_polled,
)
from bench.sim_process import SIM_KEY, SimProcess
from bot.domain.catalog import Catalog
from bot.runtime import Runtime
from bot.settings import Secret, Settings

TARGET = 10.0  # seconds
MODEL = "seedream-4.5"


def settings_for(base_url: str, db: Path, poll_rate: str, poll_rate_max: float) -> Settings:
    """The product's defaults, but for ``POLL_RATE`` and ``POLL_RATE_MAX`` when given."""
    return Settings(
        discord_token=Secret("unused-by-the-benchmark"),
        maxapi_key=Secret(SIM_KEY),
        maxapi_base_url=base_url,
        database_path=db,
        poll_rate=None if poll_rate == "auto" else float(poll_rate),
        poll_rate_max=poll_rate_max,
    )


async def put_in_flight(settings: Settings, catalog: Catalog, jobs: int) -> None:
    """Accept and submit ``jobs`` image jobs that never end upstream, then close (the bot
    goes down)."""
    async with Runtime(settings, catalog) as runtime:
        assert runtime.store is not None and runtime.jobs is not None
        await lift_limits(runtime.store)
        media = catalog.get(MODEL).media
        ids, _ = await accept_all(runtime.jobs, [Planned(MODEL, media, 0.0)] * jobs, hold=True)
        await submit_all(runtime.jobs, ids, 50)


async def resume(settings: Settings, catalog: Catalog, away: float, within: float) -> float | None:
    """Restart ``away`` seconds later; seconds from opening until each job has one more
    recorded poll (None: not within ``within``)."""
    before = poll_counts(settings.database_path)
    began = time.perf_counter()
    async with Runtime(settings, catalog, clock=lambda: time.time() + away) as runtime:
        assert runtime.jobs is not None and runtime.poller is not None
        await runtime.jobs.recover()
        runtime.poller.start()
        done = await until_each_polled(runtime.poller, settings.database_path, before, within)
    return None if done is None else done - began


async def run(args: argparse.Namespace, workdir: Path) -> list[Figure]:
    catalog = Catalog.load()
    log_path = workdir / "sim.log"
    async with SimProcess(speed=1.0, callbacks=False, log_path=log_path) as sim:
        settings = settings_for(sim.base_url, workdir / "resume.db", args.poll_rate, args.max)
        await put_in_flight(settings, catalog, args.jobs)
        took = await resume(settings, catalog, args.away, within=60 + args.jobs / 10)
        report = await sim.report()
    queries = [task.queries for task in report.tasks.values()]
    print(
        f"{args.jobs} {MODEL} jobs running upstream; bot back {args.away:g} s later (every "
        f"appointment overdue); POLL_RATE={args.poll_rate}, POLL_RATE_MAX={args.max:g}; queries "
        f"per task: min {min(queries)}, max {max(queries)}",
        flush=True,
    )
    return [
        Figure(
            f"resume: until each of the {args.jobs} overdue jobs was polled once",
            took,
            unit="s",
            target=TARGET,
        )
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.resume_overdue", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in flight (1000)")
    parser.add_argument("--poll-rate", default="auto", help="POLL_RATE: auto or a number (auto)")
    parser.add_argument("--max", type=float, default=200.0, help="POLL_RATE_MAX (200)")
    parser.add_argument("--away", type=float, default=300.0, help="seconds the bot was down (300)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the benchmark, print the table, return its rows (for an aggregating script)."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    print(table(figures))
    return [f.row() for f in figures]


if __name__ == "__main__":
    main()
