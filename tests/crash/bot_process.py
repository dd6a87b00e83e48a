"""``python -m tests.crash.bot_process``: the real ``python -m bot``, pointed at a local
Discord, with test-only hooks that SIGKILL the process at one chosen point.

Nothing in ``bot/`` knows about these hooks: they wrap product functions from the
outside (``Store.transition``, ``MaxApiClient.submit``, ``Messageable.send``), so the
process that dies is the one that ships. SIGKILL, not an exception: no ``finally``,
no shutdown, no flush — only what SQLite committed survives, as after a power cut of
the process.

Environment, besides the bot's own settings:

``ATELIER_TEST_DISCORD``
    ``http://127.0.0.1:PORT`` of the ``discord_world`` server (required; loopback only).
``ATELIER_CRASH_AT``
    where to die, one of :data:`CRASH_POINTS`; unset or empty: never (a restart).
``ATELIER_CRASH_SKIP``
    pass the crash point this many times before dying there (default 0: the first).
``ATELIER_HOLD_SUBMIT``
    a prompt fragment: the submit of a matching job never goes out (the job stays in
    ``submitting``).
``ATELIER_HOLD_DELIVERY``
    a prompt fragment: the delivery of a matching job never starts (it stays in
    ``succeeded``).
``ATELIER_HOLD_AFTER_SEND``
    a fragment of a result message: once Discord took it, the delivery never goes on
    to record it (the job stays in ``delivering`` with the message posted).
``ATELIER_GUILD_READY_TIMEOUT``
    discord.py's wait after the last GUILD_CREATE before ``on_ready`` (default 0.05 s
    instead of 2 s: delivery starts after ready).
``ATELIER_LEASE_SECONDS``
    shortens every lease of a process among several: ``cluster.LEASE_SECONDS`` (the
    heartbeat every fifth of it), the delivery claim and the poll claim (default: the
    product's 30 s, 60 s and 60 s).

Each run says ``atelier-crash-test: process id <id>`` once its job service exists
(the id its jobs and claims carry).

Every crash and hold first writes one line ``atelier-crash-test: <event> <point>
<detail>`` to stderr, unbuffered, so the test can tell where the process stopped.
The first pass of the delivery loop writes ``atelier-crash-test: ready delivery -``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import discord
import discord.abc
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord_io.client import AtelierBot
from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.maxapi import MaxApiClient, Task
from bot.services import cluster
from bot.services.jobs import JobService
from bot.services.poller import Poller
from bot.store import Store
from bot.text.delivery_plan import parse_marker

SIGNAL_PREFIX = "atelier-crash-test:"

#: Die right after this step: the transition into a state committed (the state's
#: name), Max API answered the submit (``submit-returned``) or a poll's query
#: (``poll-returned``: the poll claim is held, nothing recorded), or Discord answered
#: the post of a result message (``send-returned``).
CRASH_POINTS: frozenset[str] = frozenset(
    {*(state.value for state in JobState), "submit-returned", "poll-returned", "send-returned"}
)


def report(event: str, point: str, detail: object = "-") -> None:
    """One line on stderr, written with ``os.write`` so it is out before a SIGKILL."""
    os.write(2, f"{SIGNAL_PREFIX} {event} {point} {detail}\n".encode())


def die(point: str, detail: object) -> NoReturn:
    report("crash", point, detail)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL did not kill the process")  # pragma: no cover


class CrashPoint:
    """Where this run dies: ``at`` (or nowhere), after passing it ``skip`` times."""

    def __init__(self, at: str | None, skip: int = 0) -> None:
        self.at = at
        self.skip = skip

    def reached(self, point: str, detail: object) -> None:
        """Die here if this is the point and its turn has come."""
        if point != self.at:
            return
        if self.skip > 0:
            self.skip -= 1
            return
        die(point, detail)


async def hang(point: str, detail: object) -> NoReturn:
    """Stop this step for good (until the process is killed)."""
    report("hold", point, detail)
    await asyncio.Event().wait()
    raise AssertionError("a held step woke up")  # pragma: no cover


def point_discord_at(url: str) -> None:
    """Send discord.py's REST and gateway traffic to the local Discord."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.port is None:
        raise SystemExit(f"ATELIER_TEST_DISCORD must be http://127.0.0.1:PORT, not {url!r}")
    Route.BASE = f"http://127.0.0.1:{parts.port}/api/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{parts.port}/gateway")


