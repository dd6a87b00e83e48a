"""Helpers for the simulator tests: a running simulator, a raw API client, a webhook sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from simulator import Clock, Simulator, SimulatorConfig

FAST = SimulatorConfig(speed=0.001, allow_loopback_callbacks=True)
TERMINAL = {"SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"}


class Api:
    """Raw HTTP against the simulator: returns (HTTP status, parsed JSON)."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession, key: str) -> None:
        self.sim = sim
        self.session = session
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            self.sim.base_url + path,
            json=body,
            headers=self.headers if headers is None else headers,
        ) as response:
            return response.status, await response.json(content_type=None)

    async def submit(self, model: str, **params: Any) -> tuple[int, Any]:
        callback = params.pop("callBackUrl", None)
        body: dict[str, Any] = {"model": model, "input": params}
        if callback:
            body["callBackUrl"] = callback
        return await self.call("POST", "/api/v1/task/submit", body)

    async def submit_ok(self, model: str, **params: Any) -> str:
        status, body = await self.submit(model, **params)
        assert status == 200 and body["code"] == 0, body
        return str(body["data"]["taskId"])

    async def query(self, task_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/v1/task/{task_id}")
        assert status == 200 and body["code"] == 0, body
        return dict(body["data"])

    async def cancel(self, task_id: str) -> tuple[int, Any]:
        return await self.call("POST", f"/api/v1/task/{task_id}/cancel")

    async def wait_terminal(self, task_id: str, within: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                data = await self.query(task_id)
                if data["status"] in TERMINAL:
                    return data
                await asyncio.sleep(0.01)


@asynccontextmanager
async def running(
    config: SimulatorConfig | None = None, *, clock: Clock | None = None, **changes: Any
) -> AsyncIterator[tuple[Simulator, Api]]:
    """A started simulator (fast by default) and a client for it."""
    cfg = replace(config or FAST, **changes)
    cfg.model_seconds = dict(cfg.model_seconds)  # never share FAST's dict between tests
    async with (
        Simulator(cfg, clock=clock) as sim,
        aiohttp.ClientSession() as session,
    ):
        yield sim, Api(sim, session, cfg.api_key)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST."""

    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.posts: list[Any] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def for_task(self, task_id: str) -> list[Any]:
        return [post for post in self.posts if post["data"]["taskId"] == task_id]
