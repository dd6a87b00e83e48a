"""The three Max API endpoints: envelopes, auth, errors, the error-style switch, the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from simkit import running

from simulator import Clock, Simulator, SimulatorConfig

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_submit_then_query_until_success() -> None:
    async with running() as (sim, api):
        status, body = await api.submit("seedream-4.5", prompt="a red fox", ratio="16:9", n=2)
        assert status == 200
        assert body["code"] == 0 and body["msg"] == "ok"
        task_id = body["data"]["taskId"]
        assert UUID.match(task_id)

        data = await api.wait_terminal(task_id)
        assert set(data) == {
            "taskId",
            "status",
            "input",
            "result",
            "failure_reason",
            "created_at",
            "updated_at",
        }
        assert data["taskId"] == task_id
        assert data["status"] == "SUCCESS"
        assert data["input"] == {
            "model": "seedream-4.5",
            "prompt": "a red fox",
            "ratio": "16:9",
            "n": 2,
        }
        assert data["result"]["type"] == "image"
        assert len(data["result"]["urls"]) == 2
        assert all(url.startswith(sim.base_url + "/files/") for url in data["result"]["urls"])
        assert data["failure_reason"] is None
        assert TIMESTAMP.match(data["created_at"]) and TIMESTAMP.match(data["updated_at"])
        assert data["updated_at"] > data["created_at"]


async def test_running_task_has_null_result_and_reason() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("veo3", prompt="waves [sim:hold]")
        await sim.wait_for(lambda: sim.status_of(task_id) == "SUBMITTED")
        data = await api.query(task_id)
        assert data["status"] == "SUBMITTED"
        assert data["result"] is None and data["failure_reason"] is None


async def test_states_follow_the_clock() -> None:
    start = datetime(2026, 2, 10, 21, 54, 46, 686768, tzinfo=UTC)
    clock = Clock(start, frozen=True)
    # nano-banana's typical time is 10 s: 1 s pending, 1 s processing, 8 s submitted.
    async with running(clock=clock, speed=1.0) as (_sim, api):
        task_id = await api.submit_ok("nano-banana", prompt="a kite")
        seen = []
        for step in (1.5, 1.0, 7.0, 0.6):
            seen.append((await api.query(task_id))["status"])
            clock.advance(step)
        data = await api.query(task_id)
        seen.append(data["status"])
        assert seen == ["PENDING", "PROCESSING", "SUBMITTED", "SUBMITTED", "SUCCESS"]
        assert data["created_at"] == "2026-02-10T21:54:46.686768Z"
        assert data["updated_at"] == "2026-02-10T21:54:56.686768Z"


async def test_video_success() -> None:
    async with running() as (_sim, api):
        task_id = await api.submit_ok("grok-imagine/text-to-video", prompt="a train", duration=6)
        data = await api.wait_terminal(task_id)
        assert data["status"] == "SUCCESS"
        assert data["result"]["type"] == "video"
        assert len(data["result"]["urls"]) == 1 and data["result"]["urls"][0].endswith(".mp4")


async def test_gpt_image_2_echoes_only_model_and_prompt() -> None:
    async with running() as (_sim, api):
        task_id = await api.submit_ok("gpt-image-2/text-to-image", prompt="a crow", ratio="16:9")
        data = await api.query(task_id)
        assert data["input"] == {"model": "gpt-image-2/text-to-image", "prompt": "a crow"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "sim-key"}, {"Authorization": ""}],
)
async def test_auth_is_required_everywhere(headers: dict[str, str]) -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x")
        for method, path in [
            ("POST", "/api/v1/task/submit"),
            ("GET", f"/api/v1/task/{task_id}"),
            ("POST", f"/api/v1/task/{task_id}/cancel"),
            ("GET", "/_sim/tasks"),
        ]:
            status, body = await api.call(method, path, {}, headers=headers)
            assert (status, body) == (401, {"code": 401, "msg": "unauthorized"}), path
        assert sim.status_of(task_id) != "CANCELLED"
        assert len(sim.tasks) == 1


async def test_unknown_task() -> None:
    async with running() as (_sim, api):
        for method, path in [("GET", "/api/v1/task/nope"), ("POST", "/api/v1/task/nope/cancel")]:
            status, body = await api.call(method, path)
            assert (status, body) == (404, {"code": 404, "msg": "task not found"})


async def test_bad_bodies_and_paths() -> None:
    async with running() as (sim, api):
        async with api.session.post(
            sim.base_url + "/api/v1/task/submit", data=b"{not json", headers=api.headers
        ) as response:
            assert response.status == 400
            assert (await response.json())["msg"] == "request body is not valid JSON"
        status, body = await api.call("POST", "/api/v1/task/submit", ["a", "list"])
        assert (status, body["code"]) == (400, 400)
        status, body = await api.call("GET", "/api/v2/whatever")
        assert status == 404 and body["code"] == 404 and "no such endpoint" in body["msg"]


async def test_cancel_answers_without_data() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        assert await api.cancel(task_id) == (200, {"code": 0, "msg": "ok"})
        data = await api.query(task_id)
        assert data["status"] == "CANCELLED" and data["result"] is None
        assert data["failure_reason"] is None
        assert sim.status_of(task_id) == "CANCELLED"


async def test_error_style_code200_keeps_http_200() -> None:
    async with running(error_style="code200") as (_sim, api):
        status, body = await api.call("GET", "/api/v1/task/x", headers={})
        assert (status, body) == (200, {"code": 401, "msg": "unauthorized"})
        status, body = await api.submit("no-such-model", prompt="x")
        assert status == 200 and body["code"] == 400
        status, body = await api.call("GET", "/api/v1/task/nope")
        assert (status, body) == (200, {"code": 404, "msg": "task not found"})
        status, body = await api.submit("seedream-4", prompt="something forbidden")
        assert status == 200 and body["code"] == 400 and body["data"]["flagged"] is True
        task_id = await api.submit_ok("seedream-4", prompt="x")
        await api.wait_terminal(task_id)
        status, body = await api.cancel(task_id)
        assert status == 200 and body["code"] == 400


async def test_error_style_can_change_while_running() -> None:
    async with running() as (sim, api):
        assert (await api.call("GET", "/api/v1/task/nope"))[0] == 404
        sim.config.error_style = "code200"
        assert (await api.call("GET", "/api/v1/task/nope"))[0] == 200


async def test_request_log_and_helpers() -> None:
    async with running() as (sim, api):
        await api.submit("seedream-4")  # invalid: no prompt
        task_id = await api.submit_ok("seedream-4", prompt="a boat [sim:hold]")
        await api.query(task_id)
        await api.query(task_id)
        await api.cancel(task_id)
        await api.call("GET", f"/api/v1/task/{task_id}", headers={})

        assert [(r.method, r.path, r.status) for r in sim.requests] == [
            ("POST", "/api/v1/task/submit", 400),
            ("POST", "/api/v1/task/submit", 200),
            ("GET", f"/api/v1/task/{task_id}", 200),
            ("GET", f"/api/v1/task/{task_id}", 200),
            ("POST", f"/api/v1/task/{task_id}/cancel", 200),
            ("GET", f"/api/v1/task/{task_id}", 401),
        ]
        first, second = sim.submissions
        assert first.code == 400 and first.task_id is None
        assert second.task_id == task_id
        assert second.body == {"model": "seedream-4", "input": {"prompt": "a boat [sim:hold]"}}
        assert len(sim.queries_for(task_id)) == 3
        assert [r.authorized for r in sim.queries_for(task_id)] == [True, True, False]
        assert len(sim.cancels_for(task_id)) == 1
        assert all(r.at.tzinfo is not None for r in sim.requests)

        status, body = await api.call("GET", "/_sim/requests")
        assert status == 200 and len(body["data"]) == 7  # the log includes this request
        assert body["data"][-1]["path"] == "/_sim/requests"
        assert body["data"][1]["task_id"] == task_id


async def test_the_key_is_never_shown() -> None:
    config = SimulatorConfig(api_key="very-secret-key-123")
    sim = Simulator(config)
    assert "very-secret-key-123" not in repr(config)
    assert "very-secret-key-123" not in repr(sim)
    async with running(config) as (sim, api):
        await api.call("GET", "/api/v1/task/x", headers={"Authorization": "Bearer nope"})
        await api.submit_ok("seedream-4", prompt="x")
        assert "very-secret-key-123" not in repr(sim.requests)
        _status, body = await api.call("GET", "/_sim/requests")
        assert "very-secret-key-123" not in str(body)


async def test_control_endpoints() -> None:
    clock = Clock(frozen=True)
    async with running(clock=clock) as (_sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        status, body = await api.call("GET", "/_sim/tasks")
        assert status == 200 and [t["taskId"] for t in body["data"]] == [task_id]

        before = clock.now()
        status, body = await api.call("POST", "/_sim/clock/advance", {"seconds": 60})
        assert status == 200 and (clock.now() - before).total_seconds() == 60
        status, body = await api.call("POST", "/_sim/clock/advance", {"seconds": -1})
        assert status == 400

        status, body = await api.call(
            "POST",
            f"/_sim/tasks/{task_id}/finish",
            {"status": "FAILURE", "failure_reason": "INSUFFICIENT_POINTS"},
        )
        assert status == 200 and body["data"]["status"] == "FAILURE"
        assert body["data"]["failure_reason"] == "INSUFFICIENT_POINTS"
        status, body = await api.call("POST", f"/_sim/tasks/{task_id}/finish", {})
        assert status == 400 and "already ended" in body["msg"]
        status, body = await api.call("POST", "/_sim/tasks/nope/finish", {})
        assert status == 404
