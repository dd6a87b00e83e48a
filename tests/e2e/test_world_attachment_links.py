"""The local Discord's signed attachment links: ``ex``/``is``/``hm``, expiry by the world's
clock, and ``POST /attachments/refresh-urls``, driven through real discord.py."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import discord
from discord.http import Route

from tests.discord_world import World

DAY = 24 * 3600
GONE = "This content is no longer available."


async def get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


def expiry(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["ex"][0], 16)


async def refresh(bot: Any, *urls: str) -> list[dict[str, str]]:
    answer = await bot.http.request(
        Route("POST", "/attachments/refresh-urls"), json={"attachment_urls": list(urls)}
    )
    return list(answer["refreshed_urls"])


async def post_file(bot: Any, world: World, data: bytes = b"png!") -> discord.Message:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return await channel.send(file=discord.File(io.BytesIO(data), "cat.png"))


async def test_links_carry_a_signed_expiry_a_day_ahead(world: World, echo_bot: Any) -> None:
    upload = world.attachment("dog.png", b"dog", content_type="image/png")
    sent = await post_file(echo_bot, world)
    for url in (upload.url, sent.attachments[0].url):
        query = parse_qs(urlsplit(url).query)
        assert set(query) == {"ex", "is", "hm"}
        assert abs(expiry(url) - (world.clock.wall() + DAY)) < 5
        assert int(query["is"][0], 16) <= world.clock.wall()
    assert await get(upload.url) == (200, b"dog")
    assert await get(sent.attachments[0].url) == (200, b"png!")


async def test_expired_unsigned_and_forged_links_are_refused(world: World, echo_bot: Any) -> None:
    sent = await post_file(echo_bot, world)
    url = sent.attachments[0].url
    bare = url.split("?")[0]
    forged = url.replace("ex=", "ex=f")  # a later expiry, with the old signature
    for bad in (bare, forged):
        assert await get(bad) == (404, GONE.encode())
    world.clock.advance(DAY - 60)
    assert (await get(url))[0] == 200  # a minute left
    world.clock.advance(120)
    assert await get(url) == (404, GONE.encode())


async def test_refresh_signs_anew_while_the_file_exists(world: World, echo_bot: Any) -> None:
    sent = await post_file(echo_bot, world)
    upload = world.attachment("dog.png", b"dog", content_type="image/png")
    old, uploaded = sent.attachments[0].url, upload.url
    world.clock.advance(DAY + 60)
    answer = await refresh(echo_bot, old, uploaded)
    assert [a["original"] for a in answer] == [old, uploaded]
    fresh = answer[0]["refreshed"]
    assert fresh != old and abs(expiry(fresh) - (world.clock.wall() + DAY)) < 5
    assert await get(fresh) == (200, b"png!")
    assert await get(answer[1]["refreshed"]) == (200, b"dog")
    # The path alone is enough, as on Discord: a link without its query refreshes too.
    bare = (await refresh(echo_bot, old.split("?")[0]))[0]["refreshed"]
    assert (await get(bare))[0] == 200


async def test_refresh_returns_dead_and_foreign_links_unchanged(
    world: World, echo_bot: Any
) -> None:
    sent = await post_file(echo_bot, world)
    old = sent.attachments[0].url
    await sent.delete()
    foreign = "https://example.com/attachments/1/2/cat.png?ex=1&is=1&hm=00&"
    made_up = f"{world.http_base}/attachments/1/2/cat.png"
    answer = await refresh(echo_bot, old, foreign, made_up)
    assert [(a["original"], a["refreshed"]) for a in answer] == [
        (old, old),
        (foreign, foreign),
        (made_up, made_up),
    ]


async def test_refresh_refuses_a_malformed_body(world: World, echo_bot: Any) -> None:
    for body in ({}, {"attachment_urls": []}, {"attachment_urls": ["x"] * 51}):
        try:
            await echo_bot.http.request(Route("POST", "/attachments/refresh-urls"), json=body)
        except discord.HTTPException as exc:
            assert exc.status == 400 and exc.code == 50035
        else:
            raise AssertionError(f"{body!r} was accepted")


async def test_a_fetched_message_carries_a_fresh_link_once_half_expired(
    world: World, echo_bot: Any
) -> None:
    sent = await post_file(echo_bot, world)
    channel = sent.channel
    again = await channel.fetch_message(sent.id)
    assert again.attachments[0].url == sent.attachments[0].url  # still young: the same link
    world.clock.advance(DAY + 60)
    later = await channel.fetch_message(sent.id)
    assert expiry(later.attachments[0].url) > world.clock.wall()
    assert await later.attachments[0].read() == b"png!"
