"""``python -m bot`` as an operator uses it: ``--help`` everywhere, ``check`` with a good and
a bad ``.env``, ``simulate`` without Pillow, the scripts, and a start-up that tells what
it does and waits out an unreachable Discord (against the local Discord and the simulator).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.domain.catalog import Catalog
from bot.settings import Secret, Settings
from simulator import Simulator, SimulatorConfig
from tests.discord_world import World

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "sim-key"
#: ``python -m bot`` with discord.py pointed at the local Discord (argv: its URL, then
#: the command line); nothing else is changed.
LAUNCH = (
    "import sys; from tests.crash.bot_process import point_discord_at; "
    "point_discord_at(sys.argv[1]); from bot.cli import main; sys.exit(main(sys.argv[2:]))"
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(api_key=SIM_KEY, allow_loopback_callbacks=True)
    async with Simulator(config) as running:
        yield running


def clean_env(**settings: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT")}
    return {**kept, "HOME": tempfile.gettempdir(), "PYTHONPATH": str(ROOT), **settings}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_env(folder: Path, **settings: str) -> None:
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))


async def launch(
    world: World, *argv: str, cwd: Path, env: dict[str, str]
) -> tuple[int, list[str], list[str]]:
    """Run the command line against ``world``; exit code, stdout and stderr lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        world.http_base,
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode().splitlines(), err.decode().splitlines()


