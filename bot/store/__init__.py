"""SQLite, and the only module with SQL in it.

All database work runs on one thread (``await store.run(fn)``), so the event loop
never waits on the disk and writes never race. WAL is on and a busy timeout is set,
so another process (a benchmark, an operator's ``sqlite3``) can read while the bot
writes.

Jobs move between states only through :meth:`Store.transition`, a compare-and-set:
the job moves only if it is still in one of the expected states, and its event row and
the settle or refund of its charge (as :mod:`bot.domain.job_states` says) are written in the
same transaction. Whoever loses a race (the poller and a callback finishing the same
job, a cancel meeting a success) gets ``None`` and does nothing, which is what makes
"posted once" hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.domain.guild_config import GuildConfig
from bot.domain.job import JOB_FIELDS, JSON_COLUMNS, QUEUE_COUNT_CAP, Job, JobEvent
from bot.domain.job_states import TERMINAL, UPSTREAM, JobState, can_move, charge_after
from bot.domain.quota import DIMENSIONS, Charge, LimitLayers, Limits, Usage

R = TypeVar("R")

migrations = Migrations("atelier")

#: The states of a job that is waiting for its turn (the queue position counts them).
WAITING = (JobState.ACCEPTED, JobState.SUBMITTING, JobState.QUEUED)


@migrations()
def m001_jobs(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER,
            channel_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            locale TEXT,
            media TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            input TEXT NOT NULL,
            image_urls TEXT NOT NULL DEFAULT '[]',
            price_usd REAL NOT NULL,
            price_documented INTEGER NOT NULL DEFAULT 0,
            outputs INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL,
            upstream_status TEXT,
            task_id TEXT UNIQUE,
            callback_token TEXT,
            result_kind TEXT,
            result_urls TEXT NOT NULL DEFAULT '[]',
            result_expires_at REAL,
            failure_reason TEXT,
            failure_message TEXT,
            application_id INTEGER,
            interaction_token TEXT,
            interaction_expires_at REAL,
            progress_message_id INTEGER,
            progress_edited_at REAL,
            result_message_ids TEXT NOT NULL DEFAULT '[]',
            delivery_nonce TEXT,
            submit_attempts INTEGER NOT NULL DEFAULT 0,
            polls INTEGER NOT NULL DEFAULT 0,
            poll_errors INTEGER NOT NULL DEFAULT 0,
            delivery_attempts INTEGER NOT NULL DEFAULT 0,
            next_poll_at REAL,
            next_delivery_at REAL,
            parent_job_id INTEGER REFERENCES jobs(id),
            action TEXT,
            created_at REAL NOT NULL,
            submitted_at REAL,
            upstream_done_at REAL,
            finished_at REAL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX jobs_state ON jobs(state)")
    db.execute("CREATE INDEX jobs_next_poll ON jobs(next_poll_at) WHERE next_poll_at IS NOT NULL")
    db.execute(
        "CREATE INDEX jobs_next_delivery ON jobs(next_delivery_at) "
        "WHERE next_delivery_at IS NOT NULL"
    )
    db.execute("CREATE INDEX jobs_user ON jobs(guild_id, user_id, created_at)")
    db.execute(
        """
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            at REAL NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX job_events_job ON job_events(job_id, id)")


