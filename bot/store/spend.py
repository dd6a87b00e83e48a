"""Spend over time for charts, and the budget alerts already posted."""

from __future__ import annotations

from collections.abc import Collection

from bot.store.database import StoreBase, marks


class SpendQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""

    async def guild_spend(self, guild_id: int, periods: Collection[str]) -> dict[str, float]:
        """The guild's running spend of each period (``d:<day>``, ``m:<month>``) that has
        any: one read of the ``spend_totals`` key."""
        keys = list(periods)
        sql = (
            f"SELECT period, usd FROM spend_totals WHERE guild_id = ? AND period IN ({marks(keys)})"
        )
        rows = await self.run(lambda: self.db.execute(sql, [guild_id, *keys]).fetchall())
        return {str(period): float(usd) for period, usd in rows}

    async def record_budget_alerts(
        self, guild_id: int, period: str, levels: Collection[int]
    ) -> set[int]:
        """Record the levels (percent) passed in ``period``; the ones this call recorded
        first (a level another process or an earlier run recorded is left out)."""
        sql = (
            "INSERT INTO budget_alerts (guild_id, period, level, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, period, level) DO NOTHING RETURNING level"
        )

        def record() -> set[int]:
            now = self.clock()
            taken: set[int] = set()
            with self._transaction():
                for level in sorted(levels):
                    # RETURNING, not rowcount: SQLite's counts an insert that did nothing.
                    if self.db.execute(sql, [guild_id, period, level, now]).fetchone():
                        taken.add(level)
            return taken

        return await self.run(record)

    async def budget_alerts_sent(self, guild_id: int, period: str) -> set[int]:
        """The levels already recorded for the guild's ``period``."""
        sql = "SELECT level FROM budget_alerts WHERE guild_id = ? AND period = ?"
        rows = await self.run(lambda: self.db.execute(sql, [guild_id, period]).fetchall())
        return {int(level) for (level,) in rows}

    async def daily_spend(self, guild_id: int, since_day: str, until_day: str) -> dict[str, float]:
        """The guild's spend of each day in [since_day, until_day] that has any (refunds
        already taken off), by day (``YYYY-MM-DD``)."""
        sql = (
            "SELECT period, usd FROM spend_totals "
            "WHERE guild_id = ? AND period >= ? AND period <= ?"
        )
        params = [guild_id, f"d:{since_day}", f"d:{until_day}"]
        rows = await self.run(lambda: self.db.execute(sql, params).fetchall())
        return {str(period).removeprefix("d:"): float(usd) for period, usd in rows}

    async def daily_jobs(
        self, guild_id: int, since_day: str, until_day: str
    ) -> list[tuple[str, str, int]]:
        """``(day, model, jobs)`` for each day in [since_day, until_day] and model: the
        guild's jobs whose charge was not refunded."""
        sql = (
            "SELECT c.day, j.model, COUNT(*) FROM charges c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.guild_id = ? AND c.month >= ? AND c.day >= ? AND c.day <= ? "
            "AND c.state != 'refunded' GROUP BY c.day, j.model ORDER BY c.day, j.model"
        )
        params = [guild_id, since_day[:7], since_day, until_day]
        rows = await self.run(lambda: self.db.execute(sql, params).fetchall())
        return [(str(day), str(model), int(count)) for day, model, count in rows]
