"""Every way a task can end, and both cancel rules."""

from __future__ import annotations

import pytest
from simkit import running

from simulator import Clock, TaskStateError


@pytest.mark.parametrize(
    ("directive", "status", "reason"),
    [
        ("[sim:fail=CONTENT_MODERATION]", "FAILURE", "CONTENT_MODERATION"),
        ("[sim:fail=INVALID_PARAMETERS]", "FAILURE", "INVALID_PARAMETERS"),
        ("[sim:fail=insufficient_points]", "FAILURE", "INSUFFICIENT_POINTS"),
        ("[sim:fail=null]", "FAILURE", None),
        ("[sim:fail]", "FAILURE", None),
        ("[sim:timeout]", "TIMEOUT", None),
        ("[sim:cancel]", "CANCELLED", None),
        ("", "SUCCESS", None),
    ],
)
async def test_prompt_directives_pick_the_end(directive: str, status: str, reason: str) -> None:
    async with running() as (_sim, api):
        task_id = await api.submit_ok("seedream-4.5", prompt=f"a cat {directive}")
        data = await api.wait_terminal(task_id)
        assert data["status"] == status
        assert data["failure_reason"] == reason
        assert (data["result"] is not None) == (status == "SUCCESS")


async def test_a_task_walks_through_every_state_on_the_way() -> None:
    clock = Clock(frozen=True)
    async with running(clock=clock, speed=1.0) as (_sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:seconds=10] [sim:timeout]")
        seen = [(await api.query(task_id))["status"]]
        for step in (1.5, 1.5, 7.5):  # phases: 1 s, 1 s, 8 s
            clock.advance(step)
            seen.append((await api.query(task_id))["status"])
        assert seen == ["PENDING", "PROCESSING", "SUBMITTED", "TIMEOUT"]


@pytest.mark.parametrize("state", ["PENDING", "PROCESSING", "SUBMITTED"])
async def test_hold_keeps_a_state_until_finished(state: str) -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("veo3_fast", prompt=f"x [sim:hold={state}]")
        sim.clock.advance(10_000)
        assert (await api.query(task_id))["status"] == state
        sim.finish(task_id, status="FAILURE", failure_reason="CONTENT_MODERATION")
        data = await api.query(task_id)
        assert (data["status"], data["failure_reason"]) == ("FAILURE", "CONTENT_MODERATION")


async def test_finish_rules() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        with pytest.raises(TaskStateError):
            sim.finish(task_id, status="PROCESSING")
        with pytest.raises(TaskStateError):
            sim.finish(task_id, status="TIMEOUT", failure_reason="CONTENT_MODERATION")
        with pytest.raises(TaskStateError):
            sim.finish(task_id, status="FAILURE", failure_reason="BAD_LUCK")
        with pytest.raises(KeyError):
            sim.finish("no-such-task")
        sim.finish(task_id)
        data = await api.query(task_id)
        assert data["status"] == "SUCCESS" and len(data["result"]["urls"]) == 1
        with pytest.raises(TaskStateError):
            sim.finish(task_id, status="FAILURE")


async def test_finish_early_beats_the_planned_end() -> None:
    async with running(speed=1.0) as (sim, api):
        task_id = await api.submit_ok("seedance-2.0", prompt="x [sim:fail=CONTENT_MODERATION]")
        assert (await api.query(task_id))["status"] == "PENDING"
        sim.finish(task_id, status="SUCCESS")
        data = await api.query(task_id)
        assert data["status"] == "SUCCESS" and data["result"]["type"] == "video"


async def test_image_count_follows_n_default_and_directive() -> None:
    async with running() as (sim, api):
        plain = await api.submit_ok("seedream-4", prompt="x")
        four = await api.submit_ok("seedream-4", prompt="x", n=4)
        forced = await api.submit_ok("jimeng-4.5", prompt="x [sim:count=3]")
        sim.config.default_image_count = 2
        two = await api.submit_ok("seedream-4", prompt="x")
        counts = [
            len((await api.wait_terminal(t))["result"]["urls"]) for t in (plain, four, forced, two)
        ]
        assert counts == [1, 4, 3, 2]


@pytest.mark.parametrize("state", ["PENDING", "PROCESSING", "SUBMITTED"])
async def test_any_active_rule_cancels_every_running_state(state: str) -> None:
    async with running(cancel_rule="any-active") as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt=f"x [sim:hold={state}]")
        sim.clock.advance(1000)
        assert sim.status_of(task_id) == state
        assert await api.cancel(task_id) == (200, {"code": 0, "msg": "ok"})
        assert (await api.query(task_id))["status"] == "CANCELLED"


async def test_pending_only_rule() -> None:
    async with running(cancel_rule="pending-only") as (sim, api):
        pending = await api.submit_ok("seedream-4", prompt="x [sim:hold=PENDING]")
        assert (await api.cancel(pending))[0] == 200
        assert (await api.query(pending))["status"] == "CANCELLED"
        for state in ("PROCESSING", "SUBMITTED"):
            task_id = await api.submit_ok("seedream-4", prompt=f"x [sim:hold={state}]")
            sim.clock.advance(1000)  # well past the pending phase
            status, body = await api.cancel(task_id)
            assert status == 400 and body["code"] == 400
            assert f"is {state}; only PENDING tasks can be cancelled" in body["msg"]
            assert (await api.query(task_id))["status"] == state


@pytest.mark.parametrize("rule", ["any-active", "pending-only"])
async def test_ended_tasks_cannot_be_cancelled(rule: str) -> None:
    async with running(cancel_rule=rule) as (_sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x")
        await api.wait_terminal(task_id)
        status, body = await api.cancel(task_id)
        assert status == 400 and "has already ended (SUCCESS)" in body["msg"]
        assert (await api.query(task_id))["status"] == "SUCCESS"
        # cancelling twice is refused the same way
        held = await api.submit_ok("seedream-4", prompt="x [sim:hold=PENDING]")
        assert (await api.cancel(held))[0] == 200
        status, body = await api.cancel(held)
        assert status == 400 and "(CANCELLED)" in body["msg"]


async def test_cancel_rule_can_change_while_running() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        sim.clock.advance(1000)
        sim.config.cancel_rule = "pending-only"
        assert (await api.cancel(task_id))[0] == 400
        sim.config.cancel_rule = "any-active"
        assert (await api.cancel(task_id))[0] == 200


async def test_speed_scales_the_model_time() -> None:
    clock = Clock(frozen=True)
    async with running(clock=clock, speed=0.5) as (sim, api):
        # nano-banana-pro: 30 s typical x 0.5 = 15 s
        task_id = await api.submit_ok("nano-banana-pro", prompt="x")
        clock.advance(14.9)
        assert sim.status_of(task_id) == "SUBMITTED"
        clock.advance(0.2)
        assert sim.status_of(task_id) == "SUCCESS"
