"""Seedance 2.0's duration rules: more than 15 s of video (or of audio) in ``mediaUrls``
ends the task in FAILURE with ``INVALID_PARAMETERS``, as Max API documents."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from simkit import running

from simulator.media_rules import seconds_of
from tests.media_files import mp4, wav

FILES = {"/short.mp4": mp4(5.0), "/long.mp4": mp4(12.0), "/beat.wav": wav(3.0)}


@pytest.fixture
async def files() -> AsyncIterator[str]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=FILES[request.path])

    app = web.Application()
    for path in FILES:
        app.router.add_get(path, serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_durations_are_read_from_the_headers() -> None:
    assert seconds_of(FILES["/long.mp4"]) == 12.0
    assert seconds_of(FILES["/beat.wav"]) == 3.0
    assert seconds_of(b"not media at all") is None


async def test_video_over_fifteen_seconds_in_all_fails_the_task(files: str) -> None:
    async with running() as (_, api):
        ok = await api.submit_ok(
            "seedance-2.0", prompt="x", mediaUrls=[f"{files}/short.mp4", f"{files}/beat.wav"]
        )
        assert (await api.wait_terminal(ok))["status"] == "SUCCESS"
        over = await api.submit_ok(
            "seedance-2.0", prompt="x", mediaUrls=[f"{files}/long.mp4", f"{files}/short.mp4"]
        )
        data = await api.wait_terminal(over)
        assert (data["status"], data["failure_reason"]) == ("FAILURE", "INVALID_PARAMETERS")
