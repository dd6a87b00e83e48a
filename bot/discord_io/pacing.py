"""Pace the bot's REST requests under Discord's global limit ahead of time: discord.py
waits out a route's bucket, but learns of the global limit only from a 429."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp

from bot.services.poller import TokenBucket

#: Discord's global limit is 50 requests a second; 40 a second in bursts of up to 10 never
#: puts more than 50 in any one second.
RATE = 40.0
BURST = 10.0
#: Requests that do not count against the global limit: interaction callbacks and
#: webhooks (an interaction's followups and card edits go through its webhook).
UNCOUNTED = ("/interactions/", "/webhooks/")


class GlobalPacer:
    """One token bucket in front of every REST request of one bot (delivery, notices,
    audit posts, commands); with several processes each takes its share."""

    def __init__(self, rate: float = RATE, burst: float = BURST) -> None:
        self.bucket = TokenBucket(rate, burst)

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
        await self.bucket.acquire()

    def share(self, processes: int) -> None:
        """This process's part of the bot's global limit."""
        self.bucket.share(processes)
