"""Sizes and durations as members read them (one formatter each, used everywhere)."""

from __future__ import annotations


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
