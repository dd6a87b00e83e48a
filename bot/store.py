"""SQLite, and the only module with SQL in it.

Every call runs on one dedicated thread (``await store.call(...)`` style async
methods wrap synchronous ones), so the event loop never waits on the disk and
writes never race. WAL is on and a busy timeout is set, so a second process (a
benchmark, an operator's ``sqlite3``) can read while the bot writes.

Group commit: calls that queue up while the thread is busy run together in one
``BEGIN IMMEDIATE … COMMIT``, each inside its own savepoint (so each is still all or
nothing, and one failing call rolls back only itself), and each caller is answered
only after the COMMIT. At thousands of jobs in flight the commits and the thread
hand-offs, not the statements, were most of the database thread's time.

Jobs move between states only through :meth:`Store.transition`, a compare-and-set:
the update applies only if the job is still in one of the expected states, and
triggers append the state change to ``job_events`` and settle or refund the charge in
the same statement (``m007_transition_triggers``). Whoever loses
a race (the poller and a callback finishing the same job, a cancel meeting a
success) sees ``None`` and does nothing, which is what makes "posted once" hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.guild_config import GuildConfig
from bot.iteration_batch import IterationBatch
from bot.job_states import (
    TERMINAL,
    UPSTREAM,
    JobState,
    can_move,
)
from bot.quota import DIMENSIONS, Charge, LimitLayers, Limits, Usage

P = ParamSpec("P")
R = TypeVar("R")

migrations = Migrations("atelier")

#: A queue position is counted up to this many jobs ahead ("100 or more").
QUEUE_COUNT_CAP = 100

# How many of the guild's unfinished, not-yet-running jobs were accepted before
# ``{job}`` (a row with ``guild_id`` and ``id``), counted up to QUEUE_COUNT_CAP: a guild
# with thousands of jobs waiting would otherwise cost a walk over all of them on every
# card render, in the database thread every command waits on.
_QUEUE_POSITION_SQL = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM jobs AS earlier WHERE earlier.guild_id IS "
    "{job}.guild_id AND earlier.id < {job}.id AND earlier.state IN (?, ?, ?) LIMIT ?)"
)


def _queue_position_params() -> list[Any]:
    waiting = (JobState.ACCEPTED, JobState.SUBMITTING, JobState.QUEUED)
    return [*(state.value for state in waiting), QUEUE_COUNT_CAP]


JSON_COLUMNS = frozenset({"options", "input", "image_urls", "result_urls", "result_message_ids"})


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
    charge of the month on each command (it grew from 1 to 8 ms at 10,000 jobs)."""
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
    """A guild's waiting jobs by state, for the queue position on every progress card:
    through ``jobs_user`` it walked all of the guild's jobs (1.6 ms at 3,000)."""
    db.execute("CREATE INDEX jobs_guild_state ON jobs(guild_id, state)")


@migrations()
def m006_bookkeeping_triggers(db: Database) -> None:
    """A job's first event and the guild's running spend kept by triggers, so that
    accepting a job takes two statements fewer (and a refund two fewer): each
    statement hands the GIL to and from the event loop, and under a burst of commands
    every handoff waits for the loop (accept groups took 30-55 ms for 16 jobs; see
    bench/README.md)."""
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
    """A transition in one statement: the job's UPDATE fires triggers that append its
    event (the reason comes in the new ``state_reason`` column) and settle or refund
    its charge. It was three to five statements and a savepoint; each statement hands
    the GIL to and from the event loop, and at the poller's peak every handoff waits
    for the loop (bench/README.md, "The image p95").

    The charge rules are ``job_states.refund_applies`` and ``settle_applies`` as of this
    release, written out as SQL; ``tests/test_store.py`` checks the two agree for
    every allowed move. A change to those rules needs a new migration."""
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


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds prompts and
    interaction tokens); SQLite gives its -wal and -shm files the same mode."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``, JSON columns decoded."""

    id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    media: str
    model: str
    prompt: str
    input: dict[str, Any]
    price_usd: float
    state: JobState
    created_at: float
    updated_at: float
    locale: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    image_urls: list[str] = field(default_factory=list)
    price_documented: bool = False
    outputs: int = 1
    upstream_status: str | None = None
    task_id: str | None = None
    callback_token: str | None = None
    result_kind: str | None = None
    result_urls: list[str] = field(default_factory=list)
    result_expires_at: float | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    application_id: int | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    progress_message_id: int | None = None
    progress_edited_at: float | None = None
    result_message_ids: list[int] = field(default_factory=list)
    delivery_nonce: str | None = None
    submit_attempts: int = 0
    polls: int = 0
    poll_errors: int = 0
    delivery_attempts: int = 0
    next_poll_at: float | None = None
    next_delivery_at: float | None = None
    parent_job_id: int | None = None
    action: str | None = None
    submitted_at: float | None = None
    upstream_done_at: float | None = None
    finished_at: float | None = None
    ending_told_at: float | None = None
    age_restricted: bool | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        return _job_reader(tuple(row))(tuple(row.values()))


