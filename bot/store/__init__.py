"""SQLite, and the only package with SQL in it: every call runs on one database thread
(``await store.run(fn)``), so the event loop never waits on the disk and writes never race."""

from __future__ import annotations

from bot.store.database import StoreUnavailable, migration_state
from bot.store.jobs import JobQueries
from bot.store.migrations import migrations

__all__ = ["Store", "StoreUnavailable", "migration_state", "migrations"]


class Store(JobQueries):
    """The database: jobs (:mod:`bot.store.jobs`) and guild rows (:mod:`bot.store.guilds`)
    over one connection (:mod:`bot.store.database`). Open with ``await Store.open(path)``;
    close with ``await store.close()``."""
