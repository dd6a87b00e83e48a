"""Thousands of jobs in flight against the Max API simulator: queries, delays, CPU, memory.

``python -m bench.jobs_pipeline [--jobs 10000] [--quick] [--scale 0.1] [--only polling]``"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.figures import Figure, Row, table
from bench.pipeline import (
    CpuClock,
    Load,
    Pipeline,
    accept_all,
    plan,
    poll_counts,
    settings_for,
    submit_all,
    until_each_polled,
)
from bench.pipeline_figures import (
    PRODUCT_RATE,
    QUERY_TARGETS,
    FlowResult,
    Progress,
    ResumeResult,
    describe_flow,
    describe_resume,
    flow_figures,
    read_jobs,
    resume_figures,
)
from bench.procstats import cpu_seconds, peak_rss_bytes, reset_peak_rss, rss_bytes
from bench.sim_process import SimProcess
from bot.domain.catalog import Catalog
from bot.domain.job_states import TERMINAL, UPSTREAM, JobState
from bot.runtime import looks_at_once

# Imported for its memory only: the real bot process holds discord.py too, so the RSS
# figures start from about the same baseline (the cogs and discord.py's caches add more).
import bot.discord_io.client  # noqa: F401  # isort: skip

SCENARIOS = ("polling", "callbacks", "resume")


# -- a flow run (polling / callbacks) and a resume ------------------------------------------


async def follow(
    pipeline: Pipeline, total: int, submitted: asyncio.Event, out: Progress, within: float
) -> None:
    """Sample until every job has ended (or ``within`` seconds pass)."""
    store, poller = pipeline.runtime.store, pipeline.runtime.poller
    assert store is not None and poller is not None
    deadline = time.monotonic() + within
    last_polls, last_at = poller.stats.polls, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        out.rss_peak = max(out.rss_peak, rss_bytes())
        counts = await store.count_by_state()
        out.ended = sum(n for state, n in counts.items() if JobState(state) in TERMINAL)
        out.in_flight_peak = max(out.in_flight_peak, sum(counts.values()) - out.ended)
        upstream = sum(counts.get(state.value, 0) for state in UPSTREAM)
        out.upstream_peak = max(out.upstream_peak, upstream)
        now = time.monotonic()
        rate = (poller.stats.polls - last_polls) / (now - last_at)
        out.poll_rate_peak = max(out.poll_rate_peak, rate)
        last_polls, last_at = poller.stats.polls, now
        if out.ended >= total and submitted.is_set():
            return


async def run_flow(load: Load, catalog: Catalog, mode: str, workdir: Path) -> FlowResult:
    callbacks = mode == "callbacks"
    log_path = workdir / f"sim-{mode}.log"
    async with SimProcess(speed=load.scale, callbacks=callbacks, log_path=log_path) as sim:
        db = workdir / f"{mode}.db"
        planned = plan(load, catalog)
        rss_start = rss_bytes()
        hwm_reset = reset_peak_rss()
        pipeline = await Pipeline.open(
            settings_for(load, sim.base_url, db, callbacks=callbacks), catalog, load
        )
        poller = pipeline.runtime.poller
        assert poller is not None
        submitted = asyncio.Event()
        progress = Progress()
        longest = max(p.seconds for p in planned) * load.scale
        within = 120 + 3 * longest + load.jobs / 20
        watcher = asyncio.create_task(follow(pipeline, load.jobs, submitted, progress, within))
        cpu = CpuClock()
        started = time.perf_counter()
        try:
            ids, accept_took = await accept_all(pipeline.jobs, planned, hold=False)
            accepted = time.perf_counter()
            await submit_all(pipeline.jobs, ids, load.submit_concurrency, load.submit_rate)
            submit_seconds = time.perf_counter() - accepted
            tail_cpu, tail_polls = cpu_seconds(), poller.stats.polls
            submitted.set()
            await watcher
            wall = time.perf_counter() - started
            cpu_total, cpu_loop, cpu_db = cpu.since()
            tail_cpu, tail_polls = cpu_seconds() - tail_cpu, poller.stats.polls - tail_polls
            polls = poller.stats.polls
            rss_hwm = peak_rss_bytes() if hwm_reset else None
        finally:
            watcher.cancel()
            await pipeline.close()
        sim_report = await sim.report()
    return FlowResult(
        mode=mode,
        jobs=load.jobs,
        accept_took=accept_took,
        submit_seconds=submit_seconds,
        wall_seconds=wall,
        progress=progress,
        rss_start=rss_start,
        rss_hwm=rss_hwm,
        cpu_total=cpu_total,
        cpu_loop=cpu_loop,
        cpu_db=cpu_db,
        polls=polls,
        tail_cpu=tail_cpu,
        tail_polls=tail_polls,
        lateness=pipeline.lateness,
        rows=read_jobs(db),
        sim=sim_report,
    )


async def run_resume(load: Load, catalog: Catalog, workdir: Path) -> ResumeResult:
    log_path = workdir / "sim-resume.log"
    async with SimProcess(speed=load.scale, callbacks=False, log_path=log_path) as sim:
        db = workdir / "resume.db"
        settings = settings_for(load, sim.base_url, db, callbacks=False)
        first = await Pipeline.open(settings, catalog, load)
        try:
            ids, _ = await accept_all(first.jobs, plan(load, catalog, hold=True), hold=True)
            await submit_all(first.jobs, ids, load.submit_concurrency, load.submit_rate)
        finally:
            await first.close()
        # The bot is down. Let every poll appointment fall due: the worst case, where
        # the restart took longer than the gaps between polls and every job is late.
        before = poll_counts(db)
        with sqlite3.connect(db) as conn:
            (last_due,) = conn.execute("SELECT MAX(next_poll_at) FROM jobs").fetchone()
        down_at = time.perf_counter()
        await asyncio.sleep(max(0.0, (last_due or 0.0) - time.time()) + 0.1)
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        second = await Pipeline.open(settings, catalog, load)
        armed = time.perf_counter() - t0
        try:
            poller = second.runtime.poller
            assert poller is not None
            polled_at = await until_each_polled(poller, db, before, within=60 + load.jobs / 20)
            polls, rss, cpu = poller.stats.polls, rss_bytes(), cpu_seconds() - cpu0
        finally:
            await second.close()
    return ResumeResult(
        in_flight=len(before),
        downtime=t0 - down_at,
        armed_seconds=armed,
        all_polled_seconds=None if polled_at is None else polled_at - t0,
        polls=polls,
        rss=rss,
        cpu=cpu,
    )


class WarningTally(logging.Handler):
    """Counts warnings by message template instead of printing thousands of lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[(record.name, str(record.msg))] += 1

    def summary(self) -> str:
        """The most frequent warnings since the last call, then forget them."""
        lines = [f"  log: {n} x {name}: {msg!r}" for (name, msg), n in self.counts.most_common(4)]
        self.counts.clear()
        return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs_pipeline",
        description="Put many jobs in flight against the Max API simulator; print figures.",
    )
    parser.add_argument("--jobs", type=int, help="jobs per run (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 jobs (unless --jobs)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="simulator speed and POLL_SCALE: 0.1 runs every model 10x faster, a 10x denser "
        "load (%(default)s: real speed, what the targets are about)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="the poller's polls per second, wall clock (default 0: no limit)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="polls at once (default 0: as the runtime sizes it for the POLL_RATE these jobs need)",
    )
    parser.add_argument("--submit-concurrency", type=int, default=50)
    parser.add_argument(
        "--submit-rate", type=float, default=0.0, help="submits per second (0: no pacing)"
    )
    parser.add_argument(
        "--spread", type=float, default=0.2, help="generation time = typical × (1 ± spread)"
    )
    parser.add_argument("--video-share", type=float, default=0.5)
    parser.add_argument("--image-model", default="seedream-4.5")
    parser.add_argument("--video-model", default="veo3")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="run only this one (repeatable)"
    )
    return parser.parse_args(argv)


