"""``/prefer set notify:dm`` end to end: a job that ran longer than 2 minutes (accept to
end) sends its owner one DM with a jump link, once whoever sees the ending; a short job
sends none; a member whose DMs refuse the bot (50007) is remembered and not tried again
until they set notify:dm again. The runtime runs on a clock the test moves forward."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.settings import Settings
from simulator import Simulator
from tests.discord_world import Channel, World
from tests.e2e.support import App, Clock, answer, card, job_id_of, job_when, settled

SLOW = "a slow fox [sim:seconds=300]"  # 3 s at the simulator's speed


@pytest.fixture
def runtime_settings(settings: Settings, sim: Simulator) -> Settings:
    """Polls at 0.15 of their pace: a job given up after 1800 s * 0.15 = 270 s outlives
    the 3 minutes the clock is moved."""
    return dataclasses.replace(settings, maxapi_base_url=sim.base_url, poll_scale=0.15)


async def notify_dm(world: World) -> None:
    saved = await answer(await world.slash("prefer set", {"notify": "dm"}))
    assert saved.ephemeral and "by DM too" in saved.embed_text()


async def run_job(world: World, app: App, clock: Clock, prompt: str, *, long: bool) -> Job:
    """Start ``/imagine``; a long one has the clock moved 3 minutes while it runs."""
    message = await card(await world.slash("imagine", {"prompt": prompt}))
    job_id = job_id_of(message)
    if long:  # once Max API has it and it was polled (the poller sleeps on this clock)
        await job_when(app.store, job_id, lambda job: job.polls >= 1)
        clock.offset += 180
    job = await settled(app.store, job_id)
    await world.settle()
    return job


def dm_channel(world: World) -> Channel:
    return world.open_dm(world.member.user)


def dm_attempts(world: World) -> int:
    path = f"/channels/{dm_channel(world).id}/messages"
    return sum(1 for r in world.requests if r.method == "POST" and r.path.endswith(path))


async def test_a_long_job_sends_one_dm_with_a_jump_link_and_a_short_one_none(
    world: World, app: App, clock: Clock
) -> None:
    await notify_dm(world)
    job = await run_job(world, app, clock, SLOW, long=True)
    assert job.state == JobState.DELIVERED
    dm = await world.wait_for_message(dm_channel(world), lambda m: f"#{job.id}" in m.content)
    link = f"https://discord.com/channels/{world.guild.id}/{job.channel_id}/"
    assert f"{link}{job.result_message_ids[0]}" in dm.content
    assert "is ready" in dm.content

    # Seen again (a second process, a restart's recovery): no second DM.
    again = await app.store.get(job.id)
    assert again is not None and again.dm_notified_at is not None
    await app.runtime.jobs.notify_listeners(again)
    await app.runtime.jobs.recover()
    await world.settle()
    assert dm_attempts(world) == 1

    short = await run_job(world, app, clock, "a quick fox", long=False)
    assert short.state == JobState.DELIVERED and short.dm_notified_at is None
    assert dm_attempts(world) == 1


async def test_a_failed_long_job_is_told_in_the_members_language(
    world: World, app: App, clock: Clock
) -> None:
    await notify_dm(world)
    job = await run_job(world, app, clock, "a fox [sim:seconds=300] [sim:fail]", long=True)
    assert job.state == JobState.FAILED
    dm = await world.wait_for_message(dm_channel(world), lambda m: f"#{job.id}" in m.content)
    assert "failed" in dm.content and f"/{world.guild.id}/{job.channel_id}" in dm.content


async def test_closed_dms_are_remembered_and_not_tried_again(
    world: World, app: App, clock: Clock
) -> None:
    await notify_dm(world)
    world.member.user.dms_closed = True
    await run_job(world, app, clock, SLOW, long=True)
    await world.wait_for(lambda: dm_attempts(world) == 1, what="one DM attempt")
    assert await app.store.dm_closed(world.member.id)
    shown = await answer(await world.slash("prefer show"))
    assert "your DMs refused Atelier" in shown.embed_text()

    await run_job(world, app, clock, SLOW, long=True)
    assert dm_attempts(world) == 1  # not tried again

    world.member.user.dms_closed = False
    await notify_dm(world)  # they opened their DMs: the mark is cleared
    assert not await app.store.dm_closed(world.member.id)
    job = await run_job(world, app, clock, SLOW, long=True)
    await world.wait_for_message(dm_channel(world), lambda m: f"#{job.id}" in m.content)
    assert dm_attempts(world) == 2
