"""``python -m simulator``: options, the printed `.env` lines, one-line errors, stopping."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from dotenv import dotenv_values

from bot.settings import Settings
from simulator import Simulator, SimulatorConfig
from simulator.__main__ import build_parser, config_from_args, env_lines, main, serve

REPO = Path(__file__).resolve().parents[2]


def test_options_map_to_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--port=0",
            "--key=k1",
            "--speed=0.01",
            "--allow-loopback-callbacks",
            "--cancel-rule=pending-only",
            "--error-style=code200",
            "--moderation-word=zebra",
            "--moderation-word=yak",
            "--image-max-side=0",
            "--result-bytes=30MB",
            "--url-ttl=60",
            "--seed=3",
            "--public-url=https://sim.example",
        ]
    )
    config = config_from_args(args)
    assert config.port == 0 and config.api_key == "k1" and config.speed == 0.01
    assert config.allow_loopback_callbacks is True
    assert (config.cancel_rule, config.error_style) == ("pending-only", "code200")
    assert config.moderation_words == ("zebra", "yak")
    assert config.image_max_side is None and config.result_bytes == 30 * 1024 * 1024
    assert (config.url_ttl_seconds, config.seed) == (60, 3)
    assert config.public_url == "https://sim.example"

    defaults = config_from_args(build_parser().parse_args([]))
    assert (defaults.host, defaults.port, defaults.api_key) == ("127.0.0.1", 8765, "sim-key")
    assert defaults.cancel_rule == "any-active" and defaults.error_style == "http"
    assert defaults.moderation_words == ("forbidden",)


def test_bad_options_are_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--cancel-rule=never"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--result-bytes=lots"])


async def printed_by_serve(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``serve`` prints on start (it runs on a free port, then stops)."""
    config = config_from_args(build_parser().parse_args(["--port=0", *args]))
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop))
    out = ""
    try:
        async with asyncio.timeout(10):
            while "MAXAPI_KEY=" not in out:
                await asyncio.sleep(0.01)
                out += capsys.readouterr().out
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
    return out + capsys.readouterr().out


def env_block(out: str) -> tuple[str, str]:
    """The base URL from the first line, and what follows "Put these lines in .env:"."""
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)\n", out)
    assert found, out
    _, marker, block = out.partition("Put these lines in .env:\n")
    assert marker, out
    return found.group(1), block


async def test_printed_lines_paste_into_env_as_they_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = await printed_by_serve(["--key=try-me", "--speed=0.1"], capsys)
    base_url, block = env_block(out)
    assert block.splitlines() == [
        f"MAXAPI_BASE_URL={base_url}",
        "MAXAPI_KEY=try-me",
        "POLL_SCALE=0.1",
    ]
    values = dotenv_values(stream=io.StringIO(block))
    assert values == {"MAXAPI_BASE_URL": base_url, "MAXAPI_KEY": "try-me", "POLL_SCALE": "0.1"}
    env = {"DISCORD_TOKEN": "dummy-token", **{k: v for k, v in values.items() if v is not None}}
    settings = Settings.from_env(env)
    assert settings.maxapi_base_url == base_url
    assert settings.maxapi_key.get() == "try-me"
    assert settings.poll_scale == 0.1
    assert "--allow-loopback-callbacks" in out


async def test_at_normal_speed_two_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out = await printed_by_serve(["--allow-loopback-callbacks"], capsys)
    base_url, block = env_block(out)
    assert block.splitlines() == [f"MAXAPI_BASE_URL={base_url}", "MAXAPI_KEY=sim-key"]
    assert "--allow-loopback-callbacks" not in out


@pytest.mark.parametrize(("speed", "scale"), [("0", "0.001"), ("0.01", "0.01"), ("500", "100")])
def test_poll_scale_stays_in_what_atelier_accepts(speed: str, scale: str) -> None:
    config = config_from_args(build_parser().parse_args([f"--speed={speed}"]))
    assert env_lines("http://127.0.0.1:1", config)[2] == f"POLL_SCALE={scale}"


@pytest.mark.parametrize("key", ["", "two words", "it's", 'say"what"'])
def test_a_key_that_env_cannot_hold_is_refused(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"--key={key}"]) == 2
    assert "--key: must be non-empty, without spaces or quotes" in capsys.readouterr().err


def test_help_returns_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], prog="python -m bot simulate") == 0
    assert capsys.readouterr().out.startswith("usage: python -m bot simulate")


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([f"--port={port}", "--log-level=error"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use;"
        " pick another --port (0: any free one)"
    ]


async def test_module_runs_as_a_program() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--port=0",
        "--key=cli-key",
        "--speed=0.001",
        "--log-level=WARNING",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        base_url = None
        async with asyncio.timeout(15):
            while base_url is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "the simulator exited before printing its address"
                found = re.search(r"listening on (http://\S+)", line)
                base_url = found.group(1) if found else None
        headers = {"Authorization": "Bearer cli-key"}
        async with aiohttp.ClientSession(headers=headers) as session:
            body = {"model": "seedream-4", "input": {"prompt": "from the CLI"}}
            async with session.post(f"{base_url}/api/v1/task/submit", json=body) as response:
                assert response.status == 200
                assert (await response.json())["code"] == 0
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_failed_bind_leaves_nothing_open() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sim = Simulator(SimulatorConfig(port=taken.getsockname()[1]))
        with pytest.raises(OSError):
            await sim.start()
    assert sim._session is None and sim._runner is None  # no "Unclosed client session"