async def run(
    load: Load, scenarios: Sequence[str], workdir: Path, tally: WarningTally
) -> list[Figure]:
    catalog = Catalog.load()
    figures: list[Figure] = []
    for scenario in scenarios:
        if scenario == "resume":
            resume = await run_resume(load, catalog, workdir)
            print(describe_resume(resume), flush=True)
            figures += resume_figures(resume)
        else:
            flow = await run_flow(load, catalog, scenario, workdir)
            print(describe_flow(flow, load), flush=True)
            figures += flow_figures(flow)
        if tally.counts:
            print(tally.summary(), flush=True)
    figures.append(needed_rate(load, catalog))
    return figures


def needed_rate(load: Load, catalog: Catalog) -> Figure:
    """The poll rate that following ``load.jobs`` jobs in flight at real speed takes."""
    shares = ((load.image_model, 1 - load.video_share), (load.video_model, load.video_share))
    rate = 0.0
    for model_id, share in shares:
        model = catalog.get(model_id)
        rate += load.jobs * share * QUERY_TARGETS[model.media] / model.typical_seconds
    return Figure(
        f"poller rate for {load.jobs} jobs in flight at real speed (computed; default ceiling "
        f"{PRODUCT_RATE:g})",
        rate,
        unit="polls/s",
        digits=0,
    )


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the benchmark, print the table, return its rows (for an aggregating script)."""
    args = parse_args(argv)
    load = Load(
        jobs=args.jobs or (1_000 if args.quick else 10_000),
        scale=args.scale,
        rate=args.rate or None,
        concurrency=args.concurrency,
        submit_concurrency=args.submit_concurrency,
        submit_rate=args.submit_rate or None,
        spread=args.spread,
        video_share=args.video_share,
        image_model=args.image_model,
        video_model=args.video_model,
        seed=args.seed,
    )
    if not load.concurrency:
        needed = (needed_rate(load, Catalog.load()).value or 0.0) / load.scale
        load = dataclasses.replace(load, concurrency=looks_at_once(needed))
    rate = "no limit" if load.rate is None else f"{load.rate:g} polls/s"
    print(
        f"jobs pipeline: {load.jobs} jobs per run ({1 - load.video_share:.0%} {load.image_model}, "
        f"{load.video_share:.0%} {load.video_model}, generation time typical ± "
        f"{load.spread:.0%}); simulator speed = POLL_SCALE = {load.scale:g}; poller rate "
        f"{rate}, {load.concurrency} at once; delivery is a stand-in (succeeded → delivered "
        "in the store, nothing posted to Discord)",
        flush=True,
    )
    tally = WarningTally()
    root = logging.getLogger()
    root.addHandler(tally)
    level = root.level
    root.setLevel(logging.WARNING)
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
            figures = asyncio.run(run(load, args.only or SCENARIOS, Path(tmp), tally))
    finally:
        root.removeHandler(tally)
        root.setLevel(level)
    print(f"took {time.perf_counter() - began:.0f} s\n")
    print(table(figures))
    return [f.row() for f in figures]


if __name__ == "__main__":
    main()
