"""e2e fixtures: the test-only echo bot, the Max API simulator with settings that point
the runtime at it, and the whole bot started on those settings (``app``, ``runtime``).
A file that needs other settings or a differently configured simulator overrides
``runtime_settings`` or ``sim``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.discord_io.client import AtelierBot
from bot.runtime import Runtime
from bot.settings import Settings
from simulator import Simulator, SimulatorConfig
from tests.discord_world import World
from tests.e2e.support import SCALE, App, Clock, started

ECHO_EXTENSIONS = ["cogs.info", "tests.e2e.echo_cog"]


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


@pytest.fixture
def clock() -> Clock:
    """Real time, which a test may move forward (``clock.offset``)."""
    return Clock()


@pytest.fixture
async def app(
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
    clock: Clock,
) -> AsyncIterator[App]:
    """The whole bot on a Runtime, started like ``python -m bot`` starts it (on ``clock``)."""
    async with started(run_bot, make_bot, runtime_settings, clock=clock) as running:
        yield running


@pytest.fixture
def runtime(app: App) -> Runtime:
    return app.runtime
