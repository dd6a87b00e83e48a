"""A server's active jobs, oldest first, for /queue."""

from __future__ import annotations

from typing import Any

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store.database import StoreBase, marks

#: A server's job not yet in a final state (the ``jobs_guild_state`` index serves it).
_ACTIVE_STATES = [s.value for s in JobState if s.is_active]
_ACTIVE_SQL = f"guild_id = ? AND state IN ({marks(_ACTIVE_STATES)})"


class QueueQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`. A job's place is its rank among the server's
    unfinished jobs in the order they were accepted (by id)."""

    async def queue_slice(self, guild_id: int, offset: int, limit: int) -> tuple[list[Job], int]:
        """Up to ``limit`` of the server's unfinished jobs from ``offset``, oldest first,
        and how many it has in all."""
        count = f"SELECT COUNT(*) FROM jobs WHERE {_ACTIVE_SQL}"
        page = f"SELECT * FROM jobs WHERE {_ACTIVE_SQL} ORDER BY id LIMIT ? OFFSET ?"
        where: list[Any] = [guild_id, *_ACTIVE_STATES]

        def read() -> tuple[list[Job], int]:
            (total,) = self.db.execute(count, where).fetchone()
            rows = self._dicts(page, [*where, limit, offset])
            return [Job.from_row(row) for row in rows], int(total)

        return await self.run(read)

    async def queue_places(
        self, guild_id: int, user_id: int, limit: int
    ) -> tuple[list[tuple[Job, int]], int]:
        """A member's unfinished jobs here (oldest first, up to ``limit``), each with its
        place in the server's queue (1: the oldest), and the queue's length."""
        ahead = (
            f"SELECT COUNT(*) FROM jobs AS o WHERE o.guild_id = ? AND o.id < j.id "
            f"AND o.state IN ({marks(_ACTIVE_STATES)})"
        )
        sql = (
            f"SELECT j.*, ({ahead}) AS queue_ahead, "
            f"(SELECT COUNT(*) FROM jobs WHERE {_ACTIVE_SQL}) AS queue_total "
            f"FROM jobs AS j WHERE j.guild_id = ? AND j.user_id = ? "
            f"AND j.state IN ({marks(_ACTIVE_STATES)}) ORDER BY j.id LIMIT ?"
        )
        states = list(_ACTIVE_STATES)
        params = [guild_id, *states, guild_id, *states, guild_id, user_id, *states, limit]

        def read() -> tuple[list[tuple[Job, int]], int]:
            rows = self._dicts(sql, params)
            if rows:
                total = int(rows[0]["queue_total"])
            else:
                sql_total = f"SELECT COUNT(*) FROM jobs WHERE {_ACTIVE_SQL}"
                total = int(self.db.execute(sql_total, [guild_id, *states]).fetchone()[0])
            return [(Job.from_row(r), int(r["queue_ahead"]) + 1) for r in rows], total

        return await self.run(read)
