"""Delivery at Discord's pace, against the local Discord with its rate limits on: each
channel posts in order at its own bucket's pace, and no channel waits for another."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from tests.discord_world import Channel, World
from tests.helpers.delivery import PNG_MAGIC, media_bytes, succeeded_job

SEND = "POST /channels/{channel_id}/messages"


async def queued(store: Store, world: World, files: Any, channel: Channel, n: int) -> list[Job]:
    return [
        await succeeded_job(
            store,
            [files.add(f"{channel.id}/{i}.png", media_bytes(PNG_MAGIC, 1500))],
            channel_id=channel.id,
            guild_id=world.guild.id,
            user_id=world.member.user.id,
        )
        for i in range(n)
    ]


async def states(store: Store, jobs: list[Job]) -> set[JobState]:
    return {found.state for job in jobs if (found := await store.get(job.id)) is not None}


def posted_ids(world: World, channel: Channel) -> list[int]:
    return [m[0] for m in (parse_marker(x.content) for x in world.messages(channel)) if m]


async def test_a_busy_channel_holds_up_no_other_channel(
    world: World, bot: Any, store: Store, files: Any, tmp_path: Path
) -> None:
    """8 results for one channel (its bucket here: 2 a second), then one for another: the
    other is posted at once, the busy one in order, and Discord answers no 429."""
    world.rate_limits.enabled = True
    world.rate_limits.set(SEND, limit=2, per=1.0)
    busy, quiet = world.add_channel("busy"), world.add_channel("quiet")
    crowd = await queued(store, world, files, busy, 8)
    [alone] = await queued(store, world, files, quiet, 1)
    config = DeliveryConfig(allowed_hosts=frozenset({"127.0.0.1"}), temp_dir=tmp_path)
    async with aiohttp.ClientSession() as session:
        deliverer = Deliverer(bot, store, session, config)
        started = time.monotonic()
        deliverer.start()
        try:
            async with asyncio.timeout(30):
                while True:  # the local Discord has no change notification to wait on
                    if posted_ids(world, quiet) == [alone.id]:
                        break
                    await asyncio.sleep(0.02)
                quiet_after = time.monotonic() - started
                while True:
                    if await states(store, [*crowd, alone]) == {JobState.DELIVERED}:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await deliverer.close()
    assert quiet_after < 0.75, "the quiet channel waited for the busy one"
    assert posted_ids(world, busy) == [job.id for job in crowd]  # in order, once each
    assert world.rate_limits.refused == {}
