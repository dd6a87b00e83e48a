"""The Max API simulator in its own process, so the bot side's CPU and memory are its own;
its ``/_sim`` endpoints tell, after the run, when each task ended and what it was asked."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import aiohttp

from bench.procstats import cpu_seconds, rss_bytes

SIM_KEY = "bench-sim-key"
_LISTENING = re.compile(r"listening on (http://\S+)")
_REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class SimTask:
    """What the simulator says about one task once the run is over."""

    task_id: str
    status: str
    created_at: float
    ended_at: float | None  # the moment of the terminal status (SUCCESS, …), epoch seconds
    queries: int  # GET /api/v1/task/{id} requests received


@dataclass(frozen=True, slots=True)
class SimReport:
    tasks: dict[str, SimTask]
    submits: int
    queries: int
    other_requests: int
    cpu_seconds: float
    rss_bytes: int


class SimProcess:
    """``async with SimProcess(speed=0.1, callbacks=True) as sim: sim.base_url``."""

    def __init__(self, *, speed: float, callbacks: bool, log_path: Path) -> None:
        self.speed = speed
        self.callbacks = callbacks
        self.log_path = log_path
        self.base_url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def __aenter__(self) -> SimProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        args = [
            *("-m", "simulator", "--port", "0", "--key", SIM_KEY),
            *("--speed", repr(self.speed), "--log-level", "WARNING"),
        ]
        if self.callbacks:
            args.append("--allow-loopback-callbacks")
        self._log = self.log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=_REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
        )
        try:
            self.base_url = await self._read_url()
        except BaseException:
            await self.stop()
            raise

    async def _read_url(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        async with asyncio.timeout(30):
            while True:
                line = (await self._proc.stdout.readline()).decode()
                if not line:
                    if self._log is not None:
                        self._log.flush()
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the simulator exited early:\n{tail}")
                found = _LISTENING.search(line)
                if found:
                    return found.group(1)

    async def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def report(self) -> SimReport:
        """Every task and request the simulator has seen (fetched after the run)."""
        cpu, rss = cpu_seconds(self.pid), rss_bytes(self.pid)
        headers = {"Authorization": f"Bearer {SIM_KEY}"}
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
            async with http.get(f"{self.base_url}/_sim/requests") as response:
                response.raise_for_status()
                requests = (await response.json())["data"]
            async with http.get(f"{self.base_url}/_sim/tasks") as response:
                response.raise_for_status()
                tasks = (await response.json())["data"]
        by_endpoint = Counter(r["endpoint"] for r in requests)
        per_task = Counter(r["task_id"] for r in requests if r["endpoint"] == "query")
        terminal = {"SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"}
        out: dict[str, SimTask] = {}
        for task in tasks:
            ended = _epoch(task["updated_at"]) if task["status"] in terminal else None
            out[task["taskId"]] = SimTask(
                task["taskId"],
                task["status"],
                _epoch(task["created_at"]),
                ended,
                per_task.get(task["taskId"], 0),
            )
        return SimReport(
            tasks=out,
            submits=by_endpoint.get("submit", 0),
            queries=by_endpoint.get("query", 0),
            other_requests=sum(by_endpoint.values())
            - by_endpoint.get("submit", 0)
            - by_endpoint.get("query", 0),
            cpu_seconds=cpu,
            rss_bytes=rss,
        )


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
