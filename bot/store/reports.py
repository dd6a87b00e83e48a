"""Members' reports of results and the moderators' review."""

from __future__ import annotations

from bot.store.database import StoreBase


class ReportQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""
