"""This process among those sharing the store: its heartbeat, its part of the poll rate,
and the unsent jobs of processes that died (a lone SQLite process: of its predecessor)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.domain.job import Job
from bot.domain.job_states import JobState as S

if TYPE_CHECKING:
    from bot.services.jobs import JobService

log = logging.getLogger(__name__)

#: A process not heard from in this long is dead: its unsent jobs are taken over, and its
#: delivery and poll claims run out within the same time.
LEASE_SECONDS = 30.0
#: How often each process says it is alive (and looks for a dead one's jobs).
HEARTBEAT_SECONDS = 5.0

LOST_MESSAGE = (
    "Atelier restarted while sending this job to Max API, so nobody can know "
    "whether it started. It will not be sent again automatically (that could "
    "charge twice). You were not charged; start it again if no result appears."
)


def new_process_id() -> str:
    """Unique to one run of one process: host, pid and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def take_over_orphans(jobs: JobService, stale_after: float) -> tuple[list[Job], list[Job]]:
    """Jobs whose owner died: one caught mid-submit becomes ``lost`` (never sent again:
    that could charge twice); one not yet sent is submitted here. Returns both lists."""
    lost: list[Job] = []
    adopted: list[Job] = []
    for job in await jobs.store.orphans(stale_after):
        if job.state == S.SUBMITTING:
            moved = await jobs.lose(job, "owner stopped during submit", LOST_MESSAGE)
            if moved is not None:
                lost.append(moved)
        else:
            taken = await jobs.store.adopt(job.id, job.owner, jobs.process_id)
            if taken is not None:
                adopted.append(taken)
                jobs.submit_soon(taken)
    if lost or adopted:
        log.info("took over from stopped processes: %d lost, %d to submit", len(lost), len(adopted))
    return lost, adopted


class Cluster:
    """Heartbeats into the store; with several processes, shares ``POLL_RATE`` between
    the live ones and takes over the unsent jobs of dead ones on every beat."""

    def __init__(
        self,
        jobs: JobService,
        *,
        shards: str | None = None,
        on_count: Callable[[int], None] = lambda live: None,
        stale_after: float | None = None,
    ) -> None:
        self.jobs = jobs
        self.shards = shards
        self.on_count = on_count
        self.stale_after = LEASE_SECONDS if stale_after is None else stale_after

    async def beat(self) -> int:
        """Say this process is alive; returns how many are."""
        store = self.jobs.store
        live = await store.heartbeat(self.jobs.process_id, self.shards, self.stale_after)
        self.on_count(live)
        if store.shared:
            await take_over_orphans(self.jobs, self.stale_after)
        return live

    async def leave(self) -> None:
        """A clean stop: others need not wait for this process's heartbeat to go stale."""
        await self.jobs.store.forget_process(self.jobs.process_id)
