"""Gather the calls made during one event-loop iteration into one call.

The store's thread is reached through a queue, a future and a wake-up of the event
loop for every call. At thousands of poller looks a second, that hand-off cost more
than the ``UPDATE`` each look makes, and the queue it built up delayed every other
write (a job's success waited behind hundreds of look records). Looks that finish in
the same iteration (one ``epoll`` brings many answers) now share one call.

The batch goes out at the end of the iteration it was started in (``call_soon``), so
it adds no timer and at most one iteration of delay. Each caller gets its own result;
if the call fails, every caller in the batch gets its exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class IterationBatch(Generic[T, R]):
    """``await batch.add(item)`` → ``send([item, …])[i]`` for the items of one iteration."""

    def __init__(self, send: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._send = send
        self._open: dict[asyncio.AbstractEventLoop, list[tuple[T, asyncio.Future[R]]]] = {}
        self._sending: set[asyncio.Task[None]] = set()  # strong references until done

    async def add(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        batch = self._open.get(loop)
        if batch is None:
            batch = self._open[loop] = []
            loop.call_soon(self._flush, loop)
        future: asyncio.Future[R] = loop.create_future()
        batch.append((item, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._open.pop(loop, [])
        if batch:
            task = loop.create_task(self._deliver(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(batch)} items sent, {len(results)} results back")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its caller gave up (cancelled): the write stands
                future.set_result(result)
