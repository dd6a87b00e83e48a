"""Work shared between processes: live processes by heartbeat, jobs whose owner died,
delivery claims with a fencing counter, and small facts kept for every process."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.job import Job
from bot.domain.job_states import UPSTREAM, JobState
from bot.store.database import marks
from bot.store.jobs import DEAD_OWNER, POSTING, JobQueries

_UNSENT = [JobState.ACCEPTED.value, JobState.SUBMITTING.value]


class WorkQueries(JobQueries):
    """Processes, orphans and fenced delivery claims."""

    # -- processes ----------------------------------------------------------------------

    async def heartbeat(self, process_id: str, shards: str | None, stale_after: float) -> int:
        """Record that ``process_id`` is alive (database time); returns how many processes
        are (those heard from within ``stale_after`` seconds, this one included)."""

        def beat() -> int:
            now = self.db.now()
            self.db.execute(
                "INSERT INTO processes (id, started_at, heartbeat_at, shards) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, "
                "shards = COALESCE(excluded.shards, processes.shards)",
                [process_id, now, now, shards],
            )
            (live,) = self.db.execute(
                "SELECT COUNT(*) FROM processes WHERE heartbeat_at >= ?", [now - stale_after]
            ).fetchone()
            return int(live)

        return await self.run(beat)

    async def forget_processes(self, *, except_id: str | None = None) -> int:
        """Drop process rows (all but ``except_id``): a process that stops, or a lone
        SQLite process at start-up, whose predecessors are all dead."""
        sql = "DELETE FROM processes WHERE id != ?" if except_id else "DELETE FROM processes"
        params = [except_id] if except_id else []
        return await self.run(lambda: self.db.execute(sql, params).rowcount)

    async def forget_process(self, process_id: str) -> None:
        sql = "DELETE FROM processes WHERE id = ?"
        await self.run(lambda: self.db.execute(sql, [process_id]))

    async def orphans(self, stale_after: float) -> list[Job]:
        """Jobs not yet sent (``accepted``) or being sent (``submitting``) whose owner is
        not alive: nobody heard from it within ``stale_after`` seconds."""

        def read() -> list[Job]:
            now = self.db.now()
            return self._many(
                f"SELECT * FROM jobs WHERE state IN ({marks(_UNSENT)}) AND {DEAD_OWNER} "
                "ORDER BY id",
                [*_UNSENT, now - stale_after],
            )

        return await self.run(read)

    async def adopt(self, job_id: int, previous: str | None, owner: str) -> Job | None:
        """Take an accepted job from a dead owner (compare-and-set: one taker wins)."""
        sql = (
            "UPDATE jobs SET owner = ? WHERE id = ? AND state = ? "
            "AND owner IS NOT DISTINCT FROM ? RETURNING *"
        )
        params = [owner, job_id, JobState.ACCEPTED.value, previous]
        return await self.run(lambda: self._one_job(sql, params))

    async def claim_poll(self, job_id: int, now: float, until: float) -> Job | None:
        """Claim one job's poll until ``until`` (a callback's query), unless a poll holds
        it or it left Max API's states; setting the next poll time ends the claim."""
        sql = (
            "UPDATE jobs SET poll_claimed_until = ? WHERE id = ? "
            "AND (poll_claimed_until IS NULL OR poll_claimed_until <= ?) "
            f"AND state IN ({marks(UPSTREAM)}) RETURNING *"
        )
        params = [until, job_id, now, *[s.value for s in UPSTREAM]]
        return await self.run(lambda: self._one_job(sql, params))

    # -- delivery claims ----------------------------------------------------------------

    async def claim_delivery(self, job_id: int, now: float, until: float, owner: str) -> Job | None:
        """Claim a due delivery until ``until`` and raise its fencing counter, in one
        compare-and-set: one process gets it; ``None`` for the others."""
        sql = (
            "UPDATE jobs SET next_delivery_at = ?, owner = ?, fence = fence + 1 "
            "WHERE id = ? AND (next_delivery_at IS NULL OR next_delivery_at <= ?) "
            f"AND state IN ({marks(POSTING)}) RETURNING *"
        )
        params = [until, owner, job_id, now, *POSTING]
        return await self.run(lambda: self._one_job(sql, params))

    async def update_fenced(self, job_id: int, fence: int, **values: Any) -> Job | None:
        """Change bookkeeping columns only while ``fence`` is the job's fencing counter;
        ``None``: another process took the job over (this one must stop writing)."""
        sets, params = self._sets(values)
        sql = f"UPDATE jobs SET {sets} WHERE id = ? AND fence = ? RETURNING *"
        return await self.run(lambda: self._one_job(sql, [*params, job_id, fence]))

    # -- jobs held for Confirm ------------------------------------------------------------

    async def release_hold(self, job_id: int, now: float) -> Job | None:
        """Confirm: clear a held job's ``confirm_by`` while its time is ahead (compare-and-set:
        a second Confirm, or one after Cancel or the deadline, gets ``None``)."""
        sql = (
            "UPDATE jobs SET confirm_by = NULL, updated_at = ? WHERE id = ? AND state = ? "
            "AND confirm_by IS NOT NULL AND confirm_by > ? RETURNING *"
        )
        params = [now, job_id, JobState.ACCEPTED.value, now]
        return await self.run(lambda: self._one_job(sql, params))

    async def expire_hold(self, job_id: int, now: float, expiring: float) -> Job | None:
        """Take a held job whose time passed, so no Confirm can win any more (compare-and-set
        to ``expiring``: one process gets it; ``None`` for the others)."""
        sql = (
            "UPDATE jobs SET confirm_by = ?, updated_at = ? WHERE id = ? AND state = ? "
            "AND confirm_by IS NOT NULL AND confirm_by <= ? AND confirm_by != ? RETURNING *"
        )
        params = [expiring, now, job_id, JobState.ACCEPTED.value, now, expiring]
        return await self.run(lambda: self._one_job(sql, params))

    async def holds_past(self, now: float) -> list[Job]:
        """Held jobs whose time to Confirm has passed (those being cancelled included)."""
        sql = (
            "SELECT * FROM jobs WHERE state = ? AND confirm_by IS NOT NULL AND confirm_by <= ? "
            "ORDER BY id"
        )
        return await self.run(lambda: self._many(sql, [JobState.ACCEPTED.value, now]))

    # -- facts every process reads -------------------------------------------------------

    async def get_state(self, key: str) -> str | None:
        row = await self.run(lambda: self._one("SELECT value FROM bot_state WHERE key = ?", [key]))
        return None if row is None else str(row["value"])

    async def set_state(self, key: str, value: str) -> None:
        sql = (
            "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at"
        )
        await self.run(lambda: self.db.execute(sql, [key, value, self.clock()]))

    async def guild_facts(self, guild_id: int) -> tuple[dict[str, Any], float] | None:
        """What a process read about a guild over REST, and when."""
        sql = "SELECT facts, updated_at FROM guild_facts WHERE guild_id = ?"
        row = await self.run(lambda: self._one(sql, [guild_id]))
        return None if row is None else (json.loads(row["facts"]), float(row["updated_at"]))

    async def set_guild_facts(self, guild_id: int, facts: dict[str, Any]) -> None:
        sql = (
            "INSERT INTO guild_facts (guild_id, facts, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET facts = excluded.facts, "
            "updated_at = excluded.updated_at"
        )
        params = [guild_id, json.dumps(facts), self.clock()]
        await self.run(lambda: self.db.execute(sql, params))
