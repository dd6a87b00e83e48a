"""bot.services.metrics: the registry, the store's job gauges (cached), and the metrics server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST

from bot.domain.job_states import JobState
from bot.services.metrics import JobGauges, Metrics, MetricsServer, read_job_gauges
from bot.settings import Secret, Settings
from bot.store import Store
from tests.helpers.metrics import parse
from tests.helpers.store import job_values


def constant(gauges: JobGauges) -> Callable[[], Awaitable[JobGauges]]:
    async def read() -> JobGauges:
        return gauges

    return read


async def test_callback_counters_add_up_by_outcome() -> None:
    metrics = Metrics()
    metrics.callbacks.labels(outcome="accepted").inc()
    metrics.callbacks.labels(outcome="accepted").inc(2)
    metrics.callbacks.labels(outcome="dropped").inc()
    text = (await metrics.exposition()).decode()
    assert "# TYPE atelier_callbacks_total counter" in text
    values = parse(text)
    assert values['atelier_callbacks_total{outcome="accepted"}'] == 3
    assert values['atelier_callbacks_total{outcome="dropped"}'] == 1
    assert values["atelier_up"] == 1
    assert values["atelier_uptime_seconds"] >= 0
    assert not any(key.startswith("atelier_jobs") for key in values), "no store, no gauges"


async def test_two_metrics_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()
    first.callbacks.labels(outcome="accepted").inc()
    values = parse((await second.exposition()).decode())
    assert 'atelier_callbacks_total{outcome="accepted"}' not in values


async def test_job_gauges_list_every_state() -> None:
    gauges = JobGauges({"running": 2, "delivered": 5, "accepted": 1}, 42.0)
    metrics = Metrics(constant(gauges))
    values = parse((await metrics.exposition()).decode())
    for state in JobState:
        assert f'atelier_jobs{{state="{state.value}"}}' in values
    assert values['atelier_jobs{state="running"}'] == 2
    assert values['atelier_jobs{state="lost"}'] == 0
    assert values["atelier_oldest_unfinished_job_age_seconds"] == 42
    assert gauges.unfinished == 3


async def test_the_store_reports_the_oldest_unfinished_job(tmp_path: Path) -> None:
    now = [1000.0]
    store = await Store.open(tmp_path / "a.db", clock=lambda: now[0])
    try:
        assert (await read_job_gauges(store, 2000.0)).oldest_unfinished_age is None
        first = await store.create_job(job_values())
        now[0] = 1100.0
        await store.create_job(job_values())
        gauges = await read_job_gauges(store, 1500.0)
        assert gauges.oldest_unfinished_age == 500.0
        assert gauges.by_state == {"accepted": 2}
        await store.transition(first.id, JobState.ACCEPTED, JobState.CANCELLED, "test")
        gauges = await read_job_gauges(store, 1500.0)
        assert gauges.oldest_unfinished_age == 400.0  # the finished one no longer counts
        assert gauges.unfinished == 1
    finally:
        await store.close()


async def test_one_guilds_gauges_leave_other_guilds_out(tmp_path: Path) -> None:
    now = [1000.0]
    store = await Store.open(tmp_path / "a.db", clock=lambda: now[0])
    try:
        await store.create_job(job_values(guild_id=1))
        now[0] = 1200.0
        mine = await store.create_job(job_values(guild_id=2))
        await store.create_job(job_values(guild_id=2))
        await store.transition(mine.id, JobState.ACCEPTED, JobState.CANCELLED, "test")
        ours = await read_job_gauges(store, 1500.0, guild_id=2)
        assert ours.by_state == {"accepted": 1, "cancelled": 1}
        assert ours.oldest_unfinished_age == 300.0
        assert (await read_job_gauges(store, 1500.0, guild_id=3)) == JobGauges({}, None)
        assert (await read_job_gauges(store, 1500.0)).by_state == {"accepted": 2, "cancelled": 1}
    finally:
        await store.close()


async def test_a_burst_of_reads_costs_one_query_set(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    calls: dict[str, int] = {"count_by_state": 0, "oldest_unfinished_created_at": 0}
    for name in calls:
        real = getattr(store, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls[_name] += 1
            return await _real(*args)

        setattr(store, name, counted)
    now = [100.0]
    try:
        await store.create_job(job_values())
        metrics = Metrics(lambda: read_job_gauges(store, now[0]), clock=lambda: now[0])
        pages = await asyncio.gather(*(metrics.exposition() for _ in range(20)))
        for _ in range(5):
            pages.append(await metrics.exposition())
        assert calls == {"count_by_state": 1, "oldest_unfinished_created_at": 1}
        assert all(parse(p.decode())['atelier_jobs{state="accepted"}'] == 1 for p in pages)
        now[0] += 5.0  # the cache is stale: the next read asks the store again
        await metrics.exposition()
        assert calls == {"count_by_state": 2, "oldest_unfinished_created_at": 2}
    finally:
        await store.close()


async def test_metrics_server_on_its_own_port_asks_for_the_token() -> None:
    env = {
        "DISCORD_TOKEN": "t",
        "MAXAPI_KEY": "k",
        "METRICS_LISTEN": "127.0.0.1:9100",
        "METRICS_TOKEN": "s3cret",
    }
    metrics = Metrics()
    settings = Settings.from_env(env)
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9100)
    server = MetricsServer.from_settings(dataclasses.replace(settings, metrics_port=0), metrics)
    assert server is not None and server.token == Secret("s3cret")
    await server.start()
    url = f"http://127.0.0.1:{server.bound_port}/metrics"
    try:
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                async with http.get(url, headers=headers) as response:
                    assert response.status == 401
                    assert response.headers["WWW-Authenticate"] == "Bearer"
                    assert "atelier" not in await response.text()
            async with http.get(url, headers={"Authorization": "Bearer s3cret"}) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
                assert parse(await response.text())["atelier_up"] == 1
    finally:
        await server.stop()
    del env["METRICS_LISTEN"]
    assert MetricsServer.from_settings(Settings.from_env(env), metrics) is None


async def test_metrics_server_without_a_token_is_open_on_its_port() -> None:
    server = MetricsServer(Metrics(), host="127.0.0.1", port=0)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.bound_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
    finally:
        await server.stop()
