"""PostgreSQL: the store shared by several bot processes. The queries are the SQLite ones
(``?`` placeholders, rewritten here); the schema has its own migrations, applied once under
an advisory lock even when several processes start together."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bot.store.database import Cursor, StoreUnavailable
from bot.store.postgres_schema import MIGRATIONS

#: The advisory lock key held while migrating (any fixed number no other lock uses).
_MIGRATION_LOCK = 0x41_74_65_6C  # "Atel"


def where(url: str) -> str:
    """``host:port/database`` of a URL, never its user or password (for errors)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or 'localhost'}{port}{parts.path or ''}"


def _translate(sql: str) -> str:
    """SQLite's SQL as PostgreSQL reads it: ``%s`` placeholders, and no ``+column`` (a
    SQLite hint to leave an index aside)."""
    return sql.replace("%", "%%").replace("?", "%s").replace("+state IN", "state IN")


def postgres_migration_state(url: str) -> tuple[set[str], int]:
    """Like :func:`bot.store.migration_state` for PostgreSQL: unknown applied migrations
    and how many are still to apply; connects, creates and changes nothing."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if found is None or found[0] is None:
                return set(), len(MIGRATIONS)
            applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    except psycopg.Error as exc:
        raise unreachable(url, exc) from exc
    known = {name for name, _ in MIGRATIONS}
    return applied - known, len(known - applied)


def unreachable(url: str, exc: psycopg.Error) -> StoreUnavailable:
    """The one-line error for a server that cannot be reached (host, never password)."""
    return StoreUnavailable(f"cannot reach PostgreSQL at {where(url)} ({_why(exc)})")


def _why(exc: psycopg.Error) -> str:
    """The reason in a driver error ("Connection refused", "FATAL: password
    authentication failed …"), without the address it already named."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return " ".join(lines[0].rsplit("failed: ", 1)[-1].split())


class PostgresConnection:
    """One autocommit connection; :meth:`transaction` wraps statements in BEGIN/COMMIT."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @classmethod
    def connect(cls, url: str, *, migrate: bool = True) -> PostgresConnection:
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise unreachable(url, exc) from exc
        opened = cls(conn)
        if not migrate:
            return opened
        try:
            opened.migrate()
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot migrate PostgreSQL at {where(url)} ({exc})") from exc
        return opened

    def migrate(self) -> None:
        """Apply the migrations this database lacks, one process at a time."""
        self.conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in self.conn.execute("SELECT name FROM schema_migrations")}
            for name, statements in MIGRATIONS:
                if name in done:
                    continue
                with self.transaction():
                    for statement in statements:
                        self.conn.execute(statement)
                    self.conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", [name])
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        return self.conn.execute(_translate(sql), list(params))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def lock(self, key: int) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def now(self) -> float:
        row = self.conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        return float(row[0]) if row else 0.0

    def close(self) -> None:
        self.conn.close()
