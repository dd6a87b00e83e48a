"""A stand-in for the delivery loop: moves succeeded jobs to delivered in the store and
posts nothing, so the bench measures the job pipeline, not uploads to the local Discord."""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.domain.job_states import JobState
from bot.store import Store

S = JobState
BATCH = 200


class DeliveryStandIn:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.delivered = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bench-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            due = await self.store.due_for_delivery(time.time(), BATCH)
            for job in due:
                claimed = await self.store.transition(
                    job.id, S.SUCCEEDED, S.DELIVERING, "bench delivery"
                )
                if claimed is not None:
                    done = await self.store.transition(
                        job.id, S.DELIVERING, S.DELIVERED, "bench delivered"
                    )
                    self.delivered += done is not None
            if len(due) < BATCH:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
