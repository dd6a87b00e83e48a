"""Discord's sharding rule: a guild's events go to shard ``(guild_id >> 22) % count``,
DMs to shard 0; and snowflakes picked so that a guild lands on a chosen shard."""

from __future__ import annotations

Shard = tuple[int, int]
"""``(shard_id, shard_count)`` as in IDENTIFY's ``shard`` field."""


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard that receives a guild's events (0 for DMs)."""
    if guild_id is None:
        return 0
    return (guild_id >> 22) % count


def owns(shard: Shard | None, guild_id: int | None) -> bool:
    """Whether a session identified with ``shard`` (None: unsharded) gets this guild's events."""
    if shard is None:
        return True
    shard_id, count = shard
    return shard_of(guild_id, count) == shard_id


def valid_shard(value: object) -> Shard | None:
    """The ``(id, count)`` of an IDENTIFY ``shard`` field, or None if Discord would close 4010."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    shard_id, count = value
    if not isinstance(shard_id, int) or not isinstance(count, int):
        return None
    if count < 1 or not 0 <= shard_id < count:
        return None
    return shard_id, count


def snowflake_for_shard(at_least: int, shard: Shard) -> int:
    """The smallest snowflake ``>= at_least`` whose guild would be on ``shard``: only the
    timestamp part (above bit 22) decides, so this moves it at most ``count - 1`` ms."""
    shard_id, count = shard
    if count < 1 or not 0 <= shard_id < count:
        raise ValueError(f"no shard {shard_id} of {count}")
    ms, low = at_least >> 22, at_least & ((1 << 22) - 1)
    step = (shard_id - ms) % count
    return at_least if step == 0 else (ms + step) << 22 | low
