"""The database: SQLite (a file, one process) or PostgreSQL (a server, many processes),
opened and migrated, every call on one thread, transactions, rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from sqlite_utils import Database

from bot.store.migrations import migrations

R = TypeVar("R")

#: Database threads (and connections) of a PostgreSQL store: a burst of commands does not
#: queue behind one connection's round trips.
POSTGRES_THREADS = 4

#: With several processes, how old a cached guild row may be before it is read again: a
#: moderator's change in one process applies in every other within this.
CACHE_SECONDS = 0.5


class StoreUnavailable(Exception):
    """The database cannot be created, opened, reached or migrated; ``str()`` says why
    (never a password)."""


def is_postgres_url(target: Path | str) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def migration_state(path: Path) -> tuple[set[str], int]:
    """Migrations applied to an existing database that this version does not know, and how
    many of this version's are still to apply; opened read-write, never created."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open {path} ({exc})") from exc
    try:
        db = Database(conn)
        return unknown_migrations(db), len(migrations.pending(db))
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read {path} ({exc})") from exc
    finally:
        conn.close()


def unknown_migrations(db: Database) -> set[str]:
    """Migrations applied to ``db`` that this version does not know (a newer Atelier's)."""
    known = {m.name for m in migrations.pending(Database(memory=True))}
    return {m.name for m in migrations.applied(db)} - known


def marks(values: Collection[Any]) -> str:
    """``?, ?, …``: one placeholder per value."""
    return ", ".join("?" * len(values))


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the queries need of a database connection; ``?`` marks parameters."""

    skip_locked: str
    """Ends a claim's sub-select: rows another process is claiming are passed over."""

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def lock(self, key: int) -> None:
        """Hold ``key`` until the transaction ends (other processes' holders wait)."""

    def now(self) -> float:
        """The database's time (heartbeats use it, so machines' clocks need not agree)."""

    def close(self) -> None: ...


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds prompts and
    interaction tokens); SQLite gives its -wal and -shm files the same mode."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class SqliteConnection:
    """A SQLite file: one process; ``BEGIN IMMEDIATE`` takes the write lock up front, so
    a transaction's reads still hold when it writes, and :meth:`lock` has nothing to do."""

    skip_locked = ""  # one writer at a time: nothing is ever locked by another

    def __init__(self, path: str, clock: Callable[[], float]) -> None:
        if path != ":memory:":
            _private_file(Path(path))
        # isolation_level=None: each statement commits on its own unless it runs inside
        # a transaction().
        self.db = Database(sqlite3.connect(path, timeout=10, isolation_level=None))
        self.conn = self.db.conn
        self.clock = clock
        for pragma in ("journal_mode=WAL", "busy_timeout=10000", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        migrations.apply(self.db)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        return self.conn.execute(sql, list(params))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def lock(self, key: int) -> None:
        return None

    def now(self) -> float:
        return self.clock()

    def close(self) -> None:
        self.db.close()


class StoreBase:
    """The open database. Each async method runs one plain function on a database thread
    (``await self.run(fn)``): SQLite has one, so its calls run one at a time, in order;
    PostgreSQL has :data:`POSTGRES_THREADS`, each with its own connection."""

    def __init__(self, target: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = str(target)
        #: Several processes may share this database (PostgreSQL).
        self.shared = is_postgres_url(target)
        self.clock = clock
        self._db: Connection | None = None  # SQLite's, or the PostgreSQL thread's own
        self._local = threading.local()
        self._connections: list[Connection] = []
        threads = POSTGRES_THREADS if self.shared else 1
        self._thread = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="atelier-db")
        # Guild settings, limit rows and blocks, read on every command: kept after the
        # first read and replaced by this process's writes. With one process that is
        # all; with several (shared) a copy older than CACHE_SECONDS is read again.
        self._cache: dict[tuple[str, int], tuple[float, Any]] = {}

    async def run(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the database thread (calls run one at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @classmethod
    async def open(cls, target: Path | str, clock: Callable[[], float] = time.time) -> Self:
        """Open (creating a SQLite file and its folder if missing, or connecting to a
        ``postgresql://`` URL) and migrate; raise :class:`StoreUnavailable` if that fails."""
        store = cls(target, clock)
        try:
            await store.run(store._open)
        except StoreUnavailable:
            store._thread.shutdown(wait=False)
            raise
        except (OSError, sqlite3.Error) as exc:
            store._thread.shutdown(wait=False)
            why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            raise StoreUnavailable(why) from exc
        return store

    def _open(self) -> None:
        if self.shared:
            from bot.store.postgres import PostgresConnection

            self._db = PostgresConnection.connect(self.path)
            self._local.conn = self._db
        else:
            self._db = SqliteConnection(self.path, self.clock)
        self._connections.append(self._db)

    @property
    def db(self) -> Connection:
        """This thread's connection (a PostgreSQL thread opens its own on first use)."""
        if self._db is None:
            raise RuntimeError("the store is not open")
        if not self.shared:
            return self._db
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            from bot.store.postgres import PostgresConnection

            conn = self._local.conn = PostgresConnection.connect(self.path, migrate=False)
            self._connections.append(conn)
        return conn

    async def close(self) -> None:
        """Close the database once the calls already made have run."""
        if not self.shared:  # SQLite's connection closes on its own thread
            if self._db is not None:
                await self.run(self._close)
            self._thread.shutdown(wait=False)  # nothing is left to run: the thread ends
            return
        await asyncio.to_thread(self._thread.shutdown, True)  # the calls made so far run
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._db = None

    def _cached(self, kind: str, guild_id: int) -> Any:
        """A cached guild row, or ``None`` (none yet, or, when shared, too old)."""
        kept = self._cache.get((kind, guild_id))
        if kept is None or (self.shared and time.monotonic() - kept[0] > CACHE_SECONDS):
            return None
        return kept[1]

    def _keep(self, kind: str, guild_id: int, value: Any) -> None:
        self._cache[(kind, guild_id)] = (time.monotonic(), value)

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        """All or nothing; on SQLite holding the write lock from the first statement."""
        return self.db.transaction()

    # -- reading rows (on the database thread) ----------------------------------------------

    def _dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        rows = self._dicts(sql, params)
        return rows[0] if rows else None

    def _float(self, sql: str, params: Iterable[Any]) -> float | None:
        """The one value ``sql`` selects, as a float (``None`` if NULL)."""
        (value,) = self.db.execute(sql, params).fetchone()
        return None if value is None else float(value)
