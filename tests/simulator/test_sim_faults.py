"""Faults on demand: 5xx, 429, stalls, malformed JSON; deterministic and seeded."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from simkit import Api, running

from simulator import Faults


async def raw(
    api: Api, method: str, path: str, body: object = None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and undecoded body (faults may send non-JSON)."""
    async with api.session.request(
        method, api.sim.base_url + path, json=body, headers=api.headers
    ) as response:
        return response.status, dict(response.headers), await response.read()


async def test_fail_next_n_then_recover() -> None:
    async with running() as (sim, api):
        sim.faults.fail_next(2, status=503)
        first = await api.submit("seedream-4", prompt="x")
        second = await api.call("GET", "/api/v1/task/anything")
        third = await api.submit("seedream-4", prompt="x")
        assert first == (503, {"code": 503, "msg": "internal error (simulated)"})
        assert second[0] == 503
        assert third[0] == 200
        assert len(sim.tasks) == 1  # the failed submit never reached the service
        assert [r.fault for r in sim.requests] == ["error", "error", None]
        assert [r.status for r in sim.requests] == [503, 503, 200]


async def test_5xx_ignores_the_error_style() -> None:
    async with running(error_style="code200") as (sim, api):
        sim.faults.fail_next(1, status=500)
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 500


async def test_fault_for_one_endpoint_only() -> None:
    async with running() as (sim, api):
        sim.faults.fail_next(1, status=502, endpoint="query")
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        assert (await api.cancel(task_id))[0] == 200
        assert (await api.call("GET", f"/api/v1/task/{task_id}"))[0] == 502
        assert (await api.call("GET", f"/api/v1/task/{task_id}"))[0] == 200


async def test_processed_error_creates_the_task_anyway() -> None:
    async with running() as (sim, api):
        sim.faults.fail_next(1, status=502, endpoint="submit", processed=True)
        status, _ = await api.submit("seedream-4", prompt="x")
        assert status == 502
        (record,) = sim.submissions
        assert record.status == 502 and record.task_id in sim.tasks


async def test_custom_error_body() -> None:
    async with running() as (sim, api):
        sim.faults.fail_next(1, status=502, body="<html>Bad Gateway</html>")
        status, headers, body = await raw(api, "GET", "/api/v1/task/x")
        assert status == 502 and body == b"<html>Bad Gateway</html>"
        assert headers["Content-Type"].startswith("text/html")


async def test_rate_limit_with_retry_after() -> None:
    async with running(error_style="code200") as (sim, api):
        sim.faults.rate_limit_next(1, retry_after=2)
        status, headers, body = await raw(api, "GET", "/api/v1/task/x")
        assert status == 429 and headers["Retry-After"] == "2"
        assert json.loads(body) == {"code": 429, "msg": "too many requests (simulated)"}
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 200  # code200 style: not found


async def test_busy_is_a_503_that_creates_nothing() -> None:
    async with running() as (sim, api):
        sim.faults.busy_next(1, retry_after=3, endpoint="submit")
        sim.faults.busy_next(1, endpoint="submit")
        body = {"model": "seedream-4", "input": {"prompt": "x"}}
        status, headers, raw_body = await raw(api, "POST", "/api/v1/task/submit", body)
        assert status == 503 and headers["Retry-After"] == "3"
        assert json.loads(raw_body) == {"code": 503, "msg": "service busy (simulated)"}
        status, headers, _ = await raw(api, "POST", "/api/v1/task/submit", body)
        assert status == 503 and "Retry-After" not in headers
        assert not sim.tasks
        assert await api.submit_ok("seedream-4", prompt="x") in sim.tasks


async def test_stall_delays_the_answer() -> None:
    async with running() as (sim, api):
        sim.faults.stall_next(1, seconds=0.3)
        started = time.monotonic()
        task_id = await api.submit_ok("seedream-4", prompt="x")
        assert time.monotonic() - started >= 0.25
        assert task_id in sim.tasks


