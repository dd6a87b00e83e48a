"""Run real discord.py bots against the world.

async with discord_world() as world:          # server up, discord.py redirected
    async with running_bot(world, bot):       # logged in, synced, guilds received
        ix = await world.slash("models")
        ...
    async with running_bot(world, new_bot):   # a restart: same world, new bot
        ...
    shard1 = discord.AutoShardedClient(intents=..., shard_count=2, shard_ids=[1])
    async with running_bot(world, shard1):    # ready with the guilds of shard 1
        ...
"""

# Waiting helpers take a timeout on purpose: tests read better with one argument.

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.discord_world.server import DiscordServer
from tests.discord_world.world import DEFAULT_TOKEN, World

log = logging.getLogger(__name__)

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def redirect_discord(world: World) -> Iterator[None]:
    """Point discord.py's REST base (which also serves interactions and webhooks) and
    its gateway at the world; restore both afterwards."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = f"{world.http_base}/api/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"{world.ws_base}/gateway")
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@contextlib.asynccontextmanager
async def discord_world(*, token: str = DEFAULT_TOKEN) -> AsyncIterator[World]:
    """A started world on 127.0.0.1 (ephemeral port) with discord.py redirected to it."""
    world = World(token=token)
    server = DiscordServer(world)
    await server.start()
    try:
        with redirect_discord(world):
            yield world
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def running_bot(
    world: World,
    bot: ClientT,
    *,
    token: str | None = None,
    timeout: float = 20.0,
    guild_ready_timeout: float = 0.05,
    identify_wait: bool = True,
) -> AsyncIterator[ClientT]:
    """Start ``bot`` like ``bot.start(token)`` and yield once it is ready (logged in,
    ``setup_hook`` done, every guild of its shards received, ``on_ready`` fired); close
    it after.

    ``guild_ready_timeout`` shortens discord.py's wait after the last GUILD_CREATE
    (2 s by default) so that ``on_ready`` and ``wait_until_ready`` come quickly.
    ``identify_wait=False`` skips discord.py's 5 s pause before each IDENTIFY but the
    first (between the shards of an AutoShardedClient, and after an invalid session)."""
    bot._connection.guild_ready_timeout = guild_ready_timeout
    if not identify_wait:
        bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    before = set(asyncio.all_tasks())
    task = asyncio.create_task(bot.start(token or world.token), name="discord-world-bot")

    def started() -> bool:
        if task.done():
            return True
        expected = bot_guild_ids(world, bot)
        guilds_in = expected is not None and all(
            (g := bot.get_guild(guild_id)) is not None and not g.unavailable
            for guild_id in expected
        )
        return bot.is_ready() and guilds_in

    try:
        await world.wait_for(started, timeout=timeout, what="the bot to be ready")
        if task.done():
            task.result()
            raise RuntimeError("the bot stopped while starting")
        yield bot
    finally:
        await _stop(bot, task, before)


def bot_guild_ids(world: World, bot: discord.Client) -> list[int] | None:
    """The guilds ``bot``'s shards receive (all for an unsharded bot); None while an
    AutoShardedClient has not learnt its shard count yet."""
    count = bot.shard_count
    if count is not None and count < 1:
        return None  # an invalid shard: the world closes it (4010)
    if isinstance(bot, discord.AutoShardedClient):
        if count is None:
            return None
        shard_ids: list[int] = list(bot.shard_ids or range(count))
    elif count is None or bot.shard_id is None:
        return list(world.guilds)  # discord.py sends no ``shard`` then
    else:
        shard_ids = [bot.shard_id]
    return [g.id for g in world.guilds_on(shard_ids, count)]


async def _no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py's ``before_identify_hook`` without its 5 s pause (the world has no
    IDENTIFY rate limit)."""
    await asyncio.sleep(0)


async def _stop(
    bot: discord.Client, task: asyncio.Task[None], before: set[asyncio.Task[object]]
) -> None:
    await bot.close()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=10)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        log.warning("the bot did not stop within 10 s after close()")
    except Exception:
        log.exception("the bot's task ended with an error")
    await _reap(before)


async def _reap(before: set[asyncio.Task[object]]) -> None:
    """Cancel what the bot left running (view timeouts, loops) so the next test starts
    clean; name what came from outside discord.py, since that is the app's leak."""
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leftovers = [
        t
        for t in asyncio.all_tasks() - before
        if t is not current and not t.done() and not _is_world_task(t)
    ]
    for t in leftovers:
        if _is_app_task(t):
            log.warning("task still running after bot.close(): %r", t)
        t.cancel()
    if leftovers:
        await asyncio.gather(*leftovers, return_exceptions=True)


def _coro_file(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    return code.co_filename if code is not None else ""


def _is_app_task(task: asyncio.Task[object]) -> bool:
    """Started by the project's code, not by discord.py, aiohttp or asyncio itself."""
    name = _coro_file(task)
    return bool(name) and "/site-packages/" not in name and "/asyncio/" not in name


def _is_world_task(task: asyncio.Task[object]) -> bool:
    name = _coro_file(task)
    return "/discord_world/" in name or "/aiohttp/" in name
