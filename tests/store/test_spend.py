"""Spend queries: running totals by period and day, jobs per day and model, and budget
alerts recorded once per guild, period and level (both databases)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.domain.job_states import JobState
from bot.domain.quota import Charge
from bot.store import Store
from tests.helpers.store import job_values

S = JobState


async def charge(store: Store, day: str, usd: float, **values: Any) -> int:
    job = await store.create_job_with_charge(
        job_values(**values), Charge(1, 0, usd), (day, day[:7]), lambda _: None
    )
    return job.id


async def test_guild_spend_reads_the_running_totals(store: Store) -> None:
    await charge(store, "2026-11-30", 1.5)
    await charge(store, "2026-12-01", 0.25)
    await charge(store, "2026-12-01", 0.5)
    await charge(store, "2026-12-01", 9.0, guild_id=2)
    spend = await store.guild_spend(1, ["d:2026-12-01", "m:2026-12", "d:2026-12-02"])
    assert spend == {"d:2026-12-01": pytest.approx(0.75), "m:2026-12": pytest.approx(0.75)}
    assert await store.guild_spend(1, ["m:2026-11"]) == {"m:2026-11": pytest.approx(1.5)}


async def test_refunds_leave_the_daily_spend_and_the_job_counts(store: Store) -> None:
    await charge(store, "2026-11-30", 1.0, model="seedream-4")
    await charge(store, "2026-12-01", 0.5, model="seedream-4")
    await charge(store, "2026-12-01", 0.5, model="seedream-4")
    failed = await charge(store, "2026-12-01", 2.0, model="veo3")
    await charge(store, "2026-12-01", 3.0, model="veo3", guild_id=2)
    await charge(store, "2026-10-31", 4.0)  # before the window
    assert await store.transition(failed, S.ACCEPTED, S.REJECTED, "refused") is not None
    assert await store.daily_spend(1, "2026-11-02", "2026-12-01") == {
        "2026-11-30": pytest.approx(1.0),
        "2026-12-01": pytest.approx(1.0),
    }
    assert await store.daily_jobs(1, "2026-11-02", "2026-12-01") == [
        ("2026-11-30", "seedream-4", 1),
        ("2026-12-01", "seedream-4", 2),
    ]


async def test_each_alert_level_is_recorded_once(store: Store) -> None:
    assert await store.record_budget_alerts(1, "d:2026-12-01", [50, 80]) == {50, 80}
    assert await store.record_budget_alerts(1, "d:2026-12-01", [50, 80, 100]) == {100}
    assert await store.record_budget_alerts(1, "d:2026-12-01", [50]) == set()
    assert await store.record_budget_alerts(1, "d:2026-12-02", [50]) == {50}
    assert await store.record_budget_alerts(2, "d:2026-12-01", [50]) == {50}
    assert await store.budget_alerts_sent(1, "d:2026-12-01") == {50, 80, 100}
    assert await store.budget_alerts_sent(1, "m:2026-12") == set()


async def test_simultaneous_records_take_each_level_once(store_target: str) -> None:
    """Two stores on one database (two processes): each level goes to one of them."""
    first, second = await Store.open(store_target), await Store.open(store_target)
    try:
        results = await asyncio.gather(
            *[s.record_budget_alerts(1, "m:2026-12", [50, 80, 100]) for s in [first, second] * 5]
        )
        taken = [level for result in results for level in result]
        assert sorted(taken) == [50, 80, 100]
    finally:
        await first.close()
        await second.close()
