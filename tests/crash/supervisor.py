"""Start the bot as a subprocess (:mod:`tests.crash.bot_process`), watch it, kill it.

The subprocess's stderr (the bot's log and the launcher's ``atelier-crash-test:``
lines) is read continuously, so the pipe never fills, and goes into every failure
message: a crash test that fails must say what the bot was doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from tests.crash.bot_process import SIGNAL_PREFIX

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

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
