"""The harness itself: patches restored, start-up failures surfaced, waits that fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.discord_world import WaitTimeout, World, discord_world, running_bot


async def test_redirect_is_undone_after_the_world_stops() -> None:
    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with discord_world() as world:
        assert f"{world.http_base}/api/v10" == Route.BASE
        assert f"{world.ws_base}/gateway" == str(DiscordWebSocket.DEFAULT_GATEWAY)
    assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_a_bot_that_cannot_start_fails_fast(
    world: World, make_bot: Callable[..., Any]
) -> None:
    with pytest.raises(commands.ExtensionNotFound):
        async with running_bot(world, make_bot(extensions=["tests.e2e.no_such_cog"]), timeout=10):
            pass


async def test_a_plain_discord_client_works_too(world: World) -> None:
    client = discord.Client(intents=discord.Intents(guilds=True))
    async with running_bot(world, client):
        assert client.user is not None and client.user.id == world.bot_user.id
        assert client.application_id == world.application_id


async def test_waits_time_out_with_what_was_seen(world: World) -> None:
    with pytest.raises(WaitTimeout, match="have \\[\\]"):
        await world.wait_for_message(world.channel, timeout=0.1)


async def test_injecting_without_a_bot_says_so(world: World) -> None:
    world.sync_commands(None, [{"name": "echo", "description": "x", "options": []}])
    with pytest.raises(WaitTimeout, match="is one running"):
        await world.slash("echo", timeout=0.1)
