"""The local Discord's message commands (application command type 3): registration checked
like Discord (name 1-32 characters, any case and spaces, no description or options, at most
5), and the interaction Discord sends: ``target_id`` and ``resolved.messages``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.discord_world import World, running_bot


def client_with(menus: list[str], seen: list[discord.Message]) -> discord.Client:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)

    def menu(name: str) -> app_commands.ContextMenu:
        async def callback(interaction: discord.Interaction, message: discord.Message) -> None:
            seen.append(message)
            await interaction.response.send_message(f"{name}: {message.id}", ephemeral=True)

        return app_commands.ContextMenu(name=name, callback=callback)

    for name in menus:
        tree.add_command(menu(name))

    async def setup_hook() -> None:
        await tree.sync()

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    return client


@pytest.fixture
def started(world: World) -> Callable[..., Any]:
    def start(menus: list[str], seen: list[discord.Message]) -> Any:
        return running_bot(world, client_with(menus, seen))

    return start


async def test_a_message_command_gets_the_whole_message(
    world: World, started: Callable[..., Any]
) -> None:
    seen: list[discord.Message] = []
    async with started(["Edit with Atelier"], seen):
        stored = world.command("Edit with Atelier", type=3)
        assert stored["type"] == 3 and stored["description"] == ""
        with pytest.raises(LookupError):
            world.command("Edit with Atelier")  # not a slash command
        image = world.attachment("a.png", b"png", content_type="image/png")
        embed = {"type": "image", "thumbnail": {"url": "https://example.com/b.png"}}
        message = world.say(world.moderator, "look", files=[image], embeds=[embed])
        ix = await world.message_command("Edit with Atelier", message)
        data = ix.payload["data"]
        assert data["target_id"] == str(message.id) and data["type"] == 3
        assert data["resolved"]["messages"][str(message.id)]["content"] == "look"
        callback = await ix.wait_response()
        assert callback.ephemeral and callback.data["content"] == f"Edit with Atelier: {message.id}"
    (got,) = seen
    assert got.author.id == world.moderator.user.id
    assert [a.filename for a in got.attachments] == ["a.png"]
    assert got.embeds[0].thumbnail.url == "https://example.com/b.png"


async def test_discord_refuses_bad_message_commands(
    world: World, started: Callable[..., Any]
) -> None:
    seen: list[discord.Message] = []
    async with started(["Edit with Atelier"], seen) as client:
        app_id = client.application_id
        bad = (
            [{"name": "x" * 33, "type": 3}],
            [{"name": " Edit", "type": 3}],
            [{"name": "Edit", "type": 3, "description": "no"}],
            [{"name": f"Menu {n}", "type": 3} for n in range(6)],
        )
        for payload in bad:
            with pytest.raises(discord.HTTPException) as raised:
                await client.http.bulk_upsert_global_commands(app_id, payload)
            assert raised.value.status == 400
        five = [{"name": f"Menu {n}", "type": 3} for n in range(5)]
        five.append({"name": "Menu 0", "type": 2})  # a user command may share the name
        await client.http.bulk_upsert_global_commands(app_id, five)
        assert len(world.commands()) == 6
