"""e2e fixtures: the app's info cog plus the test-only echo cog, running."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.discord_world import World

ECHO_EXTENSIONS = ["cogs.info", "tests.e2e.echo_cog"]


@pytest.fixture
async def echo_bot(world: World, make_bot: Callable[..., Any], run_bot: Any) -> AsyncIterator[Any]:
    async with run_bot(make_bot(extensions=ECHO_EXTENSIONS)) as bot:
        yield bot