def install(env: Mapping[str, str]) -> None:
    """Wrap the product functions according to ``env`` (see the module docstring)."""
    crash_at = env.get("ATELIER_CRASH_AT") or None
    if crash_at is not None and crash_at not in CRASH_POINTS:
        raise SystemExit(f"ATELIER_CRASH_AT: unknown point {crash_at!r}")
    crash = CrashPoint(crash_at, int(env.get("ATELIER_CRASH_SKIP") or 0))
    _wrap_transition(crash, env.get("ATELIER_HOLD_DELIVERY") or None)
    _wrap_submit(crash, env.get("ATELIER_HOLD_SUBMIT") or None)
    _wrap_poll(crash)
    _wrap_send(crash, env.get("ATELIER_HOLD_AFTER_SEND") or None)
    _shorten_ready_wait(float(env.get("ATELIER_GUILD_READY_TIMEOUT") or 0.05))
    lease = env.get("ATELIER_LEASE_SECONDS")
    if lease:
        _shorten_leases(float(lease))
    _report_process_id()
    _report_first_delivery_pass()


def _wrap_transition(crash: CrashPoint, hold_delivery: str | None) -> None:
    original = Store.transition

    # (job_id, expected, target, reason, **values), passed through untouched.
    async def transition(self: Store, job_id: int, *args: Any, **kwargs: Any) -> Job | None:
        target = kwargs.get("target", args[1] if len(args) > 1 else None)
        if hold_delivery is not None and target == JobState.DELIVERING:
            job = await self.get(job_id)
            if job is not None and job.state == JobState.SUCCEEDED and hold_delivery in job.prompt:
                await hang("delivery", job_id)
        moved: Job | None = await original(self, job_id, *args, **kwargs)
        if moved is not None:
            crash.reached(moved.state.value, job_id)
        return moved

    Store.transition = transition  # type: ignore[method-assign,assignment]


def _wrap_submit(crash: CrashPoint, hold_submit: str | None) -> None:
    original = MaxApiClient.submit

    async def submit(
        self: MaxApiClient,
        model: str,
        input: Mapping[str, Any],
        callback_url: str | None = None,
        user_id: str | None = None,
    ) -> str:
        prompt = str(input.get("prompt", ""))
        if hold_submit is not None and hold_submit in prompt:
            await hang("submit", repr(prompt))
        task_id = await original(self, model, input, callback_url=callback_url, user_id=user_id)
        crash.reached("submit-returned", task_id)
        return task_id

    MaxApiClient.submit = submit  # type: ignore[method-assign]


def _wrap_poll(crash: CrashPoint) -> None:
    original = MaxApiClient.get

    async def get(self: MaxApiClient, task_id: str) -> Task:
        task = await original(self, task_id)
        crash.reached("poll-returned", task_id)
        return task

    MaxApiClient.get = get  # type: ignore[method-assign]


def _wrap_send(crash: CrashPoint, hold_after_send: str | None) -> None:
    original = discord.abc.Messageable.send

    async def send(self: discord.abc.Messageable, content: Any = None, **kwargs: Any) -> Any:
        message = await original(self, content, **kwargs)
        marker = parse_marker(content) if isinstance(content, str) else None
        if marker is not None:  # a result message (announcements carry no marker)
            crash.reached("send-returned", marker[0])
            if hold_after_send is not None and hold_after_send in content:
                await hang("after-send", marker[0])
        return message

    discord.abc.Messageable.send = send  # type: ignore[method-assign]


def _shorten_ready_wait(seconds: float) -> None:
    original = AtelierBot.__init__

    def init(self: AtelierBot, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._connection.guild_ready_timeout = seconds

    AtelierBot.__init__ = init  # type: ignore[method-assign]


def _shorten_leases(seconds: float) -> None:
    """Every lease of a process among several set to ``seconds`` (heartbeat: a fifth)."""
    cluster.LEASE_SECONDS = seconds
    cluster.HEARTBEAT_SECONDS = seconds / 5
    for_api = DeliveryConfig.for_api.__func__  # type: ignore[attr-defined]

    def delivery_config(cls: type[DeliveryConfig], maxapi_base_url: str) -> DeliveryConfig:
        return dataclasses.replace(for_api(cls, maxapi_base_url), lease=seconds)

    DeliveryConfig.for_api = classmethod(delivery_config)  # type: ignore[assignment]
    poller_init = Poller.__init__

    def init(self: Poller, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_timeout", seconds)  # how long a poll claims its job
        poller_init(self, *args, **kwargs)

    Poller.__init__ = init  # type: ignore[method-assign]


def _report_process_id() -> None:
    original = JobService.__init__

    def init(self: JobService, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        report("process", "id", self.process_id)

    JobService.__init__ = init  # type: ignore[method-assign]


def _report_first_delivery_pass() -> None:
    original = Deliverer._start_due
    seen: list[bool] = []

    async def start_due(self: Deliverer) -> tuple[int, bool]:
        result = await original(self)
        if not seen:
            seen.append(True)
            report("ready", "delivery")
        return result

    Deliverer._start_due = start_due  # type: ignore[method-assign]


def main() -> int:
    url = os.environ.get("ATELIER_TEST_DISCORD")
    if not url:
        raise SystemExit("ATELIER_TEST_DISCORD is not set")
    point_discord_at(url)
    install(os.environ)
    from bot.__main__ import main as bot_main

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())
