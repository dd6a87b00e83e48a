"""When the progress card is edited: a state that passes within a second is never shown;
an ending is shown at once. The job service and the edit are stand-ins (timing only)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bot.discord_io.progress_updater import ProgressUpdater
from bot.domain.job import Job
from bot.domain.job_states import JobState

S = JobState


def job(state: JobState) -> Job:
    return Job(
        id=7, guild_id=1, channel_id=2, user_id=3, media="image", model="m", prompt="p",
        input={}, price_usd=0.1, state=state, created_at=0.0, updated_at=0.0,
        progress_message_id=99,
    )  # fmt: skip


class Jobs:
    """The rows the updater reads, and the listeners it joins."""

    def __init__(self) -> None:
        self.row = job(S.QUEUED)
        self.listeners: list[Any] = []

    async def get(self, job_id: int) -> Job:
        return self.row


class Ready:
    async def wait_until_ready(self) -> None:
        return None


async def updater_showing(moves: list[tuple[float, JobState]]) -> list[JobState]:
    """Apply ``moves`` (seconds from the start, state) and return the states edited in."""
    jobs = Jobs()
    updater = ProgressUpdater(jobs, interval=0.3)  # type: ignore[arg-type]
    updater._client = Ready()  # type: ignore[assignment]
    shown: list[JobState] = []

    async def edit(row: Job) -> None:
        shown.append(row.state)
        jobs.row = dataclasses.replace(jobs.row, progress_edited_at=updater.clock())

    updater.edit = edit  # type: ignore[method-assign]
    started = asyncio.get_running_loop().time()
    for at, state in moves:
        await asyncio.sleep(max(0.0, started + at - asyncio.get_running_loop().time()))
        jobs.row = dataclasses.replace(jobs.row, state=state)
        await updater.job_changed(jobs.row)
    await asyncio.sleep(0.8)
    await updater.close()
    return shown


async def test_a_state_that_passes_at_once_is_never_shown() -> None:
    """Queued for 0.05 s, then running for long: the card goes straight to running."""
    assert await updater_showing([(0.0, S.QUEUED), (0.05, S.RUNNING)]) == [S.RUNNING]


async def test_an_ending_right_after_another_state_is_what_is_shown() -> None:
    shown = await updater_showing([(0.0, S.RUNNING), (0.05, S.DELIVERED)])
    assert shown == [S.DELIVERED]
