"""What a jobs pipeline run left behind, as figures against the issue's targets and
as lines that describe the run (``bench/README.md`` says how each is measured)."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, percentile
from bench.pipeline import Load
from bench.procstats import MB
from bench.sim_process import SimReport
from bot.domain.job_states import JobState

S = JobState
PRODUCT_RATE = 200.0  # POLL_RATE=auto's ceiling (POLL_RATE_MAX's default)
QUERY_TARGETS = {"image": 3.0, "video": 6.0}  # per delivered job, polling alone
POLL_DELAY_TARGET = 10.0  # % of the generation time
CALLBACK_DELAY_TARGET = 0.5  # seconds
RSS_TARGET = 200.0  # MB
RESUME_TARGET = 5.0  # seconds


@dataclass
class Progress:
    """Sampled while a run goes: memory, polls per second, jobs still open."""

    rss_peak: int = 0
    in_flight_peak: int = 0  # jobs not ended
    upstream_peak: int = 0  # jobs queued or running at Max API
    poll_rate_peak: float = 0.0
    ended: int = 0


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
    polls: int
    tail_cpu: float  # CPU after the last submit, when only polling and delivery run
    tail_polls: int
    lateness: list[float]  # appointment → the due poll starting, seconds
    rows: list[JobRow]
    sim: SimReport

    @property
    def states(self) -> Counter[str]:
        return Counter(r.state for r in self.rows)

    @property
    def rss_peak(self) -> int:
        return max(self.rss_hwm or 0, self.progress.rss_peak)


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
                f"poller CPU per poll (after the last submit), {how}",
                1000 * result.tail_cpu / result.tail_polls if result.tail_polls else None,
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
    rate = result.progress.poll_rate_peak
    lateness = result.lateness
    kept = (
        f"due polls started p50 {percentile(lateness, 50):.3f} s, p95 "
        f"{percentile(lateness, 95):.3f} s after their appointment ({len(lateness)} polls)"
        if lateness
        else "no poll came due"
    )
    lines.append(
        f"  in flight at most: {result.progress.in_flight_peak} jobs not ended, "
        f"{result.progress.upstream_peak} queued or running at Max API; {kept}"
    )
    lines.append(
        f"  bot: CPU {result.cpu_total:.1f} s (event loop thread {result.cpu_loop:.1f} s, store "
        f"thread {result.cpu_db:.1f} s); {result.polls} polls, peak {rate:.0f}/s "
        f"(= {rate * load.scale:.0f}/s at real speed); RSS {result.rss_start / MB:.0f} MB before, "
        f"{result.rss_peak / MB:.0f} MB peak"
    )
    sim = result.sim
    lines.append(
        f"  simulator: {sim.submits} submits, {sim.queries} queries, CPU {sim.cpu_seconds:.1f} s, "
        f"RSS {sim.rss_bytes / MB:.0f} MB"
    )
    return "\n".join(lines)


@dataclass
class ResumeResult:
    in_flight: int
    downtime: float
    armed_seconds: float  # Store.open + migrations + recover() + poller started
    all_polled_seconds: float | None  # … until every job was polled once
    polls: int
    rss: int
    cpu: float


def resume_figures(result: ResumeResult) -> list[Figure]:
    n = result.in_flight
    return [
        Figure(
            f"resume: store open + recover() + poller started, {n} jobs",
            result.armed_seconds,
            unit="s",
            target=RESUME_TARGET,
            strict=True,
        ),
        Figure(
            f"resume: until each of the {n} overdue jobs was polled once",
            result.all_polled_seconds,
            unit="s",
            target=RESUME_TARGET,
        ),
        Figure(
            f"the same at POLL_RATE=auto's ceiling, {PRODUCT_RATE:g} polls/s (n / rate)",
            n / PRODUCT_RATE,
            unit="s",
            target=RESUME_TARGET,
            digits=0,
        ),
    ]


def describe_resume(result: ResumeResult) -> str:
    polled = result.all_polled_seconds
    shown = "n/a (gave up waiting)" if polled is None else f"{polled:.2f} s"
    rate = f" ({result.polls / polled:.0f} polls/s)" if polled else ""
    return (
        f"[resume] {result.in_flight} jobs running upstream; bot down {result.downtime:.1f} s "
        f"(until every appointment was due); armed again in {result.armed_seconds:.2f} s; every "
        f"job polled once after {shown}{rate}; CPU {result.cpu:.1f} s, RSS "
        f"{result.rss / MB:.0f} MB"
    )
