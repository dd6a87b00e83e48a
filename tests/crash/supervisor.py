"""Start the bot as a subprocess (:mod:`tests.crash.bot_process`), watch it, kill it;
and :class:`Bench`, the database, simulator and local Discord the crash tests share.

The subprocess's stderr (the bot's log and the launcher's ``atelier-crash-test:``
lines) is read continuously, so the pipe never fills, and goes into every failure
message: a crash test that fails must say what the bot was doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.domain.catalog import GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import TERMINAL, JobState
from bot.services.jobs import JobService, Requester
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from simulator import Simulator
from tests.crash.bot_process import SIGNAL_PREFIX
from tests.discord_world import Member, Message, World

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
IMAGE = "seedream-4.5"
SIM_KEY = "sim-key"

#: Environment names passed through from the test process (nothing else leaks in,
#: so a developer's DISCORD_TOKEN or DEV_GUILD_ID can never reach the bot).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


class BotDied(AssertionError):
    """The bot process ended when it should still be running."""


class BotRun:
    """One run of the bot process, from start to exit."""

    def __init__(self, proc: asyncio.subprocess.Process, label: str) -> None:
        self.proc = proc
        self.label = label
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"stderr-{label}")

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    # -- what the process said ---------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def stderr_tail(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])

    def signals(self, event: str | None = None) -> list[tuple[str, str, str]]:
        """``(event, point, detail)`` of every launcher line (crash, hold, ready)."""
        found = []
        for line in self.lines:
            if line.startswith(SIGNAL_PREFIX):
                ev, point, detail = line[len(SIGNAL_PREFIX) :].split(maxsplit=2)
                if event is None or ev == event:
                    found.append((ev, point, detail))
        return found

    def explain(self, what: str) -> str:
        return (
            f"{what} [bot run {self.label!r}, exit code {self.returncode}]\n"
            f"--- last lines of its stderr ---\n{self.stderr_tail()}"
        )

    # -- waiting -------------------------------------------------------------------------

    async def wait_for(
        self, condition: Callable[[], T | None], *, what: str, timeout: float = 20.0
    ) -> T:
        """Re-check ``condition`` until it is truthy and return its value; fail with the
        bot's stderr on a timeout or when the process ends first."""

        async def check() -> T | None:
            return condition()

        return await self.wait_until(check, what=what, timeout=timeout)

    async def wait_until(
        self,
        condition: Callable[[], Awaitable[T | None]],
        *,
        what: str,
        timeout: float = 20.0,
        interval: float = 0.05,
    ) -> T:
        """:meth:`wait_for` with an async condition (e.g. a database read)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await condition()
            if value:
                return value
            if self.proc.returncode is not None:
                await self._drain()
                raise BotDied(self.explain(f"the bot exited while waiting for {what}"))
            if loop.time() >= deadline:
                raise AssertionError(
                    self.explain(f"timed out after {timeout} s waiting for {what}")
                )
            self._changed.clear()  # woken early by a new stderr line
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=interval)

    async def wait_signal(self, event: str, point: str, timeout: float = 20.0) -> str:
        """Wait for the launcher line ``<event> <point> …`` and return its detail."""

        def seen() -> str | None:
            for _, pt, detail in self.signals(event):
                if pt == point:
                    return detail
            return None

        return await self.wait_for(seen, what=f"'{event} {point}'", timeout=timeout)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        except TimeoutError:
            raise AssertionError(self.explain(f"the bot did not exit within {timeout} s")) from None
        await self._drain()
        return code

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (the operator's way) and wait for a clean exit."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)

    async def kill(self) -> int:
        """SIGKILL from outside, now."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        return await self.wait_exit(10.0)

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), timeout=5.0)

    async def close(self) -> None:
        """Teardown: whatever happened, no process and no reader outlive the test."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), timeout=10.0)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


def process_env(settings: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: a few system names, this checkout on PYTHONPATH, ``settings``."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


async def start_bot(settings: Mapping[str, str], *, cwd: Path, label: str) -> BotRun:
    """``python -m tests.crash.bot_process`` with ``settings`` as its environment."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash.bot_process",
        env=process_env(settings),
        cwd=cwd,  # no stray .env is read from the checkout
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 20,  # a long log line must not break the reader
    )
    return BotRun(proc, label)


