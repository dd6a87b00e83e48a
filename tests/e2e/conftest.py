"""e2e fixtures: the test-only echo bot, and the Max API simulator with settings that
point the runtime at it (files that need a differently configured simulator define
their own ``sim``)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.settings import Settings
from simulator import Simulator, SimulatorConfig
from tests.discord_world import World

ECHO_EXTENSIONS = ["cogs.info", "tests.e2e.echo_cog"]
#: Simulator speed and POLL_SCALE: model times and the poll schedule at 1/100.
SCALE = 0.01


@pytest.fixture
async def echo_bot(world: World, make_bot: Callable[..., Any], run_bot: Any) -> AsyncIterator[Any]:
    async with run_bot(make_bot(extensions=ECHO_EXTENSIONS)) as bot:
        yield bot


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(speed=SCALE, allow_loopback_callbacks=True)) as running:
        yield running


@pytest.fixture
def runtime_settings(settings: Settings, sim: Simulator) -> Settings:
    return dataclasses.replace(settings, maxapi_base_url=sim.base_url, poll_scale=SCALE)
