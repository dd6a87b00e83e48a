"""AnswersFirst: background work waits while a command is being answered, never forever."""

from __future__ import annotations

import asyncio

from bot.answers_first import AnswersFirst


async def test_wait_returns_at_once_when_no_answer_is_pending() -> None:
    gate = AnswersFirst(max_hold=10)
    async with asyncio.timeout(0.1):
        await gate.wait()
    assert gate.held == 0


async def test_background_starts_only_after_every_pending_answer() -> None:
    gate = AnswersFirst(max_hold=10)
    order: list[str] = []

    async def background() -> None:
        await gate.wait()
        order.append("background")

    with gate.answering():
        with gate.answering():
            task = asyncio.create_task(background())
            await asyncio.sleep(0.01)
            order.append("first answer")
        await asyncio.sleep(0.01)
        assert not task.done(), "one answer is still pending"
        order.append("second answer")
    await asyncio.wait_for(task, 1)
    assert order == ["first answer", "second answer", "background"]
    assert gate.pending == 0 and gate.held == 1 and gate.overdue == 0


async def test_a_stream_of_answers_holds_background_no_longer_than_max_hold() -> None:
    gate = AnswersFirst(max_hold=0.05)
    with gate.answering():
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(gate.wait(), 1)
        waited = asyncio.get_running_loop().time() - started
    assert 0.04 <= waited < 0.5
    assert gate.overdue == 1


async def test_an_answer_that_raises_still_releases_the_gate() -> None:
    gate = AnswersFirst(max_hold=10)
    try:
        with gate.answering():
            raise ValueError("validation failed")
    except ValueError:
        pass
    assert gate.pending == 0
    async with asyncio.timeout(0.1):
        await gate.wait()
