"""A local Discord for end-to-end tests: an aiohttp server that speaks enough of
Discord's REST API and gateway for an unmodified discord.py bot, plus the world state
tests read, wait on and drive. Start with :mod:`tests.discord_world.harness`."""

from tests.discord_world.errors import ApiError
from tests.discord_world.faults import Fault
from tests.discord_world.harness import bot_guild_ids, discord_world, redirect_discord, running_bot
from tests.discord_world.interactions import InjectedInteraction
from tests.discord_world.models import (
    Attachment,
    Callback,
    Channel,
    Guild,
    Member,
    Message,
    RequestRecord,
    Role,
    User,
)
from tests.discord_world.shards import shard_of, snowflake_for_shard
from tests.discord_world.waiting import NotDelivered, WaitTimeout
from tests.discord_world.world import World

__all__ = [
    "ApiError",
    "Attachment",
    "Callback",
    "Channel",
    "Fault",
    "Guild",
    "InjectedInteraction",
    "Member",
    "Message",
    "NotDelivered",
    "RequestRecord",
    "Role",
    "User",
    "WaitTimeout",
    "World",
    "bot_guild_ids",
    "discord_world",
    "redirect_discord",
    "running_bot",
    "shard_of",
    "snowflake_for_shard",
]
