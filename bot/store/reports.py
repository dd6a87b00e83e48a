"""Members' reports of results and the moderators' review."""

from __future__ import annotations

from typing import Any

from bot.store.database import StoreBase

#: A review waiting for a moderator; ``kept`` and ``removed`` are final.
PENDING = "pending"


class ReportQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""

    async def add_report(
        self, job_id: int, user_id: int, guild_id: int | None, at: float
    ) -> tuple[bool, bool]:
        """Record one member's report and open the job's review if none is open yet:
        (this member's first report of the job, this report opened the review)."""

        def add() -> tuple[bool, bool]:
            with self._transaction():
                first = self.db.execute(
                    "INSERT INTO reports (job_id, user_id, guild_id, at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (job_id, user_id) DO NOTHING",
                    [job_id, user_id, guild_id, at],
                ).rowcount
                if not first:
                    return False, False
                opened = self.db.execute(
                    "INSERT INTO report_reviews (job_id, guild_id, state, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                    [job_id, guild_id, PENDING, at],
                ).rowcount
                return True, bool(opened)

        return await self.run(add)

    async def report_count(self, job_id: int) -> int:
        sql = "SELECT COUNT(*) FROM reports WHERE job_id = ?"
        return await self.run(lambda: int(self.db.execute(sql, [job_id]).fetchone()[0]))

    async def review(self, job_id: int) -> dict[str, Any] | None:
        """The job's review row (state, audit post, who decided), or ``None``."""
        sql = (
            "SELECT job_id, guild_id, channel_id, message_id, state, decided_by, updated_at "
            "FROM report_reviews WHERE job_id = ?"
        )
        return await self.run(lambda: self._one(sql, [job_id]))

    async def set_review_post(self, job_id: int, channel_id: int, message_id: int) -> None:
        """Where the review was posted for the moderators."""
        sql = "UPDATE report_reviews SET channel_id = ?, message_id = ? WHERE job_id = ?"
        await self.run(lambda: self.db.execute(sql, [channel_id, message_id, job_id]))

    async def decide_review(self, job_id: int, state: str, moderator_id: int, at: float) -> bool:
        """Compare-and-set a pending review to ``state``; ``False``: already decided."""
        sql = (
            "UPDATE report_reviews SET state = ?, decided_by = ?, updated_at = ? "
            "WHERE job_id = ? AND state = ?"
        )
        params = [state, moderator_id, at, job_id, PENDING]
        return await self.run(lambda: self.db.execute(sql, params).rowcount == 1)
