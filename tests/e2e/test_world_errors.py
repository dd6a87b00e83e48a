"""Discord's errors on demand surface in discord.py as the right exceptions."""

from __future__ import annotations

import io
import time
from typing import Any

import aiohttp
import discord
import pytest

from tests.discord_world import World

SEND = "POST /channels/{channel_id}/messages"


def general(bot: Any, world: World) -> discord.TextChannel:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


@pytest.mark.parametrize(
    ("code", "exception", "status"),
    [
        (50013, discord.Forbidden, 403),
        (50001, discord.Forbidden, 403),
        (10003, discord.NotFound, 404),
        (10008, discord.NotFound, 404),
        (40005, discord.HTTPException, 413),
    ],
)
async def test_scripted_error_surfaces(
    world: World, echo_bot: Any, code: int, exception: type[discord.HTTPException], status: int
) -> None:
    fault = world.faults.next(route=SEND, code=code)
    with pytest.raises(exception) as caught:
        await general(echo_bot, world).send("hello")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert fault.hits == 1
    assert world.messages(world.channel) == []
    await general(echo_bot, world).send("works again")  # times=1: only the next one failed
    assert [m.content for m in world.messages(world.channel)] == ["works again"]


async def test_fault_can_target_one_channel(world: World, echo_bot: Any) -> None:
    world.faults.next(route=f"POST /channels/{world.art_channel.id}/messages", code=50013)
    await general(echo_bot, world).send("general is fine")
    with pytest.raises(discord.Forbidden):
        await echo_bot.get_channel(world.art_channel.id).send("art is not")


async def test_429_is_retried_after_retry_after(world: World, echo_bot: Any) -> None:
    world.faults.next(route=SEND, status=429, retry_after=0.1, times=2)
    started = time.monotonic()
    sent = await general(echo_bot, world).send("eventually")
    assert time.monotonic() - started >= 0.2
    assert [r.status for r in world.requests_to(SEND)] == [429, 429, 200]
    assert world.message(sent.id).content == "eventually"


async def test_429_without_via_header_is_not_retried(world: World, echo_bot: Any) -> None:
    world.faults.next(route=SEND, status=429, via=False)
    with pytest.raises(discord.HTTPException) as caught:
        await general(echo_bot, world).send("banned?")
    assert caught.value.status == 429


async def test_5xx_is_retried_and_a_lost_response_is_deduplicated(
    world: World, echo_bot: Any
) -> None:
    # The first attempt is posted but its answer is a 500; discord.py retries with the
    # same nonce, and Discord hands back the message it already made.
    world.faults.next(route=SEND, status=500, commit=True)
    sent = await general(echo_bot, world).send("once", nonce="delivery-7")
    assert [r.status for r in world.requests_to(SEND)] == [500, 200]
    assert [m.id for m in world.messages(world.channel)] == [sent.id]


async def test_503_on_a_bot_route_raises_server_error(world: World, echo_bot: Any) -> None:
    world.faults.next(route=SEND, status=503)
    with pytest.raises(discord.DiscordServerError):
        await general(echo_bot, world).send("down")


async def test_deleted_channel_is_unknown_for_good(world: World, echo_bot: Any) -> None:
    doomed = world.add_channel("doomed")
    await world.wait_for(lambda: echo_bot.get_channel(doomed.id), what="CHANNEL_CREATE")
    channel = echo_bot.get_channel(doomed.id)
    world.delete_channel(doomed)
    for _ in range(2):
        with pytest.raises(discord.NotFound) as caught:
            await channel.send("anyone?")
        assert caught.value.code == 10003
    await world.wait_for(lambda: echo_bot.get_channel(doomed.id) is None, what="CHANNEL_DELETE")


async def test_upload_limit_is_per_file_and_per_guild(world: World, echo_bot: Any) -> None:
    world.set_upload_limit(1000)
    channel = general(echo_bot, world)
    await channel.send(file=discord.File(io.BytesIO(b"x" * 1000), "fits.bin"))
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(b"x" * 1001), "big.bin"))
    assert (caught.value.status, caught.value.code) == (413, 40005)
    assert [m.files[0].filename for m in world.messages(world.channel)] == ["fits.bin"]


async def test_missing_attach_files_is_50013_and_visible_to_the_bot(
    world: World, echo_bot: Any
) -> None:
    world.set_bot_deny(world.art_channel, discord.Permissions(attach_files=True).value)
    channel = echo_bot.get_channel(world.art_channel.id)
    me = channel.guild.me
    await world.wait_for(
        lambda: not channel.permissions_for(me).attach_files, what="CHANNEL_UPDATE to reach the bot"
    )
    await channel.send("text is fine")
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send(file=discord.File(io.BytesIO(b"x"), "x.bin"))
    assert caught.value.code == 50013
    ix = await world.slash("tools whoami", channel=world.art_channel)
    await ix.wait_response()
    assert ix.original is not None
    assert "attach=False" in ix.original.content


async def test_followup_after_token_expiry_is_unknown_webhook(world: World, echo_bot: Any) -> None:
    ix = await world.slash("echo", {"text": "hi"})
    await ix.wait_response()
    interaction = echo_bot.get_cog("Echo").last_interaction
    await interaction.followup.send("still in time")
    ix.expire()
    with pytest.raises(discord.NotFound) as caught:
        await interaction.followup.send("too late")
    assert caught.value.code == 10015
    assert [m.content for m in ix.followups] == ["still in time"]


async def test_clock_expires_tokens_with_the_chosen_error(world: World, echo_bot: Any) -> None:
    world.expired_token_error = 50027
    ix = await world.slash("echo", {"text": "hi"})
    await ix.wait_response()
    interaction = echo_bot.get_cog("Echo").last_interaction
    world.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.edit_original_response(content="edited late")
    assert (caught.value.status, caught.value.code) == (401, 50027)


async def test_late_first_answer_is_unknown_interaction(world: World, echo_bot: Any) -> None:
    world.callback_window = 0.0
    ix = await world.slash("echo", {"text": "slow"})
    await world.wait_for(lambda: ix.rejections, what="the callback to be refused")
    assert ix.rejections == [("callback", 10062)]
    assert ix.callback is None


async def test_interaction_webhook_rules(world: World, echo_bot: Any) -> None:
    """Raw calls: 10015 before the first answer, 200 JSON for it, 40060 for a second."""
    world.callback_window = None
    lost = world.faults.next(route="POST /interactions/{id}/{token}/callback", code=10062)
    ix = await world.slash("echo", {"text": "lost"})
    await world.wait_for(lambda: lost.hits == 1, what="the bot's answer to be lost")
    api = f"{world.http_base}/api/v10"
    callback = f"{api}/interactions/{ix.id}/{ix.token}/callback?with_response=1"
    answer = {"type": 4, "data": {"content": "by hand"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{api}/webhooks/{world.application_id}/{ix.token}?wait=1",
            json={"content": "too early"},
        ) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 10015
        async with session.post(callback, json=answer) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            body = await resp.json()
            assert body["resource"]["message"]["content"] == "by hand"
        async with session.post(callback, json=answer) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 40060
    assert ix.original is not None and ix.original.content == "by hand"
