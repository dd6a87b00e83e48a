"""Waiting on conditions instead of sleeping: every state change wakes the waiters,
and a short poll covers conditions on the bot's side that the server cannot see."""

# Waiting helpers take a timeout on purpose: tests read better with one argument.

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.05


class WaitTimeout(AssertionError):
    """A condition did not come true in time; the message says what was seen."""


class NotDelivered(AssertionError):
    """An interaction reached no session (no bot runs its guild's shard): on Discord it
    fails for the member, so waiting for the bot's answer is pointless."""


class Notifier:
    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def changed(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_until(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float,
        what: str | Callable[[], str],
    ) -> T:
        """Return the first truthy value of ``predicate()``; raise :class:`WaitTimeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = what() if callable(what) else what
                raise WaitTimeout(f"timed out after {timeout:g}s waiting for {text}")
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait({fut}, timeout=min(remaining, POLL))
            finally:
                self._waiters.discard(fut)
