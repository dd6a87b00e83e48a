"""AtelierBot and the settings for several processes: shards (SHARD_COUNT/SHARD_IDS),
a Discord REST proxy (DISCORD_API_BASE_URL) and where the command digest is kept."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from discord.ext import commands
from discord.http import Route

from bot.discord_io.client import AtelierBot, FileDigestStore, ShardedAtelierBot
from bot.settings import Settings
from tests.discord_world import World
from tests.discord_world.harness import running_bot
from tests.e2e.support import answer

MakeBot = Callable[..., AtelierBot]


def bot_with(
    make_bot: MakeBot, make_services: Callable[..., Any], settings: Settings
) -> AtelierBot:
    return make_bot(services=make_services(settings=settings))


async def test_without_shards_the_bot_stays_a_plain_bot(make_bot: MakeBot) -> None:
    bot = make_bot()
    assert type(bot) is AtelierBot
    assert not isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_id) == (None, None)


async def test_shard_count_alone_runs_every_shard(
    world: World, make_bot: MakeBot, make_services: Callable[..., Any], settings: Settings
) -> None:
    other = world.add_guild("Other shard", shard=(1 - world.shard_of(world.guild, 2), 2))
    bot = bot_with(make_bot, make_services, dataclasses.replace(settings, shard_count=2))
    assert isinstance(bot, ShardedAtelierBot) and isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_ids) == (2, None)
    async with running_bot(world, bot, identify_wait=False):
        assert {g.id for g in bot.guilds} == {world.guild.id, other.id}
        assert sorted(bot.shards) == [0, 1]


async def test_shard_ids_run_only_those_shards(
    world: World, make_bot: MakeBot, make_services: Callable[..., Any], settings: Settings
) -> None:
    mine = 1 - world.shard_of(world.guild, 2)
    north = world.add_guild("North", shard=(mine, 2))
    sharded = dataclasses.replace(settings, shard_count=2, shard_ids=(mine,))
    bot = bot_with(make_bot, make_services, sharded)
    assert isinstance(bot, ShardedAtelierBot)
    assert (bot.shard_count, bot.shard_ids) == (2, [mine])
    async with running_bot(world, bot, identify_wait=False):
        assert [g.id for g in bot.guilds] == [north.id]  # not world.guild, on the other shard
        channel = next(iter(north.channels.values()))
        owner = north.members[north.owner_id]
        ix = await world.slash("models", channel=channel, user=owner)
        assert ix.delivered_to == [(mine, 2)]
        assert (await answer(ix)).embeds


@pytest.fixture
async def proxy(world: World) -> AsyncIterator[tuple[str, list[str]]]:
    """A REST proxy in front of the world (as nirn-proxy would be in front of Discord):
    its ``/api/v10`` URL and the ``METHOD path`` of every request it forwarded."""
    seen: list[str] = []
    async with aiohttp.ClientSession(auto_decompress=False) as http:

        async def forward(request: web.Request) -> web.Response:
            seen.append(f"{request.method} {request.path}")
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with http.request(
                request.method,
                f"{world.http_base}{request.path_qs}",
                headers=headers,
                data=await request.read(),
            ) as resp:
                body = await resp.read()
                kept = {k: v for k, v in resp.headers.items() if k.lower() != "transfer-encoding"}
                return web.Response(status=resp.status, body=body, headers=kept)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}/api/v10", seen
        finally:
            await runner.cleanup()


async def test_discord_api_base_url_sends_the_bots_requests_through_the_proxy(
    world: World,
    proxy: tuple[str, list[str]],
    make_bot: MakeBot,
    make_services: Callable[..., Any],
    settings: Settings,
) -> None:
    url, seen = proxy
    bot = bot_with(make_bot, make_services, dataclasses.replace(settings, discord_api_base_url=url))
    assert url == Route.BASE  # the world fixture puts the old base back afterwards
    async with running_bot(world, bot):
        ix = await world.slash("models")
        await answer(ix)
    assert "GET /api/v10/users/@me" in seen
    assert any(line.startswith("PUT /api/v10/applications/") for line in seen)  # the sync
    assert f"POST /api/v10/interactions/{ix.id}/{ix.token}/callback" in seen


async def test_without_a_proxy_the_api_base_is_left_alone(world: World, make_bot: MakeBot) -> None:
    before = Route.BASE
    make_bot()
    assert Route.BASE == before == f"{world.http_base}/api/v10"


class MemoryDigests:
    """A digest store that is not a file (the lead's database store stands in here)."""

    def __init__(self) -> None:
        self.digest: str | None = None
        self.sets = 0

    async def get(self) -> str | None:
        return self.digest

    async def set(self, digest: str) -> None:
        self.digest, self.sets = digest, self.sets + 1


async def test_the_command_digest_goes_to_the_store_the_services_name(
    world: World, make_services: Callable[..., Any]
) -> None:
    digests = MemoryDigests()
    services = dataclasses.replace(make_services(), command_digest_store=digests)
    async with running_bot(world, AtelierBot(services)) as bot:
        assert digests.digest == bot.command_digest() and digests.sets == 1
    async with running_bot(world, AtelierBot(services)):
        pass
    assert len(world.command_syncs) == 1 and digests.sets == 1  # unchanged: no second sync


async def test_without_a_store_the_digest_is_a_file_beside_the_database(
    make_services: Callable[..., Any], settings: Settings, tmp_path: Path
) -> None:
    services = dataclasses.replace(make_services(), command_digest_store=None)
    store = AtelierBot(services).command_digest_store
    assert store == FileDigestStore(settings.database_path.parent / "commands.sha256")
    assert await store.get() is None
    await store.set("abc")
    assert await store.get() == "abc"


async def test_the_runtime_keeps_the_digest_in_the_database(
    world: World, make_services: Callable[..., Any], idle_runtime: Any
) -> None:
    """Every process sees the digest one of them stored, so only the first one syncs."""
    async with running_bot(world, AtelierBot(make_services())) as bot:
        stored = await idle_runtime.store.get_state("command_digest")
        assert stored == bot.command_digest()
    async with running_bot(world, AtelierBot(make_services())):
        pass
    assert len(world.command_syncs) == 1