# -- --help ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["-h"], ["run", "--help"], ["check", "--help"], ["simulate", "--help"]],
    ids=" ".join,
)
def test_help_exits_0_without_settings_or_login(tmp_path: Path, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        env=clean_env(),  # no token: a command that ignored --help would stop on that
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m bot"), done.stdout
    assert done.stderr == ""


def test_an_unknown_command_is_refused_with_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "start"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid choice: 'start'" in done.stderr and "Traceback" not in done.stderr


# -- the scripts -------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    """The scripts in a copy of the checkout whose bootstrap.sh only records its argument
    (the venv is this one: nothing is installed)."""
    root = tmp_path / "atelier"
    (root / "scripts").mkdir(parents=True)
    for name in ("run-bot.sh", "simulate.sh"):
        shutil.copy(ROOT / "scripts" / name, root / "scripts")
    stub = root / "scripts" / "bootstrap.sh"
    stub.write_text('#!/bin/sh\necho "bootstrap ${1:-bot}" >> "$(dirname "$0")/../bootstrap.log"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    yield root


@pytest.mark.parametrize(
    ("script", "wanted", "usage"),
    [
        ("run-bot.sh", "bootstrap bot", "usage: python -m bot [-h]"),
        ("simulate.sh", "bootstrap simulator", "usage: python -m bot simulate [-h]"),
    ],
)
def test_scripts_pass_help_through(checkout: Path, script: str, wanted: str, usage: str) -> None:
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / script), "--help"],
        env=clean_env(ATELIER_VENV=sys.prefix),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(usage), done.stdout
    assert (checkout / "bootstrap.log").read_text() == f"{wanted}\n"


@pytest.mark.parametrize(("argv", "code"), [(["simulate"], 2), (["simulate", "--help"], 0)])
def test_simulate_without_pillow_names_the_command_that_installs_it(
    tmp_path: Path, argv: list[str], code: int
) -> None:
    without_pillow = "import sys; sys.modules['PIL'] = None; from bot.cli import main; "
    done = subprocess.run(
        [sys.executable, "-c", without_pillow + f"sys.exit(main({argv!r}))"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code
    assert done.stderr.splitlines() == [cli.PILLOW_HINT]
    assert "scripts/simulate.sh" in cli.PILLOW_HINT and "'.[simulator]'" in cli.PILLOW_HINT


# -- check -------------------------------------------------------------------------------------


async def test_check_with_a_good_env_passes_every_check(
    world: World, sim: Simulator, tmp_path: Path
) -> None:
    port = free_port()
    write_env(
        tmp_path,
        DISCORD_TOKEN=world.token,
        MAXAPI_KEY=SIM_KEY,
        MAXAPI_BASE_URL=sim.base_url,
        DATABASE_PATH="data/atelier.db",
        WEBHOOK_PUBLIC_URL=f"http://127.0.0.1:{port}/maxapi",
        WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        DEV_GUILD_ID=str(world.guild.id),
    )
    code, out, err = await launch(world, "check", cwd=tmp_path, env=clean_env())
    assert [line.split(":")[0] for line in out] == [
        "✓ settings",
        "✓ catalogue",
        "✓ database",
        "✓ Discord",
        "✓ invite",
        "✓ DEV_GUILD_ID",
        "✓ Max API",
        "✓ webhook",
    ], out
    assert f"client_id={world.application_id}&" in out[4]
    assert code == 0 and err == []
    assert not (tmp_path / "data").exists()  # check creates nothing


async def test_check_with_a_bad_env_names_each_problem(
    world: World, sim: Simulator, tmp_path: Path
) -> None:
    (tmp_path / "notes.db").write_text("not a database " * 100)
    write_env(
        tmp_path,
        DISCORD_TOKEN="not-the-token",
        MAXAPI_KEY="sk-wrong",
        MAXAPI_BASE_URL=sim.base_url,
        DATABASE_PATH="notes.db",
        POLL_SCALE="fast",
    )
    code, out, err = await launch(world, "check", cwd=tmp_path, env=clean_env())
    assert code == 1
    failed = {line.split(":")[0][2:]: line for line in out if line.startswith("✗")}
    assert set(failed) == {"POLL_SCALE", "database", "Discord", "Max API"}, out
    assert "must be a number" in failed["POLL_SCALE"]
    assert "file is not a database" in failed["database"]
    assert "DISCORD_TOKEN was refused" in failed["Discord"]
    assert "refused MAXAPI_KEY" in failed["Max API"]
    assert not any("not-the-token" in line or "sk-wrong" in line for line in out + err)


@pytest.fixture
def unwritable_database(tmp_path: Path) -> Iterator[Path]:
    """A database path in a folder this user cannot write in: a read-only one, or for
    root (who writes anywhere) one under /proc, where nobody creates files."""
    if os.geteuid() == 0:
        if not Path("/proc/self").is_dir():
            pytest.skip("root writes anywhere, and there is no /proc")
        yield Path("/proc/atelier-check/atelier.db")
        return
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    yield folder / "atelier.db"
    folder.chmod(0o755)


async def test_check_with_an_unwritable_database_folder(
    world: World, sim: Simulator, tmp_path: Path, unwritable_database: Path
) -> None:
    env = clean_env(
        DISCORD_TOKEN=world.token,
        MAXAPI_KEY=SIM_KEY,
        MAXAPI_BASE_URL=sim.base_url,
        DATABASE_PATH=str(unwritable_database),
    )
    code, out, err = await launch(world, "check", cwd=tmp_path, env=env)
    assert code == 1, (out, err)
    assert [line for line in out if line.startswith("✗")] == [
        f"✗ database: cannot create {unwritable_database}: "
        f"{next(p for p in unwritable_database.parents if p.exists())} is not writable by "
        "this user; make it writable or point DATABASE_PATH at a folder that is"
    ]


# -- start-up ----------------------------------------------------------------------------------


@pytest.fixture
def run_settings(tmp_path: Path, sim: Simulator, world: World) -> Settings:
    return Settings(
        discord_token=Secret(world.token),
        maxapi_key=Secret(SIM_KEY),
        maxapi_base_url=sim.base_url,
        database_path=tmp_path / "atelier.db",
    )


async def sigterm(running: asyncio.Task[int]) -> int:
    """SIGTERM to this process, which ``cli.run`` handles while it runs; its exit code."""
    if not running.done():  # else nothing would handle the signal
        os.kill(os.getpid(), signal.SIGTERM)
    return await asyncio.wait_for(running, timeout=20)


def discord_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "cannot reach Discord" in r.getMessage()]


async def test_start_up_retries_an_unreachable_discord_then_logs_in(
    world: World, run_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # aiohttp tries a GET twice when the server disconnects: 6 drops, 3 failed tries.
    drops = world.faults.next(route="GET /users/@me", drop=True, times=6)
    running = asyncio.create_task(
        cli.run(run_settings, Catalog.load(), retry_first=0.01, retry_cap=0.02)
    )
    await world.wait_for(lambda: world.gateway.identifies or running.done(), what="a login")
    assert await sigterm(running) == 0
    assert drops.exhausted
    retries = discord_lines(caplog)
    assert len(retries) >= 3 and {r.levelno for r in retries} == {logging.WARNING}
    assert (
        retries[0]
        .getMessage()
        .endswith("(ServerDisconnectedError: Server disconnected); retrying in 0.01 s")
    )
    assert retries[1].getMessage().endswith("retrying in 0.02 s")
    assert retries[2].getMessage().endswith("retrying in 0.02 s")  # the cap
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_start_up_retries_a_refused_first_gateway_connection(
    world: World, run_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py 2.7 gives up (AttributeError) when its first gateway connection fails."""
    caplog.set_level(logging.INFO)
    refusals = world.faults.next(route="GET /gateway", drop=True, times=4)
    running = asyncio.create_task(cli.run(run_settings, Catalog.load(), retry_first=0.01))
    await world.wait_for(lambda: world.gateway.identifies or running.done(), what="a login")
    assert await sigterm(running) == 0
    assert refusals.exhausted
    retries = [r for r in caplog.records if "cannot reach Discord's gateway" in r.getMessage()]
    assert retries and {r.levelno for r in retries} == {logging.WARNING}
    assert "(ServerDisconnectedError: Server disconnected); retrying in 0.01 s" in (
        retries[0].getMessage()
    )
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_a_lost_gateway_is_one_line_not_a_traceback(
    world: World, run_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = asyncio.create_task(cli.run(run_settings, Catalog.load()))
    await world.wait_for(lambda: world.gateway.identifies or running.done(), what="a login")
    await world.wait_for(lambda: world.gateway.connected, what="the gateway session")
    refused = world.faults.next(route="GET /resume", drop=True, times=2)
    await world.gateway.drop()
    await world.wait_for(lambda: world.gateway.resumes, timeout=20, what="a resume")
    assert await sigterm(running) == 0
    assert refused.exhausted
    lost = [r for r in caplog.records if "lost Discord's gateway" in r.getMessage()]
    assert lost and {r.levelno for r in lost} == {logging.WARNING}
    assert "(ServerDisconnectedError: Server disconnected); reconnecting in " in (
        lost[0].getMessage()
    )
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_sigterm_stops_the_wait_for_discord_at_once(
    world: World, run_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.faults.next(route="GET /users/@me", drop=True, times=None)
    running = asyncio.create_task(cli.run(run_settings, Catalog.load(), retry_first=600))
    await world.wait_for(lambda: discord_lines(caplog), what="the first retry line")
    # Far less than the 600 s the bot was about to wait before trying again.
    assert await sigterm(running) == 0
    assert world.gateway.identifies == 0


async def test_a_refused_token_is_one_line_and_exit_2(
    world: World, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = dataclasses.replace(run_settings, discord_token=Secret("wrong"))
    assert await cli.run(wrong, Catalog.load()) == 2
    assert capsys.readouterr().err.splitlines() == [
        "atelier: DISCORD_TOKEN was refused by Discord; reset it in the developer portal "
        "(Bot → Reset Token) and update .env"
    ]


async def test_a_dev_guild_the_bot_is_not_in_is_one_line_and_exit_2(
    world: World, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = dataclasses.replace(run_settings, dev_guild_id=12345)
    assert await cli.run(stranger, Catalog.load()) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("atelier: DEV_GUILD_ID: Discord refused the commands for server 12345")


async def test_start_up_says_what_it_uses_and_warns_about_the_key_but_no_voice(
    world: World, sim: Simulator, tmp_path: Path
) -> None:
    """The real process: four lines before login, a warning (not a stop) for a refused
    Max API key, no PyNaCl/davey warnings; SIGTERM ends it with exit code 0."""
    write_env(
        tmp_path,
        DISCORD_TOKEN=world.token,
        MAXAPI_KEY="sk-wrong",
        MAXAPI_BASE_URL=sim.base_url,
        DATABASE_PATH=str(tmp_path / "atelier.db"),
        DEV_GUILD_ID=str(world.guild.id),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        world.http_base,
        "run",
        cwd=tmp_path,
        env=clean_env(),
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def read() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode().rstrip("\n"))
            world.notify()

    reader = asyncio.create_task(read())
    try:
        await world.wait_for(
            lambda: world.gateway.identifies and any("MAXAPI_KEY" in line for line in lines),
            timeout=30,
            what=lambda: "a login and the key's warning in:\n" + "\n".join(lines),
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
        await reader
    text = "\n".join(lines)
    assert code == 0, text
    said = [line.split(": ", 1)[1] for line in lines if " bot: " in line]
    assert said[:4] == [
        f"Max API: {sim.base_url}",
        f"database: SQLite at {tmp_path / 'atelier.db'}",
        f"command sync: dev guild {world.guild.id} only (instant)",
        "shard plan: no sharding: one gateway connection",
    ], text
    login = next(i for i, line in enumerate(lines) if "logging in using static token" in line)
    assert login > max(i for i, line in enumerate(lines) if "shard plan" in line)
    [key] = [line for line in lines if "MAXAPI_KEY" in line]
    assert " WARNING " in key and "refused MAXAPI_KEY" in key and "sk-wrong" not in text
    assert "voice will NOT be supported" not in text
    assert "Traceback" not in text
