"""The ``/settings`` command groups, shared by the settings modules: each module adds its
subcommands to them, and :class:`.settings.SettingsCommands` holds them all."""

from __future__ import annotations

from discord import app_commands

from ._common import MODERATOR

SETTINGS = app_commands.Group(
    name="settings",
    description="Moderators: Atelier's settings for this server",
    guild_only=True,
    default_permissions=MODERATOR,
)
CHANNELS = app_commands.Group(
    name="channels", description="Where Atelier may be used", parent=SETTINGS
)
