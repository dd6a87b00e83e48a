"""Members' preferences, closed DMs and the once-only DM claim in the store, on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.store import Store
from tests.helpers.store import job_values


async def test_preferences_are_per_member_and_server_and_set_one_at_a_time(store: Store) -> None:
    assert await store.member_prefs(1, 10) == {}
    got = await store.set_member_prefs(1, 10, {"image_model": "seedream-4.5"}, at=5.0)
    assert got == {"image_model": "seedream-4.5"}
    got = await store.set_member_prefs(1, 10, {"ratio": "16:9", "notify": "dm"}, at=6.0)
    assert got == {"image_model": "seedream-4.5", "ratio": "16:9", "notify": "dm"}
    assert await store.member_prefs(1, 10) == got
    assert await store.member_prefs(2, 10) == {}  # another server
    assert await store.member_prefs(1, 11) == {}  # another member
    dropped = await store.set_member_prefs(1, 10, {"ratio": None}, at=7.0)
    assert dropped == {"image_model": "seedream-4.5", "notify": "dm"}


async def test_reset_forgets_every_preference_once(store: Store) -> None:
    await store.set_member_prefs(1, 10, {"video_model": "veo3-fast"}, at=5.0)
    await store.set_member_prefs(2, 10, {"ratio": "1:1"}, at=5.0)
    assert await store.reset_member_prefs(1, 10) is True
    assert await store.reset_member_prefs(1, 10) is False
    assert await store.member_prefs(1, 10) == {}
    assert await store.member_prefs(2, 10) == {"ratio": "1:1"}


async def test_closed_dms_are_remembered_until_cleared(store: Store) -> None:
    assert await store.dm_closed(10) is False
    await store.mark_dm_closed(10, at=5.0)
    await store.mark_dm_closed(10, at=6.0)  # twice: no error
    assert await store.dm_closed(10) is True
    assert await store.dm_closed(11) is False
    await store.clear_dm_closed(10)
    assert await store.dm_closed(10) is False


async def test_one_claim_of_a_jobs_dm_wins_among_many(store: Store) -> None:
    job = await store.create_job(job_values())
    assert job.dm_notified_at is None
    wins = await asyncio.gather(*(store.claim_dm_notice(job.id, at=9.0) for _ in range(10)))
    assert sum(wins) == 1
    again = await store.get(job.id)
    assert again is not None and again.dm_notified_at == 9.0
    assert await store.claim_dm_notice(job.id, at=10.0) is False
