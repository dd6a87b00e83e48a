"""Put thousands of jobs in flight against the Max API simulator and print what it costs.

``python -m bench.jobs_pipeline [--jobs 10000] [--quick]``; ``bench/README.md`` says
what each figure means and how it is measured. Three runs, each against a fresh
simulator in its own process (so this process's CPU and memory are the bot side's):

- ``polling``: callbacks off; the poller alone finds every result.
- ``callbacks``: callbacks on (the receiver on loopback); polling is the fallback.
- ``resume``: jobs held running upstream, the pipeline closed, every poll appointment
  left to fall due, then a new pipeline opened on the same database and timed until
  it has looked at every job once.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, Row, percentile, table
from bench.pipeline import (
    CpuClock,
    Load,
    Pipeline,
    accept_all,
    plan,
    settings_for,
    submit_all,
)
from bench.procstats import MB, cpu_seconds, peak_rss_bytes, reset_peak_rss, rss_bytes
from bench.sim_process import SimProcess, SimReport
from bot.domain.catalog import Catalog
from bot.domain.job_states import TERMINAL, UPSTREAM, JobState
from bot.runtime import looks_at_once

# Imported for its memory only: the real bot process holds discord.py too, so the RSS
# figures start from about the same baseline (the cogs and discord.py's caches add more).
import bot.discord_io.client  # noqa: F401  # isort: skip

S = JobState
PRODUCT_RATE = 200.0  # POLL_RATE=auto's ceiling (POLL_RATE_MAX's default)
SCENARIOS = ("polling", "callbacks", "resume")
QUERY_TARGETS = {"image": 3.0, "video": 6.0}  # per delivered job, polling alone
POLL_DELAY_TARGET = 10.0  # % of the generation time
CALLBACK_DELAY_TARGET = 0.5  # seconds
RSS_TARGET = 200.0  # MB
RESUME_TARGET = 5.0  # seconds


# -- a flow run (polling / callbacks) -----------------------------------------------------------


@dataclass
class Progress:
    """Sampled while a run goes: memory, looks per second, jobs still open."""

    rss_peak: int = 0
    in_flight_peak: int = 0  # jobs not ended
    upstream_peak: int = 0  # jobs queued or running at Max API
    look_rate_peak: float = 0.0
    ended: int = 0


async def follow(
    pipeline: Pipeline, total: int, submitted: asyncio.Event, out: Progress, within: float
) -> None:
    """Sample until every job has ended (or ``within`` seconds pass)."""
    store, poller = pipeline.runtime.store, pipeline.runtime.poller
    assert store is not None and poller is not None
    deadline = time.monotonic() + within
    last_looks, last_at = poller.stats.polls, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        out.rss_peak = max(out.rss_peak, rss_bytes())
        counts = await store.count_by_state()
        out.ended = sum(n for state, n in counts.items() if JobState(state) in TERMINAL)
        out.in_flight_peak = max(out.in_flight_peak, sum(counts.values()) - out.ended)
        upstream = sum(counts.get(state.value, 0) for state in UPSTREAM)
        out.upstream_peak = max(out.upstream_peak, upstream)
        now = time.monotonic()
        rate = (poller.stats.polls - last_looks) / (now - last_at)
        out.look_rate_peak = max(out.look_rate_peak, rate)
        last_looks, last_at = poller.stats.polls, now
        if out.ended >= total and submitted.is_set():
            return


@dataclass
class JobRow:
    media: str
    state: str
    task_id: str | None
    succeeded_at: float | None
    delivered_at: float | None


@dataclass
class FlowResult:
    mode: str
    jobs: int
    accept_took: list[float]
    submit_seconds: float
    wall_seconds: float  # first accept → every job ended
    progress: Progress
    rss_start: int
    rss_hwm: int | None  # VmHWM since the run started (None if it could not be reset)
    cpu_total: float
    cpu_loop: float
    cpu_db: float
    looks: int
    tail_cpu: float  # CPU after the last submit, when only polling and delivery run
    tail_looks: int
    lateness: list[float]  # appointment → the due look starting, seconds
    rows: list[JobRow]
    sim: SimReport

    @property
    def states(self) -> Counter[str]:
        return Counter(r.state for r in self.rows)

    @property
    def rss_peak(self) -> int:
        return max(self.rss_hwm or 0, self.progress.rss_peak)


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
            tail_cpu, tail_looks = cpu_seconds(), poller.stats.polls
            submitted.set()
            await watcher
            wall = time.perf_counter() - started
            cpu_total, cpu_loop, cpu_db = cpu.since()
            tail_cpu, tail_looks = cpu_seconds() - tail_cpu, poller.stats.polls - tail_looks
            looks = poller.stats.polls
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
        looks=looks,
        tail_cpu=tail_cpu,
        tail_looks=tail_looks,
        lateness=pipeline.lateness,
        rows=read_jobs(db),
        sim=sim_report,
    )


def read_jobs(db: Path) -> list[JobRow]:
    """Each job's media, end state, and when it became succeeded and delivered."""
    with sqlite3.connect(db) as conn:
        cursor = conn.execute(
            """
            SELECT j.media, j.state, j.task_id,
                (SELECT MIN(at) FROM job_events e
                    WHERE e.job_id = j.id AND e.to_state = 'succeeded'),
                (SELECT MIN(at) FROM job_events e
                    WHERE e.job_id = j.id AND e.to_state = 'delivered')
            FROM jobs j ORDER BY j.id
            """
        )
        return [JobRow(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class MediaFigures:
    delivered: int
    queries_per_job: float
    delay_p50: float  # upstream SUCCESS → local succeeded, seconds (wall clock)
    delay_p95: float
    ratio_p50: float  # the same delay / the task's generation time
    ratio_p95: float
    delivered_p95: float  # upstream SUCCESS → stand-in delivered, seconds
    generation_mean: float  # seconds (wall clock)


def media_figures(result: FlowResult, media: str) -> MediaFigures | None:
    queries, delays, ratios, to_delivered, generation = [], [], [], [], []
    for row in result.rows:
        if row.media != media or row.state != S.DELIVERED or row.task_id is None:
            continue
        task = result.sim.tasks.get(row.task_id)
        if task is None or task.ended_at is None or row.succeeded_at is None:
            continue
        took = task.ended_at - task.created_at
        delay = row.succeeded_at - task.ended_at
        queries.append(task.queries)
        delays.append(delay)
        ratios.append(delay / took if took > 0 else math.nan)
        generation.append(took)
        if row.delivered_at is not None:
            to_delivered.append(row.delivered_at - task.ended_at)
    if not queries:
        return None
    return MediaFigures(
        delivered=len(queries),
        queries_per_job=sum(queries) / len(queries),
        delay_p50=percentile(delays, 50),
        delay_p95=percentile(delays, 95),
        ratio_p50=percentile(ratios, 50),
        ratio_p95=percentile(ratios, 95),
        delivered_p95=percentile(to_delivered, 95),
        generation_mean=sum(generation) / len(generation),
    )


def flow_figures(result: FlowResult) -> list[Figure]:
    polling = result.mode == "polling"
    how = "polling only" if polling else "with callbacks"
    figures: list[Figure] = []
    for media in ("image", "video"):
        mf = media_figures(result, media)
        if mf is None:
            continue
        target = QUERY_TARGETS[media] if polling else None
        figures.append(
            Figure(
                f"Max API queries per delivered {media} job, {how}",
                mf.queries_per_job,
                target=target,
            )
        )
        for pct, ratio, seconds in (
            ("p50", mf.ratio_p50, mf.delay_p50),
            ("p95", mf.ratio_p95, mf.delay_p95),
        ):
            if polling:
                figures.append(
                    Figure(
                        f"{media} delay after SUCCESS {pct}, % of generation time, {how}",
                        100 * ratio,
                        unit="%",
                        target=POLL_DELAY_TARGET,
                        digits=1,
                    )
                )
            else:
                figures.append(
                    Figure(
                        f"{media} delay after SUCCESS {pct}, {how}",
                        seconds,
                        unit="s",
                        target=CALLBACK_DELAY_TARGET,
                        digits=3,
                    )
                )
    delivered = result.states.get(S.DELIVERED, 0)
    figures += [
        Figure(
            f"bot CPU, % of one core over the run, {how}",
            100 * result.cpu_total / result.wall_seconds,
            unit="%",
            digits=0,
        ),
        Figure(
            f"bot CPU per delivered job (accept → delivered), {how}",
            1000 * result.cpu_total / delivered if delivered else None,
            unit="ms",
        ),
    ]
    if polling:
        figures.append(
            Figure(
                f"poller CPU per look (after the last submit), {how}",
                1000 * result.tail_cpu / result.tail_looks if result.tail_looks else None,
                unit="ms",
            )
        )
        tenth = max(1, len(result.accept_took) // 10)
        first = 1000 * sum(result.accept_took[:tenth]) / tenth
        last = 1000 * sum(result.accept_took[-tenth:]) / tenth
        figures += [
            Figure(f"JobService.accept, first {tenth} jobs, per job", first, unit="ms"),
            Figure(f"JobService.accept, last {tenth} jobs, per job", last, unit="ms"),
        ]
    figures.append(
        Figure(
            f"peak RSS with {result.progress.in_flight_peak} jobs in flight, {how}",
            result.rss_peak / MB,
            unit="MB",
            target=RSS_TARGET,
            digits=0,
            strict=True,
        )
    )
    return figures


def describe_flow(result: FlowResult, load: Load) -> str:
    states = ", ".join(f"{n} {s}" for s, n in sorted(result.states.items()))
    accept_seconds = sum(result.accept_took)
    gave_up = " (GAVE UP WAITING)" if result.progress.ended < result.jobs else ""
    lines = [
        f"[{result.mode}] {result.jobs} jobs: accepted in {accept_seconds:.1f} s, submitted in "
        f"{result.submit_seconds:.1f} s ({result.jobs / max(result.submit_seconds, 1e-9):.0f}/s); "
        f"all ended {result.wall_seconds:.1f} s after the first accept{gave_up}: {states}"
    ]
    for media in ("image", "video"):
        mf = media_figures(result, media)
        if mf is not None:
            lines.append(
                f"  {media}: {mf.delivered} delivered; generation {mf.generation_mean:.2f} s "
                f"(= {mf.generation_mean / load.scale:.0f} s at real speed); delay after SUCCESS "
                f"p50 {mf.delay_p50:.3f} s, p95 {mf.delay_p95:.3f} s; to stand-in delivered p95 "
                f"{mf.delivered_p95:.3f} s"
            )
    rate = result.progress.look_rate_peak
    lateness = result.lateness
    kept = (
        f"due looks started p50 {percentile(lateness, 50):.3f} s, p95 "
        f"{percentile(lateness, 95):.3f} s after their appointment ({len(lateness)} looks)"
        if lateness
        else "no look came due"
    )
    lines.append(
        f"  in flight at most: {result.progress.in_flight_peak} jobs not ended, "
        f"{result.progress.upstream_peak} queued or running at Max API; {kept}"
    )
    lines.append(
        f"  bot: CPU {result.cpu_total:.1f} s (event loop thread {result.cpu_loop:.1f} s, store "
        f"thread {result.cpu_db:.1f} s); {result.looks} poller looks, peak {rate:.0f}/s "
        f"(= {rate * load.scale:.0f}/s at real speed); RSS {result.rss_start / MB:.0f} MB before, "
        f"{result.rss_peak / MB:.0f} MB peak"
    )
    sim = result.sim
    lines.append(
        f"  simulator: {sim.submits} submits, {sim.queries} queries, CPU {sim.cpu_seconds:.1f} s, "
        f"RSS {sim.rss_bytes / MB:.0f} MB"
    )
    return "\n".join(lines)


# -- resume -----------------------------------------------------------------------------------


@dataclass
class ResumeResult:
    in_flight: int
    downtime: float
    armed_seconds: float  # Store.open + migrations + recover() + poller started
    all_looked_seconds: float | None  # … until every job was looked at once
    looks: int
    rss: int
    cpu: float


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
        # the restart took longer than the gaps between looks and every job is late.
        before, last_due = polls_and_last_due(db)
        down_at = time.perf_counter()
        await asyncio.sleep(max(0.0, last_due - time.time()) + 0.1)
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        second = await Pipeline.open(settings, catalog, load)
        armed = time.perf_counter() - t0
        try:
            looked_at = await until_all_looked(second, before, within=60 + load.jobs / 20)
            poller = second.runtime.poller
            assert poller is not None
            looks, rss, cpu = poller.stats.polls, rss_bytes(), cpu_seconds() - cpu0
        finally:
            await second.close()
    return ResumeResult(
        in_flight=len(before),
        downtime=t0 - down_at,
        armed_seconds=armed,
        all_looked_seconds=None if looked_at is None else looked_at - t0,
        looks=looks,
        rss=rss,
        cpu=cpu,
    )


def polls_and_last_due(db: Path) -> tuple[dict[int, int], float]:
    """Each upstream job's poll count, and the latest of their next appointments."""
    marks = ", ".join("?" * len(UPSTREAM))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"SELECT id, polls, next_poll_at FROM jobs WHERE state IN ({marks})",
            [s.value for s in UPSTREAM],
        ).fetchall()
    last_due = max((r[2] for r in rows if r[2] is not None), default=time.time())
    return {int(r[0]): int(r[1]) for r in rows}, float(last_due)


async def until_all_looked(
    pipeline: Pipeline, before: dict[int, int], within: float
) -> float | None:
    """The ``perf_counter`` moment each job in ``before`` has one more poll, or None."""
    poller, store = pipeline.runtime.poller, pipeline.runtime.store
    assert poller is not None and store is not None
    path = store.path

    def not_yet() -> int:
        with sqlite3.connect(path) as conn:
            now = dict(conn.execute("SELECT id, polls FROM jobs").fetchall())
        return sum(1 for job_id, polls in before.items() if now.get(job_id, 0) <= polls)

    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        # One look per job is the least it takes; then check that none was skipped.
        if poller.stats.polls >= len(before) and not await asyncio.to_thread(not_yet):
            return time.perf_counter()
        await asyncio.sleep(0.01)
    return None


def resume_figures(result: ResumeResult) -> list[Figure]:
    n = result.in_flight
    return [
        Figure(
            f"resume: store open + recover() + poller started, {n} jobs",
            result.armed_seconds,
            unit="s",
            target=RESUME_TARGET,
        ),
        Figure(
            f"resume: until each of the {n} overdue jobs was looked at once",
            result.all_looked_seconds,
            unit="s",
            target=RESUME_TARGET,
        ),
        Figure(
            f"the same at POLL_RATE=auto's ceiling, {PRODUCT_RATE:g} looks/s (n / rate)",
            n / PRODUCT_RATE,
            unit="s",
            target=RESUME_TARGET,
            digits=0,
        ),
    ]


def describe_resume(result: ResumeResult) -> str:
    looked = result.all_looked_seconds
    shown = "n/a (gave up waiting)" if looked is None else f"{looked:.2f} s"
    rate = f" ({result.looks / looked:.0f} looks/s)" if looked else ""
    return (
        f"[resume] {result.in_flight} jobs running upstream; bot down {result.downtime:.1f} s "
        f"(until every appointment was due); armed again in {result.armed_seconds:.2f} s; every "
        f"job looked at once after {shown}{rate}; CPU {result.cpu:.1f} s, RSS "
        f"{result.rss / MB:.0f} MB"
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
        help="the poller's looks per second, wall clock (default 0: no limit)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="poller looks at once (default 0: as the runtime sizes it for the POLL_RATE "
        "these jobs need, the rate the README recommends)",
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
    """The look rate that following ``load.jobs`` jobs in flight at real speed takes."""
    shares = ((load.image_model, 1 - load.video_share), (load.video_model, load.video_share))
    rate = 0.0
    for model_id, share in shares:
        model = catalog.get(model_id)
        rate += load.jobs * share * QUERY_TARGETS[model.media] / model.typical_seconds
    return Figure(
        f"poller rate for {load.jobs} jobs in flight at real speed (computed; default ceiling "
        f"{PRODUCT_RATE:g})",
        rate,
        unit="looks/s",
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
    rate = "no limit" if load.rate is None else f"{load.rate:g} looks/s"
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
