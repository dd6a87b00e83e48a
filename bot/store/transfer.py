"""A SQLite database copied into PostgreSQL, once: every table but the per-run ones, ids
kept, in one transaction. The SQLite file is only read (a private copy is migrated)."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from bot.store.database import Connection, StoreBase, marks, unknown_migrations
from bot.store.migrations import migrations

#: Copied in this order (a job before its events and its charge).
TABLES = (
    "jobs",
    "job_events",
    "charges",
    "limits",
    "guild_settings",
    "blocks",
    "audit",
    "spend_totals",
    "grants",
    "budget_alerts",
    "reports",
    "report_reviews",
    "member_prefs",
    "dm_closed",
    "bot_state",
    "guild_facts",
)
#: Written by running bots on their own (the command-sync digest, guild facts read over
#: REST): rows the target already holds win, and they do not make it "not empty".
CACHES = ("bot_state", "guild_facts")
#: Not copied: which processes were running means nothing to the next run.
SKIPPED = ("processes",)
#: The most parameters one INSERT carries (PostgreSQL takes up to 65,535).
MAX_PARAMS = 30_000


class TransferRefused(Exception):
    """The copy did not run; ``str()`` is one line saying why (never a password)."""


class TransferFailed(TransferRefused):
    """The copy ran into an error and was undone: the target is as it was."""


async def copy_sqlite(target: StoreBase, path: Path, *, alive_within: float) -> dict[str, int]:
    """Copy the SQLite database at ``path`` into ``target`` (an open PostgreSQL store, so
    migrated) and return the rows copied per table. Refused when a bot was heard from in
    ``path`` within ``alive_within`` seconds, or when the target already holds data."""
    if not target.shared:
        raise TransferRefused("the target is not PostgreSQL; set DATABASE_URL")
    return await target.run(lambda: _copy(target.db, path, alive_within))


def _copy(target: Connection, path: Path, alive_within: float) -> dict[str, int]:
    import psycopg  # only here: the rest of the store runs without it

    with sqlite_snapshot(path) as source:
        _refuse_if_running(source, path, alive_within)
        table = TABLES[0]
        try:
            with target.transaction():
                # Bots that write meanwhile wait until the copy is committed.
                target.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
                _refuse_if_filled(target)
                counts: dict[str, int] = {}
                for table in TABLES:
                    counts[table] = _copy_table(source, target, table)
                for table in TABLES:
                    _advance_ids(target, table)
        except (sqlite3.Error, psycopg.Error) as exc:
            why = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
            raise TransferFailed(f"copying {table} failed ({why}); nothing was copied") from exc
    return counts


@contextlib.contextmanager
def sqlite_snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A private copy of the database at ``path`` (opened read-only, never changed),
    migrated to this version's schema; deleted afterwards."""
    if not path.is_file():
        raise TransferRefused(
            f"DATABASE_PATH: {path} does not exist; point it at the SQLite database to copy"
        )
    try:
        folder = tempfile.TemporaryDirectory(prefix="atelier-migrate-")  # mode 0700
    except OSError as exc:
        raise TransferRefused(f"cannot make a temporary copy of {path} ({exc})") from exc
    with folder:
        copy = sqlite3.connect(Path(folder.name) / "copy.db", isolation_level=None)
        try:
            try:
                source = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
                try:
                    source.backup(copy)
                finally:
                    source.close()
            except sqlite3.Error as exc:
                raise TransferRefused(f"cannot read {path} ({exc})") from exc
            _migrate(copy, path)
            yield copy
        finally:
            copy.close()


def _migrate(copy: sqlite3.Connection, path: Path) -> None:
    """Bring the copy to this version's schema, unless a newer Atelier migrated it."""
    db = Database(copy)
    try:
        newer = sorted(unknown_migrations(db))
        if newer:
            raise TransferRefused(
                f"{path} was migrated by a newer Atelier ({newer[0]}); "
                "run that version's migrate-to-postgres"
            )
        migrations.apply(db)
    except sqlite3.Error as exc:
        raise TransferRefused(f"{path} is not an Atelier database ({exc})") from exc


def _refuse_if_running(source: sqlite3.Connection, path: Path, alive_within: float) -> None:
    (last,) = source.execute("SELECT MAX(heartbeat_at) FROM processes").fetchone()
    age = time.time() - last if last is not None else None
    if age is not None and age < alive_within:
        raise TransferRefused(
            f"a bot is using {path} (its last heartbeat was {max(age, 0):.0f} s ago); stop it "
            f"first, then run this again (a bot that died counts as running for "
            f"{alive_within:.0f} s)"
        )


def _refuse_if_filled(target: Connection) -> None:
    filled = [
        table
        for table in TABLES
        if table not in CACHES
        and target.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
    ]
    if filled:
        raise TransferRefused(
            f"the PostgreSQL database already holds {', '.join(filled)}: migrate-to-postgres "
            "copies into an empty database only, so it never runs twice; point DATABASE_URL "
            "at a new database"
        )


def _columns(db: Connection | sqlite3.Connection, table: str) -> list[str]:
    return [d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _copy_table(source: sqlite3.Connection, target: Connection, table: str) -> int:
    """Insert every row of ``table`` (the columns both databases have), in batches."""
    wanted = set(_columns(target, table))
    cursor = source.execute(f"SELECT * FROM {table} ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    keep = [i for i, name in enumerate(names) if name in wanted]
    row_marks = f"({marks(keep)})"
    insert = f"INSERT INTO {table} ({', '.join(names[i] for i in keep)}) VALUES "
    conflict = " ON CONFLICT DO NOTHING" if table in CACHES else ""
    copied = 0
    while rows := cursor.fetchmany(max(1, MAX_PARAMS // len(keep))):
        params = [row[i] for row in rows for i in keep]
        sql = insert + ", ".join([row_marks] * len(rows)) + conflict
        copied += target.execute(sql, params).rowcount
    return copied


def _advance_ids(target: Connection, table: str) -> None:
    """The next id PostgreSQL hands out is above every copied one."""
    if "id" in _columns(target, table):
        target.execute(
            "SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 0) + 1, false) "
            f"FROM {table}",
            [table],
        )