_JOB_FIELDS = tuple(f.name for f in fields(Job))


@functools.lru_cache(maxsize=64)
def _job_reader(columns: tuple[str, ...]) -> Callable[[tuple[Any, ...]], Job]:
    """Turn rows with these columns into jobs. Where each field sits is worked out
    once per statement shape, not per row: the poller reads every job in flight every
    few seconds and each transition reads its row back, and a row built through two
    dicts and keywords cost twice as much (23 µs → 11 µs a row). Columns that are not
    fields are ignored; fields with no column keep their default."""
    where = {name: i for i, name in enumerate(columns)}
    present = [name for name in _JOB_FIELDS if name in where]
    picks = [where[name] for name in present]
    decoded = [n for n, name in enumerate(present) if name in JSON_COLUMNS]
    state = present.index("state") if "state" in where else None
    flag = present.index("price_documented") if "price_documented" in where else None
    restricted = present.index("age_restricted") if "age_restricted" in where else None

    def values(row: tuple[Any, ...]) -> list[Any]:
        out = [row[i] for i in picks]
        for n in decoded:
            if isinstance(raw := out[n], str):
                out[n] = _decode_json(raw)
        if state is not None:
            out[state] = JobState(out[state])
        if flag is not None:
            out[flag] = bool(out[flag])
        if restricted is not None and out[restricted] is not None:
            out[restricted] = bool(out[restricted])
        return out

    if len(present) == len(_JOB_FIELDS):
        return lambda row: Job(*values(row))
    return lambda row: Job(**dict(zip(present, values(row), strict=True)))


def _decode_json(text: str) -> Any:
    """``json.loads``, with the empty list and object (most JSON cells) made directly."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: int
    at: float
    from_state: str | None
    to_state: str
    reason: str | None


def _not_in(ids: Collection[int]) -> str:
    """``AND id NOT IN (?, …)`` for ``ids`` (their values go in the parameters), or ""."""
    return f" AND +id NOT IN ({', '.join('?' * len(ids))})" if ids else ""


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values).difference(_JOB_FIELDS)
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


def _on_store_thread(
    grouped: bool, atomic: bool = False
) -> Callable[[Callable[Concatenate[Store, P], R]], Callable[Concatenate[Store, P], Any]]:
    def decorate(
        method: Callable[Concatenate[Store, P], R],
    ) -> Callable[Concatenate[Store, P], Any]:
        @functools.wraps(method)
        async def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
            call = functools.partial(method, self, *args, **kwargs)
            return await self._thread.run(call, grouped=grouped, atomic=atomic)

        return wrapper

    return decorate


#: Turn a synchronous method into a coroutine that runs it on the store's thread,
#: inside the current group transaction (see :class:`GroupCommitThread`).
on_db_thread = _on_store_thread(grouped=True)

#: The same for a method that runs one statement or only reads: no savepoint around it.
one_statement = _on_store_thread(grouped=True, atomic=True)

#: The same, but alone and with no transaction around it (opening and migrating, closing).
outside_transaction = _on_store_thread(grouped=False)


@dataclass
class _Call:
    fn: Callable[[], Any]
    grouped: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    atomic: bool = False  # one statement, or reads only: needs no savepoint
    ok: bool = False
    outcome: Any = None


#: One :meth:`Store.update_if` call: the job, the states it must be in, encoded columns.
_ConditionalWrite = tuple[int, tuple[JobState, ...], dict[str, Any]]


class TransactionLost(sqlite3.OperationalError):
    """A call in the same group broke the transaction, so this call's writes are gone."""


