"""Spend over time for charts, and the budget alerts already posted."""

from __future__ import annotations

from bot.store.database import StoreBase


class SpendQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""
