"""``Simulator``: one running fake Max API, and the handles tests use to steer it.

Task states are derived from the clock on each request; only webhooks need timing,
and one dispatcher coroutine (woken on submit, cancel, finish and clock jumps)
sends each task's single callback when its end time comes. The tasks whose callback
is pending wait in a heap by end time (:meth:`Simulator.task_changed` adds one), so a
wake-up costs the due callbacks, not a walk over every task: at 10,000 tasks in flight
that walk, once per callback, made the simulator the bottleneck of callback timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from .app import create_app
from .callbacks import CallbackRecord, deliver
from .catalog import load_models
from .clock import Clock
from .config import SimulatorConfig
from .errors import ApiError
from .faults import Faults
from .media import image_size, pad_mp4, pad_png, render_png, sample_mp4
from .records import RequestRecord
from .tasks import Task, TaskStateError, task_data

log = logging.getLogger(__name__)

_PNG_CACHE_SIZE = 32
_SHUTDOWN_TIMEOUT = 0.5


class Simulator:
    """A Max API look-alike on loopback.

    >>> async with Simulator(SimulatorConfig(speed=0.01)) as sim:  # doctest: +SKIP
    ...     sim.base_url  # "http://127.0.0.1:PORT"
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        models_path: Path | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.clock = clock or Clock()
        self.models = load_models(models_path)
        self.faults = Faults(self.config.seed)
        self.tasks: dict[str, Task] = {}
        self.requests: list[RequestRecord] = []
        self.callbacks: list[CallbackRecord] = []
        self._base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._wake_event = asyncio.Event()
        #: (end time, tie-breaker, task id) of tasks whose callback may still be due.
        self._callbacks_due: list[tuple[datetime, int, str]] = []
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._png_cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def __repr__(self) -> str:
        return f"Simulator(base_url={self._base_url!r}, tasks={len(self.tasks)})"

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> str:
        """Bind ``config.host:config.port`` (0 = any free port); return the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(
            create_app(self), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:  # e.g. the port is taken: leave nothing open
            await self.stop()
            raise
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{shown}:{port}"
        self.clock.subscribe(self.wake)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="sim-callbacks")
        log.info("Max API simulator listening on %s", self._base_url)
        return self._base_url

    async def stop(self) -> None:
        """Stop serving; webhooks still in flight are abandoned."""
        self.clock.unsubscribe(self.wake)
        tasks = [t for t in (self._dispatcher, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._dispatcher = None
        self._sending.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def file_base(self) -> str:
        """Prefix of result-file URLs."""
        return (self.config.public_url or self.base_url).rstrip("/")

    # -- steering and inspection -------------------------------------------------------------
    def finish(
        self, task_id: str, status: str = "SUCCESS", failure_reason: str | None = None
    ) -> Task:
        """End a running task now with this status (KeyError if unknown)."""
        task = self.tasks[task_id]
        task.end(status, failure_reason, self.clock.now())
        self.task_changed(task)
        return task

    def status_of(self, task_id: str) -> str:
        return self.tasks[task_id].state(self.clock.now()).status

    def task_data(self, task: Task) -> dict[str, Any]:
        """The query ``data`` for this task as of now."""
        minimal = task.model in self.config.echo_minimal_models
        return task_data(task, self.clock.now(), self.file_base, minimal_echo=minimal)

    def task_or_404(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise ApiError(404, "task not found")
        return task

    def link_expiry(self, task: Task) -> datetime | None:
        ended = task.ended_at()
        return None if ended is None else ended + timedelta(seconds=self.config.url_ttl_seconds)

    @property
    def submissions(self) -> list[RequestRecord]:
        """Every submit request received (accepted ones carry ``task_id``)."""
        return [r for r in self.requests if r.endpoint == "submit"]

    def queries_for(self, task_id: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.endpoint == "query" and r.task_id == task_id]

    def cancels_for(self, task_id: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.endpoint == "cancel" and r.task_id == task_id]

    @property
    def callbacks_sent(self) -> list[CallbackRecord]:
        """Webhooks actually POSTed (dropped ones are only in ``callbacks``)."""
        return [c for c in self.callbacks if not c.dropped]

    async def wait_for(
        self, predicate: Callable[[], bool], within: float = 10.0, interval: float = 0.01
    ) -> None:
        """Poll ``predicate`` until true; TimeoutError after ``within`` seconds.

        Polling, not an event: task states follow the clock, nothing announces them.
        """
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(interval)

    async def wait_for_callbacks(self, count: int, within: float = 10.0) -> list[CallbackRecord]:
        """Wait until ``count`` webhooks were attempted (sent or dropped)."""
        await self.wait_for(lambda: len(self.callbacks) >= count, within)
        return self.callbacks

    def wake(self) -> None:
        """Make the dispatcher look again (safe from any thread)."""
        self._in_loop(self._wake_event.set)

    def task_changed(self, task: Task) -> None:
        """A task was submitted or ended early: (re)schedule its callback, wake the
        dispatcher (safe from any thread)."""

        def schedule() -> None:
            ended = task.ended_at()
            if task.callback_url is not None and not task.callback_fired and ended is not None:
                heapq.heappush(self._callbacks_due, (ended, next(self._order), task.task_id))
            self._wake_event.set()

        self._in_loop(schedule)

    def _in_loop(self, action: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            action()
        else:
            loop.call_soon_threadsafe(action)

    # -- result files -----------------------------------------------------------------------
    async def result_file(self, task: Task, index: int) -> bytes:
        """Bytes of one result file (rendered off the event loop, padded if asked)."""
        target = task.result_bytes or self.config.result_bytes
        if task.media == "video":
            data = sample_mp4()
            return await asyncio.to_thread(pad_mp4, data, target) if target else data
        key = (task.task_id, index)
        png = self._png_cache.get(key)
        if png is None:
            entry = self.models[task.model]
            size = image_size(task.model, entry, task.input, self.config.image_max_side)
            caption = f"{task.model} · {index + 1}/{task.result_count} · simulated"
            prompt = str(task.input.get("prompt", ""))
            png = await asyncio.to_thread(render_png, prompt, caption, size, f"{key}")
            self._png_cache[key] = png
            while len(self._png_cache) > _PNG_CACHE_SIZE:
                self._png_cache.popitem(last=False)
        return await asyncio.to_thread(pad_png, png, target) if target else png

    # -- webhooks ---------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        due = self._callbacks_due
        while True:
            self._wake_event.clear()
            now = self.clock.now()
            while due and due[0][0] <= now:
                _, _, task_id = heapq.heappop(due)
                task = self.tasks.get(task_id)
                if task is None or task.callback_fired:
                    continue  # an earlier entry of a task that ended early
                ended = task.ended_at()
                if ended is None:
                    continue  # held again: ``task_changed`` reschedules it when it ends
                if ended > now:
                    heapq.heappush(due, (ended, next(self._order), task_id))
                    continue
                task.callback_fired = True
                self._send_later(task)
            timeout = None
            if due and not self.clock.frozen:
                timeout = max(0.0, (due[0][0] - now).total_seconds()) + 0.001
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake_event.wait()

    def _send_later(self, task: Task) -> None:
        sending = asyncio.create_task(self._send(task), name=f"sim-callback-{task.task_id}")
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def _send(self, task: Task) -> None:
        url = task.callback_url
        assert url is not None and self._session is not None
        body = {"code": 0, "msg": "ok", "data": self.task_data(task)}
        if self.faults.take_callback_drop():
            log.info("webhook for %s dropped (simulated fault)", task.task_id)
            self.callbacks.append(
                CallbackRecord(task.task_id, url, body, self.clock.now(), dropped=True)
            )
            return
        status, error = await deliver(self._session, url, body, self.config.callback_timeout)
        if error:
            log.warning("webhook for %s failed: %s (not retried)", task.task_id, error)
        self.callbacks.append(
            CallbackRecord(task.task_id, url, body, self.clock.now(), status=status, error=error)
        )


__all__ = ["Simulator", "TaskStateError"]
