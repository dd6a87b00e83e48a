"""Time-based snowflakes, so that ``created_at`` (and an interaction's ``expires_at``)
is now, as discord.py computes them from the id."""

from __future__ import annotations

import itertools
import time

from tests.discord_world.shards import Shard, snowflake_for_shard

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Strictly increasing ids: the millisecond part is the wall clock, the low bits
    a counter, so two ids made in the same millisecond still differ and sort."""

    def __init__(self) -> None:
        self._last = 0
        self._counter = itertools.count()

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (next(self._counter) & 0xFFF)
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard: Shard) -> int:
        """The next id that puts a guild on ``shard`` (``(id >> 22) % count == shard_id``)."""
        self._last = snowflake_for_shard(self.next(), shard)
        return self._last


def snowflake_time(value: int) -> float:
    """Unix seconds encoded in a snowflake."""
    return ((value >> 22) + DISCORD_EPOCH_MS) / 1000
