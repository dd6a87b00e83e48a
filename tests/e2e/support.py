"""Helpers shared by the end-to-end tests: the whole bot on a Runtime, and ways to read
what a member sees (the progress card, a refusal, a deferred answer) and wait for a job."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Store
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Message, World

#: Simulator speed and POLL_SCALE: model times and the poll schedule at 1/100.
SCALE = 0.01
FAST = 0.2  # seconds between two edits of a card, in these tests


@dataclasses.dataclass
class App:
    runtime: Runtime
    bot: AtelierBot

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store


class Clock:
    """Real time, moved forward by ``offset`` seconds when a test says so."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@asynccontextmanager
async def started(
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    settings: Settings,
    *,
    interval: float = FAST,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[App]:
    """The whole bot on a Runtime, as ``python -m bot`` starts it (on ``clock``)."""
    async with Runtime(
        settings, Catalog.load(), progress_interval=interval, clock=clock
    ) as runtime:
        bot = make_bot(services=runtime.services())
        async with run_bot(bot):
            yield App(runtime, bot)


async def job_when(
    store: Store, job_id: int, predicate: Callable[[Job], bool], within: float = 20.0
) -> Job:
    """The job once ``predicate`` holds for it (read from the store every 20 ms)."""
    async with asyncio.timeout(within):
        while True:
            job = await store.get(job_id)
            if job is not None and predicate(job):
                return job
            await asyncio.sleep(0.02)


async def settled(store: Store, job_id: int, within: float = 20.0) -> Job:
    return await job_when(store, job_id, lambda job: job.state.is_terminal, within)


async def answer(ix: InjectedInteraction) -> Message:
    """The message the member finally sees: the response, or the deferral's filling."""
    callback = await ix.wait_response()
    if callback.type == 5:
        return await ix.wait_original(lambda m: not m.loading)
    assert ix.original is not None
    return ix.original


async def card(ix: InjectedInteraction) -> Message:
    """The public progress card that answered ``ix``."""
    callback = await ix.wait_response()
    assert callback.type == 4, f"expected a message answer, got {callback.type}: {callback.data}"
    assert not callback.ephemeral
    assert ix.original is not None
    return ix.original


def job_id_of(message: Message) -> int:
    (cancel,) = [c for c in message.custom_ids() if c.startswith("atelier:cancel:")]
    return int(cancel.rsplit(":", 1)[1])


async def refusal(ix: InjectedInteraction) -> str:
    """The ephemeral error embed that answered ``ix``, as one string."""
    callback = await ix.wait_response()
    assert callback.ephemeral, f"expected an ephemeral refusal, got {callback.data}"
    assert ix.original is not None
    return ix.original.embed_text()


async def as_moderator(
    world: World, name: str, options: Mapping[str, Any] | None = None, **kwargs: Any
) -> Message:
    """The private answer to ``/name`` run by the moderator (``kwargs`` go to ``slash``:
    ``locale``, ``channel``)."""
    message = await answer(await world.slash(name, options or {}, user=world.moderator, **kwargs))
    assert message.ephemeral
    return message


async def run_to_the_end(world: World, app: App, ix: InjectedInteraction) -> tuple[Job, Message]:
    """The job behind a command's card once it is delivered, and its result message."""
    message = await card(ix)
    job_id = job_id_of(message)
    job = await settled(app.store, job_id)
    assert job.state == JobState.DELIVERED, f"job {job_id} ended {job.state}: {job.failure_message}"
    result = world.message(job.result_message_ids[-1])
    return job, result


async def delivered(
    world: World, app: App, options: dict[str, Any], command: str = "imagine"
) -> tuple[Job, Message]:
    """``/command`` with ``options`` run to a delivered job, and its result message."""
    return await run_to_the_end(world, app, await world.slash(command, options))


async def nothing_happened(app: App, sim: Simulator) -> None:
    """No job was stored and nothing reached Max API."""
    assert await app.store.count_by_state() == {}
    assert not sim.submissions


def spoilers(message: Message) -> list[bool]:
    """For each file of ``message``: is it sent as a spoiler?"""
    return [f.filename.startswith("SPOILER_") for f in message.files]
