"""The store's thread commits queued calls together, and each call stays all or nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.job_states import JobState
from bot.store import GroupCommitThread, Store, TransactionLost
from tests.test_store import job_values

S = JobState


class Box:
    """A connection made on the worker thread, and a count of cache drops."""

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.lost = 0

    def drop_cache(self) -> None:
        self.lost += 1


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[tuple[GroupCommitThread, Box]]:
    box = Box()
    thread = GroupCommitThread(lambda: box.conn, box.drop_cache, max_group=64)

    def open_db() -> None:
        conn = sqlite3.connect(tmp_path / "t.db")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
            "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.commit()
        box.conn = conn

    await thread.run(open_db, grouped=False)
    try:
        yield thread, box
    finally:

        def close() -> None:
            assert box.conn is not None
            box.conn.close()
            box.conn = None

        await thread.run(close, grouped=False)
        thread.stop()


def insert(box: Box, value: str, *, then: Callable[[], None] | None = None) -> Callable[[], str]:
    def call() -> str:
        assert box.conn is not None
        box.conn.execute("INSERT INTO t (v) VALUES (?)", [value])
        if then is not None:
            then()
        return value

    return call


def values(box: Box) -> Callable[[], list[str]]:
    def call() -> list[str]:
        assert box.conn is not None
        return [r[0] for r in box.conn.execute("SELECT v FROM t ORDER BY rowid")]

    return call


def boom() -> None:
    raise ValueError("boom")


async def queued_behind_a_blocker(
    thread: GroupCommitThread, calls: list[Callable[[], object]]
) -> list[object]:
    gate = threading.Event()
    blocker = asyncio.ensure_future(thread.run(gate.wait, grouped=True))
    await asyncio.sleep(0.05)  # the blocker is running; the rest queue behind it
    pending = [asyncio.ensure_future(thread.run(c, grouped=True)) for c in calls]
    await asyncio.sleep(0.01)
    gate.set()
    await blocker
    return list(await asyncio.gather(*pending, return_exceptions=True))


async def test_queued_calls_share_one_commit(worker: tuple[GroupCommitThread, Box]) -> None:
    thread, box = worker
    before = thread.groups
    got = await queued_behind_a_blocker(thread, [insert(box, str(i)) for i in range(20)])
    assert got == [str(i) for i in range(20)]
    assert thread.groups - before == 2  # the blocker's group, then all twenty in one
    assert await thread.run(values(box), grouped=True) == [str(i) for i in range(20)]


async def test_a_failing_call_rolls_back_only_itself(worker: tuple[GroupCommitThread, Box]) -> None:
    thread, box = worker
    got = await queued_behind_a_blocker(
        thread, [insert(box, "a"), insert(box, "b", then=boom), insert(box, "c")]
    )
    assert got[0] == "a" and got[2] == "c"
    assert isinstance(got[1], ValueError)
    assert await thread.run(values(box), grouped=True) == ["a", "c"]
    assert box.lost == 0


async def test_one_statement_calls_run_without_a_savepoint_and_fail_alone(
    worker: tuple[GroupCommitThread, Box],
) -> None:
    thread, box = worker
    statements: list[str] = []

    def trace() -> None:
        assert box.conn is not None
        box.conn.set_trace_callback(statements.append)

    await thread.run(trace, grouped=False)

    def fails_alone() -> None:
        assert box.conn is not None
        box.conn.execute("INSERT INTO parent (id) VALUES (1), (1)")  # the second row fails

    calls = [insert(box, "a"), fails_alone, values(box)]
    gate = threading.Event()
    blocker = asyncio.ensure_future(thread.run(gate.wait, grouped=True))
    await asyncio.sleep(0.05)
    pending = [
        asyncio.ensure_future(thread.run(call, grouped=True, atomic=i > 0))
        for i, call in enumerate(calls)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    await blocker
    got = await asyncio.gather(*pending, return_exceptions=True)

    assert got[0] == "a" and isinstance(got[1], sqlite3.IntegrityError) and got[2] == ["a"]
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 2  # blocker and insert
    assert await thread.run(values(box), grouped=True) == ["a"]

    def no_parent() -> int:
        assert box.conn is not None
        return int(box.conn.execute("SELECT COUNT(*) FROM parent").fetchone()[0])

    assert await thread.run(no_parent, grouped=True) == 0, "the failed statement left nothing"


async def test_a_failed_commit_fails_every_call_in_the_group(
    worker: tuple[GroupCommitThread, Box],
) -> None:
    thread, box = worker

    def orphan() -> None:  # a deferred foreign key: only the COMMIT notices
        assert box.conn is not None
        box.conn.execute("INSERT INTO child (parent_id) VALUES (42)")

    got = await queued_behind_a_blocker(thread, [insert(box, "a"), orphan, insert(box, "c")])
    assert all(isinstance(g, TransactionLost) for g in got), got
    assert box.lost == 1  # the store would drop its cache
    assert await thread.run(values(box), grouped=True) == []
    # The thread goes on working.
    assert await thread.run(insert(box, "d"), grouped=True) == "d"


async def test_a_call_that_ends_the_transaction_loses_only_the_earlier_writes(
    worker: tuple[GroupCommitThread, Box],
) -> None:
    thread, box = worker

    def rollback() -> None:
        assert box.conn is not None
        box.conn.execute("ROLLBACK")

    got = await queued_behind_a_blocker(thread, [insert(box, "a"), rollback, insert(box, "c")])
    assert isinstance(got[0], TransactionLost)
    assert isinstance(got[1], TransactionLost)
    assert got[2] == "c"
    assert await thread.run(values(box), grouped=True) == ["c"]
    assert box.lost == 1


async def test_calls_outside_a_transaction_run_alone(worker: tuple[GroupCommitThread, Box]) -> None:
    thread, box = worker

    def in_transaction() -> bool:
        assert box.conn is not None
        return box.conn.in_transaction

    assert await thread.run(in_transaction, grouped=True) is True
    assert await thread.run(in_transaction, grouped=False) is False
    # A call outside a transaction queued among grouped ones splits the group.
    before = thread.groups
    gate = threading.Event()
    blocker = asyncio.ensure_future(thread.run(gate.wait, grouped=True))
    await asyncio.sleep(0.05)
    calls = [
        asyncio.ensure_future(thread.run(in_transaction, grouped=g))
        for g in (True, True, False, True)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    await blocker
    assert await asyncio.gather(*calls) == [True, True, False, True]
    assert thread.groups - before == 3  # blocker; the two before; the one after


async def test_stop_runs_what_was_queued_first(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    created = [asyncio.ensure_future(store.create_job(job_values())) for _ in range(30)]
    await asyncio.sleep(0)
    await store.close()  # queued after the creates: they all finish first
    jobs = await asyncio.gather(*created)
    assert len({j.id for j in jobs}) == 30


async def test_concurrent_store_calls_are_grouped_and_each_is_answered(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    try:
        jobs = await asyncio.gather(*(store.create_job(job_values()) for _ in range(100)))
        groups = store._thread.groups
        moved = await asyncio.gather(
            *(store.transition(j.id, S.ACCEPTED, S.SUBMITTING, "go") for j in jobs),
            *(store.transition(j.id, S.ACCEPTED, S.CANCELLED, "race") for j in jobs),
        )
        # Each job moved exactly once: the compare-and-set holds inside a group.
        won = [m for m in moved if m is not None]
        assert len(won) == 100 and {m.state for m in won} == {S.SUBMITTING}
        assert store._thread.groups - groups < 50  # 200 calls, far fewer commits
        assert (await store.count_by_state()) == {"submitting": 100}
    finally:
        await store.close()
