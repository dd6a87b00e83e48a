"""Webhooks: one POST per terminal state, query-shaped body, no retries, SSRF guard."""

from __future__ import annotations

import asyncio

from simkit import Receiver, running

from simulator import Clock


async def test_one_callback_per_terminal_state() -> None:
    async with Receiver() as hook, running() as (sim, api):
        ids = {
            "SUCCESS": await api.submit_ok("seedream-4", prompt="ok", callBackUrl=hook.url),
            "FAILURE": await api.submit_ok(
                "seedream-4", prompt="[sim:fail=INSUFFICIENT_POINTS]", callBackUrl=hook.url
            ),
            "TIMEOUT": await api.submit_ok("veo3", prompt="[sim:timeout]", callBackUrl=hook.url),
            "CANCELLED": await api.submit_ok(
                "seedream-4", prompt="[sim:hold]", callBackUrl=hook.url
            ),
        }
        await api.cancel(ids["CANCELLED"])
        await sim.wait_for(lambda: len(hook.posts) >= 4)
        await asyncio.sleep(0.2)  # room for a duplicate to show up (there must be none)

        assert len(hook.posts) == 4
        for status, task_id in ids.items():
            (post,) = hook.for_task(task_id)
            assert post["code"] == 0 and post["msg"] == "ok"
            assert post["data"]["status"] == status
            assert post["data"] == await api.query(task_id)
        assert hook.for_task(ids["FAILURE"])[0]["data"]["failure_reason"] == "INSUFFICIENT_POINTS"
        assert hook.for_task(ids["SUCCESS"])[0]["data"]["result"]["type"] == "image"
        assert hook.for_task(ids["TIMEOUT"])[0]["data"]["result"] is None
        assert len(sim.callbacks_sent) == 4
        assert all(c.delivered and c.status == 200 for c in sim.callbacks_sent)


async def test_no_callback_without_callback_url() -> None:
    async with running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x")
        await api.wait_terminal(task_id)
        await asyncio.sleep(0.05)
        assert sim.callbacks == []


async def test_callback_waits_for_the_clock() -> None:
    clock = Clock(frozen=True)
    async with Receiver() as hook, running(clock=clock, speed=1.0) as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x", callBackUrl=hook.url)
        await asyncio.sleep(0.1)
        assert hook.posts == []
        clock.advance(15)
        await sim.wait_for(lambda: len(hook.posts) == 1)
        assert hook.posts[0]["data"]["taskId"] == task_id
        assert hook.posts[0]["data"]["status"] == "SUCCESS"


async def test_callbacks_fire_in_end_time_order_as_the_clock_moves() -> None:
    clock = Clock(frozen=True)
    async with Receiver() as hook, running(clock=clock, speed=1.0) as (sim, api):
        by_seconds = {
            seconds: await api.submit_ok(
                "seedream-4", prompt=f"x [sim:seconds={seconds}]", callBackUrl=hook.url
            )
            for seconds in (30, 10, 20)
        }
        clock.advance(15)
        await sim.wait_for(lambda: len(hook.posts) == 1)
        clock.advance(10)
        await sim.wait_for(lambda: len(hook.posts) == 2)
        await asyncio.sleep(0.05)
        assert len(hook.posts) == 2, "the 30 s task is not due yet"
        clock.advance(10)
        await sim.wait_for(lambda: len(hook.posts) == 3)
        assert [p["data"]["taskId"] for p in hook.posts] == [
            by_seconds[10],
            by_seconds[20],
            by_seconds[30],
        ]


async def test_finish_fires_the_callback_at_once() -> None:
    async with Receiver() as hook, running(speed=1.0) as (sim, api):
        task_id = await api.submit_ok("seedance-2.0", prompt="x", callBackUrl=hook.url)
        sim.finish(task_id, status="FAILURE", failure_reason="CONTENT_MODERATION")
        await sim.wait_for(lambda: len(hook.posts) == 1)
        assert hook.posts[0]["data"]["failure_reason"] == "CONTENT_MODERATION"


async def test_loopback_callback_refused_without_the_flag() -> None:
    async with Receiver() as hook, running(allow_loopback_callbacks=False) as (sim, api):
        status, body = await api.submit("seedream-4", prompt="x", callBackUrl=hook.url)
        assert status == 400 and "publicly reachable" in body["msg"]
        assert sim.tasks == {} and hook.posts == []


async def test_dropped_callback_fault() -> None:
    async with Receiver() as hook, running() as (sim, api):
        sim.faults.drop_callbacks(1)
        lost = await api.submit_ok("seedream-4", prompt="x", callBackUrl=hook.url)
        await sim.wait_for_callbacks(1)
        kept = await api.submit_ok("seedream-4", prompt="y", callBackUrl=hook.url)
        await sim.wait_for(lambda: len(hook.posts) == 1)
        await asyncio.sleep(0.05)
        assert [p["data"]["taskId"] for p in hook.posts] == [kept]
        assert [c.task_id for c in sim.callbacks if c.dropped] == [lost]
        assert [c.task_id for c in sim.callbacks_sent] == [kept]
        assert (await api.query(lost))["status"] == "SUCCESS"  # only the webhook was lost


async def test_failed_delivery_is_not_retried() -> None:
    async with Receiver(status=500) as hook, running() as (sim, api):
        task_id = await api.submit_ok("seedream-4", prompt="x", callBackUrl=hook.url)
        await sim.wait_for_callbacks(1)
        await asyncio.sleep(0.2)
        assert len(hook.posts) == 1
        (record,) = sim.callbacks
        assert record.task_id == task_id and record.status == 500 and not record.delivered


async def test_slow_receiver_times_out_once() -> None:
    async with Receiver(delay=2.0) as hook, running(callback_timeout=0.2) as (sim, api):
        await api.submit_ok("seedream-4", prompt="x", callBackUrl=hook.url)
        await sim.wait_for_callbacks(1, within=5)
        (record,) = sim.callbacks
        assert record.status is None and record.error is not None and "timed out" in record.error
        assert len(hook.posts) == 1


async def test_unreachable_receiver_is_recorded() -> None:
    async with Receiver() as hook:
        dead_url = hook.url  # closed below: nothing listens there any more
    async with running() as (sim, api):
        await api.submit_ok("seedream-4", prompt="x", callBackUrl=dead_url)
        (record,) = await sim.wait_for_callbacks(1)
        assert record.status is None and record.error
