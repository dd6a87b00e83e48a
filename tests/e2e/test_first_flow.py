"""The first end-to-end flow: a real AtelierBot logs in to the local Discord, syncs
its commands, answers a slash command and posts a file the test reads back."""

from __future__ import annotations

from typing import Any

from tests.discord_world import World


async def test_bot_logs_in_and_syncs_its_commands(world: World, echo_bot: Any) -> None:
    names = world.command_names()
    assert {"echo", "upload", "models", "tools"} <= set(names)
    assert world.gateway.identifies == 1
    assert echo_bot.get_guild(world.guild.id).get_channel(world.nsfw_channel.id).is_nsfw()


async def test_slash_command_is_answered(world: World, echo_bot: Any) -> None:
    ix = await world.slash("echo", {"text": "hello there"})
    response = await ix.wait_response()
    assert response.type == 4
    assert ix.original is not None
    assert ix.original.content == "hello there"
    assert not ix.original.ephemeral


async def test_file_posted_to_channel_is_read_back_byte_for_byte(
    world: World, echo_bot: Any
) -> None:
    ix = await world.slash("upload", {"text": "ab\x00c", "repeat": 3})
    assert (await ix.wait_response()).type == 5
    msg = await world.wait_for_message(world.channel, lambda m: bool(m.files), kind="channel")
    assert [f.filename for f in msg.files] == ["x.bin"]
    assert msg.files[0].data == b"ab\x00c" * 3
    note = await ix.wait_followup()
    assert note is ix.original  # the first followup fills the deferred response
    assert note.content == f"posted {msg.id} (12 bytes)"
