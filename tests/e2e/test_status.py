"""``/status`` for moderators, ``/healthz`` on the callback listener and ``/metrics`` on
its own port (or, with the token, on the callback listener), against the running system
(Runtime, simulator, local Discord)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import socket

import aiohttp
import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.job_states import JobState
from bot.healthcheck import check
from bot.maxapi import MaxApiClient
from bot.runtime import Runtime
from bot.services.job_queries import probe_api
from bot.services.jobs import Requester
from bot.settings import Secret, Settings
from simulator import Simulator
from tests.discord_world import Message, World
from tests.e2e.support import SCALE, answer, job_when
from tests.helpers.metrics import parse

MODEL = "nano-banana-2"
METRICS_TOKEN = "metrics-s3cret"
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def runtime_settings(settings: Settings, sim: Simulator) -> Settings:
    """The callback listener on (for /healthz) and metrics on a port of their own, with a
    token; nothing calls back here."""
    return dataclasses.replace(
        settings,
        maxapi_base_url=sim.base_url,
        poll_scale=SCALE,
        webhook_public_url="http://127.0.0.1:9/cb",
        webhook_host="127.0.0.1",
        webhook_port=0,
        metrics_host="127.0.0.1",
        metrics_port=0,
        metrics_token=Secret(METRICS_TOKEN),
    )


async def hold_a_job(runtime: Runtime, world: World, guild_id: int | None = None) -> int:
    assert runtime.jobs is not None and runtime.store is not None
    who = Requester(
        guild_id=guild_id or world.guild.id, channel_id=world.channel.id, user_id=world.member.id
    )
    job = await runtime.jobs.accept(GenerationRequest(MODEL, "an owl [sim:hold]", {}), who)
    runtime.jobs.submit_soon(job)
    waiting = (JobState.QUEUED, JobState.RUNNING)
    await job_when(runtime.store, job.id, lambda j: j.state in waiting, within=10)
    return job.id


def fields(message: Message) -> dict[str, str]:
    embed = message.embeds[0]
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_a_moderator_sees_jobs_api_gateway_and_budget(world: World, runtime: Runtime) -> None:
    await hold_a_job(runtime, world)
    message = await answer(await world.slash("status", {}, user=world.moderator))
    assert message.ephemeral
    shown = fields(message)
    assert "running: 1" in shown["Jobs by state"] or "queued: 1" in shown["Jobs by state"]
    assert shown["Oldest unfinished job"].endswith(" s")
    assert shown["Max API"].startswith("ok · ") and shown["Max API"].endswith(" ms")
    assert shown["Gateway latency"].endswith("ms") or shown["Gateway latency"] == "—"
    spent, budget = shown["Budget used today"].split(" / ")
    assert float(spent.lstrip("$")) > 0  # the held job's reservation counts
    assert budget == "$20.00"


async def test_status_counts_only_the_callers_server(world: World, runtime: Runtime) -> None:
    other = world.add_guild("Elsewhere")
    for _ in range(2):
        await hold_a_job(runtime, world, guild_id=other.id)
    await hold_a_job(runtime, world)
    message = await answer(await world.slash("status", {}, user=world.moderator))
    lines = fields(message)["Jobs by state"].splitlines()
    assert sum(int(line.rsplit(": ", 1)[1]) for line in lines) == 1, lines


async def test_a_member_without_manage_server_is_refused(world: World, runtime: Runtime) -> None:
    message = await answer(await world.slash("status", {}, user=world.member))
    assert message.ephemeral
    assert "moderators" in message.embed_text()
    assert "Jobs by state" not in message.embed_text()


async def test_metrics_on_their_port_and_healthz_on_the_callback_listener(
    world: World, runtime: Runtime
) -> None:
    job_id = await hold_a_job(runtime, world)
    assert runtime.receiver is not None and runtime.metrics_server is not None
    base = f"http://127.0.0.1:{runtime.receiver.bound_port}"
    metrics_url = f"http://127.0.0.1:{runtime.metrics_server.bound_port}/metrics"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200  # open to anyone: it says nothing but "ok"
        async with http.post(f"{base}/cb/{secrets.token_urlsafe(24)}", data=b"{}") as response:
            assert response.status == 200
        async with http.post(f"{base}/cb/nope", data=b'{"taskId":"x"}') as response:
            assert response.status == 200
        async with http.get(metrics_url) as response:
            assert response.status == 401
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 404  # not on the public port without the token
        async with http.get(f"{base}/metrics", headers=BEARER) as response:
            assert response.status == 200
        async with http.get(metrics_url, headers=BEARER) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            values = parse(await response.text())
    unfinished = values['atelier_jobs{state="running"}'] + values['atelier_jobs{state="queued"}']
    assert unfinished == 1, job_id
    assert values['atelier_jobs{state="delivered"}'] == 0
    assert values["atelier_oldest_unfinished_job_age_seconds"] >= 0
    assert values["atelier_up"] == 1
    assert values['atelier_callbacks_total{outcome="ignored"}'] == 1  # no task id
    assert values['atelier_callbacks_total{outcome="malformed"}'] == 1
    # The container's healthcheck, pointed at this bot: heartbeat fresh, /healthz answers.
    env = {
        "DATABASE_PATH": str(runtime.settings.database_path),
        "WEBHOOK_PUBLIC_URL": "http://127.0.0.1:9/cb",
        "WEBHOOK_LISTEN": f"127.0.0.1:{runtime.receiver.bound_port}",
    }
    healthy, why = await asyncio.to_thread(check, env)
    assert healthy, why


async def test_an_unreachable_api_is_reported_as_such() -> None:
    with socket.socket() as probe_socket:  # a port nothing listens on
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    async with aiohttp.ClientSession() as http:
        api = MaxApiClient(http, f"http://127.0.0.1:{port}", Secret("k"), retries=0)
        probe = await probe_api(api)
    assert not probe.reachable and "unreachable" in probe.detail


async def test_a_refused_key_is_reported(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        api = MaxApiClient(http, sim.base_url, Secret("wrong-key"), retries=0)
        probe = await probe_api(api)
    assert probe.reachable and probe.detail == "API key refused"
