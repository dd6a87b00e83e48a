"""Shared fixtures. Every test gets its own state directory; e2e tests get a local
Discord (``world``) and bots that talk to it (``make_bot``, ``run_bot``, ``bot``).

The bot's modules are imported inside the fixtures, so that a unit test of one
module never depends on the whole application importing cleanly.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.discord_world import World, discord_world, running_bot
from tests.helpers.postgres import NOT_AVAILABLE, PostgresServer

if TYPE_CHECKING:
    from bot.discord_io.client import AtelierBot, Services
    from bot.domain.catalog import Catalog
    from bot.runtime import Runtime
    from bot.settings import Settings

TEST_TOKEN = "test-token"  # the fake Discord's fake token


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does lands in the working tree or reads a developer's setup."""
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "atelier.db"))
    monkeypatch.delenv("DEV_GUILD_ID", raising=False)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    """A local Discord on 127.0.0.1 with discord.py pointed at it. Fails the test at
    teardown if the server hit one of its own bugs or a route it does not implement."""
    async with discord_world(token=TEST_TOKEN) as w:
        yield w
        w.assert_healthy()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from bot.settings import Secret, Settings

    return Settings(
        discord_token=Secret(TEST_TOKEN),
        maxapi_key=Secret("sim-key"),
        database_path=tmp_path / "atelier.db",
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The shipped catalogue, loaded once per test module."""
    from bot.domain.catalog import Catalog

    return Catalog.load()


@pytest.fixture
async def idle_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A Runtime opened on the test's settings (database in ``tmp_path``) whose loops are
    never started: the services of a bot that only needs its commands."""
    from bot.domain.catalog import Catalog
    from bot.runtime import Runtime

    async with Runtime(settings, Catalog.load()) as opened:
        yield opened


@pytest.fixture
def make_services(idle_runtime: Runtime) -> Callable[..., Services]:
    """``make_services(catalog=None, settings=None)``: the services of ``idle_runtime``,
    which starts no loops with the bot; ``settings`` and ``catalog`` replace what the
    cogs read (the job service keeps the runtime's)."""

    def make(*, catalog: Any = None, settings: Settings | None = None) -> Services:
        services = idle_runtime.services()
        return dataclasses.replace(
            services,
            settings=settings or services.settings,
            catalog=catalog if catalog is not None else services.catalog,
            on_setup=[],
            on_close=[],
        )

    return make


@pytest.fixture
def make_bot(make_services: Callable[..., Services], tmp_path: Path) -> Callable[..., AtelierBot]:
    """``make_bot(extensions=EXTENSIONS, services=None)``: a new, unstarted AtelierBot
    whose command-sync state lives in ``tmp_path`` (shared by every bot of the test,
    so a restarted bot sees the previous sync)."""
    from bot.discord_io.client import EXTENSIONS, AtelierBot

    def make(
        *, extensions: Sequence[str] = EXTENSIONS, services: Services | None = None
    ) -> AtelierBot:
        return AtelierBot(
            services or make_services(),
            extensions=extensions,
            sync_state_path=tmp_path / "commands.sha256",
        )

    return make


@pytest.fixture
def run_bot(world: World) -> Callable[..., AbstractAsyncContextManager[Any]]:
    """``async with run_bot(bot) as bot:`` — started against ``world``, ready, closed
    after (see ``tests.discord_world.harness.running_bot`` for the options)."""
    return functools.partial(running_bot, world)


@pytest.fixture
async def bot(world: World, make_bot: Callable[..., AtelierBot]) -> AsyncIterator[AtelierBot]:
    """The application with its default extensions, running against ``world``."""
    async with running_bot(world, make_bot()) as started:
        yield started


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    """An open store on a fresh database in ``tmp_path``."""
    from bot.store import Store

    opened = await Store.open(tmp_path / "atelier.db")
    yield opened
    await opened.close()


@pytest.fixture
async def files() -> AsyncIterator[Any]:
    """A result-file server on 127.0.0.1 (``tests/helpers/delivery.py``)."""
    from tests.helpers.delivery import result_server

    async with result_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the run (started on first use); skipped with the
    reason where none can run, but never under CI."""
    if not PostgresServer.available():
        if os.environ.get("CI"):
            pytest.fail(NOT_AVAILABLE)
        pytest.skip(NOT_AVAILABLE)
    with PostgresServer.running() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store opens, once for each database: a SQLite file, a new PostgreSQL one."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "atelier.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
