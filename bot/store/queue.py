"""A server's active jobs, oldest first, for /queue."""

from __future__ import annotations

from bot.store.database import StoreBase


class QueueQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""
