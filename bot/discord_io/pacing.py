"""Pace the bot's REST requests under Discord's global limit ahead of time: discord.py
waits out a route's bucket, but learns of the global limit only from a 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

#: Discord's global limit: 50 requests in a second.
LIMIT = 50
PER = 1.0
#: Waited on top of each window, so a request of the next window never reaches Discord
#: inside the last one (requests do not all take the same time to arrive).
MARGIN = 0.05
#: Requests that do not count against the global limit: interaction callbacks and
#: webhooks (an interaction's followups and card edits go through its webhook).
UNCOUNTED = ("/interactions/", "/webhooks/")


class GlobalPacer:
    """Counts every REST request of one bot (delivery, notices, audit posts, commands) in
    windows like Discord's: ``limit`` in a window of ``per`` seconds from its first request;
    the next waits for a new window. With several processes each takes its share."""

    def __init__(
        self,
        limit: int = LIMIT,
        per: float = PER,
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = limit
        self.limit = limit
        self.per = per + margin
        self.clock = clock
        self._window_ends = -float("inf")
        self._left = 0
        self._lock = asyncio.Lock()

    def trace_config(self) -> aiohttp.TraceConfig:
        """For ``discord.Client(http_trace=…)``: every request waits its turn first."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._on_request_start)
        return config

    async def _on_request_start(
        self, session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
    ) -> None:
        if any(part in params.url.path for part in UNCOUNTED):
            return
        await self.acquire()

    async def acquire(self) -> None:
        """Wait until this request fits in a window (requests go in the order they came)."""
        async with self._lock:
            now = self.clock()
            if now >= self._window_ends:
                self._window_ends, self._left = now + self.per, self.limit
            elif self._left <= 0:
                await asyncio.sleep(self._window_ends - now)
                self._window_ends, self._left = self.clock() + self.per, self.limit
            self._left -= 1

    def share(self, processes: int) -> None:
        """This process's part of the bot's global limit."""
        self.limit = max(1, self.total // max(1, processes))
