"""The local Discord's rate limits, met by real discord.py and by raw requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import discord

from tests.discord_world import World

SEND = "POST /channels/{channel_id}/messages"


def text_channel(bot: Any, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_discord_py_waits_for_the_channel_bucket_and_gets_no_429(
    world: World, echo_bot: Any
) -> None:
    world.rate_limits.enabled = True
    world.rate_limits.set(SEND, limit=2, per=0.4)
    channel = text_channel(echo_bot, world.channel.id)
    started = time.monotonic()
    for n in range(5):
        await channel.send(f"message {n}")
    elapsed = time.monotonic() - started
    assert elapsed >= 0.8  # five sends at two per 0.4 s need at least two resets
    assert world.rate_limits.refused == {}
    sends = [r for r in world.requests if r.method == "POST" and r.route.endswith("/messages")]
    assert [r.status for r in sends] == [200] * 5


async def test_over_the_limit_answers_429_with_discords_headers(
    world: World, echo_bot: Any
) -> None:
    world.rate_limits.enabled = True
    world.rate_limits.set(SEND, limit=1, per=30)
    url = f"{world.http_base}/api/v10/channels/{world.channel.id}/messages"
    auth = {"Authorization": f"Bot {world.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"content": "one"}, headers=auth) as first:
            assert first.status == 200
            assert first.headers["X-RateLimit-Limit"] == "1"
            assert first.headers["X-RateLimit-Remaining"] == "0"
            assert 29 < float(first.headers["X-RateLimit-Reset-After"]) <= 30
            bucket = first.headers["X-RateLimit-Bucket"]
        async with http.post(url, json={"content": "two"}, headers=auth) as second:
            assert second.status == 429
            body = await second.json()
            assert body["global"] is False
            assert 29 < body["retry_after"] <= 30
            assert second.headers["X-RateLimit-Bucket"] == bucket
            assert second.headers["X-RateLimit-Scope"] == "user"
            assert second.headers["Via"]
        other = world.add_channel("other")  # another channel is another bucket
        other_url = f"{world.http_base}/api/v10/channels/{other.id}/messages"
        async with http.post(other_url, json={"content": "x"}, headers=auth) as third:
            assert third.status == 200
    assert world.rate_limits.refused == {SEND: 1}
    assert [m.content for m in world.messages(world.channel)] == ["one"]


async def test_the_global_limit_spans_routes_but_not_interaction_webhooks(
    world: World, echo_bot: Any
) -> None:
    world.rate_limits.enabled = True
    world.rate_limits.set("global", limit=3, per=30)
    auth = {"Authorization": f"Bot {world.token}"}
    base = f"{world.http_base}/api/v10"
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):
            async with http.get(f"{base}/channels/{world.channel.id}", headers=auth) as r:
                statuses.append(r.status)
                last_headers, last_body = r.headers, await r.json()
        assert statuses == [200, 200, 200, 429]
        assert last_body["global"] is True
        assert last_headers["X-RateLimit-Global"] == "true"
        # A webhook route (an interaction token) is not counted against the global limit.
        async with http.get(f"{base}/webhooks/1/no-such-token/messages/@original") as r:
            assert r.status != 429
    assert world.rate_limits.refused == {"global": 1}


async def test_limits_are_off_unless_a_test_turns_them_on(world: World, echo_bot: Any) -> None:
    channel = text_channel(echo_bot, world.channel.id)
    await asyncio.gather(*(channel.send(str(n)) for n in range(8)))
    assert world.rate_limits.refused == {}
    url = f"{world.http_base}/api/v10/channels/{world.channel.id}"
    auth = {"Authorization": f"Bot {world.token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=auth) as r:
        assert r.status == 200
        assert "X-RateLimit-Limit" not in r.headers