@contextlib.asynccontextmanager
async def bot_process(
    settings: Mapping[str, str], *, cwd: Path, label: str
) -> AsyncIterator[BotRun]:
    """``async with bot_process(env, cwd=..., label=...) as run:``; killed at exit if alive."""
    run = await start_bot(settings, cwd=cwd, label=label)
    try:
        yield run
    finally:
        await run.close()


# -- the test bench ------------------------------------------------------------------


@dataclass
class Bench:
    """The database, the simulator and the local Discord one bot process works against."""

    world: World
    sim: Simulator
    home: Path
    store: Store
    jobs: JobService

    def settings(self, crash_at: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": self.world.token,
            "MAXAPI_KEY": SIM_KEY,
            "MAXAPI_BASE_URL": self.sim.base_url,
            "DATABASE_PATH": str(self.home / "atelier.db"),
            "POLL_SCALE": "0.01",
            "LOG_LEVEL": "INFO",
            "ATELIER_TEST_DISCORD": self.world.http_base,
            "ATELIER_CRASH_AT": crash_at or "",
            **extra,
        }

    def run(
        self, label: str, crash_at: str | None = None, **extra: str
    ) -> AbstractAsyncContextManager[BotRun]:
        """One bot process; it is killed when the block ends, whatever happened."""
        return bot_process(self.settings(crash_at, **extra), cwd=self.home, label=label)

    async def accept(
        self, prompt: str, member: Member | None = None, channel_id: int | None = None
    ) -> Job:
        """A job as ``/imagine`` would leave it: admitted, quota reserved, recorded in
        ``accepted`` (by ``world.member`` unless another member asks; in ``#general``
        unless another channel is named)."""
        requester = Requester(
            guild_id=self.world.guild.id,
            channel_id=channel_id or self.world.channel.id,
            user_id=(member or self.world.member).user.id,
        )
        job = await self.jobs.accept(GenerationRequest(model=IMAGE, prompt=prompt), requester)
        assert job.state == JobState.ACCEPTED
        return job

    async def job(self, job_id: int) -> Job:
        job = await self.store.get(job_id)
        assert job is not None
        return job

    async def ended(self, job_id: int) -> Job | None:
        job = await self.job(job_id)
        return job if job.state in TERMINAL else None

    async def path(self, job_id: int) -> list[str]:
        """The states the job went through, in order (from ``job_events``)."""
        return [e.to_state for e in await self.store.events(job_id)]

    def results(self, job: Job) -> list[Message]:
        """Result messages of ``job``: their last line is ``job #<id>``."""
        channel = self.world.channel_by_id(job.channel_id) or self.world.channel
        return [
            m
            for m in self.world.messages(channel)
            if (marker := parse_marker(m.content)) is not None and marker[0] == job.id
        ]

    def announcements(self, job: Job) -> list[Message]:
        """The Announcer's "your job #<id> (…) was lost / failed" messages for ``job``."""
        return [
            m for m in self.world.messages(self.world.channel) if f" job #{job.id} (" in m.content
        ]

    def messages_about(self, job: Job) -> list[Message]:
        return self.results(job) + self.announcements(job)

    def submissions(self, job: Job) -> int:
        """Submit requests Max API received for ``job`` (prompts are unique per job)."""
        return sum(
            1
            for r in self.sim.submissions
            if isinstance(r.body, dict) and (r.body.get("input") or {}).get("prompt") == job.prompt
        )


def assert_quiet(run: BotRun) -> None:
    """A restart after a crash is routine: nothing may be logged as an error."""
    bad = [line for line in run.lines if " ERROR " in line or "Traceback" in line]
    assert not bad, run.explain(f"errors logged: {bad[:3]}")


async def restart_until(bench: Bench, label: str, *jobs: Job) -> BotRun:
    """Start the bot without crash hooks, wait until every job ended and its message is
    in the channel, let Discord traffic settle, stop it with SIGTERM; return the run."""
    async with bench.run(label) as run:
        await run.wait_signal("ready", "delivery")
        for job in jobs:
            ended = await run.wait_until(
                functools.partial(bench.ended, job.id), what=f"job {job.id} to end"
            )
            await run.wait_for(
                functools.partial(bench.messages_about, ended),
                what=f"a message about job {job.id} ({ended.state})",
            )
        await bench.world.settle()
        assert await run.stop() == 0, run.explain("expected a clean exit after SIGTERM")
    return run
