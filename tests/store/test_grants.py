"""Day grants and moderators' refunds in the store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import LimitReached
from bot.domain.job import Job
from bot.domain.job_states import UPSTREAM, JobState
from bot.domain.quota import Charge, Grant, GuildPolicy, Limits, Usage, check
from bot.store import Store
from tests.helpers.store import job_values

S = JobState
DAY, MONTH = "2026-12-05", "2026-12"
GUILD, USER = 1, 3  # job_values' guild and member


async def charged(store: Store, usd: float = 0.5, *, end: JobState = S.DELIVERED) -> Job:
    """A job whose charge is reserved and then, unless ``end`` is running, closed."""
    job = await store.create_job_with_charge(
        job_values(), Charge(1, 0, usd), (DAY, MONTH), lambda _: None
    )
    await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(job.id, S.SUBMITTING, S.RUNNING, "ok", task_id=f"t{job.id}")
    if end == S.DELIVERED:
        await store.transition(job.id, UPSTREAM, S.SUCCEEDED, "done")
        await store.transition(job.id, S.SUCCEEDED, S.DELIVERING, "post")
        await store.transition(job.id, S.DELIVERING, S.DELIVERED, "posted")
    elif end != S.RUNNING:
        await store.transition(job.id, UPSTREAM, end, "ended")
    return job


async def test_grants_of_one_day_add_up_and_reach_the_usage(store: Store) -> None:
    assert (await store.usage(GUILD, USER, DAY, MONTH)).grant == Grant()
    assert await store.add_grant(GUILD, USER, DAY, Grant(images=2)) == Grant(2, 0, 0.0)
    total = await store.add_grant(GUILD, USER, DAY, Grant(videos=1, usd=1.25))
    assert total == Grant(2, 1, 1.25)
    assert (await store.usage(GUILD, USER, DAY, MONTH)).grant == Grant(2, 1, 1.25)
    # Another day, another member, another server: untouched.
    assert (await store.usage(GUILD, USER, "2026-12-06", MONTH)).grant == Grant()
    assert (await store.usage(GUILD, 99, DAY, MONTH)).grant == Grant()
    assert (await store.usage(2, USER, DAY, MONTH)).grant == Grant()
    rows = await store.grants_in(GUILD, "2026-12-01", DAY)
    assert [(r["user_id"], r["day"], r["images"], r["videos"]) for r in rows] == [
        (
            USER,
            DAY,
            2,
            1,
        )
    ]
    assert await store.grants_in(GUILD, DAY, DAY, user_id=99) == []


async def test_simultaneous_grants_all_count(store: Store) -> None:
    await asyncio.gather(*[store.add_grant(GUILD, USER, DAY, Grant(images=1)) for _ in range(20)])
    assert await store.grant(GUILD, USER, DAY) == Grant(images=20)


async def test_the_accept_gate_sees_the_grant_of_its_day(store: Store) -> None:
    """One more image than the limit fits only once a grant raised it, in the same
    transaction that reserves it."""
    limits = Limits(images_per_day=1)
    policy = GuildPolicy(daily_budget_usd=None, monthly_budget_usd=None)

    def gate(usage: Usage) -> None:
        check(limits, usage, Charge(1, 0, 0.04), policy, 0.0)

    async def accept() -> Job:
        return await store.create_job_with_charge(
            job_values(), Charge(1, 0, 0.04), (DAY, MONTH), gate
        )

    await accept()
    with pytest.raises(LimitReached):
        await accept()
    await store.add_grant(GUILD, USER, DAY, Grant(images=1))
    await accept()
    with pytest.raises(LimitReached):
        await accept()


async def test_simultaneous_accepts_never_pass_the_granted_limit(store: Store) -> None:
    limits = Limits(images_per_day=1)
    policy = GuildPolicy(daily_budget_usd=None, monthly_budget_usd=None)

    def gate(usage: Usage) -> None:
        check(limits, usage, Charge(1, 0, 0.04), policy, 0.0)

    await store.add_grant(GUILD, USER, DAY, Grant(images=2))
    results = await asyncio.gather(
        *[
            store.create_job_with_charge(job_values(), Charge(1, 0, 0.04), (DAY, MONTH), gate)
            for _ in range(30)
        ],
        return_exceptions=True,
    )
    accepted = [r for r in results if isinstance(r, Job)]
    assert len(accepted) == 3
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, Job))
    assert (await store.usage(GUILD, USER, DAY, MONTH)).images_today == 3


async def test_a_refund_gives_a_settled_charge_back_once(store: Store) -> None:
    job = await charged(store, 0.5)
    other = await charged(store, 0.25)
    before = await store.usage(GUILD, USER, DAY, MONTH)
    assert before.guild_spend_today_usd == pytest.approx(0.75)

    done = await store.refund_charge(GUILD, job.id, 42, "bad result")
    assert done.state == "refunded" and done.charge is not None
    assert done.charge["user_id"] == USER and done.charge["usd"] == pytest.approx(0.5)
    after = await store.usage(GUILD, USER, DAY, MONTH)
    assert after.guild_spend_today_usd == pytest.approx(0.25)
    assert after.guild_spend_month_usd == pytest.approx(0.25)
    assert after.images_today == 1 and after.spend_today_usd == pytest.approx(0.25)
    (row,) = [r for r in await store.charges_in(GUILD, DAY, DAY) if r["job_id"] == job.id]
    assert (row["state"], row["refunded_by"], row["refund_reason"]) == (
        "refunded",
        42,
        "bad result",
    )

    again = await store.refund_charge(GUILD, job.id, 43, "twice")
    assert again.state == "already_refunded" and again.charge is not None
    assert again.charge["refunded_by"] == 42
    assert (await store.usage(GUILD, USER, DAY, MONTH)).guild_spend_today_usd == pytest.approx(0.25)
    assert (await store.refund_charge(GUILD, other.id, 42, None)).state == "refunded"


async def test_simultaneous_refunds_give_back_once(store: Store) -> None:
    job = await charged(store, 0.5)
    await charged(store, 0.25)
    results = await asyncio.gather(
        *[store.refund_charge(GUILD, job.id, 42, None) for _ in range(8)]
    )
    assert sorted(r.state for r in results) == ["already_refunded"] * 7 + ["refunded"]
    usage = await store.usage(GUILD, USER, DAY, MONTH)
    assert usage.guild_spend_today_usd == pytest.approx(0.25)


async def test_refunds_that_cannot_be_given(store: Store) -> None:
    running = await charged(store, end=S.RUNNING)
    failed = await charged(store, end=S.FAILED)  # refunded when it ended
    uncharged = await store.create_job(job_values())
    elsewhere = await store.create_job_with_charge(
        job_values(guild_id=2), Charge(1, 0, 0.5), (DAY, MONTH), lambda _: None
    )
    assert (await store.refund_charge(GUILD, running.id, 42, None)).state == "running"
    assert (await store.refund_charge(GUILD, failed.id, 42, None)).state == "never_charged"
    assert (await store.refund_charge(GUILD, uncharged.id, 42, None)).state == "never_charged"
    assert (await store.refund_charge(GUILD, elsewhere.id, 42, None)).state == "no_job"
    assert (await store.refund_charge(GUILD, 10_000, 42, None)).state == "no_job"
    usage = await store.usage(GUILD, USER, DAY, MONTH)
    assert usage.guild_spend_today_usd == pytest.approx(0.5)  # only the running job's
    assert (await store.usage(2, USER, DAY, MONTH)).guild_spend_today_usd == pytest.approx(0.5)


async def test_refundable_lists_the_guilds_settled_charges_newest_first(store: Store) -> None:
    first = await charged(store, 0.5)
    second = await charged(store, 0.25)
    await charged(store, end=S.RUNNING)
    await charged(store, end=S.FAILED)
    await store.create_job_with_charge(
        job_values(guild_id=2), Charge(1, 0, 0.5), (DAY, MONTH), lambda _: None
    )
    listed = await store.refundable(GUILD)
    assert [r["job_id"] for r in listed] == [second.id, first.id]
    assert listed[0]["usd"] == pytest.approx(0.25) and listed[0]["model"] == "nano-banana"
    await store.refund_charge(GUILD, second.id, 42, None)
    assert [r["job_id"] for r in await store.refundable(GUILD)] == [first.id]
