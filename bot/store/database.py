"""The database file: opened and migrated, every call on one thread, transactions, rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlite_utils import Database

from bot.store.migrations import migrations

R = TypeVar("R")


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


def marks(values: Collection[Any]) -> str:
    """``?, ?, …``: one placeholder per value."""
    return ", ".join("?" * len(values))


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds prompts and
    interaction tokens); SQLite gives its -wal and -shm files the same mode."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class StoreBase:
    """The open database. Each async method runs one plain function on the database
    thread (``await self.run(fn)``), so calls run one at a time, in order."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        self._db: Database | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-db")
        # Guild settings, limit rows and blocks, read on every command: kept after the
        # first read and replaced by every write, so a command does not queue behind the
        # poller on the database thread. The store is the only writer (hand edits need a
        # restart).
        self._cache: dict[tuple[str, int], Any] = {}

    async def run(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the database thread (calls run one at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> Self:
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
        db = Database(sqlite3.connect(self.path, timeout=10, isolation_level=None))
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

    # -- reading rows (on the database thread) ----------------------------------------------

    def _dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        rows = self._dicts(sql, params)
        return rows[0] if rows else None

    def _float(self, sql: str, params: Iterable[Any]) -> float | None:
        """The one value ``sql`` selects, as a float (``None`` if NULL)."""
        (value,) = self.db.execute(sql, list(params)).fetchone()
        return None if value is None else float(value)
