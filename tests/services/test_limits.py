"""Limits through the job service against the simulator: simultaneous commands never
pass a limit, every charge-free ending refunds, guild rules refuse and are audited."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.errors import LimitReached, NotAllowed, UserFacingError
from bot.domain.job_states import JobState
from bot.domain.quota import Limits, OperatorCap, operator_periods, period_keys
from simulator import SimulatorConfig
from tests.helpers.jobs import IMAGE, REQUESTER, SCALE, Harness, follow, harness

S = JobState
GUILD = REQUESTER.guild_id or 0


async def usage(h: Harness) -> tuple[int, int, float]:
    day, month = period_keys(h.jobs.clock())
    u = await h.store.usage(GUILD, REQUESTER.user_id, day, month)
    return u.images_today, u.videos_today, round(u.spend_today_usd, 6)


@pytest.fixture
async def h(store_target: str):  # type: ignore[no-untyped-def]
    async with harness(store_target, unlimited=False) as running:
        yield running


async def test_simultaneous_requests_never_pass_the_limit(h: Harness) -> None:
    await h.store.set_limits(GUILD, "guild", 0, Limits(images_per_day=5, jobs_at_once=100))
    request = GenerationRequest(IMAGE, "a fox")
    results = await asyncio.gather(
        *[h.jobs.accept(request, REQUESTER) for _ in range(100)], return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(accepted) == 5 and len(refused) == 95
    assert await usage(h) == (5, 0, pytest.approx(0.2))


async def test_count_uses_that_many_images(h: Harness) -> None:
    await h.store.set_limits(GUILD, "user", REQUESTER.user_id, Limits(images_per_day=5))
    await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 4}), REQUESTER)
    with pytest.raises(LimitReached, match="needs 2 image"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)


@pytest.mark.parametrize(
    ("prompt", "end"),
    [
        ("a fox [sim:fail=CONTENT_MODERATION]", S.FAILED),
        ("a fox [sim:fail=null]", S.FAILED),
        ("a fox [sim:timeout]", S.FAILED),
        ("a fox [sim:cancel]", S.CANCELLED),
        ("forbidden fox", S.REJECTED),  # the simulator's moderation word
    ],
)
async def test_charge_free_endings_refund(h: Harness, prompt: str, end: JobState) -> None:
    job = await h.jobs.accept(GenerationRequest(IMAGE, prompt), REQUESTER)
    assert await usage(h) == (1, 0, pytest.approx(0.04))
    await h.jobs.submit(job.id)
    done = await follow(h, job.id)
    assert done.state == end
    assert await usage(h) == (0, 0, 0.0)


async def test_member_cancel_and_lost_refund(h: Harness) -> None:
    job = await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)
    await h.jobs.cancel(job.id)
    assert await usage(h) == (0, 0, 0.0)
    job = await h.jobs.accept(GenerationRequest(IMAGE, "y"), REQUESTER)
    await h.store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "test")
    await h.restart()  # caught mid-submit: lost, refunded
    assert (await h.job(job.id)).state == S.LOST
    assert await usage(h) == (0, 0, 0.0)


async def test_expiry_upstream_refunds_but_a_result_is_charged(h: Harness) -> None:
    job = await h.start_job("slow [sim:hold]")
    h.clock_offset[0] += 10**6  # far past the model's maximum age
    await h.jobs.refresh(await h.job(job.id))
    assert (await h.job(job.id)).state == S.EXPIRED
    assert await usage(h) == (0, 0, 0.0)
    done = await follow(h, (await h.start_job("quick")).id)
    assert done.state == S.SUCCEEDED
    assert await usage(h) == (1, 0, pytest.approx(0.04))
    charges = await h.store.charges_in(GUILD, "0000", "9999")
    assert {c["job_id"]: c["state"] for c in charges} == {job.id: "refunded", done.id: "settled"}


async def test_guild_budget_exhaustion(h: Harness) -> None:
    await h.store.update_guild_config(GUILD, daily_budget_usd=0.1)
    await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    with pytest.raises(LimitReached, match="budget for today"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 1}), REQUESTER)


async def test_exempt_role_skips_member_limits(h: Harness) -> None:
    await h.store.set_limits(GUILD, "guild", 0, Limits(images_per_day=0))
    await h.store.update_guild_config(GUILD, exempt_role_ids=[77])
    with pytest.raises(LimitReached):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)
    staff = dataclasses.replace(REQUESTER, role_ids=(77,))
    await h.jobs.accept(GenerationRequest(IMAGE, "x"), staff)


async def test_roles_give_the_most_generous_limit(h: Harness) -> None:
    await h.store.set_limits(GUILD, "guild", 0, Limits(images_per_day=0))
    await h.store.set_limits(GUILD, "role", 10, Limits(images_per_day=1))
    await h.store.set_limits(GUILD, "role", 11, Limits(images_per_day=3))
    member = dataclasses.replace(REQUESTER, role_ids=(10, 11))
    for _ in range(3):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), member)
    with pytest.raises(LimitReached):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), member)


@pytest.mark.parametrize(
    ("setup", "request_", "error", "says"),
    [
        ("block", GenerationRequest(IMAGE, "x"), NotAllowed, "spamming"),
        ("deny_channel", GenerationRequest(IMAGE, "x"), NotAllowed, "not enabled"),
        ("allow_other_channel", GenerationRequest(IMAGE, "x"), NotAllowed, "not enabled"),
        ("models", GenerationRequest(IMAGE, "x"), NotAllowed, "only these models"),
        ("words", GenerationRequest(IMAGE, "a b4dw0rd fox"), UserFacingError, "does not allow"),
    ],
)
async def test_guild_rules_refuse_before_reserving_and_are_audited(
    h: Harness, setup: str, request_: GenerationRequest, error: type[Exception], says: str
) -> None:
    if setup == "block":
        await h.store.block(GUILD, REQUESTER.user_id, "spamming", None, 99)
    elif setup == "deny_channel":
        await h.store.update_guild_config(
            GUILD, channel_mode="deny", channel_ids=[REQUESTER.channel_id]
        )
    elif setup == "allow_other_channel":
        await h.store.update_guild_config(GUILD, channel_mode="allow", channel_ids=[12345])
    elif setup == "models":
        await h.store.update_guild_config(GUILD, allowed_models=["nano-banana"])
    elif setup == "words":
        await h.store.update_guild_config(GUILD, banned_words=["badword"])
    with pytest.raises(error, match=says):
        await h.jobs.accept(request_, REQUESTER)
    assert await usage(h) == (0, 0, 0.0)
    assert await h.store.count_by_state() == {}
    entries = await h.store.audit_entries(GUILD)
    assert entries[0]["action"] == "refused" and says in entries[0]["detail"]["reason"]


async def test_expired_block_no_longer_applies(h: Harness) -> None:
    await h.store.block(GUILD, REQUESTER.user_id, None, h.jobs.clock() - 1, 99)
    await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)


async def test_guild_defaults_apply_where_the_model_takes_them(store_target: str) -> None:
    async with harness(store_target, sim_config=SimulatorConfig(speed=SCALE)) as h:
        await h.store.update_guild_config(GUILD, defaults={"ratio": "21:9", "resolution": "2k"})
        job = await h.jobs.accept(GenerationRequest(IMAGE, "x", {"ratio": "1:1"}), REQUESTER)
        assert job.input == {"prompt": "x", "ratio": "1:1", "resolution": "2k"}
        nano = await h.jobs.accept(GenerationRequest("nano-banana", "x"), REQUESTER)
        assert nano.input == {"prompt": "x"}  # 21:9 and 2k are not nano-banana's


async def test_a_refund_gives_the_guild_budget_back(h: Harness) -> None:
    await h.store.update_guild_config(GUILD, daily_budget_usd=0.1)
    first = await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    with pytest.raises(LimitReached, match="budget for today"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 1}), REQUESTER)
    await h.jobs.cancel(first.id)
    await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    day, month = period_keys(h.jobs.clock())
    u = await h.store.usage(GUILD, REQUESTER.user_id, day, month)
    assert u.guild_spend_today_usd == pytest.approx(0.08)
    assert u.guild_spend_month_usd == pytest.approx(0.08)


# -- the operator's money: allowed servers and the cap over all of them --------------------


async def test_a_server_the_operator_did_not_allow_cannot_spend(h: Harness) -> None:
    h.jobs.allowed_guild_ids = frozenset({GUILD + 1})
    with pytest.raises(NotAllowed, match="serves only the servers its operator chose"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)
    dm = dataclasses.replace(REQUESTER, guild_id=None)
    with pytest.raises(NotAllowed, match="serves only"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), dm)
    assert await h.store.count_by_state() == {}
    assert await usage(h) == (0, 0, 0.0)
    h.jobs.allowed_guild_ids = frozenset({GUILD})
    await h.jobs.accept(GenerationRequest(IMAGE, "x"), REQUESTER)


async def test_the_operators_daily_cap_holds_over_every_server_under_simultaneous_commands(
    h: Harness,
) -> None:
    h.jobs.operator_cap = OperatorCap(daily_usd=0.4)  # ten images at $0.04
    guilds = [GUILD + n for n in range(5)]
    for guild in guilds:
        # Each server lifted its own budget and limits as far as they go.
        await h.store.update_guild_config(guild, daily_budget_usd=None, monthly_budget_usd=None)
        await h.store.set_limits(guild, "guild", 0, Limits(images_per_day=1000, jobs_at_once=1000))
    requesters = [
        dataclasses.replace(REQUESTER, guild_id=guild, user_id=REQUESTER.user_id + n)
        for guild in guilds
        for n in range(10)
    ]
    results = await asyncio.gather(
        *[h.jobs.accept(GenerationRequest(IMAGE, "x"), who) for who in requesters],
        return_exceptions=True,
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(accepted) == 10 and len(refused) == 40
    assert "spending cap for today is used up" in str(refused[0])
    day_start, month_start = operator_periods(h.jobs.clock())
    assert await h.store.operator_spend((day_start, month_start)) == (
        pytest.approx(0.4),
        pytest.approx(0.4),
    )


async def test_a_refund_gives_the_operators_cap_back(h: Harness) -> None:
    h.jobs.operator_cap = OperatorCap(daily_usd=0.08)
    first = await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    other = dataclasses.replace(REQUESTER, guild_id=GUILD + 1)
    with pytest.raises(LimitReached, match="spending cap for today"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), other)
    await h.jobs.cancel(first.id)
    await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), other)


async def test_the_operators_monthly_cap_counts_earlier_days(h: Harness) -> None:
    h.jobs.operator_cap = OperatorCap(monthly_usd=0.08)
    day_start, month_start = operator_periods(h.jobs.clock())
    if day_start > month_start:  # not the 1st: a charge yesterday counts for the month
        h.clock_offset[0] -= 24 * 3600
    await h.jobs.accept(GenerationRequest(IMAGE, "x", {"count": 2}), REQUESTER)
    h.clock_offset[0] = 0.0
    other = dataclasses.replace(REQUESTER, guild_id=GUILD + 1)
    with pytest.raises(LimitReached, match="spending cap for this month"):
        await h.jobs.accept(GenerationRequest(IMAGE, "x"), other)