@migrations()
def m002_limits_and_moderation(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE charges (
            job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
            guild_id INTEGER,
            user_id INTEGER NOT NULL,
            images INTEGER NOT NULL,
            videos INTEGER NOT NULL,
            usd REAL NOT NULL,
            day TEXT NOT NULL,
            month TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX charges_user_day ON charges(guild_id, user_id, day)")
    db.execute("CREATE INDEX charges_guild_month ON charges(guild_id, month)")
    db.execute(
        """
        CREATE TABLE limits (
            guild_id INTEGER NOT NULL,
            scope TEXT NOT NULL,
            target_id INTEGER NOT NULL,
            images_per_day INTEGER,
            videos_per_day INTEGER,
            jobs_at_once INTEGER,
            spend_per_day_usd REAL,
            cooldown_seconds INTEGER,
            updated_at REAL NOT NULL,
            PRIMARY KEY (guild_id, scope, target_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            settings TEXT NOT NULL DEFAULT '{}',
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE blocks (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            reason TEXT,
            until REAL,
            by_user_id INTEGER,
            created_at REAL NOT NULL,
            PRIMARY KEY (guild_id, user_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER,
            at REAL NOT NULL,
            actor_id INTEGER,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX audit_guild ON audit(guild_id, id)")


@migrations()
def m003_ending_told(db: Database) -> None:
    """When a job's ending was told to its owner (card edited or notice posted), so a
    crash between recording an ending and telling it is caught up at start-up."""
    db.execute("ALTER TABLE jobs ADD COLUMN ending_told_at REAL")
    # Jobs that ended before this release were told at the time.
    db.execute("UPDATE jobs SET ending_told_at = finished_at WHERE finished_at IS NOT NULL")


@migrations()
def m004_spend_totals(db: Database) -> None:
    """Running spend per guild and day/month, so the budget check does not sum every
    charge of the month on each command."""
    db.execute(
        """
        CREATE TABLE spend_totals (
            guild_id INTEGER NOT NULL,
            period TEXT NOT NULL,
            usd REAL NOT NULL,
            PRIMARY KEY (guild_id, period)
        )
        """
    )
    for prefix, column in (("d:", "day"), ("m:", "month")):
        db.execute(
            f"INSERT INTO spend_totals (guild_id, period, usd) "
            f"SELECT COALESCE(guild_id, 0), '{prefix}' || {column}, SUM(usd) FROM charges "
            f"WHERE state != 'refunded' GROUP BY 1, 2"
        )


@migrations()
def m005_guild_state_index(db: Database) -> None:
    """A guild's waiting jobs by state, for the queue position on every progress card
    (through ``jobs_user`` it walked all of the guild's jobs)."""
    db.execute("CREATE INDEX jobs_guild_state ON jobs(guild_id, state)")


@migrations()
def m006_bookkeeping_triggers(db: Database) -> None:
    """Triggers that wrote a job's first event and kept the guild's running spend
    (dropped by m009: the store does both in Python)."""
    db.execute(
        """
        CREATE TRIGGER jobs_first_event AFTER INSERT ON jobs
        BEGIN
            INSERT INTO job_events (job_id, at, from_state, to_state, reason)
            VALUES (NEW.id, NEW.created_at, NULL, NEW.state, 'accepted');
        END
        """
    )
    # A reservation adds to the day's and the month's totals; a refund takes it back.
    for name, event, when, sign in (
        ("charges_reserve_spend", "INSERT", "NEW.state != 'refunded'", ""),
        (
            "charges_refund_spend",
            "UPDATE OF state",
            "NEW.state = 'refunded' AND OLD.state != 'refunded'",
            "-",
        ),
    ):
        db.execute(
            f"""
            CREATE TRIGGER {name} AFTER {event} ON charges WHEN {when}
            BEGIN
                INSERT INTO spend_totals (guild_id, period, usd)
                VALUES (COALESCE(NEW.guild_id, 0), 'd:' || NEW.day, {sign}NEW.usd),
                       (COALESCE(NEW.guild_id, 0), 'm:' || NEW.month, {sign}NEW.usd)
                ON CONFLICT (guild_id, period) DO UPDATE SET usd = usd + excluded.usd;
            END
            """
        )


@migrations()
def m007_transition_triggers(db: Database) -> None:
    """Triggers that wrote a move's event and settled or refunded its charge, with the
    move's reason in ``state_reason`` (dropped by m009: the store does both in Python)."""
    db.execute("ALTER TABLE jobs ADD COLUMN state_reason TEXT")
    db.execute(
        "UPDATE jobs SET state_reason = (SELECT reason FROM job_events AS e "
        "WHERE e.job_id = jobs.id ORDER BY e.id DESC LIMIT 1)"
    )
    db.execute(
        """
        CREATE TRIGGER jobs_state_event AFTER UPDATE OF state ON jobs
        BEGIN
            INSERT INTO job_events (job_id, at, from_state, to_state, reason)
            VALUES (NEW.id, NEW.updated_at, OLD.state, NEW.state, NEW.state_reason);
        END
        """
    )
    for name, when, charge_state in (
        ("jobs_settle_charge", "NEW.state = 'succeeded'", "settled"),
        (
            "jobs_refund_charge",
            "NEW.state IN ('rejected', 'failed', 'cancelled', 'lost') "
            "OR (NEW.state = 'expired' AND OLD.state IN ('queued', 'running'))",
            "refunded",
        ),
    ):
        db.execute(
            f"""
            CREATE TRIGGER {name} AFTER UPDATE OF state ON jobs WHEN {when}
            BEGIN
                UPDATE charges SET state = '{charge_state}', updated_at = NEW.updated_at
                WHERE job_id = NEW.id AND state = 'reserved';
            END
            """
        )


@migrations()
def m008_trust(db: Database) -> None:
    """Whether a job's channel was age-restricted when it was accepted (``NULL``: not
    known, treated as restricted); charges by time for the operator's cap, which
    counts every server together by UTC day and month; interaction tokens by expiry,
    so expired ones are cleared."""
    db.execute("ALTER TABLE jobs ADD COLUMN age_restricted INTEGER")
    db.execute("CREATE INDEX charges_created ON charges(created_at, state, usd)")
    db.execute(
        "CREATE INDEX jobs_token_expiry ON jobs(interaction_expires_at) "
        "WHERE interaction_token IS NOT NULL"
    )


@migrations()
def m009_rules_in_python(db: Database) -> None:
    """The store now writes each job's events and settles, refunds and totals its charge
    itself, in the transaction of the change (the rules are in ``bot.domain.job_states``): the
    triggers of m006 and m007 go, and the column that carried a move's reason to them."""
    for trigger in (
        "jobs_first_event",
        "charges_reserve_spend",
        "charges_refund_spend",
        "jobs_state_event",
        "jobs_settle_charge",
        "jobs_refund_charge",
    ):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("ALTER TABLE jobs DROP COLUMN state_reason")


#: Failure templates with a field that were stored formatted before m010 (one field each).
_FORMATTED_FAILURES = (
    "Max API did not finish this job within {duration}. Atelier stopped waiting for it.",
    "Max API's moderation refused the prompt ({categories}). Change it and try again. "
    "You were not charged.",
    "Max API refused the request: {message}. You were not charged.",
    "Max API is busy. Try again in {seconds} s. You were not charged.",
    "Discord refused the post (code {code}).",
    "Discord could not find the channel (code {code}).",
)


@migrations()
def m010_failure_fields(db: Database) -> None:
    """A job's failure is kept as an English template (``failure_message``) and its fields,
    so it is shown in the reader's language; sentences stored formatted are split back."""
    db.execute("ALTER TABLE jobs ADD COLUMN failure_fields TEXT")
    rows = db.execute("SELECT id, failure_message FROM jobs WHERE failure_message IS NOT NULL")
    for job_id, sentence in rows.fetchall():
        for template in _FORMATTED_FAILURES:
            before, rest = template.split("{", 1)
            name, after = rest.split("}", 1)
            value = sentence[len(before) : len(sentence) - len(after)]
            if value and sentence == before + value + after:
                db.execute(
                    "UPDATE jobs SET failure_message = ?, failure_fields = ? WHERE id = ?",
                    [template, json.dumps({name: value}, ensure_ascii=False), job_id],
                )
                break


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds prompts and
    interaction tokens); SQLite gives its -wal and -shm files the same mode."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


def _not_in(ids: Collection[int]) -> str:
    """``AND id NOT IN (?, …)`` for ``ids`` (their values go in the parameters), or ""."""
    return f" AND +id NOT IN ({_marks(ids)})" if ids else ""


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values).difference(JOB_FIELDS)
    if unknown:
        raise KeyError(f"unknown job columns: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in JSON_COLUMNS and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, JobState):
            value = value.value
        out[key] = value
    return out


def _marks(values: Collection[Any]) -> str:
    """``?, ?, …``: one placeholder per value."""
    return ", ".join("?" * len(values))


class StoreUnavailable(Exception):
    """The database file cannot be created, opened or migrated; ``str()`` says why."""


def migration_state(path: Path) -> tuple[set[str], int]:
    """Migrations applied to an existing database that this version does not know, and how
    many of this version's are still to apply; opened read-write, never created."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open {path} ({exc})") from exc
    try:
        db = Database(conn)
        known = {m.name for m in migrations.pending(Database(memory=True))}
        applied = {m.name for m in migrations.applied(db)}
        return applied - known, len(migrations.pending(db))
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read {path} ({exc})") from exc
    finally:
        conn.close()


class Store:
    """The database. Open with ``await Store.open(path)``; close with ``await store.close()``.

    Each async method runs one plain function on the database thread; a function that
    writes several rows does it in one :meth:`_transaction`.
    """

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        self._db: Database | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-db")
        # Guild settings, limit rows and blocks, read on every command: kept here after
        # the first read and replaced by every write, so a command does not wait behind
        # the poller's work on the database thread. The store is the only writer (hand
        # edits need a restart).
        self._cache: dict[tuple[str, int], Any] = {}

    async def run(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the database thread (calls run one at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> Store:
        """Open (creating it and its folder if missing) and migrate; raise
        :class:`StoreUnavailable` when the file cannot be opened as a database."""
        store = cls(path, clock)
        try:
            await store.run(store._open)
        except (OSError, sqlite3.Error) as exc:
            store._thread.shutdown(wait=False)
            why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            raise StoreUnavailable(why) from exc
        return store

    def _open(self) -> None:
        if self.path != ":memory:":
            _private_file(Path(self.path))
        # isolation_level=None: each statement commits on its own unless it runs inside
        # a _transaction().
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db = Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrations.apply(db)
        self._db = db

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    async def close(self) -> None:
        """Close the database once the calls already made have run."""
        if self._db is not None:
            await self.run(self._close)
        self._thread.shutdown(wait=False)  # nothing is left to run: the thread ends

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing, holding the write lock from the first statement: what the
        function read still holds when it writes, even against another process."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- jobs: writes ------------------------------------------------------------------

    async def create_job(self, values: Mapping[str, Any]) -> Job:
        """Insert a job in ``accepted``, with its first event."""
        return await self.run(lambda: self._create_job(values))

    def _create_job(self, values: Mapping[str, Any]) -> Job:
        with self._transaction():
            return self._insert_job(values, self.clock())

    def _insert_job(self, values: Mapping[str, Any], now: float) -> Job:
        row = _encode({**values, "state": JobState.ACCEPTED, "created_at": now, "updated_at": now})
        job = self._many(
            f"INSERT INTO jobs ({', '.join(row)}) VALUES ({_marks(row)}) RETURNING *",
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
    ) -> tuple[Job, int]:
        """Read the usage, let ``gate`` (pure quota logic) raise if the job does not fit,
        then insert the job, its event and its charge: one transaction under the write
        lock, so simultaneous commands cannot pass a limit. Returns the job and its
        :meth:`queue_position`."""

        def reserve() -> tuple[Job, int]:
            now = self.clock()
            day, month = periods
            with self._transaction():
                usage = self._usage(values.get("guild_id"), int(values["user_id"]), day, month)
                if operator_since is not None:
                    usage = self._with_operator_spend(usage, operator_since)
                gate(usage)
                job = self._insert_job(values, now)
                self.db.execute(
                    "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, "
                    "day, month, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?)",
                    [
                        job.id,
                        job.guild_id,
                        job.user_id,
                        charge.images,
                        charge.videos,
                        charge.usd,
                        day,
                        month,
                        now,
                        now,
                    ],
                )
                self._add_spend(job.guild_id, day, month, charge.usd)
            return job, self._queue_position(job.guild_id, job.id)

        return await self.run(reserve)

    def _add_spend(self, guild_id: int | None, day: str, month: str, usd: float) -> None:
        """Add ``usd`` to the guild's running spend of the day and of the month."""
        self.db.execute(
            "INSERT INTO spend_totals (guild_id, period, usd) VALUES (?, ?, ?), (?, ?, ?) "
            "ON CONFLICT (guild_id, period) DO UPDATE SET usd = usd + excluded.usd",
            [guild_id or 0, f"d:{day}", usd, guild_id or 0, f"m:{month}", usd],
        )

    async def transition(
        self,
        job_id: int,
        expected: Collection[JobState] | JobState,
        target: JobState,
        reason: str,
        *,
        keep_charge: bool = False,
        **values: Any,
    ) -> Job | None:
        """Move a job still in ``expected`` to ``target``, with its event and what the move
        does to its charge (:func:`~bot.domain.job_states.charge_after`), in one transaction.

        ``None``: the job had moved on (a lost race: do nothing). A move the state machine
        forbids raises ``ValueError`` (a bug). ``keep_charge``: settle (a billed cancel).
        """
        allowed = (expected,) if isinstance(expected, JobState) else tuple(expected)
        for state in allowed:
            if not can_move(state, target):
                raise ValueError(f"job state {state} cannot move to {target}")
        row = _encode(values)
        return await self.run(
            lambda: self._move(job_id, allowed, target, reason, row, keep_charge=keep_charge)
        )

    def _move(
        self,
        job_id: int,
        allowed: tuple[JobState, ...],
        target: JobState,
        reason: str,
        row: dict[str, Any],
        *,
        keep_charge: bool,
    ) -> Job | None:
        now = self.clock()
        if target.is_terminal:
            row.setdefault("finished_at", now)
            row.update(next_poll_at=None, next_delivery_at=None)
        sets = "".join(f", {k} = ?" for k in row)
        with self._transaction():
            found = self.db.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
            before = None if found is None else JobState(found[0])
            if before is None or before not in allowed:
                return None
            job = self._one_job(
                f"UPDATE jobs SET state = ?, updated_at = ?{sets} "
                "WHERE id = ? AND state = ? RETURNING *",
                [target.value, now, *row.values(), job_id, before.value],
            )
            if job is None:
                return None
            self._add_event(job_id, now, before, target, reason)
            outcome = charge_after(before, target, keep_charge=keep_charge)
            if outcome is not None:
                self._close_charge(job_id, outcome, now)
        return job

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

    async def update(self, job_id: int, **values: Any) -> Job:
        """Change bookkeeping columns (never ``state``: use :meth:`transition`)."""
        if "state" in values:
            raise ValueError("use transition() to change a job's state")
        row = _encode({**values, "updated_at": self.clock()})
        sets = ", ".join(f"{k} = ?" for k in row)
        return await self.run(
            lambda: self._updated(f"UPDATE jobs SET {sets} WHERE id = ?", [*row.values(), job_id])
        )

    def _updated(self, sql: str, params: list[Any]) -> Job:
        """Run an UPDATE of one job and read it back in the same statement."""
        job = self._one_job(f"{sql} RETURNING *", params)
        if job is None:
            raise KeyError(f"no job {params[-1]}")
        return job

    async def update_if(self, job_id: int, states: Collection[JobState], **values: Any) -> bool:
        """Change bookkeeping columns only while the job is in ``states``; no re-read.
        ``False`` when the job had moved on (the caller lost a race)."""
        if "state" in values:
            raise ValueError("use transition() to change a job's state")
        row = _encode({**values, "updated_at": self.clock()})
        sets = ", ".join(f"{k} = ?" for k in row)
        sql = f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({_marks(states)})"
        params = [*row.values(), job_id, *[s.value for s in states]]
        return await self.run(lambda: self.db.execute(sql, params).rowcount > 0)

    async def increment(self, job_id: int, column: str, by: int = 1, **values: Any) -> Job:
        """Add to a counter column (polls, poll_errors, …) and set other columns."""
        if column not in {"submit_attempts", "polls", "poll_errors", "delivery_attempts"}:
            raise KeyError(column)
        row = _encode({**values, "updated_at": self.clock()})
        sets = ", ".join([f"{column} = {column} + ?", *(f"{k} = ?" for k in row)])
        return await self.run(
            lambda: self._updated(
                f"UPDATE jobs SET {sets} WHERE id = ?", [by, *row.values(), job_id]
            )
        )

    # -- jobs: reads -------------------------------------------------------------------

    def _dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        rows = self._dicts(sql, params)
        return rows[0] if rows else None

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
        sql = f"SELECT * FROM jobs WHERE state IN ({_marks(states)}) ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return await self.run(lambda: self._many(sql, [s.value for s in states]))

    async def due_for_poll(self, now: float, limit: int, skip: Collection[int] = ()) -> list[Job]:
        """Jobs with a task id whose next poll is due, earliest first, except ``skip``
        (the ones the poller already holds: their rows still carry the due time).

        ``+state`` keeps SQLite on the ``next_poll_at`` index: left to choose, it takes
        the state index and sorts every job in flight on each call."""
        sql = (
            f"SELECT * FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
            f"AND +state IN ({_marks(UPSTREAM)}){_not_in(skip)} ORDER BY next_poll_at LIMIT ?"
        )
        params = [now, *[s.value for s in UPSTREAM], *skip, limit]
        return await self.run(lambda: self._many(sql, params))

    async def next_poll_time(self, skip: Collection[int] = ()) -> float | None:
        """The earliest poll appointment, except those of the jobs in ``skip``."""
        sql = (
            f"SELECT MIN(next_poll_at) FROM jobs WHERE next_poll_at IS NOT NULL "
            f"AND +state IN ({_marks(UPSTREAM)}){_not_in(skip)}"
        )
        return await self.run(lambda: self._float(sql, [*[s.value for s in UPSTREAM], *skip]))

    def _float(self, sql: str, params: list[Any]) -> float | None:
        """The one value ``sql`` selects, as a float (``None`` if NULL)."""
        (value,) = self.db.execute(sql, params).fetchone()
        return None if value is None else float(value)

    async def due_for_delivery(self, now: float, limit: int) -> list[Job]:
        sql = (
            "SELECT * FROM jobs WHERE next_delivery_at IS NOT NULL AND next_delivery_at <= ? "
            "AND +state IN (?, ?) ORDER BY next_delivery_at LIMIT ?"
        )
        params = [now, JobState.SUCCEEDED.value, JobState.DELIVERING.value, limit]
        return await self.run(lambda: self._many(sql, params))

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
        sql = "SELECT * FROM jobs WHERE guild_id IS ?"
        params: list[Any] = [guild_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if active is not None:
            sql += f" AND state {'NOT IN' if active else 'IN'} ({_marks(TERMINAL)})"
            params += [s.value for s in TERMINAL]
        sql += " ORDER BY id DESC LIMIT ?"
        return self._many(sql, [*params, limit])

    async def queue_position(self, job: Job) -> int:
        """How many of the guild's unfinished, not-yet-running jobs were accepted first
        (counted up to :data:`QUEUE_COUNT_CAP`: the card then says "at least")."""
        return await self.run(lambda: self._queue_position(job.guild_id, job.id))

    def _queue_position(self, guild_id: int | None, job_id: int) -> int:
        # Counted no further than the cap: a guild with thousands of jobs waiting would
        # otherwise cost a walk over all of them on every card.
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE guild_id IS ? AND id < ? "
            f"AND state IN ({_marks(WAITING)}) LIMIT ?)",
            [guild_id, job_id, *[s.value for s in WAITING], QUEUE_COUNT_CAP],
        ).fetchone()
        return int(count)

    async def untold_endings(self, since: float) -> list[Job]:
        """Jobs that ended after ``since`` whose owner was not told how (a crash came in
        between); delivered jobs only when a progress card is left to update."""
        sql = (
            f"SELECT * FROM jobs WHERE state IN ({_marks(TERMINAL)}) AND ending_told_at IS NULL "
            f"AND finished_at >= ? AND (state != ? OR progress_message_id IS NOT NULL) "
            f"ORDER BY id"
        )
        params = [*[s.value for s in TERMINAL], since, JobState.DELIVERED.value]
        return await self.run(lambda: self._many(sql, params))

    async def events(self, job_id: int) -> list[JobEvent]:
        def read() -> list[JobEvent]:
            rows = self.db.execute(
                "SELECT job_id, at, from_state, to_state, reason FROM job_events "
                "WHERE job_id = ? ORDER BY id",
                [job_id],
            ).fetchall()
            return [JobEvent(*row) for row in rows]

        return await self.run(read)

    async def count_by_state(self) -> dict[str, int]:
        def count() -> dict[str, int]:
            rows = self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            return {state: int(n) for state, n in rows}

        return await self.run(count)

    async def oldest_unfinished_created_at(self) -> float | None:
        """When the oldest job not yet in a final state was accepted (for /status, /metrics)."""
        sql = f"SELECT MIN(created_at) FROM jobs WHERE state NOT IN ({_marks(TERMINAL)})"
        return await self.run(lambda: self._float(sql, [s.value for s in TERMINAL]))

    async def guild_job_counts(self, guild_id: int) -> tuple[dict[str, int], float | None]:
        """One server's jobs by state and when its oldest unfinished one was accepted
        (for /status, which shows the caller's server only)."""
        unfinished = [s.value for s in JobState if s not in TERMINAL]

        def read() -> tuple[dict[str, int], float | None]:
            rows = self.db.execute(
                "SELECT state, COUNT(*) FROM jobs WHERE guild_id = ? GROUP BY state", [guild_id]
            ).fetchall()
            oldest = self._float(
                f"SELECT MIN(created_at) FROM jobs WHERE guild_id = ? "
                f"AND state IN ({_marks(unfinished)})",
                [guild_id, *unfinished],
            )
            return {state: int(n) for state, n in rows}, oldest

        return await self.run(read)

    async def forget_expired_tokens(self, now: float) -> int:
        """Clear interaction tokens that Discord no longer accepts (15 minutes after the
        command): a copied database then holds no live token. Returns how many."""
        sql = (
            "UPDATE jobs SET interaction_token = NULL "
            "WHERE interaction_token IS NOT NULL AND interaction_expires_at < ?"
        )
        return await self.run(lambda: self.db.execute(sql, [now]).rowcount)

    # -- limits, usage and guild settings -----------------------------------------------

    def _usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        """Today's and this month's reservations (refunded ones excluded): the member's
        from their charges, the guild's from the running totals."""
        images, videos, spend, guild_day, guild_month, active, last = self.db.execute(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(videos), 0), COALESCE(SUM(usd), 0), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            f"(SELECT COUNT(CASE WHEN state NOT IN ({_marks(TERMINAL)}) THEN 1 END) FROM jobs "
            "WHERE guild_id IS ? AND user_id = ?), "
            "(SELECT MAX(created_at) FROM jobs WHERE guild_id IS ? AND user_id = ?) "
            "FROM charges WHERE guild_id IS ? AND user_id = ? AND day = ? "
            "AND state != 'refunded'",
            [
                guild_id or 0,
                f"d:{day}",
                guild_id or 0,
                f"m:{month}",
                *[s.value for s in TERMINAL],
                guild_id,
                user_id,
                guild_id,
                user_id,
                guild_id,
                user_id,
                day,
            ],
        ).fetchone()
        return Usage(
            images_today=int(images),
            videos_today=int(videos),
            spend_today_usd=float(spend),
            active_jobs=int(active),
            last_job_at=float(last) if last is not None else None,
            guild_spend_today_usd=float(guild_day or 0.0),
            guild_spend_month_usd=float(guild_month or 0.0),
        )

    async def usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        return await self.run(lambda: self._usage(guild_id, user_id, day, month))

    def _with_operator_spend(self, usage: Usage, since: tuple[float, float]) -> Usage:
        """``usage`` with what every server together reserved since the operator's day and
        month began (refunded charges excluded)."""
        day_start, month_start = since
        today, month = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN created_at >= ? THEN usd END), 0), "
            "COALESCE(SUM(usd), 0) FROM charges WHERE created_at >= ? AND state != 'refunded'",
            [day_start, min(day_start, month_start)],
        ).fetchone()
        return replace(
            usage, operator_spend_today_usd=float(today), operator_spend_month_usd=float(month)
        )

    async def operator_spend(self, since: tuple[float, float]) -> tuple[float, float]:
        """What every server together reserved this UTC day and month (for /status)."""
        usage = await self.run(lambda: self._with_operator_spend(Usage(), since))
        return usage.operator_spend_today_usd, usage.operator_spend_month_usd

    async def limit_layers(
        self, guild_id: int, user_id: int, role_ids: Collection[int] = ()
    ) -> LimitLayers:
        """The limit rows that apply to one member (from the guild's cached rows)."""
        guild, user, roles = Limits(), Limits(), []
        wanted_roles = set(role_ids)
        for scope, target, limits in await self.all_limits(guild_id):
            if scope == "guild":
                guild = limits
            elif scope == "user" and target == user_id:
                user = limits
            elif scope == "role" and target in wanted_roles:
                roles.append(limits)
        return LimitLayers(guild=guild, roles=tuple(roles), user=user)

    async def limits_row(self, guild_id: int, scope: str, target_id: int) -> Limits:
        sql = "SELECT * FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?"
        row = await self.run(lambda: self._one(sql, [guild_id, scope, target_id]))
        return Limits.from_mapping(row or {})

    async def set_limits(self, guild_id: int, scope: str, target_id: int, limits: Limits) -> None:
        values = limits.as_dict()
        cols = ", ".join(DIMENSIONS)
        updates = ", ".join(f"{k} = excluded.{k}" for k in DIMENSIONS)

        def write() -> None:
            self.db.execute(
                f"INSERT INTO limits (guild_id, scope, target_id, {cols}, updated_at) "
                f"VALUES (?, ?, ?, {_marks(DIMENSIONS)}, ?) "
                f"ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET {updates}, "
                f"updated_at = excluded.updated_at",
                [guild_id, scope, target_id, *values.values(), self.clock()],
            )
            self._cache.pop(("limits", guild_id), None)

        await self.run(write)

    async def reset_limits(self, guild_id: int, scope: str, target_id: int) -> bool:
        def delete() -> bool:
            cursor = self.db.execute(
                "DELETE FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?",
                [guild_id, scope, target_id],
            )
            self._cache.pop(("limits", guild_id), None)
            return cursor.rowcount > 0

        return await self.run(delete)

    async def all_limits(self, guild_id: int) -> list[tuple[str, int, Limits]]:
        """Every limits row of a guild as (scope, target id, limits)."""
        cached: list[tuple[str, int, Limits]] | None = self._cache.get(("limits", guild_id))
        if cached is None:
            cached = await self.run(lambda: self._load_limits(guild_id))
        return list(cached)

    def _load_limits(self, guild_id: int) -> list[tuple[str, int, Limits]]:
        cols = ", ".join(DIMENSIONS)
        rows = self.db.execute(
            f"SELECT scope, target_id, {cols} FROM limits WHERE guild_id = ? "
            "ORDER BY scope, target_id",
            [guild_id],
        ).fetchall()
        loaded = [
            (scope, int(target), Limits(**dict(zip(DIMENSIONS, values, strict=True))))
            for scope, target, *values in rows
        ]
        self._cache[("limits", guild_id)] = loaded
        return loaded

    async def guild_config(self, guild_id: int) -> GuildConfig:
        cached = self._cache.get(("config", guild_id))
        if cached is not None:
            return cached
        return await self.run(lambda: self._load_guild_config(guild_id))

    def _settings(self, guild_id: int) -> dict[str, Any]:
        row = self._one("SELECT settings FROM guild_settings WHERE guild_id = ?", [guild_id])
        return json.loads(row["settings"]) if row else {}

    def _load_guild_config(self, guild_id: int) -> GuildConfig:
        config = _config_from(guild_id, self._settings(guild_id))
        self._cache[("config", guild_id)] = config
        return config

    async def update_guild_config(self, guild_id: int, **values: Any) -> GuildConfig:
        """Change some settings (names are :class:`GuildConfig` fields)."""
        return await self.run(lambda: self._edit_guild_config(guild_id, lambda _: values))

    async def edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        """Read-modify-write in one transaction: ``edit`` (pure, no awaits) gets the
        current settings and returns the changes, so two moderators editing a list at
        the same moment cannot lose each other's change."""
        return await self.run(lambda: self._edit_guild_config(guild_id, edit))

    def _edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        allowed = {f.name for f in fields(GuildConfig)} - {"guild_id"}
        with self._transaction():
            current = self._settings(guild_id)
            values = edit(_config_from(guild_id, current))
            unknown = set(values) - allowed
            if unknown:
                raise KeyError(f"unknown guild settings {sorted(unknown)}")
            for key, value in values.items():
                if isinstance(value, frozenset | set | tuple):
                    value = sorted(value) if isinstance(value, frozenset | set) else list(value)
                current[key] = value
            self.db.execute(
                "INSERT INTO guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, "
                "updated_at = excluded.updated_at",
                [guild_id, json.dumps(current, ensure_ascii=False), self.clock()],
            )
        config = _config_from(guild_id, current)
        self._cache[("config", guild_id)] = config
        return config

    # -- blocks and audit ------------------------------------------------------------------

    async def block(
        self,
        guild_id: int,
        user_id: int,
        reason: str | None,
        until: float | None,
        by_user_id: int | None,
    ) -> None:
        def write() -> None:
            self.db.execute(
                "INSERT INTO blocks (guild_id, user_id, reason, until, by_user_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
                "reason = excluded.reason, until = excluded.until, "
                "by_user_id = excluded.by_user_id, created_at = excluded.created_at",
                [guild_id, user_id, reason, until, by_user_id, self.clock()],
            )
            self._cache.pop(("blocks", guild_id), None)

        await self.run(write)

    async def unblock(self, guild_id: int, user_id: int) -> bool:
        def delete() -> bool:
            cursor = self.db.execute(
                "DELETE FROM blocks WHERE guild_id = ? AND user_id = ?", [guild_id, user_id]
            )
            self._cache.pop(("blocks", guild_id), None)
            return cursor.rowcount > 0

        return await self.run(delete)

    async def active_block(self, guild_id: int, user_id: int, now: float) -> dict[str, Any] | None:
        """The member's block if it has not expired."""
        blocks: dict[int, dict[str, Any]] | None = self._cache.get(("blocks", guild_id))
        if blocks is None:
            blocks = await self.run(lambda: self._load_blocks(guild_id))
        block = blocks.get(user_id)
        if block is None or (block["until"] is not None and block["until"] <= now):
            return None
        return dict(block)

    def _load_blocks(self, guild_id: int) -> dict[int, dict[str, Any]]:
        rows = self._dicts(
            "SELECT user_id, reason, until, by_user_id, created_at FROM blocks WHERE guild_id = ?",
            [guild_id],
        )
        blocks = {int(row.pop("user_id")): row for row in rows}
        self._cache[("blocks", guild_id)] = blocks
        return blocks

    async def add_audit(
        self,
        guild_id: int | None,
        actor_id: int | None,
        action: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        params = [
            guild_id,
            self.clock(),
            actor_id,
            action,
            target,
            json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
        ]
        sql = (
            "INSERT INTO audit (guild_id, at, actor_id, action, target, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        return await self.run(lambda: int(self.db.execute(sql, params).lastrowid or 0))

    async def audit_entries(self, guild_id: int, limit: int = 50) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            rows = self._dicts(
                "SELECT id, at, actor_id, action, target, detail FROM audit WHERE guild_id = ? "
                "ORDER BY id DESC LIMIT ?",
                [guild_id, limit],
            )
            for row in rows:
                row["detail"] = json.loads(row["detail"])
            return rows

        return await self.run(read)

    # -- usage reports ----------------------------------------------------------------------

    async def charges_in(
        self, guild_id: int, since_day: str, until_day: str, user_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Charges (with their jobs) for days in [since_day, until_day], newest first."""
        sql = (
            "SELECT c.job_id, c.user_id, c.images, c.videos, c.usd, c.day, c.state, "
            "j.model, j.media, j.state AS job_state, j.prompt, j.created_at "
            "FROM charges c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.guild_id = ? AND c.day >= ? AND c.day <= ?"
        )
        params: list[Any] = [guild_id, since_day, until_day]
        if user_id is not None:
            sql += " AND c.user_id = ?"
            params.append(user_id)
        return await self.run(lambda: self._dicts(sql + " ORDER BY c.job_id DESC", params))


def _config_from(guild_id: int, raw: Mapping[str, Any]) -> GuildConfig:
    values: dict[str, Any] = {"guild_id": guild_id}
    for f in fields(GuildConfig):
        if f.name == "guild_id" or f.name not in raw:
            continue
        value = raw[f.name]
        if f.name in ("allowed_models", "channel_ids", "exempt_role_ids"):
            value = frozenset(value)
        elif f.name == "banned_words":
            value = tuple(value)
        values[f.name] = value
    return GuildConfig(**values)
