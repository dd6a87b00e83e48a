"""The local Discord's shards, with real discord.py sharded clients: each session gets
only its shard's guilds, events and interactions; DMs go to shard 0; bad shards get 4010."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.discord_world import Guild, Member, NotDelivered, World, running_bot


class ShardBot(discord.AutoShardedClient):
    """A plain sharded bot: ``/where`` says who answered and on which shard; it keeps
    the messages it hears."""

    def __init__(self, label: str, shard_count: int | None, shard_ids: list[int] | None) -> None:
        only: dict[str, Any] = {} if shard_ids is None else {"shard_ids": shard_ids}
        super().__init__(intents=discord.Intents.default(), shard_count=shard_count, **only)
        self.label = label
        self.heard: list[discord.Message] = []
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="where", description="who answers")
        async def where(interaction: discord.Interaction) -> None:
            assert interaction.guild is not None
            await interaction.response.send_message(
                f"{self.label}: shard {interaction.guild.shard_id}"
            )

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.heard.append(message)


@contextlib.asynccontextmanager
async def running(world: World, *bots: discord.Client) -> AsyncIterator[None]:
    """Several bots at once against one world, each ready before the next starts."""
    async with contextlib.AsyncExitStack() as stack:
        for bot in bots:
            await stack.enter_async_context(running_bot(world, bot, identify_wait=False))
        yield


def ids(guilds: Sequence[Guild | discord.Guild]) -> set[int]:
    return {g.id for g in guilds}


@pytest.fixture
def two_shards(world: World) -> tuple[Guild, Guild]:
    """A guild on each shard of 2 (the default guild lands wherever its id puts it)."""
    return world.add_guild("Zero", shard=(0, 2)), world.add_guild("One", shard=(1, 2))


def member_of(world: World, guild: Guild) -> Member:
    return world.add_member(f"member-of-{guild.name.lower()}", guild=guild)


async def test_each_shard_receives_only_its_guilds(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    zero, one = two_shards
    a, b = ShardBot("a", 2, [0]), ShardBot("b", 2, [1])
    everything = discord.Client(intents=discord.Intents.default())
    async with running(world, a, b, everything):
        assert ids(a.guilds) == ids(world.guilds_on([0], 2)) and zero.id in ids(a.guilds)
        assert ids(b.guilds) == ids(world.guilds_on([1], 2)) and one.id in ids(b.guilds)
        assert ids(a.guilds) | ids(b.guilds) == set(world.guilds)
        assert not ids(a.guilds) & ids(b.guilds)
        assert ids(everything.guilds) == set(world.guilds)  # unsharded: every guild
        assert world.gateway.live_shards() == [(0, 2), (1, 2), None]
        assert a.get_guild(one.id) is None and b.get_guild(zero.id) is None

        # A later guild event goes to its shard only.
        channel = world.add_channel("late", guild=one)
        await world.wait_for(lambda: b.get_channel(channel.id), what="b to hear CHANNEL_CREATE")
        await world.wait_for(lambda: everything.get_channel(channel.id), what="the unsharded bot")
        await world.settle()
        assert a.get_channel(channel.id) is None


async def test_a_message_in_a_shard_1_guild_reaches_only_shard_1(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    _, one = two_shards
    a, b = ShardBot("a", 2, [0]), ShardBot("b", 2, [1])
    async with running(world, a, b):
        sent = world.say(
            member_of(world, one), "hello shard one", channel=one.channel_named("general")
        )
        heard = await world.wait_for(lambda: b.heard, what="b to hear the message")
        assert [m.id for m in heard] == [sent.id]
        assert heard[0].guild is not None and heard[0].guild.id == one.id
        await world.settle()
        assert a.heard == []


async def test_an_interaction_reaches_the_shard_of_its_guild(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    zero, one = two_shards
    a, b = ShardBot("a", 2, [0]), ShardBot("b", 2, [1])
    async with running(world, a, b):
        for guild, shard, answer in ((one, 1, "b: shard 1"), (zero, 0, "a: shard 0")):
            ix = await world.slash(
                "where", user=member_of(world, guild), channel=guild.channel_named("general")
            )
            assert ix.delivered_to == [(shard, 2)]
            assert (await ix.wait_response()).type == 4
            assert ix.original is not None and ix.original.content == answer


async def test_an_interaction_no_session_owns_is_not_delivered(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    _, one = two_shards
    async with running(world, ShardBot("a", 2, [0])):
        ix = await world.slash(
            "where", user=member_of(world, one), channel=one.channel_named("general")
        )
        assert not ix.delivered
        with pytest.raises(NotDelivered, match=r"shard 1 of 2"):
            await ix.wait_response()
        await world.settle()
        assert ix.callback is None


async def test_two_sessions_on_one_shard_both_get_its_interactions(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    _, one = two_shards
    first, second = ShardBot("first", 2, [1]), ShardBot("second", 2, [1])
    async with running(world, first, second):
        ix = await world.slash(
            "where", user=member_of(world, one), channel=one.channel_named("general")
        )
        assert ix.delivered_to == [(1, 2), (1, 2)]
        await ix.wait_response()
        # Both bots answer; Discord takes the first and refuses the second.
        await world.wait_for(lambda: ix.rejections, what="the second answer to be refused")
        assert ix.rejections == [("callback", 40060)]


async def test_a_dropped_shard_resumes_and_gets_what_it_missed(
    world: World, two_shards: tuple[Guild, Guild]
) -> None:
    _, one = two_shards
    a, b = ShardBot("a", 2, [0]), ShardBot("b", 2, [1])
    async with running(world, a, b):
        await world.gateway.drop(shard=1)
        assert world.gateway.live_shards() == [(0, 2)]
        ix = await world.slash(
            "where", user=member_of(world, one), channel=one.channel_named("general")
        )
        assert ix.delivered_to == [(1, 2)]  # kept for the session until it resumes
        await ix.wait_response()
        assert ix.original is not None and ix.original.content == "b: shard 1"
        assert (world.gateway.identifies, world.gateway.resumes) == (2, 1)
        assert world.gateway.live_shards() == [(0, 2), (1, 2)]


async def test_a_dm_reaches_only_shard_0(world: World, two_shards: tuple[Guild, Guild]) -> None:
    a, b = ShardBot("a", 2, [0]), ShardBot("b", 2, [1])
    async with running(world, a, b):
        sent = world.say(world.member.user, "psst")
        heard = await world.wait_for(lambda: a.heard, what="shard 0 to hear the DM")
        assert [m.id for m in heard] == [sent.id] and heard[0].guild is None
        await world.settle()
        assert b.heard == []


async def test_one_client_running_all_three_shards_sees_every_guild(world: World) -> None:
    guilds = [world.add_guild(f"Shard {k}", shard=(k, 3)) for k in range(3)]
    bot = ShardBot("all", 3, None)
    async with running(world, bot):
        assert ids(bot.guilds) == set(world.guilds)
        assert sorted(bot.shards) == [0, 1, 2]
        assert sorted(s for s in world.gateway.live_shards() if s) == [(0, 3), (1, 3), (2, 3)]
        for k, guild in enumerate(guilds):
            cached = bot.get_guild(guild.id)
            assert cached is not None and cached.shard_id == k
            ix = await world.slash(
                "where", user=member_of(world, guild), channel=guild.channel_named("general")
            )
            await ix.wait_response()
            assert ix.original is not None and ix.original.content == f"all: shard {k}"


async def test_without_a_count_the_client_runs_the_recommended_shards(world: World) -> None:
    world.recommended_shards = 2
    world.add_guild("One", shard=(1, 2))
    bot = ShardBot("auto", None, None)
    async with running(world, bot):
        assert bot.shard_count == 2
        assert sorted(bot.shards) == [0, 1]
        assert ids(bot.guilds) == set(world.guilds)
    assert world.requests_to("GET /gateway/bot")


@pytest.mark.parametrize(
    "client",
    [
        pytest.param(lambda: ShardBot("bad", 2, [2]), id="id-past-count"),
        pytest.param(
            lambda: discord.Client(intents=discord.Intents.default(), shard_id=0, shard_count=0),
            id="count-zero",
        ),
    ],
)
async def test_an_invalid_shard_is_closed_with_4010(
    world: World, client: Callable[[], discord.Client]
) -> None:
    with pytest.raises(discord.ConnectionClosed) as raised:
        async with running_bot(world, client(), timeout=10):
            pass
    assert raised.value.code == 4010
    assert "identify-invalid-shard" in world.gateway.log
    assert world.gateway.identifies == 0


def test_the_shard_helper_puts_guilds_where_asked(world: World) -> None:
    for count in (1, 2, 3, 5):
        for k in range(count):
            guild = world.add_guild(f"g{k}of{count}", shard=(k, count))
            assert world.shard_of(guild, count) == k == (guild.id >> 22) % count
    assert list(world.guilds) == sorted(world.guilds)  # ids still increase
    with pytest.raises(ValueError, match="no shard"):
        world.add_guild("nowhere", shard=(2, 2))
