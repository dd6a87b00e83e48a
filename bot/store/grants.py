"""Day grants and refunds given by moderators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.quota import Grant
from bot.store.guilds import GuildQueries

#: What became of a refund: done, or why not (the charge as it stands is returned too).
RefundState = Literal["refunded", "no_job", "running", "never_charged", "already_refunded"]


@dataclass(frozen=True, slots=True)
class RefundResult:
    """The outcome of :meth:`GrantQueries.refund_charge` and the charge row it read."""

    state: RefundState
    charge: dict[str, Any] | None = None


class GrantQueries(GuildQueries):
    """Mixed into :class:`bot.store.Store`."""

    async def add_grant(self, guild_id: int, user_id: int, day: str, grant: Grant) -> Grant:
        """Add ``grant`` to the member's grant for ``day`` (one statement, so two
        moderators granting at once both count); the day's total."""
        sql = (
            "INSERT INTO grants (guild_id, user_id, day, images, videos, usd, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, day) DO UPDATE SET "
            "images = grants.images + excluded.images, videos = grants.videos + excluded.videos, "
            "usd = grants.usd + excluded.usd, updated_at = excluded.updated_at "
            "RETURNING images, videos, usd"
        )
        params = [guild_id, user_id, day, grant.images, grant.videos, grant.usd, self.clock()]

        def add() -> Grant:
            images, videos, usd = self.db.execute(sql, params).fetchone()
            return Grant(int(images), int(videos), round(float(usd), 6))

        return await self.run(add)

    async def grant(self, guild_id: int, user_id: int, day: str) -> Grant:
        return await self.run(lambda: self._day_grant(guild_id, user_id, day))

    async def grants_in(
        self, guild_id: int, since_day: str, until_day: str, user_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Grants for days in [since_day, until_day] (one member's, or everyone's), oldest
        day first."""
        sql = (
            "SELECT user_id, day, images, videos, usd, updated_at FROM grants "
            "WHERE guild_id = ? AND day >= ? AND day <= ?"
        )
        params: list[Any] = [guild_id, since_day, until_day]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return await self.run(lambda: self._dicts(sql + " ORDER BY day, user_id", params))

    async def refundable(self, guild_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The guild's newest settled charges (what ``/usage refund`` can give back)."""
        sql = (
            "SELECT c.job_id, c.user_id, c.usd, c.day, j.model FROM charges c "
            "JOIN jobs j ON j.id = c.job_id WHERE c.guild_id = ? AND c.state = 'settled' "
            "ORDER BY c.job_id DESC LIMIT ?"
        )
        return await self.run(lambda: self._dicts(sql, [guild_id, limit]))

    async def refund_charge(
        self, guild_id: int, job_id: int, by_user_id: int, reason: str | None
    ) -> RefundResult:
        """Give a settled charge back, once: its state, who and why, and the guild's
        running spend of its day and month, in one transaction. A charge still reserved
        (the job is running), refunded already, or of another guild is left as it is."""
        read = (
            "SELECT j.id AS job_id, j.guild_id AS job_guild_id, j.user_id, c.images, "
            "c.videos, c.usd, c.day, c.month, c.state, c.refunded_by, c.refund_reason, "
            "c.updated_at, j.channel_id, j.locale, j.prompt, j.result_message_ids "
            "FROM jobs j LEFT JOIN charges c ON c.job_id = j.id WHERE j.id = ?"
        )

        def refund() -> RefundResult:
            with self._transaction():
                self.db.lock(guild_id)  # the guild's accepts see the lowered totals at once
                row = self._one(read, [job_id])
                if row is None or row["job_guild_id"] != guild_id:
                    return RefundResult("no_job")  # a job of another server is unknown here
                if row["state"] is None:
                    return RefundResult("never_charged", row)
                if row["state"] == "reserved":
                    return RefundResult("running", row)
                if row["state"] == "refunded":
                    done = row["refunded_by"] is not None
                    return RefundResult("already_refunded" if done else "never_charged", row)
                now = self.clock()
                changed = self.db.execute(
                    "UPDATE charges SET state = 'refunded', refunded_by = ?, refund_reason = ?, "
                    "updated_at = ? WHERE job_id = ? AND state = 'settled'",
                    [by_user_id, reason, now, job_id],
                ).rowcount
                if changed != 1:  # not settled: an unknown state; nothing to give back
                    return RefundResult("never_charged", row)
                self._add_spend(guild_id, row["day"], row["month"], -float(row["usd"]))
                row.update(state="refunded", refunded_by=by_user_id, refund_reason=reason)
                row["updated_at"] = now
            return RefundResult("refunded", row)

        return await self.run(refund)
