"""Delivery into a guild whose shard another process runs: REST needs no gateway, and the
guild's upload limit is read over REST once and kept in the store for every process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.domain.job_states import JobState
from bot.store import Store
from tests.discord_world import World, running_bot
from tests.helpers.delivery import PNG_MAGIC, media_bytes, succeeded_job

GET_GUILD = "GET /guilds/{guild_id}"


async def test_a_guild_on_another_shard_gets_its_results_and_its_upload_limit(
    world: World, files: Any, tmp_path: Path
) -> None:
    boosted = world.add_guild("Boosted", premium_tier=2, shard=(1, 2))
    channel_id = boosted.channel_named("general").id
    client = discord.AutoShardedClient(
        intents=discord.Intents.default(), shard_count=2, shard_ids=[0]
    )
    store = await Store.open(tmp_path / "a.db")
    try:
        async with running_bot(world, client), aiohttp.ClientSession() as session:
            assert client.get_guild(boosted.id) is None  # not this process's shard
            config = DeliveryConfig(allowed_hosts=frozenset({"127.0.0.1"}), temp_dir=tmp_path)
            deliverer = Deliverer(client, store, session, config)
            for n in range(2):
                url = files.add(f"r{n}.png", media_bytes(PNG_MAGIC, 2000))
                job = await succeeded_job(store, [url], channel_id=channel_id, guild_id=boosted.id)
                done = await deliverer.deliver(job)
                assert done is not None and done.state == JobState.DELIVERED
            facts = await store.guild_facts(boosted.id)
    finally:
        await store.close()
    assert facts is not None and facts[0] == {"upload_limit": 50 * 1024 * 1024}
    assert len(world.requests_to(GET_GUILD)) == 1  # the second delivery read the store
    assert len(world.requests_to("GET /channels/{channel_id}")) == 1  # and its kept channel
