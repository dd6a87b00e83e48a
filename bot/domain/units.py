"""Sizes and durations as members read and write them (one formatter each, one parser)."""

from __future__ import annotations

import re

from bot.domain.errors import UserFacingError

MAX_DURATION = 366 * 24 * 3600
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"(\d+)([smhdw])")
DURATIONS = re.compile(r"(?:\d+[smhdw])+")


def human_bytes(size: int) -> str:
    """``512 bytes``, ``2 KB``, ``5.0 MB``."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def human_duration(seconds: float) -> str:
    """A coarse, short duration: ``42 s``, ``3 min``, ``5 h``, ``2 d``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def parse_duration(text: str | None) -> int | None:
    """``"1h30m"`` → 5400 seconds; empty or ``permanent`` → ``None`` (no end).
    Raises :class:`UserFacingError` for anything else, or past a year."""
    if text is None or not text.strip() or text.strip().lower() in ("permanent", "forever"):
        return None
    compact = re.sub(r"\s+", "", text.lower())
    if not DURATIONS.fullmatch(compact):
        raise UserFacingError(
            "I can't read the duration {duration}. Use a number and a unit, like 30m, 2h, "
            "1d or 1w (combinations like 1d12h work too).",
            duration=repr(text),
        )
    seconds = sum(int(n) * DURATION_UNITS[unit] for n, unit in DURATION.findall(compact))
    if seconds <= 0:
        raise UserFacingError("The duration must be longer than zero.")
    if seconds > MAX_DURATION:
        raise UserFacingError("The longest block is a year; leave the duration out for no end.")
    return seconds
