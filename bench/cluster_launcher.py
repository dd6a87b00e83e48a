"""``python -m bench.cluster_launcher``: :mod:`tests.crash.bot_process` (the real bot on the
local Discord) with the bench's knobs (below) read from the environment before it starts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bot.discord_io.pacing import GlobalPacer
from bot.maxapi import MaxApiClient, Task
from bot.services import cluster
from bot.store.database import StoreBase
from bot.text.delivery_plan import ResultFile

R = TypeVar("R")

#: ``bot.services.cluster.LEASE_SECONDS``; the heartbeat becomes a sixth of it and the
#: poll and delivery claims twice it: the product's 30 s, 5 s and 60 s, scaled together.
LEASE = "ATELIER_BENCH_LEASE_SECONDS"
#: REST requests a second the bot's pacer allows (the product: Discord's 50), to see what
#: the bot itself can do when Discord's global limit is not what stops it.
GLOBAL_LIMIT = "ATELIER_BENCH_GLOBAL_LIMIT"
#: Seconds each Max API query and each result download takes on top (a Max API that
#: answers in that time, rather than the simulator at once on loopback).
MAXAPI_LATENCY = "ATELIER_BENCH_MAXAPI_LATENCY"
#: Set: time every store call; on SIGUSR1 write ``STORE_LINE <calls> <busy> <waited>``
#: (seconds on the database thread, seconds queued for it) and count from zero again.
STORE_TIMES = "ATELIER_BENCH_STORE_TIMES"
STORE_LINE = "atelier-bench: store"

#: The product's heartbeat as a fraction of its lease (5 s of 30 s); poll and delivery
#: claims last one lease, read from ``cluster.LEASE_SECONDS`` when they are taken.
HEARTBEAT_SHARE = 5.0 / 30.0
CLAIM_SHARE = 1.0  # a poll or delivery claim lasts one lease


def shorten(lease: float) -> None:
    """Scale the lease (and with it the poll and delivery claims) and the heartbeat."""
    cluster.LEASE_SECONDS = lease
    cluster.HEARTBEAT_SECONDS = lease * HEARTBEAT_SHARE


def raise_global_limit(limit: int) -> None:
    """Every pacer of this process allows ``limit`` requests a second (shared as usual)."""
    pacer_init = GlobalPacer.__init__

    def init(self: GlobalPacer, *args: Any, **kwargs: Any) -> None:
        pacer_init(self, *args, **kwargs)
        self.total = self.limit = limit

    GlobalPacer.__init__ = init  # type: ignore[method-assign]


class StoreTimes:
    """Calls to the store, time on its thread and time queued for it."""

    def __init__(self) -> None:
        self.calls = 0
        self.busy = 0.0
        self.waited = 0.0

    def install(self) -> None:
        original = StoreBase.run
        times = self

        async def run(store: StoreBase, fn: Callable[[], R]) -> R:
            queued = time.perf_counter()
            span = [queued, queued]

            def timed() -> R:
                span[0] = time.perf_counter()
                try:
                    return fn()
                finally:
                    span[1] = time.perf_counter()

            try:
                return await original(store, timed)
            finally:
                times.calls += 1
                times.waited += span[0] - queued
                times.busy += span[1] - span[0]

        StoreBase.run = run  # type: ignore[method-assign,assignment]
        signal.signal(signal.SIGUSR1, lambda *_: self.report())

    def report(self) -> None:
        """One line on stderr, then count from zero."""
        os.write(2, f"{STORE_LINE} {self.calls} {self.busy:.3f} {self.waited:.3f}\n".encode())
        self.calls, self.busy, self.waited = 0, 0.0, 0.0


def slow_max_api(seconds: float) -> None:
    """Queries (polls) and result downloads take ``seconds`` longer; submits do not."""
    from bot.discord_io import delivery

    get = MaxApiClient.get

    async def slow_get(self: MaxApiClient, task_id: str) -> Task:
        await asyncio.sleep(seconds)
        return await get(self, task_id)

    MaxApiClient.get = slow_get  # type: ignore[method-assign]
    fetch = delivery.fetch_result

    async def slow_fetch(*args: Any, **kwargs: Any) -> ResultFile:
        await asyncio.sleep(seconds)
        return await fetch(*args, **kwargs)

    delivery.fetch_result = slow_fetch


def main() -> int:
    lease = os.environ.get(LEASE)
    if lease:
        shorten(float(lease))
    limit = os.environ.get(GLOBAL_LIMIT)
    if limit:
        raise_global_limit(int(limit))
    latency = os.environ.get(MAXAPI_LATENCY)
    if latency:
        slow_max_api(float(latency))
    if os.environ.get(STORE_TIMES):
        StoreTimes().install()
    from tests.crash.bot_process import main as run_bot

    return run_bot()


if __name__ == "__main__":
    sys.exit(main())
