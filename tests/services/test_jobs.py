"""JobService against the Max API simulator: every path a job can take, end to end.

Each test runs a real simulator on 127.0.0.1, a real :class:`MaxApiClient` over aiohttp,
a temporary SQLite store and the real catalogue; the poll schedule and the simulator
both run at 1/100 speed. Jobs are followed here by :func:`follow` (one look at each
appointment), so that these tests exercise the service without the poller;
``test_poller.py`` covers the loop.

The :func:`harness` helper lives in ``tests/helpers/jobs.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import CANCEL_CHARGED, UPSTREAM, JobState
from bot.domain.quota import period_keys
from bot.maxapi import Task, TaskStatus
from bot.services.job_messages import CHARGED_CANCEL_ANSWERS, FAILURE_MESSAGES, TIMEOUT_MESSAGE
from bot.text.progress_card import failure_text
from simulator import SimulatorConfig
from tests.helpers.jobs import (
    IMAGE,
    REQUESTER,
    SCALE,
    VIDEO,
    Harness,
    charge_of,
    follow,
    harness,
)

S = JobState


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        yield running


# ---------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("model", [IMAGE, VIDEO])
async def test_job_runs_from_accepted_to_succeeded(h: Harness, model: str) -> None:
    # Upstream takes a bit longer than typical, so that the first look sees it running.
    seconds = h.catalog.get(model).typical_seconds * 1.4
    prompt = f"a red fox [sim:seconds={seconds:g}]"
    accepted = await h.jobs.accept(GenerationRequest(model=model, prompt=prompt), REQUESTER)
    assert accepted.state == S.ACCEPTED and accepted.task_id is None
    queued = await h.jobs.submit(accepted.id)
    assert queued is not None and queued.state == S.QUEUED
    assert queued.task_id in h.sim.tasks, "the task id is stored the moment submit returns"
    assert queued.next_poll_at is not None and queued.submitted_at is not None
    assert h.wakes["poller"] == 1

    done = await follow(h, queued.id)

    assert done.state == S.SUCCEEDED
    assert done.result_kind == h.catalog.get(model).media
    assert done.result_urls and all(u.startswith(h.sim.base_url) for u in done.result_urls)
    assert done.next_poll_at is None and done.next_delivery_at is not None
    assert done.result_expires_at is not None and done.result_expires_at > time.time()
    assert h.wakes["delivery"] == 1
    assert await h.transitions(done.id) == [
        (None, "accepted"),
        ("accepted", "submitting"),
        ("submitting", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    assert len(h.sim.submissions) == 1
    body = h.sim.submissions[0].body
    assert body["model"] == model and body["input"] == {"prompt": prompt}
    assert "callBackUrl" not in body, "no callback URL when callbacks are off"


# ---------------------------------------------------------------------------- upstream endings


@pytest.mark.parametrize(
    ("directive", "reason", "message"),
    [
        ("[sim:fail=CONTENT_MODERATION]", "CONTENT_MODERATION", None),
        ("[sim:fail=INVALID_PARAMETERS]", "INVALID_PARAMETERS", None),
        ("[sim:fail=INSUFFICIENT_POINTS]", "INSUFFICIENT_POINTS", None),
        ("[sim:fail]", None, None),
        ("[sim:timeout]", "TIMEOUT", TIMEOUT_MESSAGE),
    ],
)
async def test_upstream_failure_fails_the_job_with_the_reason(
    h: Harness, directive: str, reason: str | None, message: str | None
) -> None:
    job = await h.start_job(f"a fox {directive} [sim:seconds=5]")
    done = await follow(h, job.id)
    assert done.state == S.FAILED
    assert done.failure_reason == reason
    assert done.failure_message == (message or FAILURE_MESSAGES[reason])
    assert done.upstream_status == h.sim.status_of(job.task_id or "")
    assert done.finished_at is not None and done.next_poll_at is None


async def test_task_cancelled_upstream_cancels_the_job(h: Harness) -> None:
    job = await h.start_job("a fox [sim:cancel] [sim:seconds=5]")
    done = await follow(h, job.id)
    assert done.state == S.CANCELLED
    assert done.upstream_status == "CANCELLED"


async def test_task_the_api_no_longer_knows_fails_the_job(h: Harness) -> None:
    job = await h.start_job("a fox [sim:hold]")
    del h.sim.tasks[job.task_id or ""]
    done = await follow(h, job.id)
    assert done.state == S.FAILED
    assert done.failure_reason == "TASK_NOT_FOUND"


async def test_job_older_than_its_model_allows_expires(h: Harness) -> None:
    job = await h.start_job("a fox [sim:hold]")
    await asyncio.sleep(0.05)  # past PENDING and PROCESSING
    still = await h.jobs.refresh(job)
    assert still is not None and still.state == S.RUNNING
    model = h.catalog.get(IMAGE)
    h.clock_offset[0] += h.jobs.schedule.max_age(model) + 1  # time passes
    done = await h.jobs.refresh(still)
    assert done is not None and done.state == S.EXPIRED
    assert done.failure_reason == "MAX_AGE"
    assert failure_text(done, None)[0].startswith("Max API did not finish this job within ")


# ---------------------------------------------------------------------------- cancel


async def test_cancel_accepted_job_never_reaches_the_api(h: Harness) -> None:
    job = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="a fox"), REQUESTER)
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.job.state == S.CANCELLED
    assert await h.jobs.submit(job.id) is not None  # a late submit does nothing
    assert (await h.job(job.id)).state == S.CANCELLED
    assert h.sim.submissions == []


async def test_cancel_while_submitting_is_refused_and_the_job_goes_on(h: Harness) -> None:
    h.sim.faults.stall_next(1, seconds=0.3, endpoint="submit")
    job = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="a fox"), REQUESTER)
    submit = asyncio.create_task(h.jobs.submit(job.id))
    await h.wait_state(job.id, S.SUBMITTING)
    outcome = await h.jobs.cancel(job.id)
    assert not outcome.cancelled and outcome.job.state == S.SUBMITTING
    queued = await submit
    assert queued is not None and queued.state == S.QUEUED
    assert h.sim.cancels_for(queued.task_id or "") == []


@pytest.mark.parametrize(
    ("hold", "state"), [("[sim:hold=PENDING]", S.QUEUED), ("[sim:hold]", S.RUNNING)]
)
async def test_cancel_upstream_job_cancels_the_task(h: Harness, hold: str, state: S) -> None:
    job = await h.start_job(f"a fox {hold}")
    if state == S.RUNNING:
        await asyncio.sleep(0.05)  # past PENDING and PROCESSING
        job = await h.jobs.refresh(job) or job
    assert job.state == state
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.job.state == S.CANCELLED
    assert h.sim.status_of(job.task_id or "") == "CANCELLED"
    assert len(h.sim.cancels_for(job.task_id or "")) == 1


async def test_cancel_refused_upstream_leaves_the_job_running(store_target: str) -> None:
    config = SimulatorConfig(speed=SCALE, cancel_rule="pending-only")
    async with harness(store_target, sim_config=config) as h:
        job = await h.start_job("a fox [sim:hold]")
        await asyncio.sleep(0.05)
        job = await h.jobs.refresh(job) or job
        assert job.state == S.RUNNING
        outcome = await h.jobs.cancel(job.id)
        assert not outcome.cancelled
        assert (await h.job(job.id)).state == S.RUNNING


async def test_cancel_finished_job_does_nothing(h: Harness) -> None:
    job = await h.start_job("a fox [sim:seconds=5]")
    await follow(h, job.id)
    outcome = await h.jobs.cancel(job.id)
    assert not outcome.cancelled and outcome.job.state == S.SUCCEEDED
    assert h.sim.cancels_for(job.task_id or "") == []


# ---------------------------------------------------------------------------- submit refused


async def test_moderation_refusal_rejects_the_job(h: Harness) -> None:
    job = await h.start_job("a forbidden fox")
    assert job.state == S.REJECTED and job.task_id is None
    assert job.failure_reason == "CONTENT_REJECTED"
    assert job.failure_fields and "illicit" in job.failure_fields["categories"]
    assert "(illicit" in failure_text(job, None)[0]
    assert h.sim.tasks == {}


async def test_invalid_parameters_reject_the_job_with_the_api_message(h: Harness) -> None:
    job = await h.start_job("a fox [sim:nonsense]")  # passes our catalogue, not the API
    assert job.state == S.REJECTED and job.failure_reason == "INVALID_PARAMETERS"
    assert "unknown simulator directive" in failure_text(job, None)[0]


async def test_refused_api_key_rejects_the_job_without_showing_the_key(store_target: str) -> None:
    wrong = "sk-wrong-key-that-must-stay-secret"
    async with harness(store_target, api_key=wrong) as h:
        job = await h.start_job("a fox")
        assert job.state == S.REJECTED and job.failure_reason == "UNAUTHORIZED"
        message, _ = failure_text(job, None)
        assert "MAXAPI_KEY" in message and wrong not in message
        assert h.sim.tasks == {}


# ---------------------------------------------------------------------------- ambiguous submit


async def test_submit_without_an_answer_is_lost_and_sent_once(store_target: str) -> None:
    async with harness(store_target, client_timeout=0.3) as h:
        h.sim.faults.stall_next(1, seconds=1.0, endpoint="submit")
        job = await h.start_job("a fox")
        assert job.state == S.LOST and job.failure_reason == "AMBIGUOUS_SUBMIT"
        assert len(h.sim.submissions) == 1


@pytest.mark.parametrize("processed", [True, False])
async def test_submit_answered_5xx_is_lost_and_sent_once(h: Harness, processed: bool) -> None:
    h.sim.faults.fail_next(1, status=502, endpoint="submit", processed=processed)
    job = await h.start_job("a fox")
    assert job.state == S.LOST and job.task_id is None
    assert len(h.sim.submissions) == 1
    # With ``processed`` the task really exists upstream: why a resubmit could charge twice.
    assert len(h.sim.tasks) == (1 if processed else 0)


# ---------------------------------------------------------------------------- recover


async def test_recover_drops_the_poll_claims_a_killed_process_left(h: Harness) -> None:
    running = await h.start_job("a fox [sim:hold]")
    now = h.jobs.clock()
    await h.store.update(running.id, next_poll_at=now)
    [claimed] = await h.store.claim_due_polls(now, 5, until=now + 120)  # then a kill -9
    assert claimed.id == running.id
    assert await h.store.claim_due_polls(now, 5, until=now + 120) == []

    await h.restart()

    if h.store.shared:  # another process may hold it: the claim runs out instead
        assert await h.store.claim_due_polls(now, 5, until=now + 120) == []
        now += 121
    assert [j.id for j in await h.store.claim_due_polls(now, 5, until=now + 120)] == [running.id]


async def test_recover_loses_submitting_and_resubmits_accepted(h: Harness) -> None:
    lost = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="mid-submit"), REQUESTER)
    await h.store.transition(lost.id, S.ACCEPTED, S.SUBMITTING, "submit")
    fresh = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="never sent"), REQUESTER)
    running = await h.start_job("a fox [sim:hold]")
    await h.store.update(running.id, next_poll_at=None)

    counts = await h.restart()

    assert counts == {"lost": 1, "resubmitted": 1, "polling": 1, "delivering": 0, "notified": 0}
    gone = await h.job(lost.id)
    assert gone.state == S.LOST and gone.failure_reason == "LOST"
    await h.wait_state(fresh.id, S.QUEUED)
    assert (await h.job(running.id)).next_poll_at is not None
    # Two submits in all: ``running`` before the restart and ``fresh`` after it.
    assert [r.body["input"]["prompt"] for r in h.sim.submissions] == [
        "a fox [sim:hold]",
        "never sent",
    ]

    again = await h.restart()  # a second restart changes nothing
    assert again["lost"] == 0 and again["resubmitted"] == 0
    await asyncio.sleep(0.05)
    assert len(h.sim.submissions) == 2
    assert h.wakes["poller"] >= 1 and h.wakes["delivery"] >= 1


async def test_a_stale_answer_never_moves_a_job_backwards(h: Harness) -> None:
    job = await h.start_job("a fox [sim:hold]")
    await asyncio.sleep(0.05)  # past PENDING and PROCESSING
    running = await h.jobs.refresh(job)
    assert running is not None and running.state == S.RUNNING
    stale = Task(job.task_id or "", TaskStatus.PENDING, {}, None, None, None, None)
    after = await h.jobs.apply_task(running, stale)
    assert after is not None and after.state == S.RUNNING
    assert after.next_poll_at is not None


# ------------------------------------------------------------------ accept


async def test_accept_returns_the_job_as_stored_and_queues_it_in_its_guild(h: Harness) -> None:
    request = GenerationRequest(model=IMAGE, prompt="a heron")
    first = await h.jobs.accept(request, REQUESTER)
    second = await h.jobs.accept(request, REQUESTER)
    assert second == await h.store.get(second.id), "the job as stored, defaults included"
    assert [await h.jobs.queue_position(job) for job in (first, second)] == [0, 1]


# ------------------------------------------------------------------ what a cancel costs


async def images_counted_today(h: Harness) -> int:
    day, month = period_keys(h.jobs.clock())
    usage = await h.store.usage(REQUESTER.guild_id, REQUESTER.user_id, day, month)
    return usage.images_today


async def running_at_max_api(h: Harness, prompt: str = "a fox [sim:hold]") -> Job:
    job = await h.start_job(prompt)
    await asyncio.sleep(0.05)  # past PENDING and PROCESSING
    job = await h.jobs.refresh(job) or job
    assert job.state == S.RUNNING
    return job


async def test_cancel_of_a_started_job_keeps_its_charge_by_default(h: Harness) -> None:
    job = await running_at_max_api(h)
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.job.state == S.CANCELLED
    assert outcome.message == CHARGED_CANCEL_ANSWERS["pending"]
    assert outcome.job.failure_reason == CANCEL_CHARGED
    assert await charge_of(h, job.id) == "settled"
    assert await images_counted_today(h) == 1  # /usage and the limits count it
    assert len(h.sim.cancels_for(job.task_id or "")) == 1


async def test_cancel_of_a_pending_job_refunds_by_default(h: Harness) -> None:
    job = await h.start_job("a fox [sim:hold=PENDING]")
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.message == "Cancelled. You were not charged."
    assert await charge_of(h, job.id) == "refunded"
    assert await images_counted_today(h) == 0


async def test_cancel_looks_again_when_the_last_look_said_pending(h: Harness) -> None:
    """No poll since submit (state still queued), but Max API started it meanwhile."""
    job = await h.start_job("a fox [sim:hold]")
    await asyncio.sleep(0.05)  # Max API moved on; nobody looked
    assert (await h.job(job.id)).state == S.QUEUED
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.message == CHARGED_CANCEL_ANSWERS["pending"]
    assert await charge_of(h, job.id) == "settled"


async def test_cancel_without_that_look_cancels_nothing(h: Harness) -> None:
    job = await h.start_job("a fox [sim:hold=PENDING]")
    h.sim.faults.fail_next(1, status=503, endpoint="query")
    outcome = await h.jobs.cancel(job.id)
    assert not outcome.cancelled and "nothing was cancelled" in outcome.message
    assert h.sim.cancels_for(job.task_id or "") == []
    assert (await h.job(job.id)).state == S.QUEUED
    assert await charge_of(h, job.id) == "reserved"


async def test_cancel_refunds_always_refunds_a_started_job(h: Harness) -> None:
    h.jobs.cancel_refunds = "always"
    job = await running_at_max_api(h)
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.message == "Cancelled. You were not charged."
    assert await charge_of(h, job.id) == "refunded"


async def test_cancel_refunds_never_keeps_even_a_pending_job(h: Harness) -> None:
    h.jobs.cancel_refunds = "never"
    job = await h.start_job("a fox [sim:hold=PENDING]")
    outcome = await h.jobs.cancel(job.id)
    assert outcome.cancelled and outcome.message == CHARGED_CANCEL_ANSWERS["never"]
    assert await charge_of(h, job.id) == "settled"
    # A job Max API never received could not have been billed: refunded even so.
    accepted = await h.jobs.accept(GenerationRequest(model=IMAGE, prompt="a hare"), REQUESTER)
    outcome = await h.jobs.cancel(accepted.id)
    assert outcome.cancelled and outcome.message == "Cancelled. You were not charged."
    assert await charge_of(h, accepted.id) == "refunded"


async def test_a_kept_charge_is_settled_only_with_the_move(h: Harness) -> None:
    """Settle and move are one: a job no longer where the cancel expected keeps its
    reservation, so whatever ending it meets next applies its own rule."""
    job = await h.start_job("a fox [sim:hold=PENDING]")
    assert job.state == S.QUEUED
    moved = await h.store.transition(job.id, S.RUNNING, S.CANCELLED, "late", keep_charge=True)
    assert moved is None
    assert await charge_of(h, job.id) == "reserved"
    failed = await h.store.transition(job.id, UPSTREAM, S.FAILED, "upstream FAILURE")
    assert failed is not None
    assert await charge_of(h, job.id) == "refunded"
