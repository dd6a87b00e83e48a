"""How much a busy event loop leaves to a database thread that shares its GIL.

``python -m bench.gil_handoff [--seconds 3] [--chunk 3000]``

A thread runs ``BEGIN IMMEDIATE; UPDATE …; COMMIT`` on a WAL database in a loop, as the
store's thread does, while the event loop either sleeps (idle) or spins on small pieces
of Python work with ``await asyncio.sleep(0)`` between them (busy, as at the poller's
peak). It prints the thread's groups per second in both cases and their ratio: why
``bot/store/`` counts statements per call (``bench/README.md``, "The image p95").
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path


def _worker(conn: sqlite3.Connection, stop: threading.Event, done: list[int]) -> None:
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET v = v + 1 WHERE id = ?", [done[0] % 1000])
        conn.execute("COMMIT")
        done[0] += 1


async def _measure(path: Path, seconds: float, busy_chunk: int | None) -> tuple[float, float]:
    """Groups per second the thread ran, and event-loop iterations per second."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    stop, done = threading.Event(), [0]
    thread = threading.Thread(target=_worker, args=(conn, stop, done))
    thread.start()
    start, iterations = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        if busy_chunk is None:
            await asyncio.sleep(0.001)
        else:
            sum(range(busy_chunk))  # a small piece of loop work, like parsing one answer
            await asyncio.sleep(0)
        iterations += 1
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    conn.close()
    return done[0] / elapsed, iterations / elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--chunk", type=int, default=3000, help="sum(range(N)) per iteration")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gil.db"
        setup = sqlite3.connect(path, isolation_level=None)
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        setup.executemany("INSERT INTO t VALUES (?, 0)", [(i,) for i in range(1000)])
        setup.close()
        idle, idle_iterations = asyncio.run(_measure(path, args.seconds, None))
        busy, busy_iterations = asyncio.run(_measure(path, args.seconds, args.chunk))
    print(f"loop idle: thread {idle:,.0f} groups/s (loop {idle_iterations:,.0f} iterations/s)")
    print(f"loop busy: thread {busy:,.0f} groups/s (loop {busy_iterations:,.0f} iterations/s)")
    print(f"busy / idle: {busy / idle:.3f}" if idle else "busy / idle: n/a")


if __name__ == "__main__":
    main()
