"""A clock the test can move forward, for interaction-token and attachment-link expiry.

Snowflakes stay on the wall clock (discord.py compares them with the real time);
only the server's own notion of "how old is this token" follows this clock.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        """Unix time as the world sees it (attachment links' ``ex=`` follows it)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward, e.g. ``world.clock.advance(15 * 60)`` to expire every token."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
