"""SIGTERM and SIGINT to the real bot process (``python -m tests.crash.bot_process``,
i.e. ``python -m bot`` with no crash hook armed) while submits are on the wire: it
exits 0 within a few seconds, every submit in flight finishes (no job is left in
``submitting``, so none becomes ``lost``), and a restart delivers every job once."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator

import pytest

from bot.domain.job_states import JobState
from simulator import Simulator, SimulatorConfig
from tests.crash.supervisor import IMAGE, SIM_KEY, Bench, assert_quiet, restart_until

S = JobState

pytestmark = pytest.mark.timeout(120)

STALL = 2.5  # seconds each submit spends on the wire (the simulator's stall fault)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    # Tasks take 3 s, so the jobs are still in flight upstream when the bot stops.
    config = SimulatorConfig(api_key=SIM_KEY, speed=0.01, model_seconds={IMAGE: 300.0})
    async with Simulator(config) as simulator:
        yield simulator


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_mid_submit_lets_the_submits_finish_and_nothing_is_lost(
    bench: Bench, sig: signal.Signals
) -> None:
    jobs = [await bench.accept(f"graceful {sig.name} {n}") for n in range(3)]
    bench.sim.faults.stall_next(len(jobs), seconds=STALL, endpoint="submit")
    async with bench.run(f"{sig.name}-first") as run:
        # Start-up recovery submits the accepted jobs; every submit stalls on the wire.
        await run.wait_for(
            lambda: len(bench.sim.submissions) == len(jobs), what="every submit on the wire"
        )
        for job in jobs:
            assert (await bench.job(job.id)).state == S.SUBMITTING
        began = time.monotonic()
        run.proc.send_signal(sig)
        code = await run.wait_exit(timeout=20)
        took = time.monotonic() - began
        assert code == 0, run.explain(f"expected exit 0 after {sig.name}")
        assert took < 15, run.explain(f"shutdown took {took:.1f} s")
        assert any("shutting down" in line for line in run.lines), run.explain("no shutdown log")
        assert_quiet(run)
    for job in jobs:
        after = await bench.job(job.id)
        # The submit finished before the process went: the task id is recorded and the
        # job waits on Max API (not ``submitting``, which the next start marks ``lost``).
        assert after.state in (S.QUEUED, S.RUNNING), (job.id, after.state)
        assert after.task_id
        assert bench.submissions(after) == 1
    second = await restart_until(bench, f"{sig.name}-restart", *jobs)
    assert_quiet(second)
    for job in jobs:
        done = await bench.job(job.id)
        assert done.state == S.DELIVERED, (job.id, done.state, await bench.path(job.id))
        assert len(bench.results(done)) == 1
        assert bench.submissions(done) == 1  # never submitted twice
        assert "lost" not in await bench.path(job.id)


async def test_a_signal_while_idle_exits_promptly(bench: Bench) -> None:
    async with bench.run("idle") as run:
        await run.wait_signal("ready", "delivery")
        began = time.monotonic()
        code = await run.stop(timeout=20)
        assert code == 0, run.explain("expected exit 0 after SIGTERM")
        assert time.monotonic() - began < 10, run.explain("an idle bot must stop at once")
