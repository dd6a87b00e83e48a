"""Submits Max API answers busy (429 or 503, nothing created): the job waits in the store
and tries again, up to its budget, then ends refunded; an unclear answer is never resent.

Against the simulator, a real client and both databases (``store_target``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot import maxapi
from bot.domain.catalog import GenerationRequest
from bot.domain.job_states import JobState
from bot.domain.units import human_duration
from bot.services.submit_retry import (
    BUSY_REASON,
    GAVE_UP,
    busy_delay,
    is_busy,
    next_try,
)
from tests.helpers.jobs import IMAGE, REQUESTER, Harness, charge_of, harness

S = JobState


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        yield running


def submit_statuses(h: Harness) -> list[int | None]:
    return [r.status for r in h.sim.submissions]


# -- the rule ----------------------------------------------------------------------------


def test_retry_after_is_obeyed_else_the_backoff_doubles_up_to_30_s() -> None:
    assert busy_delay(7.0, 0) == 7.0
    assert busy_delay(0.0, 3) == 1.0  # "0" again and again is no busy loop
    assert [busy_delay(None, n) for n in range(6)] == [2, 4, 8, 16, 30, 30]
    assert busy_delay(None, 10_000) == 30


def test_the_budget_ends_the_wait_or_cuts_the_last_backoff_short() -> None:
    assert next_try(100.0, 100.0, 120.0, None, 0) == 102.0
    assert next_try(210.0, 100.0, 120.0, None, 4) == 220.0  # 30 s cut to the deadline
    assert next_try(220.0, 100.0, 120.0, None, 5) is None  # budget spent
    assert next_try(200.0, 100.0, 120.0, 30.0, 0) is None  # Max API asks past the budget
    assert next_try(200.0, 100.0, 120.0, 20.0, 0) == 220.0


def test_only_429_and_503_count_as_busy() -> None:
    assert is_busy(maxapi.RateLimited("slow down", http_status=429))
    assert is_busy(maxapi.Unavailable("busy", http_status=503))
    assert not is_busy(maxapi.ServerError("boom", http_status=500))
    assert not is_busy(maxapi.AmbiguousSubmit("unclear", http_status=502))


# -- the job -----------------------------------------------------------------------------


async def test_429_twice_then_accepted_is_sent_again_and_queued_once(h: Harness) -> None:
    h.sim.faults.rate_limit_next(2, retry_after=1, endpoint="submit")
    accepted = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="a fox"), REQUESTER)
    first = await h.jobs.submit(accepted.id)
    assert first is not None and first.state == S.ACCEPTED
    assert first.submit_after is not None and first.busy_since is not None
    assert 0.9 <= first.submit_after - h.jobs.clock() <= 1.1
    assert first.task_id is None
    queued = await h.wait_state(accepted.id, S.QUEUED, within=6)
    assert queued.task_id in h.sim.tasks and len(h.sim.tasks) == 1
    assert submit_statuses(h) == [429, 429, 200]
    assert await charge_of(h, queued.id) == "reserved"
    assert await h.transitions(queued.id) == [
        (None, "accepted"),
        ("accepted", "submitting"),
        ("submitting", "accepted"),
        ("accepted", "submitting"),
        ("submitting", "accepted"),
        ("accepted", "submitting"),
        ("submitting", "queued"),
    ]


async def test_503_without_retry_after_backs_off_2_s(h: Harness) -> None:
    h.sim.faults.busy_next(1, endpoint="submit")
    job = await h.start_job("a fox")
    assert job.state == S.ACCEPTED and job.submit_after is not None
    assert 1.9 <= job.submit_after - h.jobs.clock() <= 2.1
    await asyncio.sleep(1.0)
    assert submit_statuses(h) == [503], "not before its time"
    queued = await h.wait_state(job.id, S.QUEUED, within=5)
    assert submit_statuses(h) == [503, 200] and queued.task_id in h.sim.tasks


async def test_busy_past_the_budget_ends_refunded_with_the_reason(h: Harness) -> None:
    h.jobs.busy.budget = 1.5
    h.sim.faults.rate_limit_next(10, retry_after=1, endpoint="submit")
    job = await h.start_job("a fox")
    ended = await h.wait_state(job.id, S.REJECTED, within=6)
    assert ended.failure_reason == BUSY_REASON and ended.failure_message == GAVE_UP
    assert ended.failure_fields == {"duration": human_duration(1.5)}
    assert submit_statuses(h) == [429, 429]  # the second asked to wait past the budget
    assert await charge_of(h, job.id) == "refunded"
    assert not h.sim.tasks


async def test_a_cancel_while_waiting_refunds_and_sends_nothing_more(h: Harness) -> None:
    h.sim.faults.rate_limit_next(1, retry_after=1, endpoint="submit")
    job = await h.start_job("a fox")
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.job.state == S.CANCELLED
    await asyncio.sleep(1.3)  # past the time it would have tried again
    assert submit_statuses(h) == [429]
    assert await charge_of(h, job.id) == "refunded"


async def test_the_wait_survives_a_restart(h: Harness) -> None:
    h.sim.faults.rate_limit_next(1, retry_after=2, endpoint="submit")
    job = await h.start_job("a fox")
    assert job.state == S.ACCEPTED and job.submit_after is not None
    await h.jobs.close()  # the process stops while the job waits: nothing in memory is left
    counts = await h.restart()
    assert counts["resubmitted"] == 1
    await asyncio.sleep(0.5)
    assert submit_statuses(h) == [429], "the stored time is kept after a restart"
    queued = await h.wait_state(job.id, S.QUEUED, within=6)
    assert submit_statuses(h) == [429, 200] and queued.task_id in h.sim.tasks


async def test_an_unclear_answer_after_a_busy_one_is_lost_and_not_resent(h: Harness) -> None:
    h.sim.faults.busy_next(1, retry_after=1, endpoint="submit")
    h.sim.faults.fail_next(1, status=502, endpoint="submit", processed=True)
    job = await h.start_job("a fox")
    lost = await h.wait_state(job.id, S.LOST, within=5)
    assert lost.failure_reason == "AMBIGUOUS_SUBMIT"
    await asyncio.sleep(1.2)
    assert submit_statuses(h) == [503, 502]  # never a third time
    assert len(h.sim.tasks) == 1  # why: the 502 had created it
