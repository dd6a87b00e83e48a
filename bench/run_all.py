"""``python -m bench.run_all [--quick | --full]``: every benchmark, one table for the notes.

Runs each benchmark's ``main(argv) -> list[Row]`` in turn (each prints its own detail
as it goes) and ends with one table: benchmark, figure, target, measured. Quick
settings by default (a few minutes on 2 cores); ``--full`` uses each benchmark's own
defaults (the figures the issue's targets are about).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence

from bench.figures import Row

#: module → (quick argv, full argv). Add a benchmark here when one is written.
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "bench.ack_latency": (["--jobs", "200", "--rounds", "2", "--burst", "20"], []),
    "bench.jobs_pipeline": (["--quick", "--scale", "0.1"], []),
    "bench.resume_overdue": ([], []),
}


def table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    head = ("benchmark", "figure", "target", "measured")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(4)]
    lines = []
    for row in (head, tuple("-" * w for w in widths), *rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def run(
    names: Sequence[str], full: bool, load: Callable[[str], Callable[..., list[Row]]] | None = None
) -> list[tuple[str, str, str, str]]:
    """Run the named benchmarks; a failing one becomes a row instead of ending the run."""
    load = load or (lambda module: importlib.import_module(module).main)
    rows: list[tuple[str, str, str, str]] = []
    for name in names:
        quick_argv, full_argv = BENCHMARKS[name]
        argv = full_argv if full else quick_argv
        short = name.removeprefix("bench.")
        print(f"\n=== {name} {' '.join(argv)}", flush=True)
        began = time.perf_counter()
        try:
            result = load(name)(argv)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            rows.append((short, "run failed", "—", f"{type(exc).__name__}: {exc}"[:80]))
            continue
        rows += [(short, *Row(*r)) for r in result]
        rows.append((short, "wall time", "—", f"{time.perf_counter() - began:.0f} s"))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick settings (the default)")
    mode.add_argument("--full", action="store_true", help="each benchmark's full defaults")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run only this one"
    )
    args = parser.parse_args(argv)
    rows = run(args.only or list(BENCHMARKS), args.full)
    print(f"\n{'full' if args.full else 'quick'} settings\n" + table(rows))
    return 1 if any(r[1] == "run failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
