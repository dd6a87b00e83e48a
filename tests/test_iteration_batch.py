"""IterationBatch: the calls of one event-loop iteration go out as one call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.iteration_batch import IterationBatch
from bot.job_states import UPSTREAM, JobState
from bot.store import Store
from tests.test_store import job_values


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[list[int]] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def send(self, items: list[int]) -> list[int]:
        self.sent.append(list(items))
        await self.release.wait()
        if self.fail:
            raise OSError("disk gone")
        return [item * 10 for item in items]


async def test_calls_of_one_iteration_share_a_send_and_get_their_own_results() -> None:
    rec = Recorder()
    batch = IterationBatch(rec.send)
    first = await asyncio.gather(*(batch.add(i) for i in range(5)))
    second = await batch.add(7)
    assert first == [0, 10, 20, 30, 40] and second == 70
    assert rec.sent == [[0, 1, 2, 3, 4], [7]]


async def test_a_failed_send_fails_every_caller_of_the_batch() -> None:
    batch = IterationBatch(Recorder(fail=True).send)
    results = await asyncio.gather(batch.add(1), batch.add(2), return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]


async def test_a_caller_that_gives_up_leaves_the_others_and_the_send_alone() -> None:
    rec = Recorder()
    rec.release.clear()
    batch = IterationBatch(rec.send)
    quitter = asyncio.create_task(batch.add(1))
    stayer = asyncio.create_task(batch.add(2))
    await asyncio.sleep(0.01)
    assert rec.sent == [[1, 2]]  # sent while both still waited
    quitter.cancel()
    rec.release.set()
    assert await stayer == 20
    with pytest.raises(asyncio.CancelledError):
        await quitter


async def test_concurrent_update_ifs_reach_the_database_thread_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    try:
        jobs = [await store.create_job(job_values()) for _ in range(6)]
        await store.transition(jobs[0].id, JobState.ACCEPTED, JobState.SUBMITTING, "test")
        calls_before = store._thread.calls
        results = await asyncio.gather(
            *(store.update_if(job.id, [JobState.ACCEPTED], polls=5) for job in jobs)
        )
        assert store._thread.calls - calls_before == 1
        assert results == [False, True, True, True, True, True]
        polls = [(await store.get(job.id)).polls for job in jobs]  # type: ignore[union-attr]
        assert polls == [0, 5, 5, 5, 5, 5]
        with pytest.raises(KeyError):  # a bad column fails its own caller, before the batch
            await store.update_if(jobs[1].id, UPSTREAM, no_such_column=1)
    finally:
        await store.close()
