"""``python -m bot.simulator``: options, the printed instructions, a clean stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.simulator.__main__ import build_parser, config_from_args, serve

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


async def test_serve_prints_how_to_connect(capsys: pytest.CaptureFixture[str]) -> None:
    config = config_from_args(build_parser().parse_args(["--port=0", "--key=try-me"]))
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop))
    out = ""
    try:
        async with asyncio.timeout(10):
            while "MAXAPI_BASE_URL" not in out:
                await asyncio.sleep(0.01)
                out += capsys.readouterr().out
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
    out += capsys.readouterr().out
    match = re.search(r"MAXAPI_BASE_URL=(http://127\.0\.0\.1:\d+) MAXAPI_KEY=try-me", out)
    assert match, out
    assert "--allow-loopback-callbacks" in out


async def test_module_runs_as_a_program() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
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
