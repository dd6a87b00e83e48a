"""Reports and their review in the store, on SQLite and on PostgreSQL: once per member and
result, one review per result whoever reports first, and a decision taken once."""

from __future__ import annotations

import asyncio

from bot.store import Store


async def test_a_member_reports_a_result_once_and_the_first_report_opens_the_review(
    store: Store,
) -> None:
    assert await store.review(7) is None
    assert await store.add_report(7, 100, 1, at=10.0) == (True, True)
    assert await store.add_report(7, 100, 1, at=11.0) == (False, False)  # the same member
    assert await store.add_report(7, 101, 1, at=12.0) == (True, False)  # review already open
    assert await store.report_count(7) == 2
    review = await store.review(7)
    assert review is not None
    assert review["state"] == "pending" and review["guild_id"] == 1
    assert review["message_id"] is None and review["decided_by"] is None
    assert await store.add_report(8, 100, 1, at=13.0) == (True, True)  # another result


async def test_simultaneous_reports_open_one_review(store: Store) -> None:
    outcomes = await asyncio.gather(*(store.add_report(9, user, 1, at=1.0) for user in range(20)))
    assert all(first for first, _ in outcomes)
    assert sum(opened for _, opened in outcomes) == 1
    assert await store.report_count(9) == 20


async def test_the_review_post_is_kept_and_a_decision_is_taken_once(store: Store) -> None:
    await store.add_report(7, 100, 1, at=10.0)
    await store.set_review_post(7, channel_id=55, message_id=66)
    decided = await asyncio.gather(
        store.decide_review(7, "kept", 500, at=20.0),
        store.decide_review(7, "removed", 501, at=20.0),
    )
    assert sorted(decided) == [False, True]
    review = await store.review(7)
    assert review is not None
    assert (review["channel_id"], review["message_id"]) == (55, 66)
    winner = "kept" if decided[0] else "removed"
    assert review["state"] == winner and review["decided_by"] == (500 if decided[0] else 501)
    assert not await store.decide_review(7, "removed", 502, at=30.0)
    assert (await store.review(7) or {})["state"] == winner
    assert not await store.decide_review(404, "kept", 500, at=30.0)  # no review at all
