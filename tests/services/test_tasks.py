"""The one background-task helper and the one way listeners are told."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.services.tasks import Tasks, notify


async def test_a_task_is_kept_until_it_ends_and_its_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = Tasks()

    async def boom() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(boom(), name="boom-1")
    assert len(tasks) == 1
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(tasks) == 0
    assert "task boom-1 failed" in caplog.text


async def test_close_waits_for_the_grace_then_cancels() -> None:
    tasks = Tasks()
    quick = tasks.spawn(asyncio.sleep(0.01, "done"), name="quick")
    slow = tasks.spawn(asyncio.sleep(60), name="slow")
    await tasks.close(grace=0.5)
    assert quick.result() == "done"
    assert slow.cancelled()


async def test_idle_waits_for_tasks_started_meanwhile() -> None:
    tasks = Tasks()
    seen: list[str] = []

    async def second() -> None:
        seen.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        tasks.spawn(second(), name="second")

    tasks.spawn(first(), name="first")
    await tasks.idle()
    assert seen == ["second"]


async def test_a_failing_listener_stops_neither_the_others_nor_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[int] = []

    async def broken(value: int) -> None:
        raise RuntimeError("boom")

    async def ok(value: int) -> None:
        told.append(value)

    with caplog.at_level(logging.ERROR):
        await notify([broken, ok], 7)
    assert told == [7]
    assert "failed" in caplog.text
