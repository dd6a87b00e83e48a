"""The global pacer: a burst over many channels stays under Discord's global limit with
it, and collects global 429s without it (against the local Discord's limits)."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from bot.discord_io.pacing import GlobalPacer
from tests.discord_world import World, running_bot


async def burst(world: World, **options: Any) -> int:
    """80 sends to 80 channels at once (one each: no channel's bucket matters); the
    global 429s the local Discord answered."""
    world.rate_limits.enabled = True
    channels = [world.add_channel(f"c{n}") for n in range(80)]
    client = discord.Client(intents=discord.Intents.default(), **options)
    async with running_bot(world, client):
        targets = [client.get_channel(c.id) for c in channels]
        await asyncio.gather(*[t.send("result") for t in targets])  # type: ignore[union-attr]
    assert sum(len(world.messages(c)) for c in channels) == 80
    return world.rate_limits.refused["global"]


async def test_without_pacing_a_burst_meets_the_global_limit(world: World) -> None:
    assert await burst(world) > 0  # what the pacer is for


async def test_paced_requests_never_meet_the_global_limit(world: World) -> None:
    pacer = GlobalPacer()
    assert await burst(world, http_trace=pacer.trace_config()) == 0


async def test_interaction_callbacks_and_webhooks_are_not_paced() -> None:
    pacer = GlobalPacer(limit=1, per=1.0)
    config = pacer.trace_config()
    [hook] = config.on_request_start

    class Params:
        def __init__(self, path: str) -> None:
            self.url = type("U", (), {"path": path})()

    async with asyncio.timeout(0.5):  # none of these waits for a token
        for _ in range(20):
            await hook(None, None, Params("/api/v10/interactions/1/tok/callback"))  # type: ignore[arg-type]
            await hook(None, None, Params("/api/v10/webhooks/1/tok/messages/@original"))  # type: ignore[arg-type]
    await hook(None, None, Params("/api/v10/channels/1/messages"))  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):  # the second channel request waits about a second
        async with asyncio.timeout(0.3):
            await hook(None, None, Params("/api/v10/channels/1/messages"))  # type: ignore[arg-type]


async def test_windows_and_shares() -> None:
    """``limit`` requests a window, then a wait for the next; a process's share is its part
    of the limit (never below one)."""
    now = [0.0]
    pacer = GlobalPacer(limit=4, per=0.1, margin=0.0, clock=lambda: now[0])
    for _ in range(4):
        await pacer.acquire()  # within the first window: no wait
    waiter = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()  # the fifth waits for the next window
    now[0] = 0.1
    await asyncio.wait_for(waiter, 2.0)
    pacer.share(3)
    assert pacer.limit == 1
    pacer.share(100)
    assert pacer.limit == 1
    pacer.share(1)
    assert pacer.limit == 4
