"""Neither the Discord token nor the Max API key ever reaches a log line: run real
flows with logging configured as ``python -m bot`` configures it, at DEBUG, and search
everything that was written — in this process and in the real bot process's stderr."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot import logs
from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.job_states import JobState
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.settings import Secret, Settings
from simulator import Simulator, SimulatorConfig
from tests.crash.supervisor import bot_process
from tests.discord_world import World, discord_world, running_bot

DISCORD_SECRET = "discord-token-Zq81xWv"
MAXAPI_SECRET = "maxapi-key-Kp47uYt"
SECRETS = (DISCORD_SECRET, MAXAPI_SECRET)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """``logs.configure`` at DEBUG into a buffer; the root logger is restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("discord.http").level)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    logs.configure("DEBUG", secrets=SECRETS)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.getLogger("discord.http").setLevel(saved[2])


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with discord_world(token=DISCORD_SECRET) as w:
        yield w


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(api_key=MAXAPI_SECRET, speed=0.01)) as running:
        yield running


def settings_for(sim: Simulator, tmp_path: Path, key: str) -> Settings:
    return Settings(
        discord_token=Secret(DISCORD_SECRET),
        maxapi_key=Secret(key),
        maxapi_base_url=sim.base_url,
        database_path=tmp_path / "atelier.db",
        poll_scale=0.01,
        log_level="DEBUG",
    )


async def run_one_job(world: World, settings: Settings, tmp_path: Path) -> JobState:
    async with Runtime(settings, Catalog.load()) as runtime:
        assert runtime.jobs is not None and runtime.store is not None
        bot = AtelierBot(runtime.services(), sync_state_path=tmp_path / "commands.sha256")
        async with running_bot(world, bot):
            who = Requester(world.guild.id, world.channel.id, world.member.user.id)
            request = GenerationRequest("nano-banana-2", "a lighthouse", {})
            job = await runtime.jobs.accept(request, who)
            runtime.jobs.submit_soon(job)
            async with asyncio.timeout(20):
                while True:
                    got = await runtime.store.get(job.id)
                    if got is not None and got.state.is_terminal:
                        return got.state
                    await asyncio.sleep(0.02)


def assert_no_secret(text: str) -> None:
    assert text, "nothing was logged: the capture is broken"
    for secret in SECRETS:
        assert secret not in text, f"a secret reached the log: …{secret[-4:]}"


async def test_a_delivered_job_at_debug_logs_no_secret(
    captured: io.StringIO, world: World, sim: Simulator, tmp_path: Path
) -> None:
    state = await run_one_job(world, settings_for(sim, tmp_path, MAXAPI_SECRET), tmp_path)
    assert state == JobState.DELIVERED
    text = captured.getvalue()
    assert " DEBUG " in text and "job " in text
    assert_no_secret(text)


async def test_a_refused_api_key_logs_no_secret(
    captured: io.StringIO, world: World, sim: Simulator, tmp_path: Path
) -> None:
    wrong = MAXAPI_SECRET[::-1]  # the key Max API refuses: also never logged
    state = await run_one_job(world, settings_for(sim, tmp_path, wrong), tmp_path)
    assert state == JobState.REJECTED
    text = captured.getvalue()
    assert wrong not in text
    assert_no_secret(text)


async def test_the_real_bot_process_writes_no_secret_to_stderr(
    world: World, sim: Simulator, tmp_path: Path
) -> None:
    env = {
        "DISCORD_TOKEN": DISCORD_SECRET,
        "MAXAPI_KEY": MAXAPI_SECRET,
        "MAXAPI_BASE_URL": sim.base_url,
        "DATABASE_PATH": str(tmp_path / "atelier.db"),
        "POLL_SCALE": "0.01",
        "LOG_LEVEL": "DEBUG",
        "ATELIER_TEST_DISCORD": world.http_base,
    }
    async with bot_process(env, cwd=tmp_path, label="secrets") as run:
        await run.wait_signal("ready", "delivery")
        assert await run.stop() == 0, run.explain("expected a clean exit")
    assert_no_secret("\n".join(run.lines))
