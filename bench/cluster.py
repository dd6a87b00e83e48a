"""Several bot processes on one PostgreSQL: jobs per second with one and two processes,
``/imagine`` answered under load, Max API queries per job, takeover after ``kill -9``.

``python -m bench.cluster [--quick] [--only flow|lifted|ack|takeover]``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cluster_ack import AckPlan, AckResult, accept_cost, run_ack
from bench.cluster_flow import FlowPlan, FlowResult, run_flow
from bench.cluster_launcher import CLAIM_SHARE
from bench.cluster_support import Database
from bench.cluster_takeover import TakeoverPlan, TakeoverResult, run_takeover
from bench.figures import Figure, Row, percentile, table
from tests.helpers.postgres import PostgresServer

SECTIONS = ("flow", "lifted", "ack", "takeover")
SCALE_TARGET = 1.6  # 2 processes ÷ 1, jobs per second
ACK_TARGET_MS = 100.0
PRODUCT_LEASE = 30.0
TAKEOVER_SLACK = 5.0  # seconds over the lease the target allows at the product's lease


@dataclass(frozen=True)
class Plans:
    flow: FlowPlan
    lifted: FlowPlan
    ack: AckPlan
    takeover: TakeoverPlan


def plans(args: argparse.Namespace) -> Plans:
    jobs = 150 if args.quick else 600
    flow = FlowPlan(
        jobs=jobs,
        window=32,
        scale=0.1,
        warmup=10,
        channels=8,
        paced_jobs=45 if args.quick else 150,
        pace=15.0,
    )
    lifted = FlowPlan(jobs=jobs, window=32, scale=0.1, warmup=10, channels=8, global_limit=100_000)
    if args.quick:  # 200 jobs at POLL_SCALE 0.2 ask for the polls 1,000 make at real speed
        ack = AckPlan(jobs=200, burst=20, rounds=2, gap=1.0, poll_scale=0.2)
    else:
        ack = AckPlan(jobs=1000, burst=50, rounds=5, gap=4.0, poll_scale=1.0)
    takeover = TakeoverPlan(
        kills=args.kills or (2 if args.quick else 5),
        # The full run uses the product's lease, so the figure needs no scaling: posting and
        # the delivery loop's floors take the same seconds whatever the lease.
        lease=args.lease or (2.0 if args.quick else PRODUCT_LEASE),
        scale=0.1,
        rate=12.0,
        unsent=5,
        latency=0.2,
    )
    return Plans(flow, lifted, ack, takeover)


class Bench:
    """One run: a throwaway PostgreSQL, a temporary folder, the lines of the table."""

    def __init__(self, pg: PostgresServer, workdir: Path) -> None:
        self.pg = pg
        self.workdir = workdir
        self.lines: list[Figure] = []
        self.files = 0

    def sqlite(self) -> Database:
        self.files += 1
        return Database("SQLite", str(self.workdir / f"bench-{self.files}.db"))

    def postgres(self) -> Database:
        return Database("PostgreSQL", self.pg.new_database())

    # -- 1 and 3: jobs per second, queries per job ----------------------------------------

    async def flows(self, plan: FlowPlan, *, lifted: bool) -> None:
        tag = " (pacer lifted)" if lifted else ""
        runs: dict[str, FlowResult] = {}
        for name, make, processes in (
            ("SQLite, 1 process", self.sqlite, 1),
            ("PostgreSQL, 1 process", self.postgres, 1),
            ("PostgreSQL, 2 processes", self.postgres, 2),
        ):
            if lifted and make == self.sqlite:
                continue
            db = make()
            try:
                result = await run_flow(name + tag, db, processes, plan, self.workdir)
            finally:
                db.close()
            print(result.describe(), flush=True)
            runs[name] = result
        for name, result in runs.items():
            self.lines.append(
                Figure(f"jobs/s, {name}{tag}", result.delivered_per_s, "jobs/s", digits=1)
            )
        one, two = runs["PostgreSQL, 1 process"], runs["PostgreSQL, 2 processes"]
        self.lines.append(
            Figure(
                f"2 processes ÷ 1, jobs/s on PostgreSQL{tag}",
                two.delivered_per_s / one.delivered_per_s,
                target=SCALE_TARGET,
                at_least=True,
            )
        )
        if lifted:
            return
        lite = runs["SQLite, 1 process"]
        for name, result in runs.items():
            self.lines.append(
                Figure(
                    f"Max API queries a job at {plan.pace:g} jobs/s, {name} (max "
                    f"{max(result.paced_queries, default=0)})",
                    result.paced_queries_mean,
                )
            )
        for name in ("PostgreSQL, 1 process", "PostgreSQL, 2 processes"):
            self.lines.append(
                Figure(
                    f"queries a job, {name} ÷ SQLite (unchanged: 1.00)",
                    runs[name].paced_queries_mean / lite.paced_queries_mean,
                )
            )

    # -- 2: /imagine answered ------------------------------------------------------------

    async def acks(self, plan: AckPlan) -> None:
        for make in (self.sqlite, self.postgres):
            db = make()
            try:
                cost = await accept_cost(db.label, db)
            finally:
                db.close()
            print(
                f"[{db.label}] one accept alone: {cost.statements:.0f} statements, "
                f"{cost.milliseconds:.2f} ms",
                flush=True,
            )
        results: list[AckResult] = []
        for make in (self.sqlite, self.postgres):
            db = make()
            try:
                result = await run_ack(db.label, db, plan, self.workdir)
            finally:
                db.close()
            print(result.describe(), flush=True)
            results.append(result)
        where = f"{plan.jobs} jobs in flight, bursts of {plan.burst}"
        if plan.poll_scale != 1:
            where += f", POLL_SCALE {plan.poll_scale:g}"
        for result in results:
            self.lines.append(
                Figure(
                    f"/imagine ack p99, {result.label} ({where})",
                    result.p99,
                    "ms",
                    target=ACK_TARGET_MS,
                    digits=1,
                    strict=True,
                )
            )

    # -- 4: takeover ---------------------------------------------------------------------

    async def takeover(self, plan: TakeoverPlan) -> None:
        db = self.postgres()
        try:
            result = await run_takeover(db, plan, self.workdir)
        finally:
            db.close()
        print(result.describe(), flush=True)
        self.lines += takeover_lines(result)


def takeover_lines(result: TakeoverResult) -> list[Figure]:
    """In leases: at the product's 30 s (the full run) the target is lease + 5 s; a shorter
    lease (``--quick``, ``--lease``) reads worse, as the fixed seconds of posting weigh more."""
    lease = result.plan.lease
    target = 1 + TAKEOVER_SLACK / PRODUCT_LEASE
    per_kill = [k.takeover for k in result.kills]
    kinds = {
        "its unsent jobs submitted": [v for k in result.kills for v in k.unsent],
        "its claimed polls done": [v for k in result.kills for v in k.polls],
        "its claimed deliveries claimed again": [v for k in result.kills for v in k.deliveries],
        "  … and posted": [v for k in result.kills for v in k.delivered],
    }
    p95 = percentile(per_kill, 95)
    lines = [
        Figure(
            f"takeover after kill -9, p95 of {len(per_kill)} kills, in leases ({p95:.1f} s at "
            f"a {lease:g} s lease; ≤ lease + {TAKEOVER_SLACK:g} s at the product's "
            f"{PRODUCT_LEASE:g} s)",
            p95 / lease,
            "leases",
            target=target,
        )
    ]
    for kind, values in kinds.items():
        lines.append(
            Figure(f"  {kind}, p95 ({len(values)} held)", percentile(values, 95) / lease, "leases")
        )
    lines.append(
        Figure("  poll and delivery claims (the product's 30 s)", CLAIM_SHARE, "leases", digits=1)
    )
    missing = sum(k.missing for k in result.kills)
    lines.append(
        Figure("  held work not taken over within lease + claim + 15 s", missing, digits=0)
    )
    lines.append(Figure("  results posted twice", result.double_posts, target=0, digits=0))
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads (about a minute)")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this part (repeatable)"
    )
    parser.add_argument("--kills", type=int, default=0, help="kills for the takeover")
    parser.add_argument("--lease", type=float, default=0.0, help="the takeover's lease, seconds")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, bench: Bench) -> None:
    chosen = plans(args)
    # --quick leaves out the pacer-lifted runs (a diagnosis) unless asked for.
    sections = args.only or [s for s in SECTIONS if not (args.quick and s == "lifted")]
    steps = {
        "flow": lambda: bench.flows(chosen.flow, lifted=False),
        "lifted": lambda: bench.flows(chosen.lifted, lifted=True),
        "ack": lambda: bench.acks(chosen.ack),
        "takeover": lambda: bench.takeover(chosen.takeover),
    }
    for name in SECTIONS:
        if name in sections:
            began = time.perf_counter()
            await steps[name]()
            print(f"({name}: {time.perf_counter() - began:.0f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run, print the table, return its rows (for ``bench.run_all``)."""
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord").setLevel(logging.ERROR)
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="atelier-cluster-") as tmp,
        PostgresServer.running() as pg,
    ):
        bench = Bench(pg, Path(tmp))
        asyncio.run(run(args, bench))
    print(f"took {time.perf_counter() - began:.0f} s\n")
    print(table(bench.lines))
    return [line.row() for line in bench.lines]


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
