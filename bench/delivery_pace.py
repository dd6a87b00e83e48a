"""Delivery at Discord's pace: results land at once in one or many channels of a local
Discord that enforces Discord's rate limits (5 messages per 5 s a channel, 50 requests a
second for the bot); the real delivery loop posts them through real discord.py.

Prints, per load: the time from the first result ready to the last one posted (as the
local Discord received it), the
fastest schedule the same limits allow, their ratio (target ≤ 1.1), 429s by route
(target 0), requests per delivered job by route, and whether each result was posted
exactly once. ``python -m bench.delivery_pace [--quick] [--no-pacer]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord

from bench.figures import Figure, Row, table
from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.discord_io.pacing import GlobalPacer
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from tests.discord_world import discord_world, running_bot
from tests.discord_world.ratelimits import GLOBAL_LIMIT, ROUTE_LIMITS
from tests.helpers.delivery import PNG_MAGIC, media_bytes, result_server, succeeded_job

SEND = "POST /channels/{channel_id}/messages"
#: (results, channels): one busy channel; a busy server; a network where the global binds.
LOADS = ((40, 1), (100, 10), (500, 50))
QUICK = ((15, 1), (100, 10), (200, 50))


def fastest(results: int, channels: int) -> float:
    """The shortest time the limits allow from the first post to the last: each channel
    posts ``limit`` per window, and the whole bot ``limit`` per global window."""
    channel, overall = ROUTE_LIMITS[SEND], GLOBAL_LIMIT
    per_channel = math.ceil(results / channels)
    by_channel = (math.ceil(per_channel / channel.limit) - 1) * channel.per
    by_bot = (math.ceil(results / overall.limit) - 1) * overall.per
    return max(by_channel, by_bot)


async def run_load(results: int, channels: int, *, pacer: bool) -> list[Figure]:
    async with discord_world(token="bench-token") as world, result_server() as files:
        world.rate_limits.enabled = True
        rooms = [world.add_channel(f"room-{n}") for n in range(channels)]
        options = {"http_trace": GlobalPacer().trace_config()} if pacer else {}
        client = discord.Client(intents=discord.Intents.default(), **options)
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(Path(folder) / "bench.db")
            jobs = []
            for n in range(results):
                room = rooms[n % channels]
                url = files.add(f"{n}.png", media_bytes(PNG_MAGIC, 4000))
                jobs.append(
                    await succeeded_job(
                        store, [url], channel_id=room.id, guild_id=world.guild.id, prompt=f"#{n}"
                    )
                )
            async with running_bot(world, client), aiohttp.ClientSession() as session:
                await asyncio.sleep(1.1)  # the log-in's requests leave the global window
                before = len(world.requests)
                config = DeliveryConfig(
                    allowed_hosts=frozenset({"127.0.0.1"}), temp_dir=Path(folder)
                )
                deliverer = Deliverer(client, store, session, config)
                began = time.time()
                deliverer.start()
                while True:
                    done = await store.count_by_state()
                    if done.get(JobState.DELIVERED.value, 0) == results:
                        break
                    await asyncio.sleep(0.02)
                await deliverer.close()
            await store.close()
        posted = collections.Counter(
            marker[0]
            for room in rooms
            for message in world.messages(room)
            if (marker := parse_marker(message.content)) is not None
        )
        requests = collections.Counter(
            f"{r.method} {r.route}" for r in world.requests[before:] if r.method != "GET"
        )
        refused = dict(world.rate_limits.refused)
        # The last post as Discord saw it (discord.py then holds a send that emptied its
        # channel's bucket until the bucket resets, before the job is recorded delivered).
        sends = [r for r in world.requests[before:] if f"{r.method} {r.route}" == SEND]
        took = max(r.at for r in sends if r.status == 200) - began
    ideal = fastest(results, channels)
    once = sorted(posted) == sorted(j.id for j in jobs) and set(posted.values()) == {1}
    name = f"{results} results → {channels} channel(s)"
    print(f"\n{name}: {took:.2f} s, fastest {ideal:.2f} s; 429s {refused or 'none'}")
    for route, count in requests.most_common():
        print(f"  {route}: {count / results:.2f} per job")
    return [
        Figure(f"{name}: time ÷ fastest schedule", took / ideal if ideal else math.nan, "×", 1.1),
        Figure(f"{name}: time", took, "s"),
        Figure(f"{name}: 429s", float(sum(refused.values())), "", 0.0, digits=0),
        Figure(f"{name}: posted exactly once", 1.0 if once else 0.0, "", digits=0),
    ]


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_pace", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads (about 20 s)")
    parser.add_argument("--no-pacer", action="store_true", help="without the global pacer")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for results, channels in QUICK if args.quick else LOADS:
        figures += asyncio.run(run_load(results, channels, pacer=not args.no_pacer))
    print()
    print(table(figures))
    return [f.row() for f in figures]


if __name__ == "__main__":
    main(sys.argv[1:])
