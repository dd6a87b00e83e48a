"""SQLite or PostgreSQL, and the only package with SQL in it: every call runs on one
database thread (``await store.run(fn)``), so the event loop never waits on the database."""

from __future__ import annotations

from bot.store.database import StoreUnavailable, migration_state
from bot.store.grants import GrantQueries
from bot.store.history import HistoryQueries
from bot.store.migrations import migrations
from bot.store.prefs import PreferenceQueries
from bot.store.queue import QueueQueries
from bot.store.reports import ReportQueries
from bot.store.spend import SpendQueries
from bot.store.work import WorkQueries

__all__ = ["Store", "StoreUnavailable", "migration_state", "migrations"]


class Store(
    GrantQueries,
    SpendQueries,
    ReportQueries,
    QueueQueries,
    WorkQueries,
    PreferenceQueries,
    HistoryQueries,
):
    """The database: jobs (:mod:`bot.store.jobs`), guild rows (:mod:`bot.store.guilds`) and
    shared work (:mod:`bot.store.work`) over one connection (:mod:`bot.store.database`).
    Open with ``await Store.open(path or postgresql:// URL)``;
    close with ``await store.close()``."""