async def test_stall_outlasting_the_client_timeout_still_creates_the_task() -> None:
    async with running() as (sim, api):
        sim.faults.stall_next(1, seconds=0.4, endpoint="submit")
        with pytest.raises(asyncio.TimeoutError):
            async with api.session.post(
                sim.base_url + "/api/v1/task/submit",
                json={"model": "seedream-4", "input": {"prompt": "x"}},
                headers=api.headers,
                timeout=aiohttp.ClientTimeout(total=0.1),
            ) as response:
                await response.read()
        await sim.wait_for(lambda: len(sim.tasks) == 1, within=5)


async def test_malformed_json() -> None:
    async with running() as (sim, api):
        sim.faults.malformed_next(1, endpoint="submit")
        status, headers, body = await raw(
            api, "POST", "/api/v1/task/submit", {"model": "seedream-4", "input": {"prompt": "x"}}
        )
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        with pytest.raises(ValueError):
            json.loads(body)
        assert body.startswith(b'{"code": 0')
        assert len(sim.tasks) == 1  # the answer was garbled, not the work


async def test_file_faults() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x")
        data = await api.wait_terminal(task_id)
        sim.faults.fail_next(1, status=503, endpoint="files")
        sim.faults.fail_next(1, status=500)  # API-only: must not hit the download
        url = data["result"]["urls"][0]
        async with api.session.get(url) as response:
            assert response.status == 503
        async with api.session.get(url) as response:
            assert response.status == 200
        assert (await api.call("GET", f"/api/v1/task/{task_id}"))[0] == 500


async def test_probabilistic_faults_are_seeded() -> None:
    async def pattern(seed: int) -> list[int]:
        async with running(seed=seed) as (sim, api):
            sim.faults.error_rate = 0.5
            return [(await api.call("GET", "/api/v1/task/x"))[0] for _ in range(24)]

    first, second = await pattern(7), await pattern(7)
    assert first == second
    assert set(first) == {500, 404}


async def test_every_probabilistic_kind() -> None:
    async with running() as (sim, api):
        sim.faults.rate_limit_rate = 1.0
        sim.faults.retry_after = 3
        status, headers, _ = await raw(api, "GET", "/api/v1/task/x")
        assert status == 429 and headers["Retry-After"] == "3"
        sim.faults.rate_limit_rate = 0.0
        sim.faults.malformed_rate = 1.0
        status, _, body = await raw(api, "GET", "/api/v1/task/x")
        with pytest.raises(ValueError):
            json.loads(body)
        sim.faults.malformed_rate = 0.0
        sim.faults.stall_rate, sim.faults.stall_seconds = 1.0, 0.2
        started = time.monotonic()
        await api.call("GET", "/api/v1/task/x")
        assert time.monotonic() - started >= 0.15
        sim.faults.clear()
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 404


async def test_control_endpoint_for_faults() -> None:
    async with running() as (_sim, api):
        status, body = await api.call(
            "POST",
            "/_sim/faults",
            {"fail_next": {"count": 1, "status": 504}, "rate_limit_next": 1, "drop_callbacks": 2},
        )
        assert status == 200
        assert [f["kind"] for f in body["data"]["queue"]] == ["error", "rate_limit"]
        assert body["data"]["callback_drops"] == 2
        # control calls are never faulted themselves
        status, body = await api.call("GET", "/_sim/faults")
        assert status == 200 and len(body["data"]["queue"]) == 2
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 504
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 429
        status, body = await api.call("POST", "/_sim/faults", {"clear": True, "error_rate": 1})
        assert status == 200 and body["data"]["error_rate"] == 1.0 and body["data"]["queue"] == []
        assert (await api.call("GET", "/api/v1/task/x"))[0] == 500
        for bad in ({"explode": True}, {"fail_next": {"count": 1, "colour": "red"}}, [1]):
            status, body = await api.call("POST", "/_sim/faults", bad)
            assert status == 400, bad


def test_unknown_endpoint_name_is_refused() -> None:
    with pytest.raises(ValueError):
        Faults().fail_next(1, endpoint="upload")
