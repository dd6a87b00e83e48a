"""The simulator's notion of "now", which tests can move forward.

Task states and link expiry are derived from this clock on every request, so
``clock.advance(8 * 86400)`` is enough to expire result links without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock UTC time plus an offset; optionally frozen at a fixed instant."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        self._base = start if start is not None else datetime.now(UTC)
        self._offset = timedelta(0) if frozen or start is None else start - datetime.now(UTC)
        self._listeners: list[Callable[[], None]] = []

    @property
    def frozen(self) -> bool:
        """A frozen clock only moves when :meth:`advance` is called."""
        return self._frozen

    def now(self) -> datetime:
        if self._frozen:
            return self._base + self._offset
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward; listeners (the callback dispatcher) are told at once."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += timedelta(seconds=seconds)
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


def iso(moment: datetime) -> str:
    """Max API's timestamp format: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
