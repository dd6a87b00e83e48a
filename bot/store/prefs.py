"""Members' preferences per server, members whose DMs are closed, and the one DM a job's
end may send (claimed with a compare-and-set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.store.database import StoreBase

#: The columns of ``member_prefs`` a member sets (``NULL``: no preference).
PREF_COLUMNS = ("image_model", "video_model", "ratio", "resolution", "notify")


class PreferenceQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""

    async def member_prefs(self, guild_id: int, user_id: int) -> dict[str, str]:
        """The member's preferences in this server that are set (empty: none)."""
        sql = (
            f"SELECT {', '.join(PREF_COLUMNS)} FROM member_prefs WHERE guild_id = ? AND user_id = ?"
        )
        row = await self.run(lambda: self._one(sql, [guild_id, user_id]))
        return {k: str(v) for k, v in (row or {}).items() if v is not None}

    async def set_member_prefs(
        self, guild_id: int, user_id: int, values: Mapping[str, str | None], at: float
    ) -> dict[str, str]:
        """Set (a ``None`` value: drop) some preferences in one statement; the others stay.
        Returns the preferences as they now are."""
        columns = [c for c in PREF_COLUMNS if c in values]
        if not columns:
            return await self.member_prefs(guild_id, user_id)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
        sql = (
            f"INSERT INTO member_prefs (guild_id, user_id, {', '.join(columns)}, updated_at) "
            f"VALUES (?, ?, {', '.join('?' for _ in columns)}, ?) "
            f"ON CONFLICT (guild_id, user_id) DO UPDATE SET {updates}, "
            f"updated_at = excluded.updated_at RETURNING {', '.join(PREF_COLUMNS)}"
        )
        params: list[Any] = [guild_id, user_id, *(values[c] for c in columns), at]

        def upsert() -> dict[str, str]:
            row = self.db.execute(sql, params).fetchone()
            return {k: str(v) for k, v in zip(PREF_COLUMNS, row, strict=True) if v is not None}

        return await self.run(upsert)

    async def reset_member_prefs(self, guild_id: int, user_id: int) -> bool:
        """Forget every preference of the member here; ``False``: there were none."""
        sql = "DELETE FROM member_prefs WHERE guild_id = ? AND user_id = ?"
        return await self.run(lambda: self.db.execute(sql, [guild_id, user_id]).rowcount > 0)

    # -- DMs --------------------------------------------------------------------------------

    async def dm_closed(self, user_id: int) -> bool:
        """Whether the member's DMs refused the bot (never tried again until cleared)."""
        sql = "SELECT 1 FROM dm_closed WHERE user_id = ?"
        return await self.run(lambda: self.db.execute(sql, [user_id]).fetchone() is not None)

    async def mark_dm_closed(self, user_id: int, at: float) -> None:
        sql = "INSERT INTO dm_closed (user_id, at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING"
        await self.run(lambda: self.db.execute(sql, [user_id, at]))

    async def clear_dm_closed(self, user_id: int) -> None:
        sql = "DELETE FROM dm_closed WHERE user_id = ?"
        await self.run(lambda: self.db.execute(sql, [user_id]))

    async def claim_dm_notice(self, job_id: int, at: float) -> bool:
        """Compare-and-set the job's DM notice: ``True`` for the one caller that may send it."""
        sql = "UPDATE jobs SET dm_notified_at = ? WHERE id = ? AND dm_notified_at IS NULL"
        return await self.run(lambda: self.db.execute(sql, [at, job_id]).rowcount == 1)
