"""Every benchmark, one table; with ``--before TREE`` each runs on that older checkout,
then on this one, and the table gives both figures and their ratio.
``python -m bench.run_all [--quick | --full] [--before TREE] [--only NAME]``"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.figures import Row, columns

ROOT = Path(__file__).resolve().parent.parent

#: name → (module, quick argv, full argv); full: the loads the issue's targets are about.
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "ack_latency": ("bench.ack_latency", ["--jobs", "200", "--rounds", "2", "--burst", "20"], []),
    "jobs_1k": (
        "bench.jobs_pipeline",
        ["--quick", "--scale", "0.1"],
        ["--quick", "--only", "polling", "--only", "callbacks"],
    ),
    "jobs_10k": (
        "bench.jobs_pipeline",
        ["--scale", "0.1", "--only", "resume"],
        ["--only", "polling", "--only", "resume"],
    ),
    "resume_overdue": ("bench.resume_overdue", [], []),
    "cluster": ("bench.cluster", ["--quick"], []),
}

#: Words of figure names changed in issue 15, so an older tree's rows line up with ours.
RENAMED = {"looked at once": "polled once", "looks/s": "polls/s"}
MARK = "@@bench-rows "
#: Run in the tree's own process: its ``bench`` and ``bot``, its ``main(argv) -> rows``.
DRIVER = f"""
import importlib, json, sys
rows = importlib.import_module(sys.argv[1]).main(json.loads(sys.argv[2]))
print({MARK!r} + json.dumps([list(row) for row in rows]), flush=True)
"""


def run_in(tree: Path, module: str, argv: Sequence[str]) -> list[Row]:
    """Run one benchmark in a new process on ``tree``'s code; print its output, return its rows."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", DRIVER, module, json.dumps(list(argv))]
    rows: list[Row] | None = None
    with subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(MARK):
                rows = [Row(*row) for row in json.loads(line.removeprefix(MARK))]
            else:
                print(line, end="", flush=True)
    if proc.returncode or rows is None:
        raise RuntimeError(f"exited with status {proc.returncode}")
    return rows


def measure(trees: Sequence[Path], module: str, argv: Sequence[str]) -> list[dict[str, Row]]:
    """One benchmark on each tree in turn: per tree, its rows by figure."""
    results = []
    for tree in trees:
        print(f"\n=== {module} {' '.join(argv)} on {tree}", flush=True)
        began = time.perf_counter()
        try:
            rows = run_in(tree, module, argv)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            rows = [Row("run failed", "—", f"{type(exc).__name__}: {exc}"[:80])]
        rows.append(Row("wall time", "—", f"{time.perf_counter() - began:.0f} s"))
        results.append({_renamed(row.figure): row for row in rows})
    return results


def merge(name: str, results: Sequence[dict[str, Row]]) -> list[tuple[str, ...]]:
    """Table lines: the figure, its target, its value on each tree (and after ÷ before)."""
    figures = list(dict.fromkeys(f for result in reversed(results) for f in result))
    lines = []
    for figure in figures:
        rows = [result.get(figure) for result in results]
        target = next(row.target for row in reversed(rows) if row is not None)
        values = [row.measured if row is not None else "—" for row in rows]
        ratio = [_ratio(values[0], values[1])] if len(values) == 2 else []
        lines.append((name, figure, target, *values, *ratio))
    return lines


def _renamed(figure: str) -> str:
    for old, new in RENAMED.items():
        figure = figure.replace(old, new)
    return figure


def _ratio(before: str, after: str) -> str:
    old, new = _number(before), _number(after)
    return f"{new / old:.2f}" if old and new is not None else "—"


def _number(measured: str) -> float | None:
    """The number a measured value starts with ("1,514 polls/s" → 1514.0), if any."""
    found = re.match(r"-?[\d,]*\.?\d+", measured)
    return float(found.group().replace(",", "")) if found else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick settings (the default)")
    mode.add_argument("--full", action="store_true", help="the loads the targets are about (long)")
    parser.add_argument(
        "--before", type=Path, help="an older checkout (a git worktree) to run first"
    )
    parser.add_argument(
        "--after", type=Path, default=ROOT, help="the checkout to measure (default: this one)"
    )
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run only this one"
    )
    args = parser.parse_args(argv)
    trees = [t.resolve() for t in (args.before, args.after) if t is not None]
    lines: list[tuple[str, ...]] = []
    for name in args.only or list(BENCHMARKS):
        module, quick, full = BENCHMARKS[name]
        lines += merge(name, measure(trees, module, full if args.full else quick))
    values = ["before", "after", "after ÷ before"] if len(trees) == 2 else ["measured"]
    print(f"\n{'full' if args.full else 'quick'} settings; " + ", ".join(map(str, trees)))
    print(columns(("benchmark", "figure", "target", *values), lines))
    return 1 if any(line[1] == "run failed" for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
