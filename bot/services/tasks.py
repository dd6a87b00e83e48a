"""Background tasks kept until they end, with their failures logged; and telling listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Tasks:
    """Background tasks, each referenced until it ends (asyncio keeps only weak ones) and
    its failure logged; ``close`` lets them finish for a while, then cancels the rest."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._running.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._running)

    async def idle(self) -> None:
        """Wait until no task is running (counting those started meanwhile)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self, grace: float = 0.0) -> None:
        """Wait up to ``grace`` seconds for the running tasks, then cancel what is left."""
        pending = list(self._running)
        if pending and grace > 0:
            await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def notify(hooks: Iterable[Callable[[T], Awaitable[object]]], value: T) -> None:
    """Call every hook with ``value``, in turn; a failing hook is logged and stops
    neither the others nor the caller."""
    for hook in list(hooks):
        try:
            await hook(value)
        except Exception:
            log.exception("%r failed", hook)  # not the value: a job holds its token
