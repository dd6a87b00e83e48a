"""Limits through the job service against the simulator: simultaneous commands never
pass a limit, every charge-free ending refunds, guild rules refuse and are audited."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.catalog import GenerationRequest
from bot.errors import LimitReached, NotAllowed, UserFacingError
from bot.job_states import JobState
from bot.quota import Limits, period_keys
from bot.simulator import SimulatorConfig
from tests.jobs_support import IMAGE, REQUESTER, SCALE, Harness, follow, harness

S = JobState
GUILD = REQUESTER.guild_id or 0


async def usage(h: Harness) -> tuple[int, int, float]:
    day, month = period_keys(h.jobs.clock())
    u = await h.store.usage(GUILD, REQUESTER.user_id, day, month)
    return u.images_today, u.videos_today, round(u.spend_today_usd, 6)


@pytest.fixture
async def h(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with harness(tmp_path, unlimited=False) as running:
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
    await h.jobs.recover()  # caught mid-submit: lost, refunded
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


async def test_guild_defaults_apply_where_the_model_takes_them(tmp_path: Path) -> None:
    async with harness(tmp_path, sim_config=SimulatorConfig(speed=SCALE)) as h:
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
