"""Crash-test fixtures: the Max API simulator and the :class:`Bench` around it (a file
that needs a differently configured simulator defines its own ``sim``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.domain.catalog import Catalog
from bot.maxapi import MaxApiClient
from bot.services.jobs import JobService
from bot.settings import Secret
from bot.store import Store
from simulator import Simulator, SimulatorConfig
from tests.crash.supervisor import SIM_KEY, Bench
from tests.discord_world import World


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    # Tasks take a hundredth of their real time (a Seedream image: 0.15 s); the bot
    # polls at POLL_SCALE=0.01 to match.
    async with Simulator(SimulatorConfig(api_key=SIM_KEY, speed=0.01)) as simulator:
        yield simulator


@pytest.fixture
async def bench(world: World, sim: Simulator, tmp_path: Path) -> AsyncIterator[Bench]:
    store = await Store.open(tmp_path / "atelier.db")  # creates the schema
    async with aiohttp.ClientSession() as http:
        api = MaxApiClient(http, sim.base_url, Secret(SIM_KEY))  # never called: accept only
        try:
            yield Bench(world, sim, tmp_path, store, JobService(store, Catalog.load(), api))
        finally:
            await store.close()
