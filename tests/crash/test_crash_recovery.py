"""Kill the real bot process with SIGKILL at every job-state boundary, start it again,
and check DESIGN.md's promises: no job is lost, nothing is posted twice, nothing is
submitted twice (a job that may have reached Max API ends ``lost`` instead).

The bot runs as ``python -m tests.crash.bot_process`` (``python -m bot`` plus the
kill hooks) against the Max API simulator and the local Discord, both in this test's
event loop on 127.0.0.1. Jobs are written into the database the way ``/imagine``
accepts them (:meth:`JobService.accept`) before the bot starts; its start-up
recovery submits them.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from bot.domain.job import Job
from bot.domain.job_states import JobState
from tests.crash.supervisor import Bench, BotRun, assert_quiet, restart_until

S = JobState

pytestmark = pytest.mark.timeout(120)


def assert_killed(run: BotRun, code: int) -> None:
    assert code == -signal.SIGKILL, run.explain("expected the process to die of SIGKILL")


# -- one job, one crash point ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    point: str
    """``ATELIER_CRASH_AT``: after the transition into this state commits, or after
    ``submit-returned`` / ``send-returned`` (see ``tests/crash/bot_process.py``)."""
    crashed_in: JobState
    """Where the database stands right after the kill."""
    submitted: int
    """Submit requests Max API had received when the process died (and in the end)."""
    posted: int
    """Result messages in the channel when the process died."""
    ends: JobState
    path: tuple[str, ...]
    """The states in ``job_events``; ``running`` is ignored unless listed (whether a
    poll saw the task running before it ended depends on timing, not on the crash)."""
    held: bool = False
    """The Max API task runs until the test ends it, between the two runs."""

    def __str__(self) -> str:
        return self.point


DELIVERED_ONCE = ("accepted", "submitting", "queued", "succeeded", "delivering", "delivered")
DELIVERED_ON_RETRY = (
    "accepted",
    "submitting",
    "queued",
    "succeeded",
    "delivering",
    "delivering",  # the attempt after the restart
    "delivered",
)
LOST = ("accepted", "submitting", "lost")

CASES = [
    # Before the submit request left: never sent, but nobody can know that -> lost.
    Case("submitting", S.SUBMITTING, submitted=0, posted=0, ends=S.LOST, path=LOST),
    # Max API created the task; the task id died with the process -> lost, not resent.
    Case("submit-returned", S.SUBMITTING, submitted=1, posted=0, ends=S.LOST, path=LOST),
    Case("queued", S.QUEUED, submitted=1, posted=0, ends=S.DELIVERED, path=DELIVERED_ONCE),
    # The task ends while the bot is down; the restart polls it and delivers.
    Case(
        "running",
        S.RUNNING,
        submitted=1,
        posted=0,
        ends=S.DELIVERED,
        path=("accepted", "submitting", "queued", "running", *DELIVERED_ONCE[3:]),
        held=True,
    ),
    Case("succeeded", S.SUCCEEDED, submitted=1, posted=0, ends=S.DELIVERED, path=DELIVERED_ONCE),
    # Intent recorded, nothing posted yet.
    Case(
        "delivering", S.DELIVERING, submitted=1, posted=0, ends=S.DELIVERED, path=DELIVERED_ON_RETRY
    ),
    # Posted, but the message id died with the process: the one case that can post twice.
    Case(
        "send-returned",
        S.DELIVERING,
        submitted=1,
        posted=1,
        ends=S.DELIVERED,
        path=DELIVERED_ON_RETRY,
    ),
    Case("delivered", S.DELIVERED, submitted=1, posted=1, ends=S.DELIVERED, path=DELIVERED_ONCE),
]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_sigkill_at_each_boundary_then_restart(case: Case, bench: Bench) -> None:
    hold = " [sim:hold]" if case.held else ""
    job = await bench.accept(f"crash at {case.point}: a lighthouse at dusk{hold}")

    async with bench.run("crashing", crash_at=case.point) as first:
        assert_killed(first, await first.wait_exit())
    crashes = [point for _, point, _ in first.signals("crash")]
    assert crashes == [case.point], first.explain("expected to die at the crash point")
    crashed = await bench.job(job.id)
    assert crashed.state == case.crashed_in, first.explain(f"job stood in {crashed.state}")
    assert bench.submissions(job) == case.submitted
    assert len(bench.results(job)) == case.posted
    if case.point == "send-returned":
        assert crashed.result_message_ids == []  # posted, not recorded
    if case.point == "submit-returned":
        assert crashed.task_id is None and len(bench.sim.tasks) == 1  # Max API has it
    if case.held:
        bench.sim.finish(str(crashed.task_id))

    second = await restart_until(bench, "restarted", job)

    done = await bench.job(job.id)
    assert done.state == case.ends, second.explain(f"job ended {done.state}")
    assert bench.submissions(job) == case.submitted  # never submitted again
    path = await bench.path(job.id)
    if "running" not in case.path:
        path = [state for state in path if state != "running"]
    assert tuple(path) == case.path
    results = bench.results(job)
    if case.ends == S.DELIVERED:
        assert len(results) == 1, f"expected one result message: {results}"
        (message,) = results
        assert bench.announcements(job) == []
        assert done.result_message_ids == [message.id]
        assert [f.filename for f in message.files] == [f"atelier-{job.id}-1.png"]
        assert message.content.startswith(f"<@{job.user_id}>")
    else:
        assert results == []
        told_all = bench.announcements(job)
        assert len(told_all) == 1, f"expected one notice: {told_all}"
        (told,) = told_all
        assert done.failure_reason == "LOST"
        assert f"<@{job.user_id}>" in told.content and "was lost" in told.content
        assert told.allowed_mentions is not None
        assert told.allowed_mentions.get("users") == [job.user_id]
    assert_quiet(second)


# -- several jobs in different states at once --------------------------------------------


async def task_of(bench: Bench, run: BotRun, job: Job) -> str:
    async def task_id() -> str | None:
        return (await bench.job(job.id)).task_id

    return await run.wait_until(task_id, what=f"job {job.id} to be submitted")


async def test_sigkill_with_jobs_in_every_state(bench: Bench) -> None:
    """One SIGKILL from outside while jobs stand in accepted, submitting, queued,
    running, succeeded, delivering (posted, not recorded), delivered and failed."""
    # One member per job, so the per-member limits (jobs at once) stay out of the way.
    members = iter([bench.world.add_member(f"requester-{n}") for n in range(8)])
    done = await bench.accept("multi: delivered before the crash", next(members))
    failed = await bench.accept(
        "multi: refused upstream [sim:fail=CONTENT_MODERATION]", next(members)
    )
    running = await bench.accept("multi: still running [sim:hold]", next(members))
    queued = await bench.accept("multi: still queued [sim:hold=PENDING]", next(members))
    submitting = await bench.accept("multi: HOLDSUBMIT never leaves", next(members))
    posted = await bench.accept("multi: HOLDSEND posted, not recorded [sim:hold]", next(members))
    # Its own channel: each channel posts in order, so behind the held post it would wait.
    other = bench.world.add_channel("other")
    waiting = await bench.accept(
        "multi: HOLDDELIVERY waits for delivery [sim:hold]", next(members), other.id
    )
    holds = {
        "ATELIER_HOLD_SUBMIT": "HOLDSUBMIT",
        "ATELIER_HOLD_AFTER_SEND": "HOLDSEND",
        "ATELIER_HOLD_DELIVERY": "HOLDDELIVERY",
    }

    async with bench.run("first", **holds) as first:
        await first.wait_for(lambda: bench.results(done), what="the first result")
        await first.wait_for(lambda: bench.announcements(failed), what="the failure notice")
        await first.wait_signal("hold", "submit")
        # One at a time: the held post holds its channel, the other waits in its own.
        bench.sim.finish(await task_of(bench, first, posted))
        await first.wait_signal("hold", "after-send")
        bench.sim.finish(await task_of(bench, first, waiting))
        await first.wait_signal("hold", "delivery")
        for job in (running, queued):
            await task_of(bench, first, job)
        # Accepted while this process runs: it only submits what it finds at start-up,
        # so this one stands in ``accepted`` when the process dies.
        accepted = await bench.accept("multi: accepted just before the crash", next(members))
        await bench.world.settle()
        expected = {
            done.id: S.DELIVERED,
            failed.id: S.FAILED,
            running.id: S.RUNNING,
            queued.id: S.QUEUED,
            submitting.id: S.SUBMITTING,
            posted.id: S.DELIVERING,
            waiting.id: S.SUCCEEDED,
            accepted.id: S.ACCEPTED,
        }

        async def standing_as_expected() -> bool:
            return {job_id: (await bench.job(job_id)).state for job_id in expected} == expected

        await first.wait_until(standing_as_expected, what=f"the jobs to stand in {expected}")
        (early_post,) = bench.results(posted)
        before = {job.id: await bench.path(job.id) for job in (done, failed)}
        assert_killed(first, await first.kill())
    assert (await bench.job(posted.id)).result_message_ids == []

    # The held tasks end while the bot is down.
    for job in (running, queued):
        bench.sim.finish(str((await bench.job(job.id)).task_id))
    everything = [done, failed, running, queued, submitting, posted, waiting, accepted]
    second = await restart_until(bench, "restarted", *everything)

    ends = {job.id: (await bench.job(job.id)).state for job in everything}
    assert ends == {
        done.id: S.DELIVERED,
        failed.id: S.FAILED,
        running.id: S.DELIVERED,
        queued.id: S.DELIVERED,
        submitting.id: S.LOST,
        posted.id: S.DELIVERED,
        waiting.id: S.DELIVERED,
        accepted.id: S.DELIVERED,
    }, second.explain("unexpected endings")
    for job in everything:
        told = bench.announcements(job)
        results = bench.results(job)
        assert len(told) + len(results) == 1, f"job {job.id}: {told + results}"
        assert bench.submissions(job) == (0 if job is submitting else 1), f"job {job.id}"
    assert bench.results(posted) == [early_post]  # found again, not posted again
    assert (await bench.job(posted.id)).result_message_ids == [early_post.id]
    for job in (done, failed):  # finished before the crash: untouched after it
        assert await bench.path(job.id) == before[job.id]
    assert_quiet(second)


# -- what a crash may still break --------------------------------------------------------


class OwnerNotTold(AssertionError):
    """The owner of a job that ended without a result was never notified."""


@pytest.mark.parametrize(
    ("ending", "prompt", "first_crash"),
    [
        ("lost", "crash twice: a lighthouse at dusk", "submitting"),  # set by recover()
        ("failed", "crash after failing [sim:fail=CONTENT_MODERATION]", None),  # by a poll
    ],
    ids=["lost", "failed"],
)
async def test_sigkill_between_an_ending_and_its_notice_still_tells_the_owner(
    ending: str, prompt: str, first_crash: str | None, bench: Bench
) -> None:
    """A job stuck in submitting becomes lost and its owner is notified (DESIGN.md), as
    after a failure. Kill the process right after the ending commits, restart."""
    job = await bench.accept(prompt)
    if first_crash is not None:
        async with bench.run("mid-submit", crash_at=first_crash) as first:
            assert_killed(first, await first.wait_exit())
    async with bench.run("after-ending", crash_at=ending) as second:
        assert_killed(second, await second.wait_exit())
    assert (await bench.job(job.id)).state == JobState(ending)
    assert bench.announcements(job) == []  # the process died before telling anyone

    async with bench.run("restarted") as third:
        await third.wait_signal("ready", "delivery")
        await bench.world.settle()
        assert await third.stop() == 0, third.explain("expected a clean exit")
    told = bench.announcements(job)
    if len(told) != 1:
        raise OwnerNotTold(f"job {job.id} {ending}; notices: {told}")
