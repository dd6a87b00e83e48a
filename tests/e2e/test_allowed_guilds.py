"""Only the servers the operator chose can spend: ``ALLOWED_GUILD_IDS`` and the operator's
cap, end to end through real discord.py against the local Discord and the simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog
from bot.runtime import Runtime
from bot.settings import Settings
from tests.discord_world import World
from tests.e2e.support import answer

MODEL = "nano-banana-2"


@pytest.fixture
def stranger(world: World) -> Any:
    """A second server that added the bot before the operator listed the allowed ones."""
    guild = world.add_guild("Strangers")
    member = world.add_member("stranger", guild=guild)
    return guild, member


@pytest.fixture
async def runtime(
    world: World,
    stranger: Any,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> AsyncIterator[Runtime]:
    settings = dataclasses.replace(
        runtime_settings,
        allowed_guild_ids=frozenset({world.guild.id}),
        operator_budget_usd_per_day=1.0,
    )
    async with Runtime(settings, Catalog.load()) as started:
        bot = make_bot(services=started.services())
        async with run_bot(bot):
            yield started


async def test_a_server_that_adds_the_bot_is_left_at_once(world: World, runtime: Runtime) -> None:
    newcomer = world.add_guild("Newcomers")
    await world.wait_for(
        lambda: newcomer.id in world.left_guild_ids, timeout=10, what="the bot to leave"
    )
    assert world.guild.id not in world.left_guild_ids
    assert world.guild.id in world.guilds


async def test_an_unlisted_server_is_refused_and_nothing_is_stored(
    world: World, runtime: Runtime, stranger: Any
) -> None:
    guild, member = stranger
    channel = guild.channel_named("general")
    ix = await world.slash(
        "imagine", {"prompt": "a fox", "model": MODEL}, user=member, channel=channel
    )
    message = await answer(ix)
    assert message.ephemeral
    assert "serves only the servers its operator chose" in message.embed_text()
    assert runtime.store is not None
    assert await runtime.store.count_by_state() == {}
    # A listed server is served as before.
    served = await answer(await world.slash("imagine", {"prompt": "a fox", "model": MODEL}))
    assert "serves only" not in served.embed_text()
    assert sum((await runtime.store.count_by_state()).values()) == 1


async def test_an_unlisted_server_gets_no_autocomplete(
    world: World, runtime: Runtime, stranger: Any
) -> None:
    guild, member = stranger
    ix = await world.autocomplete(
        "imagine",
        {"prompt": "a fox", "model": "nano"},
        focused="model",
        user=member,
        channel=guild.channel_named("general"),
    )
    assert await ix.choices() == []
    listed = await world.autocomplete(
        "imagine", {"prompt": "a fox", "model": "nano"}, focused="model"
    )
    assert await listed.choices()


async def test_a_server_budget_cannot_be_set_above_the_operators_cap(
    world: World, runtime: Runtime
) -> None:
    over = await answer(await world.slash("settings budget", {"daily_usd": 5.0}, user=world.owner))
    assert "can only be lower" in over.embed_text() and "$1.00" in over.embed_text()
    assert runtime.store is not None
    assert (await runtime.store.guild_config(world.guild.id)).daily_budget_usd == 20.0
    under = await answer(await world.slash("settings budget", {"daily_usd": 0.5}, user=world.owner))
    assert "can only be lower" not in under.embed_text()
    assert (await runtime.store.guild_config(world.guild.id)).daily_budget_usd == 0.5
