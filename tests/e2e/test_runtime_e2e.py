"""The whole running system, as ``python -m bot`` wires it (:class:`bot.runtime.Runtime`):
real discord.py against the local Discord, the Max API simulator, SQLite, the poller,
the callback receiver and delivery. A job accepted through the job service ends in
the channel exactly once — across a restart, with callbacks, and with a clear reason
when it fails."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.settings import Settings
from simulator import Simulator
from tests.discord_world import World

S = JobState
SCALE = 0.01
MODEL = "nano-banana-2"


@asynccontextmanager
async def running(
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    settings: Settings,
) -> AsyncIterator[Runtime]:
    """A Runtime and a bot on it, started like ``python -m bot`` starts them."""
    async with Runtime(settings, Catalog.load()) as runtime:
        bot = make_bot(services=runtime.services())
        async with run_bot(bot):
            yield runtime


def requester(world: World) -> Requester:
    return Requester(
        guild_id=world.guild.id, channel_id=world.channel.id, user_id=world.member.user.id
    )


async def accept(runtime: Runtime, world: World, prompt: str, **options: Any) -> Job:
    assert runtime.jobs is not None
    job = await runtime.jobs.accept(GenerationRequest(MODEL, prompt, options), requester(world))
    runtime.jobs.submit_soon(job)
    return job


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.read()


async def settled(runtime: Runtime, job_id: int, within: float = 10.0) -> Job:
    """The job once it reaches a terminal state."""
    assert runtime.store is not None
    async with asyncio.timeout(within):
        while True:
            job = await runtime.store.get(job_id)
            if job is not None and job.state.is_terminal:
                return job
            await asyncio.sleep(0.02)


def is_result(job_id: int) -> Callable[[Any], bool]:
    return lambda m: f"job #{job_id}" in m.content and bool(m.files)


async def test_job_is_generated_and_posted_once_with_the_exact_bytes(
    world: World, sim: Simulator, run_bot: Any, make_bot: Any, runtime_settings: Settings
) -> None:
    async with running(run_bot, make_bot, runtime_settings) as runtime:
        assert runtime.store is not None
        job = await accept(runtime, world, "a lighthouse at dusk", count=None, ratio="16:9")
        message = await world.wait_for_message(world.channel, is_result(job.id), timeout=20)
        done = await settled(runtime, job.id)
        assert done.state == S.DELIVERED
        assert done.result_message_ids == [message.id]
        assert message.files[0].data == await fetch(done.result_urls[0])
        assert f"<@{world.member.user.id}>" in message.content
        assert message.allowed_mentions is not None
        assert [int(u) for u in message.allowed_mentions.get("users", [])] == [world.member.user.id]
        assert not message.allowed_mentions.get("parse")  # no @everyone, no roles
        assert [s.body["input"]["prompt"] for s in sim.submissions] == ["a lighthouse at dusk"]
        assert sim.submissions[0].body["input"]["ratio"] == "16:9"
    posts = [m for m in world.messages(world.channel) if f"job #{job.id}" in m.content]
    assert len(posts) == 1


async def test_restart_with_a_job_in_flight_delivers_it_once(
    world: World, sim: Simulator, run_bot: Any, make_bot: Any, runtime_settings: Settings
) -> None:
    async with running(run_bot, make_bot, runtime_settings) as runtime:
        assert runtime.store is not None
        job = await accept(runtime, world, "a slow owl [sim:hold]")
        await sim.wait_for(lambda: len(sim.submissions) == 1, within=10)
        while (current := await runtime.store.get(job.id)) and current.task_id is None:
            await sim.wait_for(lambda: True, within=0.05)
    assert current is not None and current.task_id is not None
    sim.finish(current.task_id)  # finishes while the bot is down
    async with running(run_bot, make_bot, runtime_settings) as runtime:
        assert runtime.store is not None
        await world.wait_for_message(world.channel, is_result(job.id), timeout=20)
        assert (await settled(runtime, job.id)).state == S.DELIVERED
    assert len(sim.submissions) == 1  # never resubmitted
    posts = [m for m in world.messages(world.channel) if f"job #{job.id}" in m.content]
    assert len(posts) == 1


async def test_upstream_failure_tells_the_requester_why(
    world: World, sim: Simulator, run_bot: Any, make_bot: Any, runtime_settings: Settings
) -> None:
    async with running(run_bot, make_bot, runtime_settings) as runtime:
        assert runtime.store is not None
        job = await accept(runtime, world, "a face [sim:fail=CONTENT_MODERATION]")
        message = await world.wait_for_message(
            world.channel, lambda m: f"job #{job.id}" in m.content, timeout=20
        )
        assert "moderation" in message.content
        assert "not charged" in message.content
        assert message.content.startswith(f"<@{world.member.user.id}>")
        assert not message.files
        assert (await settled(runtime, job.id)).state == S.FAILED


async def test_callbacks_deliver_before_the_fallback_poll(
    world: World, sim: Simulator, run_bot: Any, make_bot: Any, runtime_settings: Settings
) -> None:
    port = free_port()
    settings = dataclasses.replace(
        runtime_settings,
        webhook_public_url=f"http://127.0.0.1:{port}/cb",
        webhook_host="127.0.0.1",
        webhook_port=port,
    )
    async with running(run_bot, make_bot, settings) as runtime:
        assert runtime.store is not None and runtime.poller is not None
        job = await accept(runtime, world, "a quick sketch")
        await world.wait_for_message(world.channel, is_result(job.id), timeout=20)
        done = await settled(runtime, job.id)
        assert done.callback_token is not None
        assert len(sim.callbacks_sent) == 1
        assert sim.callbacks_sent[0].url == f"http://127.0.0.1:{port}/cb/{done.callback_token}"
        assert sim.callbacks_sent[0].status == 200
        # With callbacks on, the first fallback poll comes at 1.5x the typical time;
        # the callback's re-query found the result before it.
        assert done.polls <= 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
