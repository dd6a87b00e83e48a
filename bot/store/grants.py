"""Day grants and refunds given by moderators."""

from __future__ import annotations

from bot.store.database import StoreBase


class GrantQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""
