"""Moderator tools and ``/usage``, one module per command group; the rules they apply
live in :mod:`bot.services.moderation`."""

from __future__ import annotations

from bot.discord_io.client import AtelierBot

from .block import BlockCommands
from .limits import LimitsCommands
from .settings import SettingsCommands
from .usage import UsageCommands


async def setup(bot: AtelierBot) -> None:
    for cog in (LimitsCommands, BlockCommands, UsageCommands, SettingsCommands):
        await bot.add_cog(cog(bot))
