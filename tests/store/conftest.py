"""Store fixtures: ``store``, open on ``store_target`` (the root conftest's SQLite file,
then a new PostgreSQL database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import Store


@pytest.fixture
async def store(store_target: str) -> AsyncIterator[Store]:
    """A store on SQLite, then on PostgreSQL: every test that takes it runs on both."""
    opened = await Store.open(store_target)
    yield opened
    await opened.close()
