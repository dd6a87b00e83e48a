"""The local Discord's channel messages, driven through real discord.py calls."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import discord
import pytest

from tests.discord_world import World


def text_channel(bot: Any, world_channel: Any) -> discord.TextChannel:
    channel = bot.get_channel(world_channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_multipart_upload_round_trip(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.channel)
    png = bytes(range(256)) * 4
    sent = await channel.send(
        "two files",
        embed=discord.Embed(title="Result", description="a picture"),
        files=[
            discord.File(io.BytesIO(png), "picture.png", description="alt text"),
            discord.File(io.BytesIO(b"hello\n"), "notes.txt"),
        ],
    )
    msg = world.message(sent.id)
    assert msg.content == "two files"
    assert msg.embeds[0]["title"] == "Result"
    assert [f.filename for f in msg.files] == ["picture.png", "notes.txt"]
    assert msg.file_named("picture.png").data == png
    assert msg.file_named("picture.png").description == "alt text"
    assert msg.allowed_mentions == {"parse": []}  # the bot pings nobody by default
    assert msg.nonce is not None  # discord.py sends one with enforce_nonce
    # What discord.py parsed back, and the bytes behind the attachment URL.
    assert [a.filename for a in sent.attachments] == ["picture.png", "notes.txt"]
    assert sent.attachments[0].size == len(png)
    assert await sent.attachments[0].read() == png
    fetched = await channel.fetch_message(sent.id)
    assert fetched.embeds[0].title == "Result"


async def test_edit_replaces_attachments_and_keeps_history(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.channel)
    sent = await channel.send("v1", file=discord.File(io.BytesIO(b"one"), "one.bin"))
    sent = await sent.edit(content="v2")
    assert [f.filename for f in world.message(sent.id).files] == ["one.bin"]
    await sent.edit(content="v3", attachments=[discord.File(io.BytesIO(b"two"), "two.bin")])
    msg = world.message(sent.id)
    assert msg.content == "v3"
    assert [(f.filename, f.data) for f in msg.files] == [("two.bin", b"two")]
    assert [h["content"] for h in msg.history] == ["v1", "v2"]
    assert msg.edited_at is not None


async def test_delete_then_fetch_is_unknown_message(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.channel)
    sent = await channel.send("short-lived")
    await sent.delete()
    assert world.message(sent.id).deleted
    with pytest.raises(discord.NotFound) as caught:
        await channel.fetch_message(sent.id)
    assert caught.value.code == 10008


async def test_same_nonce_returns_the_earlier_message(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.channel)
    first = await channel.send("result", nonce="job-42")
    again = await channel.send("result", nonce="job-42")
    other = await channel.send("result", nonce="job-43")
    assert again.id == first.id
    assert other.id != first.id
    assert len(world.messages(world.channel, kind="channel")) == 2


async def test_history_is_newest_first(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.art_channel)
    sent = [await channel.send(f"m{i}") for i in range(5)]
    latest = [m.content async for m in channel.history(limit=3)]
    assert latest == ["m4", "m3", "m2"]
    after = [m.content async for m in channel.history(after=sent[1], oldest_first=True)]
    assert after == ["m2", "m3", "m4"]


async def test_wait_for_message_sees_later_posts(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.art_channel)
    waiter = world.wait_for_message(world.art_channel, lambda m: m.content == "later", timeout=5)
    await channel.send("earlier")
    await channel.send("later")
    assert (await waiter).content == "later"


async def test_json_content_type_is_exact(world: World) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{world.http_base}/api/v10/users/@me", headers={"Authorization": "Bot test-token"}
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["discriminator"] == "0"


async def test_wrong_token_is_unauthorized(world: World) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{world.http_base}/api/v10/users/@me", headers={"Authorization": "Bot nope"}
        ) as resp,
    ):
        assert resp.status == 401


async def test_followups_and_original_can_be_edited_and_deleted(
    world: World, echo_bot: Any
) -> None:
    ix = await world.slash("echo", {"text": "original"})
    await ix.wait_response()
    interaction = echo_bot.get_cog("Echo").last_interaction
    secret = await interaction.followup.send("just for you", ephemeral=True, wait=True)
    public = await interaction.followup.send(
        "for all", file=discord.File(io.BytesIO(b"1"), "a.txt"), wait=True
    )
    await public.edit(content="for all, edited")
    await secret.delete()
    await interaction.edit_original_response(content="original, edited")
    assert [m.content for m in ix.followups] == ["just for you", "for all, edited"]
    assert ix.followups[0].ephemeral and ix.followups[0].deleted
    assert ix.followups[1].file_named("a.txt").data == b"1"
    assert ix.original is not None and ix.original.content == "original, edited"
    await interaction.delete_original_response()
    assert ix.original.deleted
    with pytest.raises(discord.NotFound) as caught:
        await interaction.original_response()
    assert caught.value.code == 10008


async def test_dev_guild_sync_and_guild_command_injection(
    world: World, make_bot: Any, make_services: Any, settings: Any, run_bot: Any
) -> None:
    from dataclasses import replace

    services = make_services(settings=replace(settings, dev_guild_id=world.guild.id))
    async with run_bot(make_bot(extensions=["tests.e2e.echo_cog"], services=services)):
        assert world.command_names() == []
        assert "echo" in world.command_names(world.guild)
        ix = await world.slash("echo", {"text": "guild command"})
        assert ix.payload["data"]["guild_id"] == str(world.guild.id)
        await ix.wait_response()
        assert ix.original is not None and ix.original.content == "guild command"


async def test_direct_messages_and_closed_dms(world: World, echo_bot: Any) -> None:
    user = await echo_bot.fetch_user(world.member.id)
    sent = await user.send("hello in private")
    dm = world.message(sent.id)
    assert dm.guild_id is None and dm.content == "hello in private"
    world.moderator.user.dms_closed = True
    closed = await echo_bot.fetch_user(world.moderator.id)
    with pytest.raises(discord.Forbidden) as caught:
        await closed.send("hello?")
    assert caught.value.code == 50007
