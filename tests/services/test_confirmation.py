"""Jobs held for Confirm, on SQLite and PostgreSQL, against the Max API simulator: the
hold is set at acceptance, no submit path sends a held job, Confirm and the expiry
sweep are compare-and-sets (a second click, a second process, a late click: nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.confirmation import CONFIRM_SECONDS, EXPIRING
from bot.domain.errors import NotAllowed
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Usage, period_keys
from bot.services.confirmation import (
    ALREADY_CONFIRMED,
    NOT_CONFIRMED,
    WAS_CANCELLED,
    WAS_EXPIRED,
    ConfirmationService,
)
from tests.helpers.jobs import IMAGE, REQUESTER, VIDEO, Harness, harness

S = JobState
OWNER = REQUESTER.user_id


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        # Limits lifted, but the server asks above $0.50 (the built-in threshold).
        await running.store.update_guild_config(REQUESTER.guild_id or 0, confirm_above_usd=0.5)
        yield running


@pytest.fixture
def confirmations(h: Harness) -> ConfirmationService:
    return ConfirmationService(h.jobs)


async def held_video(h: Harness, prompt: str = "a storm over the sea") -> Job:
    job = await h.jobs.accept(GenerationRequest(model=VIDEO, prompt=prompt), REQUESTER)
    assert job.state == S.ACCEPTED and job.price_usd == pytest.approx(3.2)
    assert job.confirm_by == pytest.approx(h.jobs.clock() + CONFIRM_SECONDS, abs=5)
    return job


async def usage(h: Harness) -> Usage:
    day, month = period_keys(h.jobs.clock())
    return await h.store.usage(REQUESTER.guild_id, OWNER, day, month)


def later(h: Harness, seconds: float) -> None:
    h.clock_offset[0] += seconds


async def test_an_expensive_job_is_held_and_no_submit_path_sends_it(h: Harness) -> None:
    job = await held_video(h)
    assert (await usage(h)).spend_today_usd == pytest.approx(3.2)  # reserved, as usual

    still = await h.jobs.submit(job.id)  # launch's submit_soon, the busy retry, adoption
    assert still is not None and still.state == S.ACCEPTED
    await h.restart()  # start-up recovery adopts accepted jobs of a dead owner
    await asyncio.sleep(0.1)
    assert (await h.job(job.id)).state == S.ACCEPTED
    assert (await h.job(job.id)).confirm_by == job.confirm_by
    assert h.sim.submissions == []


async def test_a_cheap_job_or_a_server_that_never_asks_is_not_held(h: Harness) -> None:
    cheap = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="a fox"), REQUESTER)
    assert cheap.confirm_by is None
    await h.store.update_guild_config(REQUESTER.guild_id or 0, confirm_above_usd=5.0)
    under = await h.jobs.accept(GenerationRequest(model=VIDEO, prompt="a storm"), REQUESTER)
    assert under.confirm_by is None
    await h.store.update_guild_config(REQUESTER.guild_id or 0, confirm_above_usd=0.0)
    off = await h.jobs.accept(GenerationRequest(model=VIDEO, prompt="a storm 2"), REQUESTER)
    assert off.confirm_by is None
    submitted = await h.jobs.submit(off.id)
    assert submitted is not None and submitted.state == S.QUEUED


async def test_confirm_releases_once_then_the_job_is_submitted(
    h: Harness, confirmations: ConfirmationService
) -> None:
    job = await held_video(h)
    first = await confirmations.confirm(job.id, OWNER)
    assert first.confirmed and first.job.confirm_by is None
    second = await confirmations.confirm(job.id, OWNER)
    assert not second.confirmed and second.message == ALREADY_CONFIRMED
    queued = await h.jobs.submit(job.id)
    assert queued is not None and queued.state == S.QUEUED
    assert len(h.sim.submissions) == 1
    assert not (await confirmations.confirm(job.id, OWNER)).confirmed


async def test_only_the_member_who_started_it_confirms(
    h: Harness, confirmations: ConfirmationService
) -> None:
    job = await held_video(h)
    with pytest.raises(NotAllowed) as refused:
        await confirmations.confirm(job.id, OWNER + 1)
    assert refused.value.template == "Only the member who started job #{job_id} can confirm it."
    assert (await h.job(job.id)).confirm_by == job.confirm_by


async def test_cancel_refunds_and_a_later_confirm_changes_nothing(
    h: Harness, confirmations: ConfirmationService
) -> None:
    job = await held_video(h)
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled
    assert (await usage(h)).spend_today_usd == pytest.approx(0.0)
    late = await confirmations.confirm(job.id, OWNER)
    assert not late.confirmed and late.message == WAS_CANCELLED
    assert (await h.job(job.id)).state == S.CANCELLED and h.sim.submissions == []


async def test_no_answer_in_two_minutes_cancels_and_refunds_once(h: Harness) -> None:
    job = await held_video(h)
    one, two = ConfirmationService(h.jobs), ConfirmationService(h.jobs)  # two processes
    assert await one.expire_due() == []  # not yet
    later(h, CONFIRM_SECONDS + 1)
    done = await asyncio.gather(one.expire_due(), two.expire_due())
    assert sorted(len(d) for d in done) == [0, 1]
    ended = await h.job(job.id)
    assert ended.state == S.CANCELLED and ended.confirm_by == EXPIRING
    assert ended.failure_message == NOT_CONFIRMED
    assert (await usage(h)).spend_today_usd == pytest.approx(0.0)
    assert [e for e in await h.transitions(job.id) if e[1] == "cancelled"] == [
        ("accepted", "cancelled")
    ]
    late = await one.confirm(job.id, OWNER)
    assert not late.confirmed and late.message == WAS_EXPIRED
    assert h.sim.submissions == []


async def test_a_confirm_after_the_deadline_expires_the_job_itself(
    h: Harness, confirmations: ConfirmationService
) -> None:
    job = await held_video(h)
    later(h, CONFIRM_SECONDS + 1)  # the sweep has not run yet
    late = await confirmations.confirm(job.id, OWNER)
    assert not late.confirmed and late.message == WAS_EXPIRED
    assert (await h.job(job.id)).state == S.CANCELLED


async def test_confirm_and_expiry_cannot_both_win(h: Harness) -> None:
    job = await held_video(h)
    now = h.jobs.clock()
    # Confirm first: the expiry's compare-and-set finds nothing held.
    assert await h.store.release_hold(job.id, now) is not None
    assert await h.store.expire_hold(job.id, now + 1000, EXPIRING) is None
    other = await held_video(h, "another storm")
    # Expiry first: a Confirm, even by a process whose clock is behind, finds nothing.
    assert await h.store.expire_hold(other.id, now + 1000, EXPIRING) is not None
    assert await h.store.release_hold(other.id, now) is None
    assert [j.id for j in await h.store.holds_past(now + 1000)] == [other.id]


async def test_a_sweep_that_died_midway_is_finished_by_the_next(
    h: Harness, confirmations: ConfirmationService
) -> None:
    job = await held_video(h)
    later(h, CONFIRM_SECONDS + 1)
    # A process took the job for expiry, then died before cancelling it.
    assert await h.store.expire_hold(job.id, h.jobs.clock(), EXPIRING) is not None
    assert [j.id for j in await confirmations.expire_due()] == [job.id]
    assert (await h.job(job.id)).state == S.CANCELLED