class GroupCommitThread:
    """The store's one database thread, committing queued calls together.

    Calls queue in arrival order. The thread takes the first, plus up to ``max_group``
    more that are already waiting, runs them in one ``BEGIN IMMEDIATE`` transaction,
    each in a savepoint, commits once, and answers all callers with one wake-up of
    their event loop. A call that raises rolls back to its savepoint and gets its
    exception; the others commit. So a call never opens a transaction or savepoint of
    its own; one that runs a single statement (or only reads) is marked ``atomic`` and
    runs without the savepoint, since SQLite makes each statement all-or-nothing: every
    statement hands the GIL to and from the event loop, and the poller's hot path is one
    UPDATE per look. If the COMMIT (or a call) breaks the transaction,
    every call whose writes were lost gets an error, and ``on_lost`` is told (the
    store drops its cache, which may hold values that never reached the disk).
    """

    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection | None],
        on_lost: Callable[[], None],
        *,
        max_group: int = 16,  # small groups answer a burst's first callers sooner
        name: str = "atelier-db",
    ) -> None:
        self._conn = conn
        self._on_lost = on_lost
        self.max_group = max_group
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.groups = 0  # transactions committed, for tests and benchmarks
        self.calls = 0

    async def run(self, fn: Callable[[], R], *, grouped: bool, atomic: bool = False) -> R:
        loop = asyncio.get_running_loop()
        call = _Call(fn, grouped, loop, loop.create_future(), atomic)
        self._ensure_started()
        self._queue.put(call)
        return await call.future

    def stop(self) -> None:
        """Finish the queued calls, then end the thread (blocks until it has)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        waiting: list[_Call | None] = []  # taken from the queue but not run yet
        while True:
            first = waiting.pop(0) if waiting else self._queue.get()
            if first is None:
                return  # stop(): everything queued before it has run
            batch = [first]
            if first.grouped:
                while len(batch) < self.max_group and not waiting:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is not None and more.grouped:
                        batch.append(more)
                    else:
                        waiting.append(more)  # runs (or stops) after this group
                self._run_group(batch)
            else:
                self._run_alone(first)
            self._answer(batch)

    @staticmethod
    def _run_alone(call: _Call) -> None:
        try:
            call.outcome, call.ok = call.fn(), True
        except BaseException as exc:  # handed to the caller
            call.outcome = exc

    def _run_group(self, batch: list[_Call]) -> None:
        conn = self._conn()
        if conn is None:  # not open (or closed): each call raises on its own
            for call in batch:
                self._run_alone(call)
            return
        done: list[_Call] = []  # ran and succeeded in the open transaction
        conn.execute("BEGIN IMMEDIATE")
        for call in batch:
            if not call.atomic:
                conn.execute("SAVEPOINT atelier_call")
            try:
                call.outcome, call.ok = call.fn(), True
            except BaseException as exc:  # handed to the caller
                call.outcome, call.ok = exc, False
            if not conn.in_transaction:  # the call ended the transaction: writes lost
                self._lose(done, call if call.ok else None)
                done = []
                conn.execute("BEGIN IMMEDIATE")
                continue
            if call.ok:
                done.append(call)
            if call.atomic:
                continue
            if not call.ok:
                conn.execute("ROLLBACK TO SAVEPOINT atelier_call")
            conn.execute("RELEASE SAVEPOINT atelier_call")
        try:
            conn.execute("COMMIT")
        except BaseException as exc:  # handed to the callers
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._lose(done, None, exc)
        self.groups += 1
        self.calls += len(batch)

    def _lose(
        self, done: list[_Call], also: _Call | None, cause: BaseException | None = None
    ) -> None:
        lost = [*done, *([also] if also is not None else [])]
        for call in lost:
            error = TransactionLost("the transaction was lost; nothing was saved")
            error.__cause__ = cause
            call.outcome, call.ok = error, False
        self._on_lost()

    @staticmethod
    def _answer(batch: list[_Call]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
        for call in batch:
            by_loop.setdefault(call.loop, []).append(call)
        for loop, calls in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                loop.call_soon_threadsafe(_settle, calls)


def _settle(calls: list[_Call]) -> None:
    for call in calls:
        if call.future.done():
            continue  # the caller gave up (cancelled)
        if call.ok:
            call.future.set_result(call.outcome)
        else:
            call.future.set_exception(call.outcome)


class StoreUnavailable(Exception):
    """The database file cannot be created, opened or migrated; ``str()`` says why."""


class Store:
    """The database. Open with ``await Store.open(path)``; close with ``await store.close()``."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        self._db: Database | None = None
        self._thread = GroupCommitThread(
            lambda: self._db.conn if self._db is not None else None, self._cache_lost
        )
        # Read-mostly guild data (settings, limit rows, blocks), filled and changed only
        # on the database thread, read from the loop without a round trip: a slash
        # command answers within a few milliseconds even under load. The store is the
        # only writer, so the cache cannot go stale (hand edits need a restart).
        self._cache: dict[tuple[str, int], Any] = {}
        self._conditional_writes = IterationBatch(self._update_many_if)

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> Store:
        """Open (creating it and its folder if missing) and migrate; raise
        :class:`StoreUnavailable` when the file cannot be opened as a database."""
        store = cls(path, clock)
        try:
            await store._open()
        except (OSError, sqlite3.Error) as exc:
            store._thread.stop()
            why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            raise StoreUnavailable(why) from exc
        return store

    @outside_transaction
    def _open(self) -> None:
        if self.path != ":memory:":
            _private_file(Path(self.path))
        conn = sqlite3.connect(self.path, timeout=10)
        db = Database(conn)
        with db.ensure_autocommit_on():
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
        if self._db is not None:
            await self._close()
        self._thread.stop()

    def _cache_lost(self) -> None:
        """A group transaction failed: cached values may never have been saved."""
        self._cache.clear()

    @outside_transaction
    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- jobs: writes ------------------------------------------------------------------

    @on_db_thread
    def create_job(self, values: Mapping[str, Any]) -> Job:
        """Insert a job in ``accepted``; its first event comes with it (a trigger)."""
        return self._insert_job(values, self.clock())[0]

    def _insert_job(self, values: Mapping[str, Any], now: float) -> tuple[Job, int]:
        """The job's row, read back with its defaults by ``RETURNING``, and its
        :meth:`queue_position` read by the same statement."""
        row = _encode({**values, "state": JobState.ACCEPTED, "created_at": now, "updated_at": now})
        cursor = self.db.conn.execute(
            f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
            f"RETURNING *, ({_QUEUE_POSITION_SQL.format(job='jobs')})",
            [*row.values(), *_queue_position_params()],
        )
        read = _job_reader(tuple(d[0] for d in cursor.description[:-1]))  # then the position
        *columns, position = cursor.fetchone()
        cursor.close()
        return read(tuple(columns)), int(position)

    @on_db_thread
    def create_job_with_charge(
        self,
        values: Mapping[str, Any],
        charge: Charge,
        periods: tuple[str, str],
        gate: Callable[[Usage], None],
        operator_since: tuple[float, float] | None = None,
    ) -> tuple[Job, int]:
        """Reserve and record a job atomically, so simultaneous commands cannot both
        take the last slot: under the write lock read the usage, let ``gate`` (pure
        quota logic) raise if the job does not fit, then insert the job (its first
        event by trigger) and its charge (the guild's running spend by trigger).
        Returns the job and its :meth:`queue_position`, read in the same visit to the
        database thread (the progress card shows it, and the command's answer waits
        for both)."""
        now = self.clock()
        day, month = periods
        # The group transaction is BEGIN IMMEDIATE: the write lock is held from the
        # read of the usage to the commit, even against another process; the call's
        # savepoint in the group makes these statements all-or-nothing. Three
        # statements on purpose: each one hands the GIL back and forth with the event
        # loop, which is busy parsing the other commands of a burst.
        usage = self._usage(values.get("guild_id"), int(values["user_id"]), day, month)
        if operator_since is not None:
            usage = self._with_operator_spend(usage, operator_since)
        gate(usage)
        job, position = self._insert_job(values, now)
        self.db.conn.execute(
            "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, day, "
            "month, state, created_at, updated_at) "
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
        return job, position

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
        """Move a job to ``target`` if it is still in ``expected``; record why.

        Returns the updated job, or ``None`` when the job had already moved on (the
        caller lost a race and must do nothing). A move the state machine forbids
        raises ``ValueError``: that is a bug, not a race. One statement on the database
        thread: triggers append the event and settle or refund the charge
        (:func:`m007_transition_triggers`). ``keep_charge``: settle the reservation
        first, in the same transaction, so the move cannot refund it (a billed cancel).
        """
        allowed = (expected,) if isinstance(expected, JobState) else tuple(expected)
        for state in allowed:
            if not can_move(state, target):
                raise ValueError(f"job state {state} cannot move to {target}")
        if keep_charge:
            return await self._settle_and_move(job_id, allowed, target, reason, _encode(values))
        return await self._transition(job_id, allowed, target, reason, _encode(values))

    @on_db_thread
    def _settle_and_move(
        self,
        job_id: int,
        allowed: tuple[JobState, ...],
        target: JobState,
        reason: str,
        extra: dict[str, Any],
    ) -> Job | None:
        """Settle the charge of a job still in ``allowed``, then move it (one savepoint)."""
        marks = ", ".join("?" * len(allowed))
        self.db.execute(
            "UPDATE charges SET state = 'settled', updated_at = ? "
            "WHERE job_id = ? AND state = 'reserved' "
            f"AND EXISTS (SELECT 1 FROM jobs WHERE id = ? AND state IN ({marks}))",
            [self.clock(), job_id, job_id, *[s.value for s in allowed]],
        )
        return self._move(job_id, allowed, target, reason, extra)

    @one_statement
    def _transition(
        self,
        job_id: int,
        allowed: tuple[JobState, ...],
        target: JobState,
        reason: str,
        extra: dict[str, Any],
    ) -> Job | None:
        return self._move(job_id, allowed, target, reason, extra)

    def _move(
        self,
        job_id: int,
        allowed: tuple[JobState, ...],
        target: JobState,
        reason: str,
        extra: dict[str, Any],
    ) -> Job | None:
        now = self.clock()
        if target.is_terminal:
            extra.setdefault("finished_at", now)
            extra["next_poll_at"] = None
            extra["next_delivery_at"] = None
        sets = "".join(f", {k} = ?" for k in extra)
        return self._one_job(
            f"UPDATE jobs SET state = ?, state_reason = ?, updated_at = ?{sets} "
            f"WHERE id = ? AND state IN ({', '.join('?' * len(allowed))}) RETURNING *",
            [target.value, reason, now, *extra.values(), job_id, *[s.value for s in allowed]],
        )

    @on_db_thread
    def update(self, job_id: int, **values: Any) -> Job:
        """Change bookkeeping columns (never ``state``: use :meth:`transition`)."""
        if "state" in values:
            raise ValueError("use transition() to change a job's state")
        row = _encode({**values, "updated_at": self.clock()})
        sets = ", ".join(f"{k} = ?" for k in row)
        return self._updated(f"UPDATE jobs SET {sets} WHERE id = ?", [*row.values(), job_id])

    def _updated(self, sql: str, params: list[Any]) -> Job:
        """Run an UPDATE of one job and read it back in the same statement."""
        job = self._one_job(f"{sql} RETURNING *", params)
        if job is None:
            raise KeyError(f"no job {params[-1]}")
        return job

    async def update_if(self, job_id: int, states: Collection[JobState], **values: Any) -> bool:
        """Change bookkeeping columns only while the job is in ``states``; no re-read.
        ``False`` when the job had moved on (the caller lost a race).

        The poller's record of every look: calls made in the same event-loop iteration
        share one trip to the database thread (:mod:`bot.iteration_batch`)."""
        if "state" in values:
            raise ValueError("use transition() to change a job's state")
        row = _encode({**values, "updated_at": self.clock()})  # bad columns fail here, alone
        return await self._conditional_writes.add((job_id, tuple(states), row))

    @on_db_thread
    def _update_many_if(self, writes: list[_ConditionalWrite]) -> list[bool]:
        """A batch of :meth:`update_if` calls, written all or none (one savepoint)."""
        out = []
        for job_id, states, row in writes:
            sets = ", ".join(f"{k} = ?" for k in row)
            marks = ", ".join("?" * len(states))
            cursor = self.db.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({marks})",
                [*row.values(), job_id, *[s.value for s in states]],
            )
            out.append(cursor.rowcount > 0)
        return out

    @on_db_thread
    def increment(self, job_id: int, column: str, by: int = 1, **values: Any) -> Job:
        """Add to a counter column (polls, poll_errors, …) and set other columns."""
        if column not in {"submit_attempts", "polls", "poll_errors", "delivery_attempts"}:
            raise KeyError(column)
        row = _encode({**values, "updated_at": self.clock()})
        sets = ", ".join([f"{column} = {column} + ?", *(f"{k} = ?" for k in row)])
        return self._updated(f"UPDATE jobs SET {sets} WHERE id = ?", [by, *row.values(), job_id])

    # -- jobs: reads -------------------------------------------------------------------

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        columns, row = self._first_row(sql, params)
        return None if row is None else dict(zip(columns, row, strict=True))

    def _one_job(self, sql: str, params: Iterable[Any]) -> Job | None:
        columns, row = self._first_row(sql, params)
        return None if row is None else _job_reader(columns)(row)

    def _first_row(
        self, sql: str, params: Iterable[Any]
    ) -> tuple[tuple[str, ...], tuple[Any, ...] | None]:
        cursor = self.db.execute(sql, list(params))
        row = cursor.fetchone()
        columns = tuple(d[0] for d in cursor.description)
        cursor.close()  # an UPDATE … RETURNING must not stay open until the commit
        return columns, row

    def _many(self, sql: str, params: Iterable[Any] = ()) -> list[Job]:
        cursor = self.db.execute(sql, list(params))
        read = _job_reader(tuple(d[0] for d in cursor.description))
        return [read(row) for row in cursor.fetchall()]

    @one_statement
    def get(self, job_id: int) -> Job | None:
        return self._one_job("SELECT * FROM jobs WHERE id = ?", [job_id])

    @one_statement
    def by_task_id(self, task_id: str) -> Job | None:
        return self._one_job("SELECT * FROM jobs WHERE task_id = ?", [task_id])

    @one_statement
    def in_states(self, states: Collection[JobState], limit: int | None = None) -> list[Job]:
        marks = ", ".join("?" * len(states))
        sql = f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._many(sql, [s.value for s in states])

    @one_statement
    def due_for_poll(self, now: float, limit: int, skip: Collection[int] = ()) -> list[Job]:
        """Jobs with a task id whose next look is due, earliest first, except ``skip``
        (the ones the poller already holds: their rows still carry the due time).

        ``+state`` keeps SQLite on the ``next_poll_at`` index: left to choose, it takes
        the state index and sorts every job in flight on each call (4 ms at 10,000).
        """
        marks = ", ".join("?" * len(UPSTREAM))
        return self._many(
            f"SELECT * FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
            f"AND +state IN ({marks}){_not_in(skip)} ORDER BY next_poll_at LIMIT ?",
            [now, *[s.value for s in UPSTREAM], *skip, limit],
        )

    @one_statement
    def next_poll_time(self, skip: Collection[int] = ()) -> float | None:
        """The earliest poll appointment, except those of the jobs in ``skip``."""
        marks = ", ".join("?" * len(UPSTREAM))
        row = self.db.execute(
            f"SELECT MIN(next_poll_at) FROM jobs WHERE next_poll_at IS NOT NULL "
            f"AND +state IN ({marks}){_not_in(skip)}",
            [*[s.value for s in UPSTREAM], *skip],
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    @one_statement
    def due_for_delivery(self, now: float, limit: int) -> list[Job]:
        return self._many(
            "SELECT * FROM jobs WHERE next_delivery_at IS NOT NULL AND next_delivery_at <= ? "
            "AND +state IN (?, ?) ORDER BY next_delivery_at LIMIT ?",
            [now, JobState.SUCCEEDED.value, JobState.DELIVERING.value, limit],
        )

    @one_statement
    def next_delivery_time(self) -> float | None:
        row = self.db.execute(
            "SELECT MIN(next_delivery_at) FROM jobs WHERE next_delivery_at IS NOT NULL "
            "AND +state IN (?, ?)",
            [JobState.SUCCEEDED.value, JobState.DELIVERING.value],
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    @one_statement
    def for_user(
        self, guild_id: int | None, user_id: int, *, active: bool | None = None, limit: int = 10
    ) -> list[Job]:
        """A member's jobs, newest first; ``active`` filters to unfinished or finished."""
        return self._jobs_where(guild_id, user_id, active, limit)

    @one_statement
    def for_guild(
        self, guild_id: int | None, *, active: bool | None = None, limit: int = 25
    ) -> list[Job]:
        """Every member's jobs in one guild, newest first (moderators' ``/cancel``)."""
        return self._jobs_where(guild_id, None, active, limit)

    def _jobs_where(
        self, guild_id: int | None, user_id: int | None, active: bool | None, limit: int
    ) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE guild_id IS ?"
        params: list[Any] = [guild_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if active is not None:
            marks = ", ".join("?" * len(TERMINAL))
            sql += f" AND state {'NOT IN' if active else 'IN'} ({marks})"
            params += [s.value for s in TERMINAL]
        sql += " ORDER BY id DESC LIMIT ?"
        return self._many(sql, [*params, limit])

    @one_statement
    def queue_position(self, job: Job) -> int:
        """How many of the guild's unfinished, not-yet-running jobs were accepted first
        (counted up to :data:`QUEUE_COUNT_CAP`: the card then says "at least")."""
        return self._queue_position(job.guild_id, job.id)

    def _queue_position(self, guild_id: int | None, job_id: int) -> int:
        row = self.db.execute(
            f"SELECT ({_QUEUE_POSITION_SQL.format(job='job')}) "
            "FROM (SELECT ? AS guild_id, ? AS id) AS job",
            [*_queue_position_params(), guild_id, job_id],
        ).fetchone()
        return int(row[0])

    @one_statement
    def untold_endings(self, since: float) -> list[Job]:
        """Jobs that ended after ``since`` whose owner was not told how (a crash came in
        between); delivered jobs only when a progress card is left to update."""
        marks = ", ".join("?" * len(TERMINAL))
        return self._many(
            f"SELECT * FROM jobs WHERE state IN ({marks}) AND ending_told_at IS NULL "
            f"AND finished_at >= ? AND (state != ? OR progress_message_id IS NOT NULL) "
            f"ORDER BY id",
            [*[s.value for s in TERMINAL], since, JobState.DELIVERED.value],
        )

    @one_statement
    def events(self, job_id: int) -> list[JobEvent]:
        rows = self.db.execute(
            "SELECT job_id, at, from_state, to_state, reason FROM job_events "
            "WHERE job_id = ? ORDER BY id",
            [job_id],
        ).fetchall()
        return [JobEvent(*row) for row in rows]

    @one_statement
    def count_by_state(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: int(n) for state, n in rows}

    @one_statement
    def oldest_unfinished_created_at(self) -> float | None:
        """When the oldest job not yet in a final state was accepted (for /status, /metrics)."""
        marks = ", ".join("?" * len(TERMINAL))
        row = self.db.execute(
            f"SELECT MIN(created_at) FROM jobs WHERE state NOT IN ({marks})",
            [s.value for s in TERMINAL],
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    @one_statement
    def guild_job_counts(self, guild_id: int) -> tuple[dict[str, int], float | None]:
        """One server's jobs by state and when its oldest unfinished one was accepted
        (for /status, which shows the caller's server only)."""
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM jobs WHERE guild_id = ? GROUP BY state", [guild_id]
        ).fetchall()
        unfinished = [s.value for s in JobState if s not in TERMINAL]
        marks = ", ".join("?" * len(unfinished))
        (oldest,) = self.db.execute(
            f"SELECT MIN(created_at) FROM jobs WHERE guild_id = ? AND state IN ({marks})",
            [guild_id, *unfinished],
        ).fetchone()
        return {state: int(n) for state, n in rows}, None if oldest is None else float(oldest)

    @on_db_thread
    def forget_expired_tokens(self, now: float) -> int:
        """Clear interaction tokens that Discord no longer accepts (15 minutes after the
        command): a copied database then holds no live token. Returns how many."""
        cursor = self.db.conn.execute(
            "UPDATE jobs SET interaction_token = NULL "
            "WHERE interaction_token IS NOT NULL AND interaction_expires_at < ?",
            [now],
        )
        return cursor.rowcount

    # -- limits, usage and guild settings -----------------------------------------------

    def _usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        """Today's and this month's reservations (refunded ones excluded): the member's
        from their charges, the guild's from the running totals."""
        marks = ", ".join("?" * len(TERMINAL))
        # One statement (see create_job_with_charge): the member's charges today, the
        # guild's running totals, the member's unfinished jobs and last start.
        images, videos, spend, guild_day, guild_month, active, last = self.db.execute(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(videos), 0), COALESCE(SUM(usd), 0), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            f"(SELECT COUNT(CASE WHEN state NOT IN ({marks}) THEN 1 END) FROM jobs "
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

    @on_db_thread
    def usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        return self._usage(guild_id, user_id, day, month)

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

    @on_db_thread
    def operator_spend(self, since: tuple[float, float]) -> tuple[float, float]:
        """What every server together reserved this UTC day and month (for /status)."""
        usage = self._with_operator_spend(Usage(), since)
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

    @on_db_thread
    def limits_row(self, guild_id: int, scope: str, target_id: int) -> Limits:
        row = self._one(
            "SELECT * FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?",
            [guild_id, scope, target_id],
        )
        return Limits.from_mapping(row or {})

    @on_db_thread
    def set_limits(self, guild_id: int, scope: str, target_id: int, limits: Limits) -> None:
        values = limits.as_dict()
        cols = ", ".join(DIMENSIONS)
        updates = ", ".join(f"{k} = excluded.{k}" for k in DIMENSIONS)
        self.db.execute(
            f"INSERT INTO limits (guild_id, scope, target_id, {cols}, updated_at) "
            f"VALUES (?, ?, ?, {', '.join('?' * len(DIMENSIONS))}, ?) "
            f"ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET {updates}, "
            f"updated_at = excluded.updated_at",
            [guild_id, scope, target_id, *values.values(), self.clock()],
        )
        self._cache.pop(("limits", guild_id), None)

    @on_db_thread
    def reset_limits(self, guild_id: int, scope: str, target_id: int) -> bool:
        cursor = self.db.execute(
            "DELETE FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?",
            [guild_id, scope, target_id],
        )
        self._cache.pop(("limits", guild_id), None)
        return cursor.rowcount > 0

    async def all_limits(self, guild_id: int) -> list[tuple[str, int, Limits]]:
        """Every limits row of a guild as (scope, target id, limits)."""
        cached = self._cache.get(("limits", guild_id))
        if cached is not None:
            return list(cached)
        return list(await self._load_limits(guild_id))

    @on_db_thread
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
        return await self._load_guild_config(guild_id)

    @on_db_thread
    def _load_guild_config(self, guild_id: int) -> GuildConfig:
        row = self._one("SELECT settings FROM guild_settings WHERE guild_id = ?", [guild_id])
        config = _config_from(guild_id, json.loads(row["settings"]) if row else {})
        self._cache[("config", guild_id)] = config
        return config

    @on_db_thread
    def update_guild_config(self, guild_id: int, **values: Any) -> GuildConfig:
        """Change some settings (names are :class:`GuildConfig` fields)."""
        return self._edit_guild_config(guild_id, lambda _: values)

    @on_db_thread
    def edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        """Read-modify-write in one transaction: ``edit`` (pure, no awaits) gets the
        current settings and returns the changes, so two moderators editing a list at
        the same moment cannot lose each other's change."""
        return self._edit_guild_config(guild_id, edit)

    def _edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        allowed = {f.name for f in fields(GuildConfig)} - {"guild_id"}
        row = self._one("SELECT settings FROM guild_settings WHERE guild_id = ?", [guild_id])
        current = json.loads(row["settings"]) if row else {}
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

    @on_db_thread
    def block(
        self,
        guild_id: int,
        user_id: int,
        reason: str | None,
        until: float | None,
        by_user_id: int | None,
    ) -> None:
        self.db.execute(
            "INSERT INTO blocks (guild_id, user_id, reason, until, by_user_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, until = excluded.until, "
            "by_user_id = excluded.by_user_id, created_at = excluded.created_at",
            [guild_id, user_id, reason, until, by_user_id, self.clock()],
        )
        self._cache.pop(("blocks", guild_id), None)

    @on_db_thread
    def unblock(self, guild_id: int, user_id: int) -> bool:
        cursor = self.db.execute(
            "DELETE FROM blocks WHERE guild_id = ? AND user_id = ?", [guild_id, user_id]
        )
        self._cache.pop(("blocks", guild_id), None)
        return cursor.rowcount > 0

    async def active_block(self, guild_id: int, user_id: int, now: float) -> dict[str, Any] | None:
        """The member's block if it has not expired."""
        blocks = self._cache.get(("blocks", guild_id))
        if blocks is None:
            blocks = await self._load_blocks(guild_id)
        block = blocks.get(user_id)
        if block is None or (block["until"] is not None and block["until"] <= now):
            return None
        return dict(block)

    @on_db_thread
    def _load_blocks(self, guild_id: int) -> dict[int, dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT user_id, reason, until, by_user_id, created_at FROM blocks WHERE guild_id = ?",
            [guild_id],
        )
        names = [d[0] for d in cursor.description]
        blocks = {}
        for row in cursor.fetchall():
            entry = dict(zip(names, row, strict=True))
            blocks[int(entry.pop("user_id"))] = entry
        self._cache[("blocks", guild_id)] = blocks
        return blocks

    @on_db_thread
    def add_audit(
        self,
        guild_id: int | None,
        actor_id: int | None,
        action: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO audit (guild_id, at, actor_id, action, target, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                guild_id,
                self.clock(),
                actor_id,
                action,
                target,
                json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
            ],
        )
        return int(cursor.lastrowid or 0)

    @on_db_thread
    def audit_entries(self, guild_id: int, limit: int = 50) -> list[dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT id, at, actor_id, action, target, detail FROM audit WHERE guild_id = ? "
            "ORDER BY id DESC LIMIT ?",
            [guild_id, limit],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    # -- usage reports ----------------------------------------------------------------------

    @on_db_thread
    def charges_in(
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
        cursor = self.db.execute(sql + " ORDER BY c.job_id DESC", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


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
