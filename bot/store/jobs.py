"""Job rows: created with their charge, moved by compare-and-set, claimed for polls, read."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import astuple, replace
from typing import Any

from bot.domain.errors import DuplicateInteraction
from bot.domain.job import JOB_FIELDS, JSON_COLUMNS, QUEUE_COUNT_CAP, Job, JobEvent
from bot.domain.job_states import TERMINAL, UPSTREAM, JobState, can_move, charge_after
from bot.domain.quota import Charge, Usage
from bot.store.database import marks
from bot.store.guilds import GuildQueries

#: The states of a job that is waiting for its turn (the queue position counts them).
WAITING = (JobState.ACCEPTED, JobState.SUBMITTING, JobState.QUEUED)

#: ``state IN (…)`` for a job Max API is working on; ``+state`` keeps SQLite on the
#: ``next_poll_at`` index (left to choose, it takes the state index and sorts every job
#: in flight).
_UPSTREAM_SQL = f"+state IN ({marks(UPSTREAM)})"
_UPSTREAM_VALUES = [s.value for s in UPSTREAM]
_TERMINAL_VALUES = [s.value for s in TERMINAL]

#: A finished job whose result is still to be posted.
POSTING = [JobState.SUCCEEDED.value, JobState.DELIVERING.value]

#: The job's owner is not alive: no heartbeat since the ``?`` time (or it has none).
DEAD_OWNER = "(owner IS NULL OR owner NOT IN (SELECT id FROM processes WHERE heartbeat_at >= ?))"

#: The lock every accept takes under an operator's cap (all servers count together);
#: a guild's accepts lock its id. No Discord id is this small.
OPERATOR_LOCK = -1


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for ``jobs``: JSON columns encoded, states as their names; setting
    the next poll time ends the poll's claim."""
    unknown = set(values).difference(JOB_FIELDS)
    if unknown:
        raise KeyError(f"unknown job columns: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in JSON_COLUMNS and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, JobState):
            value = value.value
        elif isinstance(value, bool):
            value = int(value)  # flags are INTEGER columns in both databases
        out[key] = value
    if "next_poll_at" in out:
        out["poll_claimed_until"] = None
    return out


class JobQueries(GuildQueries):
    """Jobs, their events and their charges. A job changes state only through
    :meth:`transition`, a compare-and-set: whoever loses a race gets ``None``."""

    # -- writes ---------------------------------------------------------------------------

    async def create_job(self, values: Mapping[str, Any]) -> Job:
        """Insert a job in ``accepted``, with its first event."""

        def create() -> Job:
            with self._transaction():
                return self._insert_job(values, self.clock())

        return await self.run(create)

    def _insert_job(self, values: Mapping[str, Any], now: float) -> Job:
        row = _encode({**values, "state": JobState.ACCEPTED, "created_at": now, "updated_at": now})
        job = self._many(
            f"INSERT INTO jobs ({', '.join(row)}) VALUES ({marks(row)}) RETURNING *",
            row.values(),
        )[0]
        self._add_event(job.id, now, None, JobState.ACCEPTED, "accepted")
        return job

    def _add_event(
        self, job_id: int, now: float, before: JobState | None, after: JobState, reason: str
    ) -> None:
        self.db.execute(
            "INSERT INTO job_events (job_id, at, from_state, to_state, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            [job_id, now, None if before is None else before.value, after.value, reason],
        )

    async def create_job_with_charge(
        self,
        values: Mapping[str, Any],
        charge: Charge,
        periods: tuple[str, str],
        gate: Callable[[Usage], None],
        operator_since: tuple[float, float] | None = None,
    ) -> Job:
        """Read the usage, let ``gate`` (pure quota logic) raise if the job does not fit,
        then insert the job, its event and its charge: one transaction under the write
        lock, so simultaneous commands cannot pass a limit."""

        def reserve() -> Job:
            now = self.clock()
            day, month = periods
            with self._transaction():
                # Accepts that could pass the same limit wait for each other (on
                # PostgreSQL, across processes; SQLite's write lock does it for one).
                if operator_since is not None:
                    self.db.lock(OPERATOR_LOCK)
                self.db.lock(values.get("guild_id") or 0)
                self._refuse_repeat(values.get("interaction_id"))
                usage = self._usage(values.get("guild_id"), int(values["user_id"]), day, month)
                if operator_since is not None:
                    today, this_month = self._operator_spend(operator_since)
                    usage = replace(
                        usage, operator_spend_today_usd=today, operator_spend_month_usd=this_month
                    )
                gate(usage)
                job = self._insert_job(values, now)
                self.db.execute(
                    "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, "
                    "day, month, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?)",
                    [job.id, job.guild_id, job.user_id, *astuple(charge), day, month, now, now],
                )
                self._add_spend(job.guild_id, day, month, charge.usd)
            return job

        return await self.run(reserve)

    def _refuse_repeat(self, interaction_id: int | None) -> None:
        """One interaction, one job, even if two sessions received it (the unique index
        backs this; the check turns the clash into an answer the caller expects)."""
        if interaction_id is None:
            return
        sql = "SELECT id FROM jobs WHERE interaction_id = ?"
        if self.db.execute(sql, [interaction_id]).fetchone() is not None:
            raise DuplicateInteraction(interaction_id)

    async def transition(
        self,
        job_id: int,
        expected: Collection[JobState] | JobState,
        target: JobState,
        reason: str,
        *,
        keep_charge: bool = False,
        fence: int | None = None,
        **values: Any,
    ) -> Job | None:
        """Move a job still in ``expected`` to ``target``, with its event and what the move
        does to its charge (:func:`~bot.domain.job_states.charge_after`), in one transaction.

        ``None``: the job had moved on (a lost race: do nothing), or ``fence`` is not the
        job's fencing counter any more (another process took it over). A move the state
        machine forbids raises ``ValueError`` (a bug). ``keep_charge``: settle (a billed
        cancel)."""
        allowed = (expected,) if isinstance(expected, JobState) else tuple(expected)
        for state in allowed:
            if not can_move(state, target):
                raise ValueError(f"job state {state} cannot move to {target}")
        row = _encode(values)

        def move() -> Job | None:
            now = self.clock()
            if target.is_terminal:
                row.setdefault("finished_at", now)
                row.update(next_poll_at=None, next_delivery_at=None)
            sets = "".join(f", {k} = ?" for k in row)
            fenced = "" if fence is None else " AND fence = ?"
            # The one rule for every submit path: a job held for Confirm is never sent.
            if target == JobState.SUBMITTING:
                fenced += " AND confirm_by IS NULL"
            with self._transaction():
                found = self.db.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
                before = None if found is None else JobState(found[0])
                if before is None or before not in allowed:
                    return None
                job = self._one_job(
                    f"UPDATE jobs SET state = ?, updated_at = ?{sets} "
                    f"WHERE id = ? AND state = ?{fenced} RETURNING *",
                    [target.value, now, *row.values(), job_id, before.value]
                    + ([] if fence is None else [fence]),
                )
                if job is None:
                    return None
                self._add_event(job_id, now, before, target, reason)
                outcome = charge_after(before, target, keep_charge=keep_charge)
                if outcome is not None:
                    self._close_charge(job_id, outcome, now)
            return job

        return await self.run(move)

    def _close_charge(self, job_id: int, outcome: str, now: float) -> None:
        """Settle or refund the job's reserved charge; a refund leaves the guild's
        running spend too. A charge already settled or refunded stays as it is."""
        closed = self.db.execute(
            "UPDATE charges SET state = ?, updated_at = ? WHERE job_id = ? AND state = 'reserved' "
            "RETURNING guild_id, day, month, usd",
            [outcome, now, job_id],
        ).fetchall()
        if outcome == "refunded":
            for guild_id, day, month, usd in closed:
                self._add_spend(guild_id, day, month, -usd)

    def _sets(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """``a = ?, b = ?`` and its values for bookkeeping columns, ``updated_at`` included;
        ``state`` is refused (use :meth:`transition`)."""
        if "state" in values:
            raise ValueError("use transition() to change a job's state")
        row = _encode({**values, "updated_at": self.clock()})
        return ", ".join(f"{k} = ?" for k in row), list(row.values())

    async def update(self, job_id: int, **values: Any) -> Job:
        """Change bookkeeping columns and return the job."""
        sets, params = self._sets(values)
        return await self.run(lambda: self._updated(f"SET {sets}", [*params, job_id]))

    async def increment(self, job_id: int, column: str, by: int = 1, **values: Any) -> Job:
        """Add to a counter column (polls, poll_errors, …) and set other columns."""
        if column not in {"submit_attempts", "polls", "poll_errors", "delivery_attempts"}:
            raise KeyError(column)
        sets, params = self._sets(values)
        sql = f"SET {column} = {column} + ?, {sets}"
        return await self.run(lambda: self._updated(sql, [by, *params, job_id]))

    def _updated(self, sets: str, params: list[Any]) -> Job:
        """``UPDATE jobs {sets} WHERE id = ?`` (the last parameter), read back at once."""
        job = self._one_job(f"UPDATE jobs {sets} WHERE id = ? RETURNING *", params)
        if job is None:
            raise KeyError(f"no job {params[-1]}")
        return job

    async def update_if(self, job_id: int, states: Collection[JobState], **values: Any) -> bool:
        """Change bookkeeping columns only while the job is in ``states``; no re-read.
        ``False`` when the job had moved on (the caller lost a race)."""
        sets, params = self._sets(values)
        sql = f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({marks(states)})"
        params += [job_id, *[s.value for s in states]]
        return await self.run(lambda: self.db.execute(sql, params).rowcount > 0)

    async def claim_due_polls(self, now: float, limit: int, until: float) -> list[Job]:
        """Up to ``limit`` jobs whose poll is due and unclaimed, each claimed until
        ``until`` in the same statement (a compare-and-set), so no other read returns it
        while it is polled. Setting the next poll time ends the claim."""
        free = "(poll_claimed_until IS NULL OR poll_claimed_until <= ?)"
        sql = (
            f"UPDATE jobs SET poll_claimed_until = ? WHERE {free} AND id IN "
            "(SELECT id FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
            f"AND {free} AND {_UPSTREAM_SQL} ORDER BY next_poll_at LIMIT ?{self.db.skip_locked}) "
            "RETURNING *"
        )
        params = [until, now, now, now, *_UPSTREAM_VALUES, limit]
        return await self.run(lambda: self._many(sql, params))

    async def release_poll_claims(self) -> int:
        """Drop every poll claim (at start-up, when no poll of this process can be running)."""
        sql = "UPDATE jobs SET poll_claimed_until = NULL WHERE poll_claimed_until IS NOT NULL"
        return await self.run(lambda: self.db.execute(sql).rowcount)

    async def forget_expired_tokens(self, now: float) -> int:
        """Clear interaction tokens that Discord no longer accepts (15 minutes after the
        command): a copied database then holds no live token. Returns how many."""
        sql = (
            "UPDATE jobs SET interaction_token = NULL "
            "WHERE interaction_token IS NOT NULL AND interaction_expires_at < ?"
        )
        return await self.run(lambda: self.db.execute(sql, [now]).rowcount)

    # -- reads ----------------------------------------------------------------------------

    def _many(self, sql: str, params: Iterable[Any] = ()) -> list[Job]:
        return [Job.from_row(row) for row in self._dicts(sql, params)]

    def _one_job(self, sql: str, params: Iterable[Any]) -> Job | None:
        jobs = self._many(sql, params)
        return jobs[0] if jobs else None

    async def get(self, job_id: int) -> Job | None:
        return await self.run(lambda: self._one_job("SELECT * FROM jobs WHERE id = ?", [job_id]))

    async def by_task_id(self, task_id: str) -> Job | None:
        sql = "SELECT * FROM jobs WHERE task_id = ?"
        return await self.run(lambda: self._one_job(sql, [task_id]))

    async def in_states(self, states: Collection[JobState], limit: int | None = None) -> list[Job]:
        sql = f"SELECT * FROM jobs WHERE state IN ({marks(states)}) ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return await self.run(lambda: self._many(sql, [s.value for s in states]))

    async def next_poll_time(self) -> float | None:
        """The earliest poll time, claims included (a claim's end is a poll time too)."""
        sql = (
            "SELECT MIN(CASE WHEN poll_claimed_until > next_poll_at THEN poll_claimed_until "
            "ELSE next_poll_at END) FROM jobs "
            f"WHERE next_poll_at IS NOT NULL AND {_UPSTREAM_SQL}"
        )
        return await self.run(lambda: self._float(sql, _UPSTREAM_VALUES))

    async def due_for_delivery(
        self, now: float, limit: int, *, owner: str | None = None, stale_after: float = 0.0
    ) -> list[Job]:
        """Deliveries due at ``now``; with ``owner``, only that process's and those of
        processes not heard from within ``stale_after`` seconds."""
        sql = (
            "SELECT * FROM jobs WHERE next_delivery_at IS NOT NULL AND next_delivery_at <= ? "
            "AND +state IN (?, ?)"
        )
        params: list[Any] = [now, *POSTING]

        def read() -> list[Job]:
            where, values = sql, list(params)
            if owner is not None:
                where += f" AND (owner = ? OR {DEAD_OWNER})"
                values += [owner, self.db.now() - stale_after]
            return self._many(where + " ORDER BY next_delivery_at LIMIT ?", [*values, limit])

        return await self.run(read)

    async def next_delivery_time(self) -> float | None:
        sql = (
            "SELECT MIN(next_delivery_at) FROM jobs WHERE next_delivery_at IS NOT NULL "
            "AND +state IN (?, ?)"
        )
        params = [JobState.SUCCEEDED.value, JobState.DELIVERING.value]
        return await self.run(lambda: self._float(sql, params))

    async def for_user(
        self, guild_id: int | None, user_id: int, *, active: bool | None = None, limit: int = 10
    ) -> list[Job]:
        """A member's jobs, newest first; ``active`` filters to unfinished or finished."""
        return await self.run(lambda: self._jobs_where(guild_id, user_id, active, limit))

    async def for_guild(
        self, guild_id: int | None, *, active: bool | None = None, limit: int = 25
    ) -> list[Job]:
        """Every member's jobs in one guild, newest first (moderators' ``/cancel``)."""
        return await self.run(lambda: self._jobs_where(guild_id, None, active, limit))

    def _jobs_where(
        self, guild_id: int | None, user_id: int | None, active: bool | None, limit: int
    ) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE guild_id IS NOT DISTINCT FROM ?"
        params: list[Any] = [guild_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if active is not None:
            sql += f" AND state {'NOT IN' if active else 'IN'} ({marks(TERMINAL)})"
            params += _TERMINAL_VALUES
        return self._many(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])

    async def queue_position(self, job: Job) -> int:
        """How many of the guild's unfinished, not-yet-running jobs were accepted first
        (counted up to :data:`QUEUE_COUNT_CAP`: the card then says "at least")."""
        return await self.run(lambda: self._queue_position(job.guild_id, job.id))

    def _queue_position(self, guild_id: int | None, job_id: int) -> int:
        # Counted no further than the cap, so a long queue costs no more than a short one.
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE guild_id IS NOT DISTINCT FROM ? "
            f"AND id < ? AND state IN ({marks(WAITING)}) LIMIT ?) AS waiting",
            [guild_id, job_id, *[s.value for s in WAITING], QUEUE_COUNT_CAP],
        ).fetchone()
        return int(count)

    async def results_ahead(self, job: Job) -> int:
        """How many of the channel's finished jobs wait to be posted before ``job`` (Discord
        lets a channel take about 5 messages in 5 s), counted up to the cap."""
        sql = (
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE channel_id = ? AND id < ? "
            "AND state IN (?, ?) LIMIT ?) AS ahead"
        )
        params = [job.channel_id, job.id, *POSTING, QUEUE_COUNT_CAP]
        return await self.run(lambda: int(self.db.execute(sql, params).fetchone()[0]))

    async def untold_endings(self, since: float) -> list[Job]:
        """Jobs that ended after ``since`` whose owner was not yet notified (a crash came
        in between); delivered jobs only when a progress card is left to update."""
        sql = (
            f"SELECT * FROM jobs WHERE state IN ({marks(TERMINAL)}) AND ending_told_at IS NULL "
            "AND finished_at >= ? AND (state != ? OR progress_message_id IS NOT NULL) "
            "ORDER BY id"
        )
        params = [*_TERMINAL_VALUES, since, JobState.DELIVERED.value]
        return await self.run(lambda: self._many(sql, params))

    async def events(self, job_id: int) -> list[JobEvent]:
        sql = (
            "SELECT job_id, at, from_state, to_state, reason FROM job_events "
            "WHERE job_id = ? ORDER BY id"
        )
        rows = await self.run(lambda: self.db.execute(sql, [job_id]).fetchall())
        return [JobEvent(*row) for row in rows]

    async def count_by_state(self) -> dict[str, int]:
        sql = "SELECT state, COUNT(*) FROM jobs GROUP BY state"
        rows = await self.run(lambda: self.db.execute(sql).fetchall())
        return {state: int(n) for state, n in rows}

    async def oldest_unfinished_created_at(self) -> float | None:
        """When the oldest job not yet in a final state was accepted (for /status, /metrics)."""
        sql = f"SELECT MIN(created_at) FROM jobs WHERE state NOT IN ({marks(TERMINAL)})"
        return await self.run(lambda: self._float(sql, _TERMINAL_VALUES))

    async def guild_job_counts(self, guild_id: int) -> tuple[dict[str, int], float | None]:
        """One server's jobs by state and when its oldest unfinished one was accepted
        (for /status, which shows the caller's server only)."""

        unfinished = [s.value for s in JobState if s not in TERMINAL]

        def read() -> tuple[dict[str, int], float | None]:
            rows = self.db.execute(
                "SELECT state, COUNT(*) FROM jobs WHERE guild_id = ? GROUP BY state", [guild_id]
            ).fetchall()
            oldest = self._float(
                "SELECT MIN(created_at) FROM jobs WHERE guild_id = ? "
                f"AND state IN ({marks(unfinished)})",
                [guild_id, *unfinished],
            )
            return {state: int(n) for state, n in rows}, oldest

        return await self.run(read)
